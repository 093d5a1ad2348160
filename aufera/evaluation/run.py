"""Evaluation of a run directory: its two saved networks on a split of the prepared dataset.

A run directory is what `aufera train` writes: `config.yaml` (written by
`aufera.config.save_config`; its `data_dir` is the prepared dataset the run
was trained on) and the models `network1.keras`, `network2.keras` (names
from `aufera.filenames`). `evaluate_run` loads the models, predicts the
split, scores the predictions (`aufera.evaluation.scores`) and writes the
report into the run directory (`aufera.evaluation.report`).

Our results are labelled by the data they were measured on
(`resolve_synthetic`): the `synthetic` flag `aufera prepare` records in the
dataset's `prepare_report.json`, unless the caller says.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from aufera.errors import AuferaError
from aufera.evaluation.report import write_report
from aufera.evaluation.scores import DEFAULT_FUSION_WEIGHTS, evaluate_predictions, model_decisions
from aufera.filenames import CONFIG_FILE, PREPARE_REPORT_JSON, model_file

NETWORKS = ("network1", "network2")


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


def run_preprocessing(run_dir):
    """The model preset a run was trained with and its input contract, from its `config.yaml`.

    Returns:
        `(preset name, aufera.preprocessing.Preprocessing)`, or `(None, None)`
        when the run directory has no `config.yaml`.

    Raises:
        AuferaError: naming the file, when it is not a valid config.
    """
    from aufera.config import load_run_config
    from aufera.preprocessing import Preprocessing

    config = load_run_config(run_dir)
    if config is None:
        return None, None
    return config.model.preset, Preprocessing.of_preset(config.model.preset)


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


def load_models(run_dir) -> dict:
    """Loads the two trained networks of a run directory.

    Args:
        run_dir: str or Path. Holds `network1.keras` and `network2.keras`.

    Returns:
        A dict: "network1", "network2" -> Keras model (not compiled).

    Raises:
        AuferaError: naming the file, when a model is missing or unreadable.
    """
    import keras

    import aufera.models  # noqa: F401  (registers the aufera classes for loading)

    models = {}
    for name in NETWORKS:
        path = Path(run_dir) / model_file(name)
        if not path.is_file():
            raise AuferaError(f"{path}: model missing; train the run first (aufera train)")
        try:
            models[name] = keras.saving.load_model(path, compile=False)
        except Exception as error:  # Keras raises many kinds of error on a damaged file
            raise AuferaError(f"{path}: unreadable model ({type(error).__name__}: {error})") from None
    return models


def predict_arrays(models: dict, arrays, batch_size: int = 64, scale: float | None = None) -> dict:
    """Runs both networks on a split in memory, in row order, in evaluation mode.

    The batches come from `aufera.data.pipeline.dataset_from_arrays` (mean
    removal, no shuffling, no augmentation).

    Args:
        models: dict. "network1" and "network2" Keras models.
        arrays: `SplitArrays`. The split (e.g. from `load_split_arrays`).
        batch_size: int. Defaults to 64.
        scale: float or None. Pixel scale of the models' preprocessing;
            None: the pipeline's default (1/255). Defaults to None.

    Returns:
        The `outputs` dict of `evaluate_predictions`, numpy arrays.
    """
    from aufera.data.pipeline import DEFAULT_SCALE, dataset_from_arrays

    scale = DEFAULT_SCALE if scale is None else scale
    ds = dataset_from_arrays(arrays, None, batch_size, training=False, augment=False, shuffle=False, scale=scale)
    images = ds.map(lambda x, y: x)
    n1 = models["network1"].predict(images, verbose=0)
    n2 = models["network2"].predict(images, verbose=0)
    return {
        "network1": {"au": np.asarray(n1["au"]), "view": np.asarray(n1["view"])},
        "network2": {"au": np.asarray(n2["au"])},
    }


# === The evaluation ===


def evaluate_run(
    run_dir,
    data_dir=None,
    split: str = "validation",
    batch_size: int = 64,
    synthetic: bool | None = None,
    fusion_weights=DEFAULT_FUSION_WEIGHTS,
    arrays=None,
) -> dict:
    """Evaluates the two trained networks of a run directory and writes the report there.

    Args:
        run_dir: str or Path. Holds `network1.keras`, `network2.keras` and
            (written by `aufera train`) `config.yaml`.
        data_dir: str, Path or None. The prepared dataset; None takes the
            run's dataset (`resolve_data_dir`). Defaults to None.
        split: str. Split to evaluate. Defaults to "validation".
        batch_size: int. Defaults to 64.
        synthetic: bool or None. Label of the results; None decides with
            `resolve_synthetic`. Defaults to None.
        fusion_weights: 2 floats. w1, w2 of eq. (5). Defaults to (0.5, 0.5).
        arrays: `SplitArrays` or None. The split already in memory; then
            `data_dir` is not resolved and only decides `synthetic` when
            given. Defaults to None.

    Returns:
        The metrics dict (as written to `metrics.json`).

    Raises:
        AuferaError: on a missing run directory or model, a dataset that
            cannot be found, a folder that is not a prepared dataset, images
            of another size than the run's model preset expects
            (`aufera.preprocessing`), or an empty split.

    Examples:

    ```python
    metrics = evaluate_run("runs/cpu-small", "data/fera2017/132/1.0.0")
    print(tables_text(metrics, synthetic=True))
    ```
    """
    run_dir = _run_dir(run_dir)
    models = load_models(run_dir)
    if arrays is None:
        from aufera.data.pipeline import load_split_arrays

        data_dir = resolve_data_dir(run_dir, data_dir)
        arrays = load_split_arrays(data_dir, split)
    if len(arrays) == 0:
        raise AuferaError(f"{data_dir}: split {split!r} holds no frame")
    # The run's preset is the input contract: a dataset of another image size is one line, not a Keras error.
    where = data_dir if data_dir is not None else "the arrays given"
    image_shape = tuple(int(d) for d in arrays.image.shape[1:])
    preset, preprocessing = run_preprocessing(run_dir)
    if preprocessing is not None:
        preprocessing.check_dataset(image_shape, where, preset)
    for name, model in models.items():
        expected = tuple(model.input_shape[1:])
        if expected != image_shape:
            raise AuferaError(f"{where}: images of shape {image_shape}, but {name} of {run_dir} takes {expected}")
    synthetic = resolve_synthetic(data_dir, synthetic)
    outputs = predict_arrays(models, arrays, batch_size, None if preprocessing is None else preprocessing.scale)
    metrics = evaluate_predictions(arrays.au, arrays.view, outputs, fusion_weights)
    decisions = model_decisions(outputs, fusion_weights)
    predictions = {
        "subject": arrays.subject,
        "task": arrays.task,
        "view": arrays.view,
        "frame": arrays.frame,
        "au_true": arrays.au,
        "network1": decisions["network1"],
        "network2": decisions["network2"],
        "fusion": decisions["fusion"],
        "fusion_present": decisions["fusion_present"],
        "view_pred": decisions["view"],
    }
    write_report(run_dir, metrics, synthetic, predictions, split)
    return metrics
