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
