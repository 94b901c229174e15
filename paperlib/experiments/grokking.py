"""The grokking experiment: run it through the store, find its memorization and grokking steps, and test the
two-phase description of Sec 5.5 with a statistic fixed before the run."""

from __future__ import annotations

import dataclasses

import pandas as pd

from .. import configs, runs
from ..train.grokking import train

STORE = "grokking"


def run_all(experiment: str, profile: str, **overrides) -> list[runs.Run]:
    """The grokking run of ``profile`` (and, with ``grokfast=True``, its accelerated twin is a separate run)."""
    return [runs.run(STORE, configs.get(experiment, profile, **overrides), train)]


def with_grokfast(run: runs.Run) -> runs.Run:
    """The same configuration with the Grokfast filter on, trained if needed."""
    return runs.run(STORE, dataclasses.replace(run.config, grokfast=True), train)


def curves(run: runs.Run) -> pd.DataFrame:
    """One row per (step, split), one column per metric."""
    wide = run.metrics().pivot_table(index=["step", "split"], columns="metric", values="value").reset_index()
    wide.columns.name = None
    return wide


def first_step(table: pd.DataFrame, split: str, threshold: float) -> int | None:
    """The first evaluated step where ``split`` accuracy reaches ``threshold`` (None if never)."""
    rows = table[(table.split == split) & (table.acc >= threshold)]
    return int(rows.step.min()) if len(rows) else None


def phases(table: pd.DataFrame) -> dict:
    """Memorization step (train accuracy 100 %) and grokking step (test accuracy 95 %), and the test accuracy
    when the model had memorized."""
    mem = first_step(table, "train", 1.0)
    grok = first_step(table, "test", 0.95)
    test = table[table.split == "test"].set_index("step")
    return {
        "memorization": mem,
        "grokking": grok,
        "test_acc_at_memorization": None if mem is None else float(test.acc[mem]),
    }


def smooth(series: pd.Series, window: int = 5) -> pd.Series:
    """Centred rolling median over evaluation points (robust to single noisy evaluations)."""
    return series.rolling(window, center=True, min_periods=1).median()


def two_phase_test(table: pd.DataFrame, grok_step: int, split: str = "train", margin: float = 0.02) -> dict:
    """The G2 statistic, fixed before the run, on smoothed MIR and HDR of ``split``:

    1. MIR rises first: its maximum before the grokking step exceeds its first value by ``margin``;
    2. then falls: its minimum after that peak is ``margin`` below the peak and lies within a factor 2 of the
       grokking step (log-axis window [g/2, 2g]);
    3. HDR falls first: its minimum before the grokking step is ``margin`` below its first value;
    4. then rises and drops: its maximum after that minimum lies in [g/2, 2g] and the last value is ``margin``
       below that maximum.
    Returns each part's boolean, the located steps and ``holds`` (all four).
    """
    t = table[table.split == split].sort_values("step").set_index("step")
    mir, hdr = smooth(t.mir), smooth(t.hdr)
    lo, hi = grok_step / 2, grok_step * 2
    before = mir.index <= grok_step
    mir_peak = mir[before].idxmax()
    after_peak = mir[mir.index >= mir_peak]
    mir_low = after_peak.idxmin()
    hdr_low = hdr[before].idxmin()
    after_low = hdr[hdr.index >= hdr_low]
    hdr_peak = after_low.idxmax()
    parts = {
        "mir_rises": bool(mir[mir_peak] > mir.iloc[0] + margin),
        "mir_falls_to_min_near_grokking": bool(mir[mir_peak] - mir[mir_low] > margin and lo <= mir_low <= hi),
        "hdr_falls": bool(hdr[hdr_low] < hdr.iloc[0] - margin),
        "hdr_peaks_near_grokking_then_drops": bool(
            lo <= hdr_peak <= hi and hdr.iloc[-1] < hdr[hdr_peak] - margin
        ),
    }
    steps = {
        "mir_peak": int(mir_peak),
        "mir_min": int(mir_low),
        "hdr_min": int(hdr_low),
        "hdr_peak": int(hdr_peak),
    }
    return {**parts, **steps, "holds": all(parts.values())}
