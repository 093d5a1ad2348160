"""`aufera reproduce`: the main job, from videos to the paper's tables; and DRML's tables (`--paper drml`).

With no FERA 2017 folder it writes the embedded default data (the synthetic
corpus), prepares it, trains the `cpu-small` networks, evaluates them and
prints Table 1 and Table 2 beside the published numbers; with `--data-dir`
it does the same on a licensed FERA 2017 copy with the `paper` preset (a GPU
expected). Every step resumes: rerunning the same command after an
interruption continues where it stopped.

`reproduce_drml` (`aufera reproduce --paper drml`) shares the corpus and the
face cache of the main job in the same OUT, prepares the 200-px dataset
DRML crops from, trains ConvNet and DRML, evaluates both and measures their
time per iteration: DRML's Table 2 and Table 4 in shape.

Layout of OUT:
    corpus/        the synthetic corpus (when no --data-dir)
    data/          the prepared TFDS datasets (132 px; 200 px for DRML) and the face cache they share
    run/           the run directory of the main job (models, config, history, metrics, tables, figures)
    run-convnet/   the ConvNet run of --paper drml
    run-drml/      the DRML run of --paper drml
    drml_tables.txt  the tables --paper drml prints
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
# The corpus of the CNN-LSTM reproduction (Chu et al. 2019): time in it (long sessions) but few
# frames in all (14 sessions x 300 frames x 3 views = 12,600), so that the whole run fits in about
# 20 minutes on 2 CPU cores. See docs/data.md for the measured episode durations.
CHU_SYNTH = {
    # 10 + 4 subjects: the 14 the frame budget allows at 300 frames x 3 views; 4 validation
    # subjects give each AU about 9 episodes (4 x 2.3) to score on.
    "train_subjects": 10,
    "valid_subjects": 4,
    # One session per subject: long sessions, not more of them, are what a sequence model needs.
    "tasks": 1,
    # 300 frames = 12 s at 25 fps: about 8 times the median episode (39 frames at smoothness 16),
    # so each AU has about 2.3 episodes (onset, apex, offset) per session.
    "frames": 300,
    # The yaw-0 column of the grid at pitch -20, 0 and +20 (views 2, 5, 8): a third of the frames
    # while keeping pose variation, and the views MTCNN boxes best (docs/data.md: 100% of boxes
    # with IoU >= 0.6), so face crops do not blur the temporal signal.
    "views": (2, 5, 8),
    # Episodes of FERA-like length (1-3 s at 25 fps): the median episode lasts about 2.5 x
    # smoothness frames in 300-frame sessions: 39 frames (1.6 s) here, quartiles 22 and 65.
    "smoothness": 16.0,
}


def corpus_config(seed: int = 0, quick: bool = False) -> SynthConfig:
    """The synthetic corpus of a reproduction: the default corpus, or QUICK_SYNTH with `quick`; seeded."""
    return SynthConfig(seed=seed, **(QUICK_SYNTH if quick else {}))


def chu_corpus_config(seed: int = 0) -> SynthConfig:
    """The synthetic corpus of the CNN-LSTM reproduction (`CHU_SYNTH`); seeded."""
    return SynthConfig(seed=seed, **CHU_SYNTH)


def train_overrides(seed: int = 0, quick: bool = False) -> list[str]:
    """The `key=value` overrides of the training preset: the seed, and QUICK_TRAIN with `quick`."""
    return [f"seed={seed}", *(QUICK_TRAIN if quick else [])]


def _source(out: Path, data_dir, seed: int, quick: bool, workers: int, progress: bool) -> tuple[Path, bool]:
    """The videos to prepare: `data_dir`, or the synthetic corpus written into OUT/corpus (resumable)."""
    from aufera.synth.writer import write_corpus

    if data_dir is not None:
        return Path(data_dir), False
    source = out / "corpus"
    write_corpus(source, corpus_config(seed, quick), workers=workers, progress=progress)
    return source, True


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
    from aufera.pretrained import write_run_preset
    from aufera.training import train

    out = Path(out)
    workers = workers or default_workers()
    start = time.perf_counter()
    source, synthetic_source = _source(out, data_dir, seed, quick, workers, progress)
    preset = SYNTHETIC_PRESET if synthetic_source else FERA_PRESET
    report = prepare(source, out / "data", workers=workers, progress=progress)
    # Labelled by what prepare found (a synthetic corpus carries its manifest), not by where it came from.
    synthetic = bool(report["synthetic"])
    config = resolve_config(preset, train_overrides(seed, quick))
    run_dir = out / "run"
    train(config, report["dataset"], run_dir, progress=progress)
    metrics = evaluate_run(run_dir, report["dataset"], synthetic=synthetic)
    write_run_preset(run_dir)  # run/preset: Network1 + Network2 with weights, the metrics in its card
    return {"metrics": metrics, "synthetic": synthetic, "run_dir": run_dir, "seconds": time.perf_counter() - start}


# === DRML (Zhao et al. 2016): ConvNet vs DRML ===

# Training presets (`aufera.config.TRAIN_PRESETS`) of the two networks, on the synthetic corpus and on FERA 2017.
DRML_SYNTHETIC_PRESETS = {"ConvNet": "convnet-cpu-small", "DRML": "drml-cpu-small"}
DRML_FERA_PRESETS = {"ConvNet": "convnet", "DRML": "drml"}
DRML_RUN_DIRS = {"ConvNet": "run-convnet", "DRML": "run-drml"}
DRML_IMAGE_SIZE = 200  # the side of the dataset DRML takes its 170 crops from
QUICK_DRML_TRAIN = ["epochs_drml=3", "batch_size=16"]
DRML_TABLES_FILE = "drml_tables.txt"


def iteration_times(config, arrays, steps: int = 5, warmup: int = 2) -> dict:
    """Milliseconds per training and per test iteration of a config's network, measured here.

    A fresh, untrained network of the config's preset is compiled as
    `aufera train` compiles it (Adam, XLA as `runtime.jit_compile` says) and
    trained on `warmup + steps` batches of `config.batch_size` frames of
    `arrays`; the test iteration is a forward pass in inference mode in
    graph mode, as `aufera evaluate` predicts. The median of `steps` timed
    iterations is returned for each (compilation is in the warm-up).

    Args:
        config: TrainConfig. Of the "drml" family.
        arrays: SplitArrays. Frames to run on (200-px images).
        steps: int. Timed iterations. Defaults to 5.
        warmup: int. Untimed iterations first. Defaults to 2.

    Returns:
        {"train": ms, "test": ms}.
    """
    import numpy as np

    from aufera.data.pipeline import dataset_from_arrays
    from aufera.preprocessing import Preprocessing
    from aufera.training.engine import compiled_stage_model

    preprocessing = Preprocessing.of_preset(config.model.preset, config.model.family)
    batch = min(int(config.batch_size), len(arrays))
    rows = np.arange(batch, dtype=np.int64)
    data = dataset_from_arrays(
        arrays,
        None,
        batch,
        training=False,
        targets="drml",
        indices=rows,
        scale=preprocessing.scale,
        crop_size=preprocessing.crop_size,
    )
    images, labels = next(iter(data))
    model = compiled_stage_model(config, "drml", len(arrays))
    train_ms = []
    for _ in range(warmup + steps):
        started = time.perf_counter()
        model.train_on_batch(images, labels)
        train_ms.append(1000.0 * (time.perf_counter() - started))
    model.jit_compile = False  # predictions in graph mode, as `aufera evaluate` makes them
    test_ms = []
    for _ in range(warmup + steps):
        started = time.perf_counter()
        model.predict_on_batch(images)
        test_ms.append(1000.0 * (time.perf_counter() - started))
    return {"train": float(np.median(train_ms[warmup:])), "test": float(np.median(test_ms[warmup:]))}


def machine_label() -> str:
    """This machine in a few words: CPU model and core count."""
    import os
    import platform

    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def reproduce_drml(
    out, data_dir=None, seed: int = 0, quick: bool = False, workers: int | None = None, progress: bool = True
) -> dict:
    """DRML's Table 2 and Table 4 in shape: ConvNet and DRML trained and evaluated, their iteration times.

    Shares OUT with `reproduce` (the corpus and the face cache): after
    `aufera reproduce`, only the 200-px dataset and the two networks are
    new work. Resumable like `reproduce`.

    Args:
        out: str or Path. The output folder.
        data_dir: str, Path or None. A FERA 2017 copy; None: the synthetic corpus. Defaults to None.
        seed: int. Seed of the corpus and of the training. Defaults to 0.
        quick: bool. The smaller corpus and shorter training of smoke runs. Defaults to False.
        workers: int or None. Worker processes; None: the CPU cores, at most 8.
        progress: bool. Progress bars. Defaults to True.

    Returns:
        A dict: `metrics` ("ConvNet", "DRML" -> metrics.json), `times` (as
        `aufera.evaluation.drml_report.time_rows` takes), `synthetic`,
        `run_dirs`, `text` (the printed tables, also written to
        OUT/drml_tables.txt) and `seconds`.
    """
    from aufera.config import resolve_config
    from aufera.data.pipeline import load_split_arrays
    from aufera.data.prepare import prepare
    from aufera.evaluation import evaluate_run
    from aufera.evaluation.drml_report import drml_tables_text
    from aufera.files import atomic_write_text
    from aufera.pretrained import write_run_preset
    from aufera.training import train

    out = Path(out)
    workers = workers or default_workers()
    start = time.perf_counter()
    source, synthetic_source = _source(out, data_dir, seed, quick, workers, progress)
    presets = DRML_SYNTHETIC_PRESETS if synthetic_source else DRML_FERA_PRESETS
    report = prepare(source, out / "data", image_size=DRML_IMAGE_SIZE, workers=workers, progress=progress)
    synthetic = bool(report["synthetic"])
    overrides = [f"seed={seed}", *(QUICK_DRML_TRAIN if quick else [])]
    metrics, run_dirs, configs = {}, {}, {}
    arrays = load_split_arrays(report["dataset"], "validation")
    for name, preset in presets.items():
        configs[name] = resolve_config(preset, overrides)
        run_dirs[name] = out / DRML_RUN_DIRS[name]
        train(configs[name], report["dataset"], run_dirs[name], progress=progress)
        metrics[name] = evaluate_run(run_dirs[name], report["dataset"], synthetic=synthetic, arrays=arrays)
        write_run_preset(run_dirs[name])
    times = {name: iteration_times(config, arrays) for name, config in configs.items()}
    times.update(batch=configs["DRML"].batch_size, preset=configs["DRML"].model.preset, machine=machine_label())
    text = drml_tables_text(metrics, times, synthetic)
    atomic_write_text(out / DRML_TABLES_FILE, text + "\n")
    return {
        "metrics": metrics,
        "times": times,
        "synthetic": synthetic,
        "run_dirs": run_dirs,
        "text": text,
        "seconds": time.perf_counter() - start,
    }


# === Chu et al. 2019: the CNN-LSTM hybrid and the multi-label samplers ===

CHU_SYNTHETIC_PRESET = "chu2019-cpu-small"
CHU_FERA_PRESET = "chu2019"
CHU_RUN_DIR = "run-chu"  # the CNN-LSTM, its CNN trained with random sampling
CHU_SAMPLER_RUN_DIRS = {"stratified": "run-chu-stratified", "momu": "run-chu-momu"}  # the CNN alone
CHU_CORPUS_DIR = "corpus-chu"
CHU_DATA_DIR = "data-chu"
CHU_TABLES_FILE = "chu_tables.txt"
QUICK_CHU_SYNTH = {"train_subjects": 4, "valid_subjects": 2, "frames": 120}
QUICK_CHU_TRAIN = ["epochs_chu_cnn=2", "epochs_chu_lstm=3", "epochs_chu_fusion=3", "sequence.length=60"]


def dataset_side(training_preset: str) -> int:
    """The image side `prepare` must write for a training preset: its model preset's `preprocessing` dataset size."""
    from aufera.config import resolve_config
    from aufera.preprocessing import Preprocessing

    model = resolve_config(training_preset).model
    return Preprocessing.of_preset(model.preset, model.family).dataset_shape[0]


def chu_sampler_overrides(sampler: str) -> list[str]:
    """The overrides of one run of the sampler comparison: the sampler; the CNN alone, but for random sampling."""
    return [f"sampler={sampler}"] + (["epochs_chu_lstm=0"] if sampler != "random" else [])


def reproduce_chu(
    out, data_dir=None, seed: int = 0, quick: bool = False, workers: int | None = None, progress: bool = True
) -> dict:
    """Chu et al.'s Tables 1-2 and 3-4 in shape: CNN vs LSTM vs CNN+LSTM, and random vs stratified vs MOMU.

    On the synthetic corpus it writes a corpus of its own (`CHU_SYNTH`:
    long sessions, into OUT/corpus-chu, prepared into OUT/data-chu at 200
    px); with `data_dir`, a FERA 2017 copy prepared at 200 px with the
    paper's config. Then it trains the CNN-LSTM (the CNN with random
    sampling) into OUT/run-chu and the CNN alone with multi-label
    stratification and with MOMU, evaluates each on the held-out subjects'
    whole videos and writes the tables to OUT/chu_tables.txt. Every step
    resumes.

    Args:
        out: str or Path. The output folder (may be shared with `reproduce`).
        data_dir: str, Path or None. A FERA 2017 copy; None: the synthetic corpus. Defaults to None.
        seed: int. Seed of the corpus and of the training. Defaults to 0.
        quick: bool. A smaller corpus and shorter training for smoke runs. Defaults to False.
        workers: int or None. Worker processes; None: the CPU cores, at most 8.
        progress: bool. Progress bars. Defaults to True.

    Returns:
        A dict: `metrics` (the CNN-LSTM run's), `samplers` ("random",
        "stratified", "momu" -> metrics), `synthetic`, `run_dirs`, `text`
        (the printed tables) and `seconds`.
    """
    from aufera.config import resolve_config
    from aufera.data.prepare import prepare
    from aufera.evaluation.chu import chu_tables_text, evaluate_chu_run
    from aufera.files import atomic_write_text
    from aufera.pretrained import write_run_preset
    from aufera.synth.writer import write_corpus
    from aufera.training import train

    out = Path(out)
    workers = workers or default_workers()
    start = time.perf_counter()
    if data_dir is None:
        source = out / CHU_CORPUS_DIR
        corpus = chu_corpus_config(seed)
        if quick:
            corpus = SynthConfig(**{**corpus.to_dict(), **QUICK_CHU_SYNTH})
        write_corpus(source, corpus, workers=workers, progress=progress)
        preset = CHU_SYNTHETIC_PRESET
    else:
        source, preset = Path(data_dir), CHU_FERA_PRESET
    size = dataset_side(preset)
    report = prepare(source, out / CHU_DATA_DIR, image_size=size, workers=workers, progress=progress)
    synthetic = bool(report["synthetic"])
    overrides = [f"seed={seed}", *(QUICK_CHU_TRAIN if quick else [])]
    run_dirs = {"random": out / CHU_RUN_DIR, **{s: out / d for s, d in CHU_SAMPLER_RUN_DIRS.items()}}
    samplers = {}
    for sampler, run_dir in run_dirs.items():
        config = resolve_config(preset, overrides + chu_sampler_overrides(sampler))
        train(config, report["dataset"], run_dir, progress=progress)
        samplers[sampler] = evaluate_chu_run(run_dir, report["dataset"], synthetic=synthetic, progress=progress)
        write_run_preset(run_dir)  # the CNN-LSTM run only (the sampler runs hold a CNN alone)
    text = chu_tables_text(samplers["random"], samplers, synthetic)
    atomic_write_text(out / CHU_TABLES_FILE, text + "\n")
    return {
        "metrics": samplers["random"],
        "samplers": samplers,
        "synthetic": synthetic,
        "run_dirs": run_dirs,
        "text": text,
        "seconds": time.perf_counter() - start,
    }
