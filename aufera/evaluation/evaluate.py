"""Evaluation of a trained run: metrics, the paper's tables side by side, figures and per-frame predictions.

A network's AU decision is "present" where its present output (index 0) is
larger than its absent output (index 1), a tie counting as absent; the
fusion is eq. (5) over Network1 and Network2 (`aufera.models.decision_fusion`,
w1 = w2 = 0.5); views come from Network1 alone (arg-max of its view output).
F1 (eq. 6) and accuracy are computed per AU over the known labels only
(`aufera.metrics`), and their mean over the 10 AUs is the "Mean" row.

`evaluate_run` writes into the run directory:

- `metrics.json` (contract): for `network1`, `network2` and `fusion`, `f1`
  and `accuracy` per AU ("AU1" ... "AU23") plus `mean`; for `network1` also
  `view_accuracy` and the 9x9 `view_confusion` (counts, rows = true view);
  beside the contract, `reference`: each AU's base rate and always-present F1.
- `table1.md`, `table2.md`: ours beside every published column of Tables 1-2.
- `fig7_view_confusion.png`, `f1_per_au.png`: see `aufera.evaluation.figures`.
- `predictions_{split}.csv`: one row per frame.

Results on the synthetic corpus are labelled "synthetic corpus" in every
title; the paper's columns are labelled "FERA 2017 (He et al. 2019)".

References:
    He, Li, Bo, Yu 2019, Sec. 3.3 (eq. 5), Sec. 4.3 (eq. 6), Tables 1-2, Fig. 7.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np

from aufera.au import AU_KEYS, NUM_AUS, NUM_VIEWS
from aufera.errors import AuferaError
from aufera.evaluation import paper
from aufera.files import atomic_write, atomic_write_text
from aufera.metrics import accuracy_per_au, f1_per_au, view_accuracy, view_confusion_matrix

MODELS = ("network1", "network2", "fusion")
MODEL_FILES = {"network1": "network1.keras", "network2": "network2.keras"}
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
TABLE_FILES = {"table1": "table1.md", "table2": "table2.md"}
FIGURE_FILES = {"view_confusion": "fig7_view_confusion.png", "f1_per_au": "f1_per_au.png"}
DEFAULT_FUSION_WEIGHTS = (0.5, 0.5)
OUR_NAMES = {"network1": "Network1", "network2": "Network2", "fusion": "Fusion"}


# === Predictions and metrics ===


def _check_outputs(au_true, view_true, outputs) -> tuple[np.ndarray, np.ndarray, dict]:
    au_true = np.asarray(au_true)
    view_true = np.asarray(view_true).reshape(-1)
    n = au_true.shape[0] if au_true.ndim == 2 else -1
    if au_true.shape != (n, NUM_AUS):
        raise ValueError(f"`au_true` must have shape (N, {NUM_AUS}). Received: au_true.shape={au_true.shape}")
    if view_true.shape != (n,):
        raise ValueError(f"`view_true` must have shape ({n},). Received: view_true.shape={view_true.shape}")
    try:
        arrays = {
            "network1_au": np.asarray(outputs["network1"]["au"], np.float64),
            "network1_view": np.asarray(outputs["network1"]["view"], np.float64),
            "network2_au": np.asarray(outputs["network2"]["au"], np.float64),
        }
    except (KeyError, TypeError) as error:
        raise ValueError(
            "`outputs` must be {'network1': {'au': (N, 10, 2), 'view': (N, 9)}, 'network2': {'au': (N, 10, 2)}}. "
            f"Missing: {error}"
        ) from None
    expected = {"network1_au": (n, NUM_AUS, 2), "network1_view": (n, NUM_VIEWS), "network2_au": (n, NUM_AUS, 2)}
    for key, shape in expected.items():
        if arrays[key].shape != shape:
            raise ValueError(f"Output `{key}` must have shape {shape}. Received: {arrays[key].shape}")
    return au_true, view_true, arrays


def model_decisions(outputs: dict, fusion_weights=DEFAULT_FUSION_WEIGHTS) -> dict:
    """The 0/1 AU decisions of each model and of the fusion, the fused present-probability and the views.

    Args:
        outputs: dict. `{"network1": {"au": (N, 10, 2), "view": (N, 9)},
            "network2": {"au": (N, 10, 2)}}`, pair index 0 = present.
        fusion_weights: 2 floats. Weights w1, w2 of eq. (5). Defaults to (0.5, 0.5).

    Returns:
        A dict of numpy arrays: "network1", "network2", "fusion" int32 (N, 10)
        in {0, 1}; "fusion_present" float64 (N, 10), the weighted mean of the
        present outputs (sum_i w_i y_present^(i) / sum_i w_i); "view" int64
        (N,), Network1's predicted view index 0-8.
    """
    from aufera.models.decision_fusion import check_fusion_weights, decision_fusion

    n1 = np.asarray(outputs["network1"]["au"], np.float64)
    n2 = np.asarray(outputs["network2"]["au"], np.float64)
    weights = check_fusion_weights(fusion_weights, 2)
    present = (weights[0] * n1[..., 0] + weights[1] * n2[..., 0]) / float(sum(weights))
    return {
        # One model with any positive weight is the "larger neuron wins" rule.
        "network1": decision_fusion([n1], (1.0,)),
        "network2": decision_fusion([n2], (1.0,)),
        "fusion": decision_fusion([n1, n2], weights),
        "fusion_present": present,
        "view": np.argmax(np.asarray(outputs["network1"]["view"]), axis=1).astype(np.int64),
    }


def _per_au(values: np.ndarray) -> dict:
    out = {key: float(v) for key, v in zip(AU_KEYS, values, strict=True)}
    out["mean"] = float(np.mean(values))
    return out


def evaluate_predictions(au_true, view_true, outputs: dict, fusion_weights=DEFAULT_FUSION_WEIGHTS) -> dict:
    """Metrics of Network1, Network2 and their fusion, in the `metrics.json` layout.

    Args:
        au_true: array (N, 10) of +1 (present), -1 (absent), 0 (unknown, left out).
        view_true: array (N,) of view indices 0-8.
        outputs: dict. `{"network1": {"au": (N, 10, 2), "view": (N, 9)},
            "network2": {"au": (N, 10, 2)}}` (model outputs, index 0 = present).
        fusion_weights: 2 floats. w1, w2 of eq. (5). Defaults to (0.5, 0.5).

    Returns:
        `{"network1": {"f1": {...}, "accuracy": {...}, "view_accuracy": float,
        "view_confusion": 9x9 list of int counts (rows = true view)},
        "network2": {"f1", "accuracy"}, "fusion": {"f1", "accuracy"},
        "reference": {"base_rate", "always_present_f1"}}`, where each `f1` /
        `accuracy` maps "AU1" ... "AU23" and "mean" to floats. `reference`
        gives each AU's share of present frames p among the known labels and
        the F1 of always answering "present", 2p / (1 + p): the level a
        detector has to beat to have learnt anything about that AU.

    Examples:

    ```python
    metrics = evaluate_predictions(arrays.au, arrays.view, {"network1": n1_out, "network2": n2_out})
    metrics["fusion"]["f1"]["mean"]
    ```

    References:
        He, Li, Bo, Yu 2019, eq. (5) (fusion), eq. (6) (F1), Tables 1-2, Fig. 7.
    """
    au_true, view_true, _ = _check_outputs(au_true, view_true, outputs)
    decisions = model_decisions(outputs, fusion_weights)
    metrics = {}
    for name in MODELS:
        metrics[name] = {
            "f1": _per_au(f1_per_au(au_true, decisions[name])),
            "accuracy": _per_au(accuracy_per_au(au_true, decisions[name])),
        }
    always = np.ones(au_true.shape, np.int64)
    present, known = (au_true > 0).sum(0), (au_true != 0).sum(0)
    metrics["reference"] = {
        "base_rate": _per_au(np.divide(present, known, out=np.zeros(len(known)), where=known > 0)),
        "always_present_f1": _per_au(f1_per_au(au_true, always)),
    }
    metrics["network1"]["view_accuracy"] = view_accuracy(view_true, decisions["view"])
    metrics["network1"]["view_confusion"] = view_confusion_matrix(view_true, decisions["view"]).tolist()
    return metrics


# === Tables ===


def source_label(synthetic: bool | None) -> str:
    """How our results are labelled: "synthetic corpus", "FERA 2017", or "dataset of unrecorded source"."""
    if synthetic is None:
        return "dataset of unrecorded source (pass --synthetic or --fera)"
    return "synthetic corpus" if synthetic else "FERA 2017"


def _table_rows(metrics: dict, table: paper.PaperTable) -> tuple[list[str], list[list[str]]]:
    metric = "f1" if table.metric == "F1" else "accuracy"
    header = ["AU"] + [f"{OUR_NAMES[m]} (ours)" for m in MODELS] + [f"{c} (paper)" for c in table.columns]
    rows = []
    for key in (*AU_KEYS, "mean"):
        ours = [f"{metrics[m][metric][key]:.3f}" for m in MODELS]
        published = [f"{table.value(c, key):.3f}" for c in table.columns]
        rows.append(["Mean" if key == "mean" else key, *ours, *published])
    return header, rows


def _table_title(table: paper.PaperTable, synthetic: bool | None, split: str) -> str:
    return (
        f"{table.name}: {table.metric} per AU. Ours: {source_label(synthetic)}, {split} split. "
        f"Paper: {paper.SOURCE_LABEL}, validation part."
    )


def table_markdown(metrics: dict, table: paper.PaperTable, synthetic: bool | None, split: str = "validation") -> str:
    """One of the paper's tables as Markdown, our three models first, then every published column.

    Args:
        metrics: dict. As returned by `evaluate_predictions`.
        table: `paper.TABLE1_F1` or `paper.TABLE2_ACCURACY`.
        synthetic: bool or None. Whether our results come from the synthetic
            corpus (None: source not recorded).
        split: str. The split we evaluated. Defaults to "validation".

    Returns:
        The Markdown text.
    """
    header, rows = _table_rows(metrics, table)
    lines = [f"# {_table_title(table, synthetic, split)}", ""]
    if synthetic:
        lines += [
            "Our columns are measured on aufera's synthetic corpus, not on FERA 2017: they check the "
            "implementation and are not comparable with the published numbers.",
            "",
        ]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    if table is paper.TABLE1_F1 and "view_accuracy" in metrics.get("network1", {}):
        lines += [
            "",
            f"View recognition accuracy (Network1): ours {metrics['network1']['view_accuracy']:.3f}, "
            f"paper {paper.VIEW_ACCURACY:.3f} on {paper.SOURCE_LABEL}.",
        ]
    return "\n".join(lines) + "\n"


def aligned_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Lines of a text table: first column left-aligned, the others right-aligned, a dashed rule under the header."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = ["  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True)))]
    out.append("  ".join("-" * w for w in widths))
    for row in rows:
        out.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    return out


def print_tables(metrics: dict, synthetic: bool | None, split: str = "validation") -> str:
    """Tables 1 and 2 as aligned text for the terminal, ours beside the paper's.

    Args:
        metrics: dict. As returned by `evaluate_predictions`.
        synthetic: bool or None. Whether our results come from the synthetic corpus.
        split: str. The split we evaluated. Defaults to "validation".

    Returns:
        The text (the caller prints it).
    """
    lines = []
    for table in (paper.TABLE1_F1, paper.TABLE2_ACCURACY):
        lines += [_table_title(table, synthetic, split), *aligned_table(*_table_rows(metrics, table)), ""]
    if "reference" in metrics and "fusion" in metrics:
        trivial = metrics["reference"]["always_present_f1"]
        below = [key for key in AU_KEYS if metrics["fusion"]["f1"][key] <= trivial[key]]
        lines.append(
            f"Fusion F1 at or below always answering 'present' (2p/(1+p)): {', '.join(below) if below else 'no AU'}; "
            f"mean of 2p/(1+p) over the AUs {trivial['mean']:.3f}"
        )
    if "view_accuracy" in metrics.get("network1", {}):
        lines.append(
            f"View accuracy (Network1): ours {metrics['network1']['view_accuracy']:.3f}; "
            f"paper {paper.VIEW_ACCURACY:.3f} on {paper.SOURCE_LABEL}"
        )
    return "\n".join(lines)


# === Files ===


PREDICTION_KEYS = ("subject", "task", "view", "frame", "au_true", "network1", "network2", "fusion", "fusion_present")


def predictions_csv(predictions: dict) -> str:
    """The per-frame predictions as CSV text.

    Args:
        predictions: dict of arrays with N rows: "subject", "task", "frame",
            "view" (true view index 0-8), "au_true" (N, 10) in {+1, -1, 0},
            "network1", "network2", "fusion" (N, 10) 0/1 decisions,
            "fusion_present" (N, 10) fused present-probability and
            "view_pred" (N,) Network1's view index 0-8.

    Returns:
        CSV text with columns subject, task, view (1-9), frame, true_AU*
        (+1/-1/0), network1_AU*, network2_AU*, fusion_AU* (1 = present),
        fusion_present_AU* (probability) and view_pred (1-9).
    """
    missing = [k for k in (*PREDICTION_KEYS, "view_pred") if k not in predictions]
    if missing:
        raise ValueError(f"`predictions` lacks {missing}. Received keys: {sorted(predictions)}")
    columns = ["subject", "task", "view", "frame"]
    for prefix in ("true", "network1", "network2", "fusion", "fusion_present"):
        columns += [f"{prefix}_{k}" for k in AU_KEYS]
    columns.append("view_pred")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    n = len(predictions["view"])
    for i in range(n):
        row = [str(predictions["subject"][i]), str(predictions["task"][i]), int(predictions["view"][i]) + 1]
        row.append(int(predictions["frame"][i]))
        for key in ("au_true", "network1", "network2", "fusion"):
            row += [int(v) for v in predictions[key][i]]
        row += [f"{float(v):.4f}" for v in predictions["fusion_present"][i]]
        row.append(int(predictions["view_pred"][i]) + 1)
        writer.writerow(row)
    return buffer.getvalue()


def write_report(
    run_dir,
    metrics: dict,
    synthetic: bool | None,
    predictions: dict | None = None,
    split: str = "validation",
) -> dict:
    """Writes metrics.json, the two tables, the two figures and (given predictions) the per-frame CSV.

    Every file is written atomically (temporary file, then rename).

    Args:
        run_dir: str or Path. The run directory (created if missing).
        metrics: dict. As returned by `evaluate_predictions`.
        synthetic: bool or None. True labels our results "synthetic corpus",
            False "FERA 2017", None "dataset of unrecorded source".
        predictions: dict or None. Per-frame rows, see `predictions_csv`.
            Defaults to None (no CSV).
        split: str. The split evaluated, used in titles and the CSV name
            `predictions_{split}.csv`. Defaults to "validation".

    Returns:
        A dict: file kind -> Path written.
    """
    from aufera.evaluation import figures

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    written = {"metrics": run_dir / METRICS_FILE}
    atomic_write_text(written["metrics"], json.dumps(metrics, indent=2) + "\n")
    for key, table in (("table1", paper.TABLE1_F1), ("table2", paper.TABLE2_ACCURACY)):
        written[key] = run_dir / TABLE_FILES[key]
        atomic_write_text(written[key], table_markdown(metrics, table, synthetic, split))
    label = f"ours: {source_label(synthetic)}, {split}"
    written["view_confusion"] = run_dir / FIGURE_FILES["view_confusion"]
    atomic_write(
        written["view_confusion"],
        lambda p: figures.plot_view_confusion(
            metrics["network1"]["view_confusion"], p, title=f"Fig. 7: view confusion of Network1 ({label})"
        ),
    )
    written["f1_per_au"] = run_dir / FIGURE_FILES["f1_per_au"]
    atomic_write(
        written["f1_per_au"],
        lambda p: figures.plot_f1_per_au(metrics, p, title=f"F1 per AU ({label}) vs {paper.SOURCE_LABEL}"),
    )
    if predictions is not None:
        written["predictions"] = run_dir / f"predictions_{split}.csv"
        atomic_write_text(written["predictions"], predictions_csv(predictions))
    return written


# === A run directory ===


def read_run_config(run_dir) -> dict:
    """The run's `config.yaml` as a dict ({} if the file is absent).

    Raises:
        AuferaError: naming the file, when it is not readable YAML mapping.
    """
    import yaml

    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise AuferaError(f"{path}: unreadable config ({error})") from None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise AuferaError(f"{path}: expected a YAML mapping, found {type(config).__name__}")
    return config


def _find(config: dict, names: tuple[str, ...]):
    """The first non-mapping value under `names`, at the top level or in a top-level mapping (e.g. data.synthetic)."""
    for name in names:
        value = config.get(name)
        if value is not None and not isinstance(value, dict):
            return value
    for value in config.values():
        if isinstance(value, dict):
            found = next((value[n] for n in names if value.get(n) is not None and not isinstance(value[n], dict)), None)
            if found is not None:
                return found
    return None


DATA_KEYS = ("data", "dataset", "data_dir", "dataset_dir")
DATA_SUBKEYS = ("path", "dir", "dataset", "data_dir", "dataset_dir")


def resolve_data_dir(run_dir, data_dir=None) -> Path:
    """The prepared dataset to evaluate on: `data_dir`, else the one the run's config.yaml names.

    The config may name it as a string under `data`, `dataset`, `data_dir`
    or `dataset_dir`, or as `path`, `dir`, `dataset`, `data_dir` or
    `dataset_dir` inside a `data` or `dataset` mapping (e.g.
    `data: {path: ...}`). A relative path that does not exist from the
    current folder is taken relative to the run directory.

    Args:
        run_dir: str or Path. The run directory.
        data_dir: str, Path or None. Returned as a Path when given.

    Returns:
        The dataset path.

    Raises:
        AuferaError: when no dataset is given and the config names none.
    """
    if data_dir is not None:
        return Path(data_dir)
    config = read_run_config(run_dir)
    value = None
    for key in DATA_KEYS:
        entry = config.get(key)
        if isinstance(entry, dict):
            entry = next((entry[k] for k in DATA_SUBKEYS if isinstance(entry.get(k), str)), None)
        if isinstance(entry, str) and entry:
            value = entry
            break
    if value is None:
        raise AuferaError(
            f"{Path(run_dir) / CONFIG_FILE}: no dataset path recorded (key `data`); pass --data DATASET_DIR"
        )
    path = Path(value)
    if not path.is_absolute() and not path.exists() and (Path(run_dir) / path).exists():
        path = Path(run_dir) / path
    return path


def resolve_synthetic(run_dir, data_dir, synthetic: bool | None = None) -> bool | None:
    """Whether the evaluated data is the synthetic corpus.

    Order: the explicit `synthetic` argument; a boolean `synthetic` key in
    the run's config.yaml (top level or one level down); a `synthetic` key
    in the dataset's `prepare_report.json`; a corpus folder named in the
    config (`corpus`, `source`, `data_dir` or `raw`) that holds
    `groundtruth/corpus.json` (the synthetic corpus manifest). Otherwise
    None: the source is not recorded, and tables say so.

    Returns:
        True, False or None.
    """
    if synthetic is not None:
        return bool(synthetic)
    config = read_run_config(run_dir)
    value = _find(config, ("synthetic",))
    if isinstance(value, bool):
        return value
    report = Path(data_dir) / "prepare_report.json" if data_dir is not None else None
    if report is not None and report.is_file():
        try:
            value = json.loads(report.read_text()).get("synthetic")
        except (OSError, ValueError, AttributeError):
            value = None
        if isinstance(value, bool):
            return value
    corpus = _find(config, ("corpus", "source", "corpus_dir", "raw"))
    if isinstance(corpus, str) and (Path(corpus) / "groundtruth" / "corpus.json").is_file():
        return True
    return None


def load_models(run_dir) -> dict:
    """Loads `network1.keras` and `network2.keras` from the run directory.

    Raises:
        AuferaError: naming the file, when a model is missing or unreadable.
    """
    import keras

    import aufera.models  # noqa: F401  (registers the aufera classes for loading)

    models = {}
    for name, file in MODEL_FILES.items():
        path = Path(run_dir) / file
        if not path.is_file():
            raise AuferaError(f"{path}: model missing; train the run first (aufera train)")
        try:
            models[name] = keras.saving.load_model(path, compile=False)
        except Exception as error:  # Keras raises many kinds of error on a damaged file
            raise AuferaError(f"{path}: unreadable model ({type(error).__name__}: {error})") from None
    return models


def predict_arrays(models: dict, arrays, batch_size: int = 64) -> dict:
    """Runs both networks on a split in memory, in row order, in evaluation mode.

    The batches come from `aufera.data.pipeline.dataset_from_arrays` (mean
    removal, no shuffling, no augmentation).

    Args:
        models: dict. "network1" and "network2" Keras models.
        arrays: `SplitArrays`. The split (e.g. from `load_split_arrays`).
        batch_size: int. Defaults to 64.

    Returns:
        The `outputs` dict of `evaluate_predictions`, numpy arrays.
    """
    from aufera.data.pipeline import dataset_from_arrays

    ds = dataset_from_arrays(arrays, None, batch_size, training=False, augment=False, shuffle=False)
    images = ds.map(lambda x, y: x)
    n1 = models["network1"].predict(images, verbose=0)
    n2 = models["network2"].predict(images, verbose=0)
    return {
        "network1": {"au": np.asarray(n1["au"]), "view": np.asarray(n1["view"])},
        "network2": {"au": np.asarray(n2["au"])},
    }


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
            (optionally) `config.yaml`.
        data_dir: str, Path or None. The prepared dataset; None takes the
            path from `config.yaml`. Defaults to None.
        split: str. Split to evaluate. Defaults to "validation".
        batch_size: int. Defaults to 64.
        synthetic: bool or None. Label of the results; None decides with
            `resolve_synthetic`. Defaults to None.
        fusion_weights: 2 floats. w1, w2 of eq. (5). Defaults to (0.5, 0.5).
        arrays: `SplitArrays` or None. The split already in memory (then
            `data_dir` is only used to decide `synthetic`). Defaults to None.

    Returns:
        The metrics dict (as written to `metrics.json`).

    Raises:
        AuferaError: on a missing model, a missing dataset path, or a folder
            that is not a prepared dataset.

    Examples:

    ```python
    metrics = evaluate_run("runs/cpu-small", "data/fera2017/132/1.0.0")
    print(print_tables(metrics, synthetic=True))
    ```
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise AuferaError(f"{run_dir}: run directory not found")
    models = load_models(run_dir)
    if arrays is None:
        from aufera.data.pipeline import load_split_arrays

        data_dir = resolve_data_dir(run_dir, data_dir)
        arrays = load_split_arrays(data_dir, split)
    if len(arrays) == 0:
        raise AuferaError(f"{data_dir}: split {split!r} holds no frame")
    synthetic = resolve_synthetic(run_dir, data_dir, synthetic)
    outputs = predict_arrays(models, arrays, batch_size)
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


# === Command line ===


def run_cli(args) -> int:
    """Runs `aufera evaluate` from parsed arguments; prints the tables; returns the exit status."""
    if args.batch_size < 1:
        raise AuferaError(f"--batch-size must be >= 1. Received: {args.batch_size}")
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise AuferaError(f"{run_dir}: run directory not found")
    data_dir = resolve_data_dir(run_dir, args.data)
    metrics = evaluate_run(run_dir, data_dir, args.split, args.batch_size, synthetic=args.synthetic)
    synthetic = resolve_synthetic(run_dir, data_dir, args.synthetic)
    print(print_tables(metrics, synthetic, args.split))
    files = [METRICS_FILE, *TABLE_FILES.values(), *FIGURE_FILES.values(), f"predictions_{args.split}.csv"]
    print(f"report in {run_dir}: {', '.join(files)}")
    return 0


__all__ = [
    "evaluate_predictions",
    "evaluate_run",
    "model_decisions",
    "print_tables",
    "run_cli",
    "write_report",
]
