"""Tables as text: aligned for the terminal, Markdown for the report files; their cells and source label.

Importing this module imports nothing else (no TensorFlow, Keras or numpy),
so a command or an example can format a table without loading a model.
"""

from __future__ import annotations

# The cell of a value that is not defined (e.g. the AUC of an AU without positives).
NOT_DEFINED = "n/a"


def number_cell(value) -> str:
    """A metric as a table cell: three decimals, or `NOT_DEFINED` for None."""
    return NOT_DEFINED if value is None else f"{value:.3f}"


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


def markdown_table(header: list[str], rows: list[list[str]], text_columns=(0,)) -> list[str]:
    """Lines of a Markdown table: the header, the alignment row, one line per row.

    Args:
        header: list of str. The column titles.
        rows: list of lists of str, as many cells as `header`.
        text_columns: indices of the left-aligned (text) columns; the others
            are right-aligned (numbers). Negative indices count from the end.
            Defaults to the first column.

    Examples:

    ```python
    markdown_table(["AU", "F1"], [["AU1", "0.500"]])
    # ['| AU | F1 |', '|---|---:|', '| AU1 | 0.500 |']
    ```
    """
    left = {i % len(header) for i in text_columns}
    rule = "|" + "|".join("---" if i in left else "---:" for i in range(len(header))) + "|"
    return ["| " + " | ".join(header) + " |", rule, *("| " + " | ".join(row) + " |" for row in rows)]


def aligned_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Lines of a text table: first column left-aligned, the others right-aligned, a dashed rule under the header.

    Args:
        header: list of str. The column titles.
        rows: list of lists of str. One list per row, as many cells as
            `header`.

    Returns:
        The lines (without newlines): the header, the rule, then one line per
        row; columns are separated by two spaces and padded to their widest
        cell.

    Examples:

    ```python
    aligned_table(["AU", "F1"], [["AU1", "0.5"], ["Mean", "0.25"]])
    # ['AU      F1', '----  ----', 'AU1    0.5', 'Mean  0.25']
    ```
    """
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [_line(header, widths), "  ".join("-" * w for w in widths), *(_line(row, widths) for row in rows)]


def _line(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))
