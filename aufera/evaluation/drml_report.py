"""The tables of the DRML reproduction: ConvNet vs DRML per AU (F1, AUC) and time per iteration beside Table 4.

Importing this module imports no TensorFlow.
"""

from __future__ import annotations

from aufera.au import AU_KEYS
from aufera.evaluation import paper
from aufera.evaluation.text_table import aligned_table, number_cell, source_label

MODELS = ("ConvNet", "DRML")


def comparison_rows(metrics: dict) -> tuple[list[str], list[list[str]]]:
    """ConvNet vs DRML, F1 and AUC per AU and their means, as table cells.

    Args:
        metrics: dict. "ConvNet" and "DRML" -> the `metrics.json` of each run
            (its "drml" entry holds "f1" and "auc").

    Returns:
        `(header, rows)` for `aligned_table`.
    """
    header = ["AU", *(f"{m} F1" for m in MODELS), *(f"{m} AUC" for m in MODELS)]
    rows = []
    for key in (*AU_KEYS, "mean"):
        cells = [key if key != "mean" else "Mean"]
        cells += [number_cell(metrics[m]["drml"]["f1"].get(key)) for m in MODELS]
        cells += [number_cell(metrics[m]["drml"]["auc"].get(key)) for m in MODELS]
        rows.append(cells)
    published = paper.DRML_TABLE2_MEANS
    rows.append(
        [
            "Paper mean",
            *(f"{published[m]['f1'] / 100:.3f}" for m in MODELS),
            *(f"{published[m]['auc'] / 100:.3f}" for m in MODELS),
        ]
    )
    return header, rows


def time_rows(times: dict) -> tuple[list[str], list[list[str]]]:
    """Time per iteration, ours (ms) beside the paper's Table 4, with the DRML / ConvNet ratios.

    Args:
        times: dict. "ConvNet" and "DRML" -> {"train": ms, "test": ms}, plus
            "batch" (images per iteration) and "preset".

    Returns:
        `(header, rows)` for `aligned_table`.
    """
    table4 = paper.DRML_TABLE4_MS
    header = ["Network", "train ms (ours)", "test ms (ours)", "train ms (paper)", "test ms (paper)"]
    rows = [
        [
            m,
            f"{times[m]['train']:.1f}",
            f"{times[m]['test']:.1f}",
            f"{table4[m]['train']:.1f}",
            f"{table4[m]['test']:.1f}",
        ]
        for m in MODELS
    ]
    ratio = [times["DRML"][k] / times["ConvNet"][k] for k in ("train", "test")]
    paper_ratio = [table4["DRML"][k] / table4["ConvNet"][k] for k in ("train", "test")]
    rows.append(
        ["DRML / ConvNet", f"{ratio[0]:.2f}x", f"{ratio[1]:.2f}x", f"{paper_ratio[0]:.2f}x", f"{paper_ratio[1]:.2f}x"]
    )
    return header, rows


def drml_tables_text(metrics: dict, times: dict | None, synthetic: bool | None) -> str:
    """The two tables of `aufera reproduce --paper drml` as aligned text.

    Args:
        metrics: dict. "ConvNet" and "DRML" -> their `metrics.json`.
        times: dict or None. As `time_rows` takes; None leaves the time table out.
        synthetic: bool or None. Whether our numbers come from the synthetic corpus.

    Returns:
        The text, without a final newline.
    """
    source = source_label(synthetic)
    lines = [
        f"DRML Table 2 in shape: ConvNet vs DRML on held-out subjects ({source}); "
        f"paper means on {paper.DRML_SOURCE_LABEL}",
        *aligned_table(*comparison_rows(metrics)),
    ]
    undefined = {m: metrics[m]["drml"]["auc"].get("undefined") for m in MODELS}
    if any(undefined.values()):
        lines.append(f"AUC undefined (left out of the mean): {undefined}")
    if times is not None:
        lines += [
            "",
            f"Table 4 in shape: time per iteration, {times['batch']} images, preset {times['preset']!r}, "
            f"this machine ({times['machine']}); paper: one NVIDIA K40c",
            *aligned_table(*time_rows(times)),
        ]
    return "\n".join(lines)
