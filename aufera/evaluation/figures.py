"""Figures of an evaluation: the view confusion matrix (Fig. 7) and F1 per AU beside the paper's.

Matplotlib is used with the non-interactive Agg backend, so figures are
written without a display.

References:
    He, Li, Bo, Yu 2019, Fig. 7 (view confusion), Table 1 (F1 per AU).
"""

from __future__ import annotations

import numpy as np

from aufera.au import AU_KEYS, NUM_VIEWS, VIEWS
from aufera.evaluation import paper


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def view_labels() -> list[str]:
    """Axis labels of the 9 views: the view number 1-9 with its default yaw and pitch in degrees.

    The angles are the grid of `aufera.au.VIEWS` (the synthetic corpus defaults); FERA 2017 publishes
    the 3x3 layout, not exact angles per view.

    Returns:
        A list of 9 strings.
    """
    return [f"{v.number}\n({v.yaw:+.0f}°, {v.pitch:+.0f}°)" for v in VIEWS]


def plot_view_confusion(confusion, path, title: str = "View confusion of Network1") -> None:
    """Writes the row-normalised 9x9 view confusion matrix as a PNG, each cell with its percentage and count.

    Args:
        confusion: array-like (9, 9) of counts, rows = true view, columns =
            predicted view (view indices 0-8, shown as views 1-9).
        path: str or Path. The PNG to write.
        title: str. Figure title. Defaults to "View confusion of Network1".

    Raises:
        ValueError: when `confusion` is not 9x9.
    """
    counts = np.asarray(confusion, dtype=np.int64)
    if counts.shape != (NUM_VIEWS, NUM_VIEWS):
        raise ValueError(f"`confusion` must be {NUM_VIEWS}x{NUM_VIEWS}. Received: shape={counts.shape}")
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9.5, 8.5))
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    for i in range(NUM_VIEWS):
        for j in range(NUM_VIEWS):
            color = "white" if rates[i, j] > 0.5 else "black"
            ax.text(
                j, i, f"{100 * rates[i, j]:.1f}%\n{counts[i, j]}", ha="center", va="center", fontsize=7, color=color
            )
    labels = view_labels()
    ax.set_xticks(range(NUM_VIEWS), labels, fontsize=7)
    ax.set_yticks(range(NUM_VIEWS), labels, fontsize=7)
    ax.set_xlabel("predicted view (yaw, pitch)")
    ax.set_ylabel("true view (yaw, pitch)")
    ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true view's images")
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)


def plot_f1_per_au(metrics: dict, path, title: str = "F1 per AU") -> None:
    """Writes grouped bars of F1 per AU (and the mean): our three models beside the paper's three.

    Args:
        metrics: dict. As returned by `aufera.evaluation.evaluate_predictions`.
        path: str or Path. The PNG to write.
        title: str. Figure title. Defaults to "F1 per AU".
    """
    keys = [*AU_KEYS, "mean"]
    series = []
    for model, column in paper.OWN_COLUMNS.items():
        series.append((f"{column} (ours)", [metrics[model]["f1"][k] for k in keys], None))
    for column in paper.OWN_COLUMNS.values():
        published = [paper.TABLE1_F1.value(column, k) for k in keys]
        series.append((f"{column} ({paper.SOURCE_LABEL})", published, "//"))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(12, 4.8))
    x = np.arange(len(keys))
    width = 0.8 / len(series)
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c"] * 2
    for i, (label, values, hatch) in enumerate(series):
        ax.bar(
            x - 0.4 + (i + 0.5) * width,
            values,
            width,
            label=label,
            color=colors[i],
            alpha=1.0 if hatch is None else 0.45,
            hatch=hatch,
            edgecolor="black",
            linewidth=0.3,
        )
    ax.set_xticks(x, ["Mean" if k == "mean" else k for k in keys])
    ax.set_ylim(0.0, 1.0)
    ax.set_ylabel("F1")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, ncol=2, loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
