"""The report of an evaluation: the paper's tables with ours beside them, per-frame CSV, the report files.

`write_report` writes into the run directory (names from `aufera.filenames`):

- `metrics.json` (contract): for `network1`, `network2` and `fusion`, `f1`
  and `accuracy` per AU ("AU1" ... "AU23") plus `mean`; for `network1` also
  `view_accuracy` and the 9x9 `view_confusion` (counts, rows = true view);
  beside the contract, `reference`: each AU's base rate and always-present F1
  (see `aufera.evaluation.scores.evaluate_predictions`).
- `table1.md`, `table2.md`: ours beside every published column of Tables 1-2
  (`table_markdown`).
- `fig7_view_confusion.png`, `f1_per_au.png`: see `aufera.evaluation.figures`.
- `predictions_{split}.csv`: one row per frame (`predictions_csv`).

Results on the synthetic corpus are labelled "synthetic corpus" in every
title (`source_label`); the paper's columns are labelled "FERA 2017 (He et
al. 2019)".

References:
    He, Li, Bo, Yu 2019, Tables 1-2, Fig. 7.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from aufera.au import AU_KEYS
from aufera.evaluation import paper
from aufera.evaluation.scores import MODELS
from aufera.evaluation.text_table import aligned_table
from aufera.filenames import FIGURE_FILES, METRICS_FILE, TABLE_FILES, predictions_file
from aufera.files import atomic_write, atomic_write_text

TABLES = {"table1": paper.TABLE1_F1, "table2": paper.TABLE2_ACCURACY}
PREDICTION_KEYS = (
    "subject",
    "task",
    "view",
    "frame",
    "au_true",
    "network1",
    "network2",
    "fusion",
    "fusion_present",
    "view_pred",
)


# === Tables ===


def source_label(synthetic: bool | None) -> str:
    """How our results are labelled.

    Args:
        synthetic: bool or None. Whether our results come from the synthetic
            corpus; None when the source is not recorded.

    Returns:
        "synthetic corpus", "FERA 2017", or "dataset of unrecorded source
        (pass --synthetic or --fera)".
    """
    if synthetic is None:
        return "dataset of unrecorded source (pass --synthetic or --fera)"
    return "synthetic corpus" if synthetic else "FERA 2017"


def _table_rows(metrics: dict, table: paper.PaperTable) -> tuple[list[str], list[list[str]]]:
    """The header and the 11 rows (10 AUs, Mean) of a table: our three models, then the published columns."""
    metric = "f1" if table.metric == "F1" else "accuracy"
    header = ["AU"] + [f"{paper.OWN_COLUMNS[m]} (ours)" for m in MODELS] + [f"{c} (paper)" for c in table.columns]
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


def tables_text(metrics: dict, synthetic: bool | None, split: str = "validation") -> str:
    """Tables 1 and 2 as aligned text for the terminal, ours beside the paper's.

    After the tables: the AUs whose fusion F1 does not beat always answering
    "present" (2p / (1 + p), see `evaluate_predictions`), and the view
    accuracy beside the paper's.

    Args:
        metrics: dict. As returned by `evaluate_predictions`.
        synthetic: bool or None. Whether our results come from the synthetic corpus.
        split: str. The split we evaluated. Defaults to "validation".

    Returns:
        The text, without a final newline.
    """
    lines = []
    for table in TABLES.values():
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
        fusion_present_AU* (probability, 4 decimals) and view_pred (1-9).

    Raises:
        ValueError: when a key is missing.
    """
    missing = [k for k in PREDICTION_KEYS if k not in predictions]
    if missing:
        raise ValueError(f"`predictions` lacks {missing}. Received keys: {sorted(predictions)}")
    columns = ["subject", "task", "view", "frame"]
    for prefix in ("true", "network1", "network2", "fusion", "fusion_present"):
        columns += [f"{prefix}_{k}" for k in AU_KEYS]
    columns.append("view_pred")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for i in range(len(predictions["view"])):
        row = [str(predictions["subject"][i]), str(predictions["task"][i]), int(predictions["view"][i]) + 1]
        row.append(int(predictions["frame"][i]))
        for key in ("au_true", "network1", "network2", "fusion"):
            row += [int(v) for v in predictions[key][i]]
        row += [f"{float(v):.4f}" for v in predictions["fusion_present"][i]]
        row.append(int(predictions["view_pred"][i]) + 1)
        writer.writerow(row)
    return buffer.getvalue()


def report_files(split: str = "validation", predictions: bool = True) -> dict[str, str]:
    """The names of the files `write_report` writes into the run directory.

    Args:
        split: str. The split evaluated (names the per-frame CSV). Defaults to "validation".
        predictions: bool. Whether the per-frame CSV is written. Defaults to True.

    Returns:
        A dict: file kind ("metrics", "table1", "table2", "view_confusion",
        "f1_per_au", "predictions") -> file name.
    """
    names = {"metrics": METRICS_FILE, **TABLE_FILES, **FIGURE_FILES}
    if predictions:
        names["predictions"] = predictions_file(split)
    return names


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
        A dict: file kind -> Path written (the kinds of `report_files`).
    """
    from aufera.evaluation import figures

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    written = {kind: run_dir / name for kind, name in report_files(split, predictions is not None).items()}
    atomic_write_text(written["metrics"], json.dumps(metrics, indent=2) + "\n")
    for kind, table in TABLES.items():
        atomic_write_text(written[kind], table_markdown(metrics, table, synthetic, split))
    label = f"ours: {source_label(synthetic)}, {split}"
    atomic_write(
        written["view_confusion"],
        lambda p: figures.plot_view_confusion(
            metrics["network1"]["view_confusion"], p, title=f"Fig. 7: view confusion of Network1 ({label})"
        ),
    )
    atomic_write(
        written["f1_per_au"],
        lambda p: figures.plot_f1_per_au(metrics, p, title=f"F1 per AU ({label}) vs {paper.SOURCE_LABEL}"),
    )
    if predictions is not None:
        atomic_write_text(written["predictions"], predictions_csv(predictions))
    return written
