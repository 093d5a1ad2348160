"""Evaluation of a run directory: its saved models on a split of the prepared dataset.

A run directory is what `aufera train` writes: `config.yaml` (written by
`aufera.config.save_config`; its `data_dir` is the prepared dataset the run
was trained on, its `model.family` the kind of models) and the models (names
from `aufera.filenames`): `network1.keras` and `network2.keras` for a He et
al. 2019 run (`model.family: he2019`, also the reading of a run without
`config.yaml`), `drml.keras` for a DRML or ConvNet run (`model.family:
drml`), which takes the centre crop of the dataset's images
(`aufera.preprocessing.Preprocessing.crop_size`). `evaluate_run` loads the
models, predicts the split, scores the predictions
(`aufera.evaluation.scores`) and writes the report into the run directory
(`aufera.evaluation.report`).

`evaluate_run(..., with_runs=[...])` adds the models of DRML-family runs to
the decision fusion of a He et al. run (`fusion_all`); each run is predicted
on its own recorded dataset (the He run's 132-px faces, the DRML run's
200-px faces of the same corpus) and the rows are matched by (subject,
task, view, frame): the frame sets and their labels must be the same.

Our results are labelled by the data they were measured on
(`resolve_synthetic`): the `synthetic` flag `aufera prepare` records in the
dataset's `prepare_report.json`, unless the caller says.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from aufera.config import FAMILY_STAGES
from aufera.errors import AuferaError
from aufera.evaluation.report import member_labels, write_report
from aufera.evaluation.scores import (
    DRML_MODEL_NAMES,
    drml_decisions,
    evaluate_drml_predictions,
    evaluate_predictions,
    fusion_weights_for,
    model_decisions,
)
from aufera.filenames import CONFIG_FILE, PREPARE_REPORT_JSON, model_file

# === Reading a run directory ===


def _run_dir(run_dir) -> Path:
    """The run directory as a Path; AuferaError when it is not a folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise AuferaError(f"{run_dir}: run directory not found")
    return run_dir


def resolve_data_dir(run_dir, data_dir=None) -> Path:
    """The prepared dataset to evaluate on: `data_dir`, else the one the run was trained on.

    The run's dataset is the `data_dir` of its `config.yaml`, read with
    `aufera.config.load_config` (`aufera train` records the absolute path).

    Args:
        run_dir: str or Path. The run directory.
        data_dir: str, Path or None. Returned as a Path when given. Defaults
            to None.

    Returns:
        The dataset path.

    Raises:
        AuferaError: when the run directory is missing; or, without
            `data_dir`, when it has no `config.yaml`, the file is not a valid
            config, or it records no dataset.
    """
    run_dir = _run_dir(run_dir)
    if data_dir is not None:
        return Path(data_dir)
    from aufera.config import load_run_config

    config = load_run_config(run_dir)
    if config is None:
        raise AuferaError(f"{run_dir}: no {CONFIG_FILE}; pass --data DATASET_DIR")
    if config.data_dir is None:
        raise AuferaError(f"{run_dir / CONFIG_FILE}: no dataset recorded (data_dir is null); pass --data DATASET_DIR")
    return Path(config.data_dir)


def run_family(run_dir) -> tuple[str, object]:
    """The model family of a run and its config: `(family, TrainConfig or None)`.

    A run without `config.yaml` is read as a He et al. 2019 run ("he2019"),
    as before model families existed.

    Raises:
        AuferaError: naming the file, when `config.yaml` is not a valid
            config; or when a run without `config.yaml` holds a DRML model
            (its preset, which gives the input crop, is recorded there only).
    """
    from aufera.config import load_run_config

    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    if config is not None:
        return config.model.family, config
    if (run_dir / model_file("drml")).is_file() and not (run_dir / model_file("network1")).is_file():
        raise AuferaError(
            f"{run_dir}: no {CONFIG_FILE} beside {model_file('drml')}; a DRML run needs it (its model preset "
            "gives the input crop)"
        )
    return "he2019", None


def run_preprocessing(run_dir):
    """The model preset a run was trained with and its input contract, from its `config.yaml`.

    Returns:
        `(preset name, aufera.preprocessing.Preprocessing)` of the run's
        model family, or `(None, None)` when the run directory has no
        `config.yaml`.

    Raises:
        AuferaError: naming the file, when it is not a valid config.
    """
    from aufera.preprocessing import Preprocessing

    family, config = run_family(run_dir)
    if config is None:
        return None, None
    return config.model.preset, Preprocessing.of_preset(config.model.preset, family)


def resolve_synthetic(data_dir, synthetic: bool | None = None) -> bool | None:
    """Whether the evaluated data is the synthetic corpus.

    Order: the explicit `synthetic` argument; else the boolean `synthetic`
    of the dataset's `prepare_report.json`, which `aufera prepare` sets when
    the source folder holds the synthetic corpus manifest; else None (the
    source is not recorded, and the tables say so).

    Args:
        data_dir: str, Path or None. The prepared dataset.
        synthetic: bool or None. The caller's answer, returned when given.
            Defaults to None.

    Returns:
        True, False or None.

    Raises:
        AuferaError: naming the report, when it is not readable JSON.
    """
    if synthetic is not None:
        return bool(synthetic)
    if data_dir is None:
        return None
    report = Path(data_dir) / PREPARE_REPORT_JSON
    if not report.is_file():
        return None
    try:
        value = json.loads(report.read_text())
    except (OSError, ValueError) as error:
        raise AuferaError(f"{report}: unreadable preparation report ({error})") from None
    value = value.get("synthetic") if isinstance(value, dict) else None
    return value if isinstance(value, bool) else None


# === Models and predictions ===


def load_models(run_dir, family: str | None = None) -> dict:
    """Loads the trained models of a run directory.

    Args:
        run_dir: str or Path. Holds `network1.keras` and `network2.keras`
            (He et al.) or `drml.keras` (DRML, ConvNet).
        family: str or None. "he2019" or "drml"; None reads it from the
            run's `config.yaml` (`run_family`). Defaults to None.

    Returns:
        A dict: "network1", "network2" (or "drml") -> Keras model (not compiled).

    Raises:
        AuferaError: naming the file, when a model is missing or unreadable.
    """
    import keras

    import aufera.models  # noqa: F401  (registers the aufera classes for loading)

    if family is None:
        family, _ = run_family(run_dir)
    models = {}
    for name in FAMILY_STAGES[family]:
        path = Path(run_dir) / model_file(name)
        if not path.is_file():
            raise AuferaError(f"{path}: model missing; train the run first (aufera train)")
        try:
            models[name] = keras.saving.load_model(path, compile=False)
        except Exception as error:  # Keras raises many kinds of error on a damaged file
            raise AuferaError(f"{path}: unreadable model ({type(error).__name__}: {error})") from None
    return models


def predict_arrays(
    models: dict, arrays, batch_size: int = 64, scale: float | None = None, crop_size: int | None = None
) -> dict:
    """Runs a run's models on a split in memory, in row order, in evaluation mode.

    The batches come from `aufera.data.pipeline.dataset_from_arrays` (mean
    removal, no shuffling, no augmentation; with `crop_size`, the centre
    crop of each image).

    Args:
        models: dict. "network1" and "network2" Keras models, or "drml".
        arrays: `SplitArrays`. The split (e.g. from `load_split_arrays`).
        batch_size: int. Defaults to 64.
        scale: float or None. Pixel scale of the models' preprocessing;
            None: the pipeline's default (1/255). Defaults to None.
        crop_size: int or None. Side of the centre crop the models take
            (`Preprocessing.crop_size`); None: the whole image. Defaults to None.

    Returns:
        Numpy arrays: He et al., the `outputs` dict of `evaluate_predictions`
        (`{"network1": {"au", "view"}, "network2": {"au"}}`); DRML,
        `{"drml": {"au": (N, 10)}}` (sigmoid present-probabilities).
    """
    from aufera.data.pipeline import DEFAULT_SCALE, dataset_from_arrays

    scale = DEFAULT_SCALE if scale is None else scale
    ds = dataset_from_arrays(
        arrays, None, batch_size, training=False, augment=False, shuffle=False, scale=scale, crop_size=crop_size
    )
    images = ds.map(lambda x, y: x)
    if "drml" in models:
        return {"drml": {"au": np.asarray(models["drml"].predict(images, verbose=0)["au"])}}
    n1 = models["network1"].predict(images, verbose=0)
    n2 = models["network2"].predict(images, verbose=0)
    return {
        "network1": {"au": np.asarray(n1["au"]), "view": np.asarray(n1["view"])},
        "network2": {"au": np.asarray(n2["au"])},
    }


# === Frames of two datasets ===


def _frame_keys(arrays) -> np.ndarray:
    """One string per row: subject, task, view and frame (the identity of a frame across datasets of a corpus)."""
    view = np.asarray(arrays.view).astype(np.int64)
    frame = np.asarray(arrays.frame).astype(np.int64)
    return np.array(
        [f"{s}\x1f{t}\x1f{v}\x1f{f}" for s, t, v, f in zip(arrays.subject, arrays.task, view, frame, strict=True)]
    )


def _describe_key(key: str) -> str:
    subject, task, view, frame = key.split("\x1f")
    return f"subject {subject} task {task} view {int(view) + 1} frame {frame}"


def align_rows(arrays, other, where, other_where) -> np.ndarray:
    """The rows of `other` in the order of the frames of `arrays`, matched by (subject, task, view, frame).

    Args:
        arrays: `SplitArrays`. The reference split (its row order is kept).
        other: `SplitArrays`. The same frames from another dataset of the
            same corpus (e.g. 200-px instead of 132-px faces).
        where: str. Names `arrays`' dataset in messages.
        other_where: str. Names `other`'s dataset in messages.

    Returns:
        An int64 array `rows` with `other.select(rows)` frame by frame the
        frames of `arrays`.

    Raises:
        AuferaError: one line, when a dataset holds a frame twice, the two
            hold different frames, or a frame's AU labels differ.
    """
    keys, other_keys = _frame_keys(arrays), _frame_keys(other)
    for k, name in ((keys, where), (other_keys, other_where)):
        unique, counts = np.unique(k, return_counts=True)
        if (counts > 1).any():
            raise AuferaError(f"{name}: {_describe_key(unique[counts > 1][0])} appears twice; cannot match frames")
    index = {key: i for i, key in enumerate(other_keys)}
    missing = [key for key in keys if key not in index]
    extra = len(other_keys) - (len(keys) - len(missing))
    if missing or extra:
        known = set(keys)
        example = missing[0] if missing else next(k for k in other_keys if k not in known)
        raise AuferaError(
            f"{other_where}: holds other frames than {where} ({len(missing)} of its {len(keys)} frames missing, "
            f"{extra} extra; e.g. {_describe_key(example)}); the fused runs must be evaluated on the same frames"
        )
    rows = np.array([index[key] for key in keys], dtype=np.int64)
    differ = np.flatnonzero(np.any(np.asarray(other.au)[rows] != np.asarray(arrays.au), axis=1))
    if differ.size:
        raise AuferaError(
            f"{other_where}: the AU labels of {differ.size} frames differ from those of {where} "
            f"(e.g. {_describe_key(keys[differ[0]])}); not the same corpus?"
        )
    return rows


# === The evaluation ===


def _check_input(arrays, where, run_dir, preset, preprocessing, models) -> None:
    """Refuses images the run's models do not take, with one line (not a Keras error)."""
    image_shape = tuple(int(d) for d in arrays.image.shape[1:])
    if preprocessing is not None:
        preprocessing.check_dataset(image_shape, where, preset)
        if preprocessing.crop_size is not None:
            image_shape = preprocessing.image_shape
    for name, model in models.items():
        expected = tuple(model.input_shape[1:])
        if expected != image_shape:
            raise AuferaError(f"{where}: images of shape {image_shape}, but {name} of {run_dir} takes {expected}")


def _load_arrays(data_dir, split):
    from aufera.data.pipeline import load_split_arrays

    arrays = load_split_arrays(data_dir, split)
    if len(arrays) == 0:
        raise AuferaError(f"{data_dir}: split {split!r} holds no frame")
    return arrays


def _with_run(path) -> tuple[Path, object]:
    """A run to join the fusion: its directory and its DRML-family config; AuferaError naming what is wrong."""
    path = Path(path)
    if not path.is_dir():
        raise AuferaError(f"--with {path}: run directory not found")
    family, config = run_family(path)
    if config is None:
        raise AuferaError(f"--with {path}: no {CONFIG_FILE}; --with takes a DRML or ConvNet run (aufera train)")
    if family != "drml":
        raise AuferaError(
            f"--with {path}: a {family} run; --with takes DRML or ConvNet runs (one model each, model.family: drml)"
        )
    if config.data_dir is None:
        raise AuferaError(f"{path / CONFIG_FILE}: no dataset recorded (data_dir is null)")
    return path, config


def _check_weights(fusion_weights, num_extra: int) -> None:
    try:
        fusion_weights_for(fusion_weights, num_extra)
    except ValueError as error:
        models = "network1, network2" + "".join(f", --with run {i + 1}" for i in range(num_extra))
        raise AuferaError(f"fusion weights ({models}): {error}") from None


def evaluate_run(
    run_dir,
    data_dir=None,
    split: str = "validation",
    batch_size: int = 64,
    synthetic: bool | None = None,
    fusion_weights=None,
    arrays=None,
    with_runs=(),
) -> dict:
    """Evaluates the trained models of a run directory and writes the report there.

    A He et al. 2019 run: Network1, Network2 and their fusion (eq. 5), with
    `with_runs` also the models of DRML-family runs fused with them
    (`fusion_all`). A DRML run (`model.family: drml`): DRML or ConvNet on
    the centre crop of the dataset's images, decisions p > 0.5.

    Args:
        run_dir: str or Path. Holds the models and (written by `aufera
            train`) `config.yaml`.
        data_dir: str, Path or None. The prepared dataset; None takes the
            run's dataset (`resolve_data_dir`). Defaults to None.
        split: str. Split to evaluate (of every run's dataset). Defaults to "validation".
        batch_size: int. Defaults to 64.
        synthetic: bool or None. Label of the results; None decides with
            `resolve_synthetic`. Defaults to None.
        fusion_weights: floats or None. He et al. runs only, see
            `aufera.evaluation.scores.fusion_weights_for`: without
            `with_runs`, w1, w2 of eq. (5) (None: 0.5, 0.5); with them, one
            weight per model in the order network1, network2, then each
            run's model, for `fusion_all` (None: equal), `fusion` keeping
            the first two. Defaults to None.
        arrays: `SplitArrays` or None. The run's split already in memory;
            then `data_dir` is not resolved and only decides `synthetic` when
            given. Defaults to None.
        with_runs: list of str or Path. DRML or ConvNet run directories whose
            models join the fusion of a He et al. run; each is predicted on
            its own recorded dataset (`config.yaml`'s `data_dir`), whose
            frames of `split` must be those of the He run's. Defaults to ().

    Returns:
        The metrics dict (as written to `metrics.json`): see
        `evaluate_predictions` (He et al.) and `evaluate_drml_predictions`
        (DRML).

    Raises:
        AuferaError: on a missing run directory or model, a dataset that
            cannot be found, a folder that is not a prepared dataset, images
            of another size than the run's model preset expects
            (`aufera.preprocessing`), an empty split; with `with_runs`, a
            run that is not a DRML-family run, weights of the wrong count,
            negative or all 0, fused datasets of other frames or labels, or
            `with_runs` / `fusion_weights` given for a DRML run. Every check
            is made before anything is written.

    Examples:

    ```python
    metrics = evaluate_run("runs/cpu-small", "data/fera2017/132/1.0.0")
    print(tables_text(metrics, synthetic=True))
    metrics = evaluate_run("runs/cpu-small", with_runs=["runs/drml"], fusion_weights=[0.25, 0.25, 0.5])
    metrics["fusion_all"]["f1"]["mean"]
    ```
    """
    from aufera.preprocessing import Preprocessing

    run_dir = _run_dir(run_dir)
    family, config = run_family(run_dir)
    with_runs = list(with_runs or ())
    if family == "drml":
        if with_runs or fusion_weights is not None:
            raise AuferaError(
                f"{run_dir}: a DRML run has no fusion; --with and --fusion-weights take a He et al. run as --run"
            )
    else:
        _check_weights(fusion_weights, len(with_runs))
    extra_runs = [_with_run(path) for path in with_runs]
    models = load_models(run_dir, family)
    if arrays is None:
        data_dir = resolve_data_dir(run_dir, data_dir)
        arrays = _load_arrays(data_dir, split)
    if len(arrays) == 0:
        raise AuferaError(f"{data_dir}: split {split!r} holds no frame")
    # The run's preset is the input contract: a dataset of another image size is one line, not a Keras error.
    where = data_dir if data_dir is not None else "the arrays given"
    preset = None if config is None else config.model.preset
    preprocessing = None if config is None else Preprocessing.of_preset(preset, family)
    _check_input(arrays, where, run_dir, preset, preprocessing, models)
    synthetic = resolve_synthetic(data_dir, synthetic)
    scale = None if preprocessing is None else preprocessing.scale
    crop_size = None if preprocessing is None else preprocessing.crop_size
    outputs = predict_arrays(models, arrays, batch_size, scale, crop_size)
    frames = {"subject": arrays.subject, "task": arrays.task, "view": arrays.view, "frame": arrays.frame}
    if family == "drml":
        present = outputs["drml"]["au"]
        metrics = evaluate_drml_predictions(arrays.au, present, DRML_MODEL_NAMES[bool(config.model.region_layer)])
        predictions = {**frames, "au_true": arrays.au, "drml": drml_decisions(present), "drml_present": present}
        write_report(run_dir, metrics, synthetic, predictions, split)
        return metrics

    outputs["with"] = [_predict_with_run(path, other, arrays, where, split, batch_size) for path, other in extra_runs]
    metrics = evaluate_predictions(arrays.au, arrays.view, outputs, fusion_weights, run=str(run_dir))
    decisions = model_decisions(outputs, fusion_weights)
    predictions = {
        **frames,
        "au_true": arrays.au,
        "network1": decisions["network1"],
        "network2": decisions["network2"],
        "fusion": decisions["fusion"],
        "fusion_present": decisions["fusion_present"],
        "view_pred": decisions["view"],
    }
    if outputs["with"]:
        labels = member_labels(metrics)
        predictions["with"] = [
            (label, d, m["au"]) for label, d, m in zip(labels, decisions["with"], outputs["with"], strict=True)
        ]
        predictions["fusion_all"] = decisions["fusion_all"]
        predictions["fusion_all_present"] = decisions["fusion_all_present"]
    write_report(run_dir, metrics, synthetic, predictions, split)
    return metrics


def _predict_with_run(path: Path, config, arrays, where, split: str, batch_size: int) -> dict:
    """A DRML-family run's present-probabilities on its own dataset, rows matched to the frames of `arrays`."""
    from aufera.preprocessing import Preprocessing

    data_dir = Path(config.data_dir)
    other = _load_arrays(data_dir, split)
    preprocessing = Preprocessing.of_preset(config.model.preset, "drml")
    models = load_models(path, "drml")
    _check_input(other, data_dir, path, config.model.preset, preprocessing, models)
    rows = align_rows(arrays, other, where, data_dir)
    other = other.select(rows)
    present = predict_arrays(models, other, batch_size, preprocessing.scale, preprocessing.crop_size)["drml"]["au"]
    return {"model": DRML_MODEL_NAMES[bool(config.model.region_layer)], "run": str(path), "au": present}
