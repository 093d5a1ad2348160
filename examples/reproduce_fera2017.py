"""Reproduce He et al. 2019, Table 1, Table 2 and Fig. 7, step by step through aufera's public API.

The same job as `aufera reproduce`, written out one call per step so that each
can be read, changed or replaced:

    1. data      `SynthConfig` + `write_corpus`: the synthetic multi-view AU
                 corpus in the FERA 2017 layout (skipped with --data-dir,
                 which names a licensed FERA 2017 copy);
    2. prepare   `prepare`: MTCNN face crops -> the TFDS dataset (132 x 132);
    3. config    `resolve_config`: the "cpu-small" training preset on the
                 synthetic corpus, "paper" on FERA 2017 (as `aufera reproduce`);
    4. train     `train`: Network1, then Network2 on its frozen backbone;
    5. evaluate  `evaluate_run`: metrics, Tables 1-2, Fig. 7; `tables_text`.

Run it from the repository root (with aufera installed):

    python examples/reproduce_fera2017.py --quick             # smoke run: smaller corpus, shorter training
    python examples/reproduce_fera2017.py                     # the default synthetic corpus, cpu-small
    python examples/reproduce_fera2017.py --data-dir FERA_ROOT --out fera_run   # FERA 2017, paper preset (GPU)

It prints each step as it starts, then Table 1 (F1 per AU) and Table 2
(accuracy per AU) of Network1, Network2 and their fusion beside every
published column of He et al. 2019, the view accuracy beside the paper's
0.991, and the paths of `table1.md`, `table2.md`, the Fig. 7 view confusion
PNG and `metrics.json`. Results on the synthetic corpus are labelled
"synthetic corpus": they check the implementation and are not comparable
with the published FERA 2017 numbers.

Everything lands in OUT (default ./reproduction_example): corpus/ (the
synthetic videos and labels), data/ (the prepared dataset), run/ (models,
config, history, metrics, tables, figures). Every step resumes: rerunning
the same command after an interruption continues where it stopped, and a
finished run is only evaluated again.

Time, on a 2-core x86_64 machine with no GPU: `--quick` took 147 s. Without
--quick it runs the same steps as `aufera reproduce`, which took 6 min 43 s
there (docs/reproducing.md).

Bad input (a negative seed, a folder that is not a FERA 2017 copy, an output
folder holding a run with other settings) is one line with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from aufera.cli import OneLineParser, run_script  # noqa: E402
from aufera.commands import validators  # noqa: E402
from aufera.errors import AuferaError  # noqa: E402
from aufera.reproduce import FERA_PRESET, SYNTHETIC_PRESET, corpus_config  # noqa: E402
from aufera.reproduce import train_overrides as reproduce_overrides  # noqa: E402

PROG = "reproduce_fera2017"
DEFAULT_OUT = "reproduction_example"


def build_parser() -> argparse.ArgumentParser:
    """The example's command-line arguments."""
    parser = OneLineParser(
        prog=PROG,
        description="Reproduce He et al. 2019 Tables 1-2 and Fig. 7 step by step: synthetic corpus (default) or a "
        "FERA 2017 copy (--data-dir), prepare, train Network1 and Network2, evaluate.",
    )
    validators.add_reproduction_options(
        parser, DEFAULT_OUT, "smaller corpus and training (aufera.reproduce.QUICK_SYNTH, QUICK_TRAIN)"
    )
    return parser


def check_args(args) -> None:
    """Raises AuferaError (one line) on a data folder that is not there."""
    if args.data_dir is not None and not Path(args.data_dir).is_dir():
        raise AuferaError(f"--data-dir {args.data_dir}: not a folder")


def synth_config(args):
    """The `SynthConfig` of the corpus: the defaults, or QUICK_SYNTH with --quick; seeded by --seed."""
    return corpus_config(args.seed, args.quick)


def train_overrides(args) -> list[str]:
    """The `key=value` overrides of the training preset: the seed, and QUICK_TRAIN with --quick."""
    return reproduce_overrides(args.seed, args.quick)


def run(args) -> dict:
    """Runs the five steps; returns the metrics (as in run/metrics.json)."""
    check_args(args)  # before the heavy imports, so that bad input fails at once
    from aufera.commands.train import format_summary
    from aufera.config import resolve_config
    from aufera.data.prepare import prepare
    from aufera.evaluation import evaluate_run, tables_text
    from aufera.filenames import FIGURE_FILES, METRICS_FILE, TABLE_FILES
    from aufera.synth.writer import write_corpus
    from aufera.training import train

    started = time.perf_counter()
    out = Path(args.out)
    workers = args.workers
    progress = not args.quiet

    # 1. The data: the synthetic corpus (resumes an interrupted one), or the FERA 2017 copy given.
    if args.data_dir is None:
        source, preset = out / "corpus", SYNTHETIC_PRESET
        synth = synth_config(args)
        print(
            f"[1/5] synthetic corpus -> {source} ({synth.train_subjects} training and {synth.valid_subjects} "
            f"validation subjects, {synth.tasks} task(s) x {synth.frames} frames x 9 views)",
            flush=True,
        )
        write_corpus(source, synth, workers=workers, progress=progress)
    else:
        source, preset = Path(args.data_dir), FERA_PRESET
        print(f"[1/5] FERA 2017 copy: {source}", flush=True)

    # 2. MTCNN face crops -> the TFDS dataset (reuses cached faces and a finished dataset).
    print(f"[2/5] prepare -> {out / 'data'}", flush=True)
    report = prepare(source, out / "data", workers=workers, progress=progress)
    dataset = report["dataset"]
    # Labelled by what prepare found: the synthetic corpus carries its manifest.
    synthetic = bool(report["synthetic"])

    # 3. The training config: a preset plus key=value overrides.
    try:
        config = resolve_config(preset, train_overrides(args))
    except ValueError as error:
        raise AuferaError(f"preset {preset}: {error}") from None
    print(
        f"[3/5] config: preset {preset}, epochs {config.epochs_network1} + {config.epochs_network2}, "
        f"batch {config.batch_size}, sampler {config.sampler}, seed {config.seed}",
        flush=True,
    )

    # 4. Network1, then Network2 on its frozen backbone (resumes; a finished run is not retrained).
    run_dir = out / "run"
    print(f"[4/5] train -> {run_dir}", flush=True)
    summary = train(config, dataset, run_dir, progress=progress)
    print(format_summary(summary), flush=True)

    # 5. Metrics, tables and figures of the validation split, written into the run directory.
    print(f"[5/5] evaluate {run_dir} on {dataset}", flush=True)
    metrics = evaluate_run(run_dir, dataset, split="validation", synthetic=synthetic)
    print()
    print(tables_text(metrics, synthetic))
    print()
    print(f"Table 1 (F1):        {run_dir / TABLE_FILES['table1']}")
    print(f"Table 2 (accuracy):  {run_dir / TABLE_FILES['table2']}")
    print(f"Fig. 7 (views):      {run_dir / FIGURE_FILES['view_confusion']}")
    print(f"metrics:             {run_dir / METRICS_FILE}")
    print(f"done in {time.perf_counter() - started:.0f} s")
    return metrics


def main(argv=None) -> int:
    """Parses the arguments and runs the example; returns the exit status (2 on bad input)."""
    return run_script(PROG, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
