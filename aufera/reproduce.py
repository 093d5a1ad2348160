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


def corpus_config(seed: int = 0, quick: bool = False) -> SynthConfig:
    """The synthetic corpus of a reproduction: the default corpus, or QUICK_SYNTH with `quick`; seeded."""
    return SynthConfig(seed=seed, **(QUICK_SYNTH if quick else {}))


def train_overrides(seed: int = 0, quick: bool = False) -> list[str]:
    """The `key=value` overrides of the training preset: the seed, and QUICK_TRAIN with `quick`."""
    return [f"seed={seed}", *(QUICK_TRAIN if quick else [])]


def reproduce(
    out, data_dir=None, seed: int = 0, quick: bool = False, workers: int | None = None, progress: bool = True
) -> dict:
    """Runs the whole reproduction into `out` (resumable); returns what it measured.

    Args:
        out: str or Path. The output folder (corpus/, data/, run/).
        data_dir: str, Path or None. A FERA 2017 copy; None writes and uses
            the synthetic corpus. Defaults to None.
        seed: int. Seed of the corpus and the training. Defaults to 0.
        quick: bool. The smaller corpus and training of smoke runs
            (`QUICK_SYNTH`, `QUICK_TRAIN`). Defaults to False.
        workers: int or None. Worker processes; None: the CPU cores, at most 8.
        progress: bool. Progress bars. Defaults to True.

    Returns:
        A dict: `metrics` (as in metrics.json), `synthetic` (whether the
        data was the synthetic corpus), `run_dir` (Path) and `seconds`.

    Raises:
        AuferaError: on bad data, as each step reports it.
    """
    from aufera.config import resolve_config
    from aufera.data.prepare import prepare
    from aufera.evaluation import evaluate_run
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
    run_dir = out / "run"
    train(config, report["dataset"], run_dir, progress=progress)
    metrics = evaluate_run(run_dir, report["dataset"], synthetic=synthetic)
    return {"metrics": metrics, "synthetic": synthetic, "run_dir": run_dir, "seconds": time.perf_counter() - start}
