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


VERDICT_COLORS = {"holds": "#2ca02c", "fails": "#d62728", "inconclusive": "#ff9f1c", "not run": "#9e9e9e"}


def _finite(v) -> bool:
    return isinstance(v, int | float) and v == v and abs(v) != float("inf")


def _row_limits(values: list[float]) -> tuple[float, float]:
    """x limits around a row's estimate, interval and null, padded; a single value gets a small window."""
    low, high = min(values), max(values)
    pad = (high - low) * 0.15 or max(abs(high) * 0.2, 0.01)
    return low - pad, high + pad


def forest(rows: list[dict], width: float = 6.8):
    """The scorecard at a glance: one line per claim (``claims.rows`` dicts), its estimate as a dot and its
    95 % interval as a bar coloured by verdict, against its null (dashed). Each line has its own x scale (the
    claims measure different things); an undefined interval end is left out and said on the right."""
    from matplotlib.lines import Line2D

    n = max(len(rows), 1)
    row_h, top, bottom = 0.48, 0.55, 0.25
    fig = plt.figure(figsize=(width, n * row_h + top + bottom))
    height = fig.get_figheight()
    for i, row in enumerate(rows):
        y = 1 - (top + (i + 1) * row_h) / height
        ax = fig.add_axes((0.42, y + 0.14 * row_h / height, 0.36, 0.5 * row_h / height))
        verdict = row.get("verdict", "not run").split(" (")[0]
        color = VERDICT_COLORS.get(verdict, VERDICT_COLORS["not run"])
        est, null = row.get("estimate"), row.get("null")
        low, high = ((row.get("interval") or [None, None]) + [None, None])[:2]
        label = f"{row['id']}  {row.get('short', row.get('claim', ''))}"
        fig.text(0.01, y + 0.4 * row_h / height, label, fontsize=8.5, va="center")
        shown = [v for v in (est, low, high, null) if _finite(v)]
        if _finite(est):
            if _finite(low):
                ax.plot([low, est], [0, 0], color=color, lw=2.4, solid_capstyle="butt")
            if _finite(high):
                ax.plot([est, high], [0, 0], color=color, lw=2.4, solid_capstyle="butt")
            ax.plot([est], [0], "o", color=color, ms=6, mec="black", mew=0.5)
        if _finite(null) and _finite(est):
            ax.axvline(null, color=PALETTE["bound"], ls="--", lw=1)
        if shown:
            ax.set_xlim(*_row_limits(shown))
        if not _finite(est):
            ax.set_axis_off()  # nothing measured: no scale to read
        ax.set_ylim(-1, 1)
        ax.set_yticks([])
        ax.xaxis.set_major_locator(plt.MaxNLocator(3))
        ax.tick_params(axis="x", labelsize=6.5, length=2, pad=1)
        ax.grid(axis="x", lw=0.4)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        if not _finite(est):
            numbers = "no estimate"
        elif _finite(low) or _finite(high):
            numbers = f"{est:.3g} [{_end(low)}, {_end(high)}]"
        else:
            numbers = f"{est:.3g} (no interval)"
        fig.text(0.8, y + 0.42 * row_h / height, numbers, fontsize=8, va="center")
        fig.text(
            0.8, y + 0.08 * row_h / height, row.get("verdict", ""), fontsize=7.5, va="center", color=color
        )
    handles = [Line2D([], [], color=c, marker="o", lw=2.4, label=v) for v, c in VERDICT_COLORS.items()]
    handles.append(Line2D([], [], color=PALETTE["bound"], ls="--", lw=1, label="null / margin"))
    fig.legend(
        handles=handles, loc="upper center", ncol=5, fontsize=7.5, frameon=False, bbox_to_anchor=(0.5, 1)
    )
    fig.text(
        0.42, 1 - 0.42 / height, "estimate and deciding interval (each line on its own scale)", fontsize=7.5
    )
    return fig


def _end(v) -> str:
    return f"{v:.3g}" if _finite(v) else "–"
