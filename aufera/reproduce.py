"""`aufera reproduce`: the main job, from videos to the paper's tables.

With no FERA 2017 folder it writes the embedded default data (the synthetic
corpus), prepares it, trains the `cpu-small` networks, evaluates them and
prints Table 1 and Table 2 beside the published numbers; with `--data-dir`
it does the same on a licensed FERA 2017 copy with the `paper` preset (a GPU
expected). Every step resumes: rerunning the same command after an
interruption continues where it stopped.

Layout of OUT:
    corpus/   the synthetic corpus (when no --data-dir)
    data/     the prepared TFDS dataset
    run/      the run directory (models, config, history, metrics, tables, figures)
"""

from __future__ import annotations

import time
from pathlib import Path

from aufera.synth.config import SynthConfig, default_workers

# The training presets (`aufera.config.TRAIN_PRESETS`): cpu-small on the synthetic corpus, paper on FERA 2017.
SYNTHETIC_PRESET = "cpu-small"
FERA_PRESET = "paper"
# A smaller corpus and shorter training for smoke runs (`--quick`).
QUICK_SYNTH = {"train_subjects": 8, "valid_subjects": 3, "tasks": 1, "frames": 20}
QUICK_TRAIN = ["epochs_network1=12", "epochs_network2=4", "batch_size=16"]


def check_run_args(seed: int, workers: int | None) -> None:
    """Raises AuferaError (one line) on a negative seed or fewer than one worker."""
    from aufera.errors import AuferaError

    if seed < 0:
        raise AuferaError(f"--seed must be >= 0. Received: {seed}")
    if workers is not None and workers < 1:
        raise AuferaError(f"--workers must be >= 1. Received: {workers}")


def corpus_config(seed: int = 0, quick: bool = False) -> SynthConfig:
    """The synthetic corpus of a reproduction: the default corpus, or QUICK_SYNTH with `quick`; seeded."""
    return SynthConfig(seed=seed, **(QUICK_SYNTH if quick else {}))


def train_overrides(seed: int = 0, quick: bool = False) -> list[str]:
    """The `key=value` overrides of the training preset: the seed, and QUICK_TRAIN with `quick`."""
    return [f"seed={seed}", *(QUICK_TRAIN if quick else [])]


def reproduce(
    out, data_dir=None, seed: int = 0, quick: bool = False, workers: int | None = None, progress: bool = True
) -> dict:
    """Runs the whole reproduction into `out`; returns the metrics (as in metrics.json)."""
    from aufera.config import resolve_config
    from aufera.data.prepare import prepare
    from aufera.evaluation.evaluate import evaluate_run, print_tables
    from aufera.synth.writer import write_corpus
    from aufera.training import train

    out = Path(out)
    workers = workers or default_workers()
    start = time.perf_counter()
    if data_dir is None:
        source = out / "corpus"
        write_corpus(source, corpus_config(seed, quick), workers=workers, progress=progress)
        preset = SYNTHETIC_PRESET
    else:
        source, preset = Path(data_dir), FERA_PRESET
    report = prepare(source, out / "data", workers=workers, progress=progress)
    # Labelled by what prepare found (a synthetic corpus carries its manifest), not by where it came from.
    synthetic = bool(report["synthetic"])
    config = resolve_config(preset, train_overrides(seed, quick))
    train(config, report["dataset"], out / "run", progress=progress)
    metrics = evaluate_run(out / "run", report["dataset"], synthetic=synthetic)
    print(print_tables(metrics, synthetic))
    print(f"reproduction done in {time.perf_counter() - start:.0f} s; results in {out / 'run'}")
    return metrics


def add_cli(subparsers) -> None:
    """Adds `aufera reproduce [--data-dir FERA_ROOT] [--out DIR] [--seed S] [--quick]`."""
    p = subparsers.add_parser(
        "reproduce",
        help="the main job: data, preparation, training, evaluation, the paper's tables",
        description="Reproduce He et al. 2019's Tables 1 and 2 and Fig. 7: on the embedded synthetic corpus "
        "(default) or on a licensed FERA 2017 copy (--data-dir). Rerunning continues an interrupted run.",
    )
    p.add_argument("--data-dir", default=None, metavar="FERA_ROOT", help="a FERA 2017 copy (default: synthetic)")
    p.add_argument("--out", default="reproduction", metavar="DIR", help="output folder (default ./reproduction)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the corpus and the training")
    p.add_argument("--quick", action="store_true", help="smaller corpus and training, for smoke tests")
    p.add_argument("--workers", type=int, default=None, metavar="N", help="worker processes (default: cores)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(run=run_cli)


def run_cli(args) -> int:
    check_run_args(args.seed, args.workers)
    reproduce(args.out, args.data_dir, args.seed, args.quick, args.workers, progress=not args.quiet)
    return 0
