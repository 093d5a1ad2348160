"""Aligned plain-text tables for the terminal.

Importing this module imports nothing else (no TensorFlow, Keras or numpy),
so a command or an example can format a table without loading a model.
"""

from __future__ import annotations


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
