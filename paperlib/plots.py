"""One figure style for the whole book, and the reference lines every chapter draws the same way."""

from __future__ import annotations

import matplotlib.pyplot as plt
import seaborn as sns

PALETTE = {"mir": "#1f77b4", "hdr": "#d62728", "acc": "#2ca02c", "bound": "#555555"}


def setup() -> None:
    """Apply the book's style (call once per notebook)."""
    sns.set_theme(context="notebook", style="whitegrid", font_scale=0.95)
    plt.rcParams.update({"figure.dpi": 110, "savefig.bbox": "tight", "axes.titleweight": "bold"})


def bound_line(ax, value: float, label: str = "NC value (Thm 4.2)") -> None:
    """Horizontal dashed line at a theoretical value."""
    ax.axhline(value, ls="--", lw=1.2, color=PALETTE["bound"], label=label)


def accuracy_and(ax, steps, acc, series: dict, title: str, bound: float | None = None):
    """Test accuracy on the left axis and one or more ratio curves on the right (the paper's Figs 1, 2, 7).

    ``series`` maps a legend label to ``(values, color, linestyle)``. Returns the right axis.
    """
    ax.plot(steps, acc, color=PALETTE["acc"], lw=1.8, label="test accuracy")
    ax.set(xlabel="training step", ylabel="accuracy", title=title)
    right = ax.twinx()
    right.grid(False)
    for label, (values, color, style) in series.items():
        right.plot(steps, values, color=color, ls=style, lw=1.6, label=label)
    if bound is not None:
        bound_line(right, bound)
    right.set_ylabel("ratio")
    for axis in (ax, right):  # one scale for both: accuracy and the ratios all live in [0, 1]
        axis.set_ylim(0, 1.02)
    handles = ax.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    ax.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=2)
    return right


def stacked(rows: int, height: float = 2.6, width: float = 7.0):
    """``rows`` panels above each other with a shared x axis: readable at the book's column width."""
    fig, axes = plt.subplots(rows, 1, figsize=(width, height * rows), sharex=True)
    return fig, axes


def mean_band(ax, table, x: str, y: str, color: str, label: str | None = None, style: str = "o-") -> None:
    """The mean over seeds of ``y`` against ``x`` with a band of +-1 sd over seeds (``table`` has one row per
    seed and ``x``); with one seed, the line alone."""
    stats = table.groupby(x)[y].agg(["mean", "std"]).sort_index()
    ax.plot(stats.index, stats["mean"], style, color=color, ms=4, label=label)
    if stats["std"].notna().any():
        ax.fill_between(
            stats.index, stats["mean"] - stats["std"], stats["mean"] + stats["std"], color=color, alpha=0.2
        )
