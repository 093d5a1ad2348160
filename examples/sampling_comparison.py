"""Random vs multi-label stratified vs MOMU batch sampling (Chu et al. 2019) on the synthetic corpus.

Writes and prepares one synthetic corpus (once: a rerun reuses it), then
trains three runs of He et al. 2019's Network1 and Network2 that differ only
in the batch sampler (`sampler=random|stratified|momu`, same preset, same
seed), evaluates each on the validation split with `evaluate_run`, and prints
the F1 of Network1 per AU in the layout of Chu et al. 2019, Table 3: rows
AU1 ... AU23 and Avg, columns

    RS    random sampling (one permutation per epoch);
    MS    multi-label stratification (Chu et al. 2019, Alg. 1);
    MOMU  multi-label minority oversampling, majority undersampling (Alg. 2).

Network1 is the one network that every sampler trains directly (Network2 is
trained with the same sampler on Network1's frozen backbone); its F1 is the
closest counterpart of the single network compared in Chu et al.'s Table 3.
All three runs get the same number of batches per epoch:
`aufera.training.plan_epoch` asks MOMU for ceil(N / batch_size) batches, the
count of random sampling (the runs share batch_size and max_steps_per_epoch),
and the script prints the counts that planner gives for each sampler.

The numbers are synthetic-corpus results: they compare the samplers on
aufera's synthetic data and are not comparable with the numbers Chu et al.
publish.

Run it from the repository root (with aufera installed):

    python examples/sampling_comparison.py --quick                  # smoke run: smaller corpus, shorter training
    python examples/sampling_comparison.py                          # the default corpus, cpu-small preset
    python examples/sampling_comparison.py --epochs-network1 6 --epochs-network2 3

Output in OUT (default ./sampling_comparison_example): corpus/, data/,
runs/random/, runs/stratified/, runs/momu/ (each a full run directory with
models, metrics.json, table1.md, table2.md and Fig. 7) and
sampling_comparison.md, the printed table as Markdown (written atomically).
Every step resumes: a rerun continues unfinished runs and re-evaluates
finished ones.

Time, on a 2-core x86_64 machine with no GPU: `--quick` took 364 s (a smoke
run, too short to tell the samplers apart); without it, 15 min 47 s for the
three runs on the default corpus (results in docs/sampling.md). A rerun that
finds the runs finished only evaluates them again.

Bad input (a negative seed or epoch count, an output folder holding runs with
other settings) is one line with exit status 2.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from aufera.au import AU_KEYS  # noqa: E402
from aufera.cli import OneLineParser, run_script  # noqa: E402
from aufera.commands import validators  # noqa: E402
from aufera.errors import AuferaError  # noqa: E402
from aufera.evaluation.text_table import aligned_table, markdown_table  # noqa: E402
from aufera.reproduce import corpus_config  # noqa: E402
from aufera.reproduce import train_overrides as reproduce_overrides  # noqa: E402

PROG = "sampling_comparison"
DEFAULT_OUT = "sampling_comparison_example"
PRESET = "cpu-small"  # the preset `aufera reproduce` trains on the synthetic corpus
TABLE_FILE = "sampling_comparison.md"
MODEL = "network1"  # the model whose F1 the table shows (a key of metrics.json)
MODEL_NAME = "Network1"
# Sampler (TrainConfig.sampler) -> column of Chu et al. 2019, Table 3, in the paper's column order.
COLUMNS = {"random": "RS", "stratified": "MS", "momu": "MOMU"}
LEGEND = (
    "RS = random sampling; MS = multi-label stratification (Chu et al. 2019, Alg. 1); "
    "MOMU = multi-label minority oversampling, majority undersampling (Alg. 2)."
)


# === The table ===


def table_title(model_name: str = MODEL_NAME) -> str:
    """The title of the comparison table (says which F1 and that the numbers are synthetic-corpus results)."""
    return (
        f"F1 of {model_name} (He et al. 2019) per AU by batch sampler, in the layout of Chu et al. 2019 Table 3. "
        "Synthetic-corpus results (validation split): not comparable with published numbers."
    )


def table_rows(results: dict, model: str = MODEL) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the comparison: one row per AU (AU_KEYS order) and Avg, one column per sampler.

    Args:
        results: dict. Sampler name ("random", "stratified", "momu") -> the
            metrics of its run, in the `metrics.json` layout of
            `aufera.evaluation.evaluate_run` (`results[s][model]["f1"]` maps
            "AU1" ... "AU23" and "mean" to floats). Columns come in the order
            RS, MS, MOMU, for the samplers present.
        model: str. "network1", "network2" or "fusion". Defaults to "network1".

    Returns:
        (header, rows): header ["AU", "RS", "MS", "MOMU"] (those present);
        rows of strings, values with 3 decimals, "Avg" the mean over the 10 AUs
        as recorded in the metrics.

    Raises:
        ValueError: on an unknown sampler, an empty `results`, or metrics
            lacking the model or an AU.
    """
    unknown = [s for s in results if s not in COLUMNS]
    if unknown or not results:
        raise ValueError(f"`results` must map some of {list(COLUMNS)} to metrics. Received: {list(results)}")
    samplers = [s for s in COLUMNS if s in results]
    header = ["AU", *(COLUMNS[s] for s in samplers)]
    rows = []
    for key in (*AU_KEYS, "mean"):
        row = ["Avg" if key == "mean" else key]
        for sampler in samplers:
            try:
                row.append(f"{float(results[sampler][model]['f1'][key]):.3f}")
            except (KeyError, TypeError):
                raise ValueError(f"Metrics of sampler {sampler!r} lack {model}.f1.{key}") from None
        rows.append(row)
    return header, rows


def table_markdown(results: dict, notes=(), model: str = MODEL, model_name: str = MODEL_NAME) -> str:
    """The comparison as Markdown: a title, the legend, the table, then `notes` (one paragraph each)."""
    header, rows = table_rows(results, model)
    lines = [f"# {table_title(model_name)}", "", LEGEND, ""]
    lines += markdown_table(header, rows)
    for note in notes:
        lines += ["", note]
    return "\n".join(lines) + "\n"


def table_text(results: dict, notes=(), model: str = MODEL, model_name: str = MODEL_NAME) -> str:
    """The comparison as aligned text for the terminal: title, legend, table, notes."""
    header, rows = table_rows(results, model)
    return "\n".join([table_title(model_name), LEGEND, *aligned_table(header, rows), *notes]) + "\n"


def settings_note(config, synth, batches: dict) -> str:
    """One line naming the settings shared by the runs and the batches per epoch each sampler planned.

    Args:
        config: TrainConfig of one of the runs (they differ in `sampler` only).
        synth: SynthConfig of the corpus.
        batches: dict. Sampler -> batches per epoch.
    """
    planned = ", ".join(f"{COLUMNS[s]} {n}" for s, n in batches.items())
    return (
        f"Settings: preset {config.preset}, Network1 {config.epochs_network1} epochs, "
        f"Network2 {config.epochs_network2} epochs, batch {config.batch_size}, seed {config.seed}; corpus of "
        f"{synth.train_subjects} training and {synth.valid_subjects} validation subjects; "
        f"batches per epoch: {planned}."
    )


# === Arguments ===


def build_parser() -> argparse.ArgumentParser:
    """The example's command-line arguments."""
    parser = OneLineParser(
        prog=PROG,
        description="Train three runs that differ only in the batch sampler (random, stratified, MOMU) on one "
        "synthetic corpus and print Network1's F1 per AU in the layout of Chu et al. 2019 Table 3.",
    )
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"output folder (default ./{DEFAULT_OUT})")
    parser.add_argument(
        "--seed",
        type=validators.non_negative_int,
        default=0,
        metavar="S",
        help="seed of the corpus and of all three runs",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller corpus and training (aufera.reproduce.QUICK_SYNTH, QUICK_TRAIN)"
    )
    parser.add_argument(
        "--workers", type=validators.positive_int, default=None, metavar="N", help="worker processes (default: cores)"
    )
    for stage in ("network1", "network2"):
        parser.add_argument(
            f"--epochs-{stage}",
            type=validators.positive_int,
            default=None,
            metavar="E",
            help=f"override the {stage.capitalize()} epochs",
        )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def synth_config(args):
    """The `SynthConfig` of the corpus: the defaults, or QUICK_SYNTH with --quick; seeded by --seed."""
    return corpus_config(args.seed, args.quick)


def train_overrides(args, sampler: str) -> list[str]:
    """The `key=value` overrides of one run: seed, QUICK_TRAIN with --quick, the epoch options, the sampler."""
    overrides = reproduce_overrides(args.seed, args.quick)
    for name in ("epochs_network1", "epochs_network2"):
        if getattr(args, name) is not None:
            overrides.append(f"{name}={getattr(args, name)}")
    return [*overrides, f"sampler={sampler}"]


def configs(args) -> dict:
    """Sampler -> resolved `TrainConfig`; the three differ in `sampler` only."""
    from aufera.config import resolve_config

    out = {}
    for sampler in COLUMNS:
        try:
            out[sampler] = resolve_config(PRESET, train_overrides(args, sampler))
        except ValueError as error:
            raise AuferaError(f"preset {PRESET}: {error}") from None
    return out


# === The comparison ===


def run(args) -> dict:
    """Corpus, dataset, three trainings and evaluations; prints and writes the table; returns sampler -> metrics."""
    from aufera.data.pipeline import load_split_arrays
    from aufera.data.prepare import prepare
    from aufera.evaluation import evaluate_run
    from aufera.files import atomic_write_text
    from aufera.synth.config import default_workers
    from aufera.synth.writer import write_corpus
    from aufera.training import format_summary, plan_epoch, train

    started = time.perf_counter()
    out = Path(args.out)
    workers = args.workers or default_workers()
    progress = not args.quiet
    synth = synth_config(args)
    per_sampler = configs(args)

    print(f"corpus -> {out / 'corpus'}", flush=True)
    write_corpus(out / "corpus", synth, workers=workers, progress=progress)  # resumes; reuses a finished corpus
    print(f"prepare -> {out / 'data'}", flush=True)
    report = prepare(out / "corpus", out / "data", workers=workers, progress=progress)  # reuses a finished dataset
    dataset = report["dataset"]

    # The batches per epoch each config plans (epoch 0), by the training code's own planner.
    labels = load_split_arrays(dataset, "train").au
    batches = {s: len(plan_epoch(config, labels, 0)) for s, config in per_sampler.items()}
    del labels

    results = {}
    for sampler, config in per_sampler.items():
        run_dir = out / "runs" / sampler
        print(
            f"train {COLUMNS[sampler]} (sampler={sampler}, {batches[sampler]} batches per epoch) -> {run_dir}",
            flush=True,
        )
        print(format_summary(train(config, dataset, run_dir, progress=progress)), flush=True)
        results[sampler] = evaluate_run(run_dir, dataset, split="validation", synthetic=True)

    notes = [settings_note(per_sampler["random"], synth, batches)]
    text = table_text(results, notes)
    print()
    print(text, end="")
    path = atomic_write_text(out / TABLE_FILE, table_markdown(results, notes))
    print(f"table: {path}; runs: {out / 'runs'}; done in {time.perf_counter() - started:.0f} s")
    return results


def main(argv=None) -> int:
    """Parses the arguments and runs the comparison; returns the exit status (2 on bad input)."""
    return run_script(PROG, build_parser(), run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
