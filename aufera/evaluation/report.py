"""The report of an evaluation: tables (the paper's with ours beside them), per-frame CSV, the report files.

`write_report` writes into the run directory (names from `aufera.filenames`,
`DRML_TABLE_FILE` among them). For a He et al. 2019 run:

- `metrics.json` (contract): for `network1`, `network2` and `fusion`, `f1`
  and `accuracy` per AU ("AU1" ... "AU23") plus `mean`, and `auc` (null
  where undefined, `mean` over the defined AUs, `undefined` with the
  reasons); for `network1` also `view_accuracy` and the 9x9
  `view_confusion` (counts, rows = true view); beside the contract,
  `reference`: each AU's base rate, always-present F1, positive and negative
  counts and the AUs without positives; with extra models (`aufera evaluate
  --with`) also `with` and `fusion_all` (see
  `aufera.evaluation.scores.evaluate_predictions`).
- `table1.md`, `table2.md`: ours beside every published column of Tables 1-2
  (`table_markdown`); extra models and `fusion_all` get their own columns.
- `fig7_view_confusion.png`, `f1_per_au.png`: see `aufera.evaluation.figures`.
- `predictions_{split}.csv`: one row per frame (`predictions_csv`).

For a DRML run (DRML or ConvNet): `metrics.json` (`{"drml": {"f1",
"accuracy", "auc"}, "model", "reference"}`), `table_drml.md` (F1, accuracy
and AUC per AU, `drml_table_markdown`) and `predictions_{split}.csv`
(`drml_predictions_csv`); no Tables 1-2 (He et al.'s numbers are of other
models) and no view figure (DRML has no view output).

Results on the synthetic corpus are labelled "synthetic corpus" in every
title (`source_label`); the paper's columns are labelled "FERA 2017 (He et
al. 2019)".

References:
    He, Li, Bo, Yu 2019, Tables 1-2, Fig. 7. Zhao, Chu, Zhang 2016, Table 2.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from aufera.au import AU_KEYS
from aufera.evaluation import paper
from aufera.evaluation.scores import MODELS
from aufera.evaluation.text_table import aligned_table, markdown_table, number_cell, source_label
from aufera.filenames import DRML_TABLE_FILE, FIGURE_FILES, METRICS_FILE, TABLE_FILES, predictions_file
from aufera.files import atomic_write, atomic_write_text

TABLES = {"table1": paper.TABLE1_F1, "table2": paper.TABLE2_ACCURACY}
# The F1 / accuracy / AUC table of a DRML run (its name belongs in aufera.filenames.TABLE_FILES).
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


def member_labels(metrics: dict) -> list[str]:
    """The column labels of the extra models of `metrics["with"]`: their model names, numbered when repeated."""
    names = [str(m["model"]) for m in metrics.get("with", ())]
    labels = []
    for i, name in enumerate(names):
        count = names[:i].count(name)
        labels.append(name if count == 0 else f"{name} {count + 1}")
    return labels


def _fusion_all_label(metrics: dict) -> str:
    return "Fusion " + "+".join(["N1", "N2", *member_labels(metrics)])


def own_columns(metrics: dict) -> list[tuple[str, dict]]:
    """Our models in table order: Network1, Network2, Fusion, then each extra model and `fusion_all`.

    Returns:
        A list of `(label, entry)`, `entry` the model's metrics (with "f1",
        "accuracy", "auc").
    """
    columns = [(paper.OWN_COLUMNS[m], metrics[m]) for m in MODELS]
    columns += list(zip(member_labels(metrics), metrics.get("with", ()), strict=True))
    if "fusion_all" in metrics:
        columns.append((_fusion_all_label(metrics), metrics["fusion_all"]))
    return columns


def _table_rows(metrics: dict, table: paper.PaperTable) -> tuple[list[str], list[list[str]]]:
    """The header and the 11 rows (10 AUs, Mean) of a table: our models, then the published columns."""
    metric = "f1" if table.metric == "F1" else "accuracy"
    columns = own_columns(metrics)
    header = ["AU"] + [f"{label} (ours)" for label, _ in columns] + [f"{c} (paper)" for c in table.columns]
    rows = []
    for key in (*AU_KEYS, "mean"):
        ours = [f"{entry[metric][key]:.3f}" for _, entry in columns]
        published = [f"{table.value(c, key):.3f}" for c in table.columns]
        rows.append(["Mean" if key == "mean" else key, *ours, *published])
    return header, rows


def _auc_cell(auc: dict, key: str) -> str:
    return number_cell(auc.get(key))


def _undefined_auc_line(entries) -> str | None:
    """One line naming the AUs whose AUC is undefined and why, or None."""
    undefined = {}
    for entry in entries:
        undefined.update(entry["auc"].get("undefined", {}))
    if not undefined:
        return None
    reasons = ", ".join(f"{key} ({undefined[key]})" for key in AU_KEYS if key in undefined)
    return f"AUC undefined, left out of the AUC mean: {reasons}"


def _no_positives_line(metrics: dict) -> str | None:
    missing = metrics.get("reference", {}).get("no_positives", [])
    if not missing:
        return None
    return f"AUs without a positive frame (F1 0 by convention, AUC undefined): {', '.join(missing)}"


def auc_rows(metrics: dict) -> tuple[list[str], list[list[str]]]:
    """The header and the 11 rows (10 AUs, Mean) of the AUC table of a He et al. run: our models."""
    columns = own_columns(metrics)
    header = ["AU"] + [f"{label} (ours)" for label, _ in columns]
    rows = []
    for key in (*AU_KEYS, "mean"):
        rows.append(["Mean" if key == "mean" else key, *(_auc_cell(entry["auc"], key) for _, entry in columns)])
    return header, rows


def auc_text(metrics: dict, synthetic: bool | None, split: str = "validation") -> str:
    """The AUC per AU of a He et al. run's models as aligned text (He et al. 2019 report no AUC).

    Args:
        metrics: dict. As returned by `evaluate_predictions`.
        synthetic: bool or None. Whether our results come from the synthetic corpus.
        split: str. The split we evaluated. Defaults to "validation".

    Returns:
        The text, without a final newline: a title, the table (undefined
        AUCs as "n/a"; "Mean" over the defined AUs) and a line naming the
        undefined AUs with the reason, if any.
    """
    title = f"AUC per AU (present = positive, unknown frames left out). Ours: {source_label(synthetic)}, {split} split."
    lines = [title, *aligned_table(*auc_rows(metrics))]
    note = _undefined_auc_line([entry for _, entry in own_columns(metrics)])
    if note:
        lines.append(note)
    return "\n".join(lines)


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
    lines += markdown_table(header, rows)
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
    note = _no_positives_line(metrics)
    if note:
        lines.append(note)
    if "fusion_all" in metrics:
        members = metrics["fusion_all"]["members"]
        labels = ["Network1", "Network2", *member_labels(metrics)]
        pairs = zip(labels, metrics["fusion_all"]["weights"], strict=True)
        weights = ", ".join(f"{label} {w:g}" for label, w in pairs)
        w1, w2 = metrics["fusion"]["weights"]
        lines.append(
            f"{_fusion_all_label(metrics)}: eq. (5) over {len(members)} models, weights {weights}; "
            f"Fusion (N1+N2): weights {w1:g}, {w2:g}"
        )
    return "\n".join(lines)


# === DRML runs ===


def _drml_note(metrics: dict, key: str) -> str:
    reason = metrics["drml"]["auc"]["undefined"].get(key)
    if reason == "no positives":
        return "no positives: F1 0 by convention, AUC undefined"
    return f"{reason}: AUC undefined" if reason else ""


def drml_rows(metrics: dict, notes: bool = True) -> tuple[list[str], list[list[str]]]:
    """The header and the 11 rows (10 AUs, Mean) of a DRML run's table: F1, accuracy, AUC, counts[, notes].

    The Mean row holds the mean F1 and accuracy over the 10 AUs and the mean
    AUC over the defined AUs ("n/a" where undefined); `notes` adds a column
    saying why an AU's AUC is undefined.
    """
    entry, reference = metrics["drml"], metrics["reference"]
    name = metrics.get("model", "DRML")
    header = ["AU", f"F1 ({name})", f"Accuracy ({name})", f"AUC ({name})", "Present", "Absent"]
    rows = []
    for key in AU_KEYS:
        rows.append(
            [
                key,
                f"{entry['f1'][key]:.3f}",
                f"{entry['accuracy'][key]:.3f}",
                _auc_cell(entry["auc"], key),
                str(reference["positives"][key]),
                str(reference["negatives"][key]),
            ]
        )
    means = ["Mean", f"{entry['f1']['mean']:.3f}", f"{entry['accuracy']['mean']:.3f}"]
    rows.append([*means, _auc_cell(entry["auc"], "mean"), "", ""])
    if notes:
        header.append("Note")
        undefined = len(entry["auc"]["undefined"])
        for key, row in zip(AU_KEYS, rows, strict=False):
            row.append(_drml_note(metrics, key))
        rows[-1].append(f"AUC over {len(AU_KEYS) - undefined} of {len(AU_KEYS)} AUs" if undefined else "")
    return header, rows


def _drml_title(metrics: dict, synthetic: bool | None, split: str) -> str:
    return (
        f"{metrics.get('model', 'DRML')}: F1, accuracy and AUC per AU. Ours: {source_label(synthetic)}, {split} split."
    )


DRML_PAPER_NOTE = (
    "DRML is published on BP4D and DISFA, not on FERA 2017 (Table 2: mean F1 "
    f"{paper.DRML_TABLE2_MEANS['DRML']['f1'] / 100:.3f}, AUC {paper.DRML_TABLE2_MEANS['DRML']['auc'] / 100:.3f} "
    f"on {paper.DRML_SOURCE_LABEL}): no published column to set beside ours."
)


def drml_table_markdown(metrics: dict, synthetic: bool | None, split: str = "validation") -> str:
    """The F1 / accuracy / AUC table of a DRML run as Markdown.

    Args:
        metrics: dict. As returned by `evaluate_drml_predictions`.
        synthetic: bool or None. Whether our results come from the synthetic corpus.
        split: str. The split we evaluated. Defaults to "validation".

    Returns:
        The Markdown text: F1 and accuracy per AU (mean over the 10 AUs),
        AUC per AU ("n/a" where undefined, mean over the defined AUs), the
        present and absent frame counts, and a note per undefined AU.
    """
    header, rows = drml_rows(metrics)
    lines = [f"# {_drml_title(metrics, synthetic, split)}", ""]
    if synthetic:
        lines += ["Measured on aufera's synthetic corpus, not on FERA 2017: the numbers check the implementation.", ""]
    lines += [DRML_PAPER_NOTE, ""]
    lines += markdown_table(header, rows, text_columns=(0, -1))
    return "\n".join(lines) + "\n"


def drml_text(metrics: dict, synthetic: bool | None, split: str = "validation") -> str:
    """The table of `drml_table_markdown` as aligned text for the terminal, without a final newline.

    The notes follow the table as lines: the AUs without positives, the AUs
    whose AUC is undefined (left out of the AUC mean), and the AUs whose F1
    does not beat always answering "present".
    """
    lines = [_drml_title(metrics, synthetic, split), *aligned_table(*drml_rows(metrics, notes=False))]
    for note in (_no_positives_line(metrics), _undefined_auc_line([metrics["drml"]])):
        if note:
            lines.append(note)
    trivial = metrics["reference"]["always_present_f1"]
    below = [key for key in AU_KEYS if metrics["drml"]["f1"][key] <= trivial[key]]
    lines.append(
        f"F1 at or below always answering 'present' (2p/(1+p)): {', '.join(below) if below else 'no AU'}; "
        f"mean of 2p/(1+p) over the AUs {trivial['mean']:.3f}"
    )
    return "\n".join(lines)


def report_text(metrics: dict, synthetic: bool | None, split: str = "validation") -> str:
    """What `aufera evaluate` prints: Tables 1-2 and the AUC table of a He et al. run, or a DRML run's table."""
    if "drml" in metrics:
        return drml_text(metrics, synthetic, split)
    return tables_text(metrics, synthetic, split) + "\n\n" + auc_text(metrics, synthetic, split)


# === Files ===


def _csv_text(columns: list[str], rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def _frame_cells(predictions: dict, i: int) -> list:
    return [
        str(predictions["subject"][i]),
        str(predictions["task"][i]),
        int(predictions["view"][i]) + 1,
        int(predictions["frame"][i]),
    ]


def _au_columns(prefix: str) -> list[str]:
    return [f"{prefix}_{k}" for k in AU_KEYS]


def _probabilities(values) -> list[str]:
    return [f"{float(v):.4f}" for v in values]


def member_prefixes(labels) -> list[str]:
    """CSV column prefixes of extra models from their labels ("DRML 2" -> "drml2")."""
    return [label.lower().replace(" ", "") for label in labels]


def predictions_csv(predictions: dict) -> str:
    """The per-frame predictions of a He et al. run as CSV text.

    Args:
        predictions: dict of arrays with N rows: "subject", "task", "frame",
            "view" (true view index 0-8), "au_true" (N, 10) in {+1, -1, 0},
            "network1", "network2", "fusion" (N, 10) 0/1 decisions,
            "fusion_present" (N, 10) fused present-probability and
            "view_pred" (N,) Network1's view index 0-8. Optionally, with
            extra models: "with", a list of `(label, decisions (N, 10),
            present (N, 10))`, and "fusion_all", "fusion_all_present" (N, 10).

    Returns:
        CSV text with columns subject, task, view (1-9), frame, true_AU*
        (+1/-1/0), network1_AU*, network2_AU*, fusion_AU* (1 = present),
        fusion_present_AU* (probability, 4 decimals) and view_pred (1-9);
        with extra models then, per model, {prefix}_AU* and
        {prefix}_present_AU* (prefix: the label in lower case without
        spaces, e.g. "drml"), and fusion_all_AU*, fusion_all_present_AU*.

    Raises:
        ValueError: when a key is missing.
    """
    missing = [k for k in PREDICTION_KEYS if k not in predictions]
    if missing:
        raise ValueError(f"`predictions` lacks {missing}. Received keys: {sorted(predictions)}")
    extra = list(predictions.get("with") or ())
    prefixes = member_prefixes([label for label, _, _ in extra])
    columns = ["subject", "task", "view", "frame"]
    for prefix in ("true", "network1", "network2", "fusion", "fusion_present"):
        columns += _au_columns(prefix)
    columns.append("view_pred")
    for prefix in prefixes:
        columns += _au_columns(prefix) + _au_columns(f"{prefix}_present")
    if extra:
        columns += _au_columns("fusion_all") + _au_columns("fusion_all_present")

    def rows():
        for i in range(len(predictions["view"])):
            row = _frame_cells(predictions, i)
            for key in ("au_true", "network1", "network2", "fusion"):
                row += [int(v) for v in predictions[key][i]]
            row += _probabilities(predictions["fusion_present"][i])
            row.append(int(predictions["view_pred"][i]) + 1)
            for _, decisions, present in extra:
                row += [int(v) for v in decisions[i]] + _probabilities(present[i])
            if extra:
                row += [int(v) for v in predictions["fusion_all"][i]]
                row += _probabilities(predictions["fusion_all_present"][i])
            yield row

    return _csv_text(columns, rows())


DRML_PREDICTION_KEYS = ("subject", "task", "view", "frame", "au_true", "drml", "drml_present")


def drml_predictions_csv(predictions: dict) -> str:
    """The per-frame predictions of a DRML run as CSV text.

    Args:
        predictions: dict of arrays with N rows: "subject", "task", "frame",
            "view" (true view index 0-8), "au_true" (N, 10) in {+1, -1, 0},
            "drml" (N, 10) 0/1 decisions and "drml_present" (N, 10) sigmoid
            present-probabilities.

    Returns:
        CSV text with columns subject, task, view (1-9), frame, true_AU*
        (+1/-1/0), drml_AU* (1 = present) and drml_present_AU* (4 decimals);
        "drml" names the model of the run, DRML or ConvNet.

    Raises:
        ValueError: when a key is missing.
    """
    missing = [k for k in DRML_PREDICTION_KEYS if k not in predictions]
    if missing:
        raise ValueError(f"`predictions` lacks {missing}. Received keys: {sorted(predictions)}")
    columns = ["subject", "task", "view", "frame", *_au_columns("true"), *_au_columns("drml")]
    columns += _au_columns("drml_present")

    def rows():
        for i in range(len(predictions["view"])):
            row = _frame_cells(predictions, i)
            row += [int(v) for v in predictions["au_true"][i]] + [int(v) for v in predictions["drml"][i]]
            yield row + _probabilities(predictions["drml_present"][i])

    return _csv_text(columns, rows())


def report_files(split: str = "validation", predictions: bool = True, family: str = "he2019") -> dict[str, str]:
    """The names of the files `write_report` writes into the run directory.

    Args:
        split: str. The split evaluated (names the per-frame CSV). Defaults to "validation".
        predictions: bool. Whether the per-frame CSV is written. Defaults to True.
        family: str. "he2019" or "drml", the run's model family. Defaults to "he2019".

    Returns:
        A dict: file kind -> file name. He et al.: "metrics", "table1",
        "table2", "view_confusion", "f1_per_au", "predictions"; DRML:
        "metrics", "table_drml", "predictions".
    """
    if family == "drml":
        names = {"metrics": METRICS_FILE, "table_drml": DRML_TABLE_FILE}
    elif family == "he2019":
        names = {"metrics": METRICS_FILE, **TABLE_FILES, **FIGURE_FILES}
    else:
        raise ValueError(f"`family` must be 'he2019' or 'drml'. Received: family={family!r}")
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
    """Writes metrics.json, the tables, the figures and (given predictions) the per-frame CSV.

    A He et al. run (`evaluate_predictions` metrics): metrics.json, Tables
    1-2, the two figures. A DRML run (`evaluate_drml_predictions` metrics,
    recognised by their "drml" key): metrics.json and `table_drml.md`.
    Every file is written atomically (temporary file, then rename).

    Args:
        run_dir: str or Path. The run directory (created if missing).
        metrics: dict. As returned by `evaluate_predictions` or
            `evaluate_drml_predictions`.
        synthetic: bool or None. True labels our results "synthetic corpus",
            False "FERA 2017", None "dataset of unrecorded source".
        predictions: dict or None. Per-frame rows, see `predictions_csv`
            (`drml_predictions_csv` for a DRML run). Defaults to None (no CSV).
        split: str. The split evaluated, used in titles and the CSV name
            `predictions_{split}.csv`. Defaults to "validation".

    Returns:
        A dict: file kind -> Path written (the kinds of `report_files`).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    family = "drml" if "drml" in metrics else "he2019"
    written = {kind: run_dir / name for kind, name in report_files(split, predictions is not None, family).items()}
    # The text is built before any file is written: a bad input leaves no partial report.
    texts = {"metrics": json.dumps(metrics, indent=2, allow_nan=False) + "\n"}
    if family == "drml":
        texts["table_drml"] = drml_table_markdown(metrics, synthetic, split)
        if predictions is not None:
            texts["predictions"] = drml_predictions_csv(predictions)
    else:
        texts.update({kind: table_markdown(metrics, table, synthetic, split) for kind, table in TABLES.items()})
        if predictions is not None:
            texts["predictions"] = predictions_csv(predictions)
    for kind, text in texts.items():
        atomic_write_text(written[kind], text)
    if family == "he2019":
        from aufera.evaluation import figures

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
    return written
