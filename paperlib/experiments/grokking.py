"""The grokking experiment: run it through the store, find its memorization and grokking steps, and test the
two-phase description of Sec 5.5 with a statistic fixed before the run."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pandas as pd

from .. import runs
from ..intervals import Interval
from ..train.grokking import GrokConfig, train
from ..verdicts import Check
from . import common
from .spec import Experiment

STORE = "grokking"
MEMORIZED, GROKKED = 1.0, 0.95  # train / test accuracy that mark memorization and grokking
# G1: grokking at least DELAY times later than memorization; "nearly random guessing" at memorization means
# test accuracy at most CHANCE_TIMES x 1/p
DELAY, CHANCE_TIMES = 3, 3


def run_all(profile: str, **overrides: Any) -> list[runs.Run]:
    """The grokking run of ``profile`` (with ``grokfast=True`` it is the accelerated variant)."""
    return SPEC.runs(profile, **overrides)


def with_grokfast(run: runs.Run) -> runs.Run:
    """The same configuration with the Grokfast filter on, trained if needed."""
    return runs.run(STORE, dataclasses.replace(run.config, grokfast=True), train)


def curves(run: runs.Run) -> pd.DataFrame:
    """One row per (step, split), one column per metric."""
    return common.curves(run, by_split=True)


def first_step(table: pd.DataFrame, split: str, threshold: float) -> int | None:
    """The first evaluated step where ``split`` accuracy reaches ``threshold`` (None if never)."""
    rows = table[(table.split == split) & (table.acc >= threshold)]
    return int(rows.step.min()) if len(rows) else None


def phases(table: pd.DataFrame) -> dict:
    """Memorization step (train accuracy 100 %) and grokking step (test accuracy 95 %), and the test accuracy
    when the model had memorized."""
    mem = first_step(table, "train", MEMORIZED)
    grok = first_step(table, "test", GROKKED)
    test = table[table.split == "test"].set_index("step")
    return {
        "memorization": mem,
        "grokking": grok,
        "test_acc_at_memorization": None if mem is None else float(test.acc[mem]),
    }


def smooth(series: pd.Series, window: int = 5) -> pd.Series:
    """Centred rolling median over evaluation points (robust to single noisy evaluations)."""
    return series.rolling(window, center=True, min_periods=1).median()


def two_phase_test(
    table: pd.DataFrame, grok_step: int, split: str = "train", margin: float = 0.02, batch: bool = True
) -> dict:
    """The G2 statistic, fixed before the run, on smoothed MIR and HDR of ``split`` (the paper's batch mean
    over batches of 64 when ``batch``, else the exact values):

    1. MIR rises first: its maximum before the grokking step exceeds its first value by ``margin``;
    2. then falls, to its lowest after grokking (the paper: "after the model achieves the grokking, MIR
       reaches its lowest"): its minimum after that peak is ``margin`` below the peak and falls at or after
       the grokking step;
    3. HDR falls first: its minimum before the grokking step is ``margin`` below its first value;
    4. then rises and drops: its maximum after that minimum is ``margin`` above the minimum, lies in
       [g/2, 2g], and the last value is ``margin`` below that maximum.
    Returns each part's boolean, the located steps and ``holds`` (all four).
    """
    t = table[table.split == split].sort_values("step").set_index("step")
    suffix = "_batch" if batch else ""
    if f"mir{suffix}" not in t:
        raise KeyError(f"the grokking table has no mir{suffix} column: rerun the run with this version")
    mir, hdr = smooth(t[f"mir{suffix}"]), smooth(t[f"hdr{suffix}"])
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
        "mir_lowest_after_grokking": bool(mir[mir_peak] - mir[mir_low] > margin and mir_low >= grok_step),
        "hdr_falls": bool(hdr[hdr_low] < hdr.iloc[0] - margin),
        "hdr_peaks_near_grokking_then_drops": bool(
            lo <= hdr_peak <= hi
            and hdr[hdr_peak] > hdr[hdr_low] + margin
            and hdr.iloc[-1] < hdr[hdr_peak] - margin
        ),
    }
    steps = {
        "mir_peak": int(mir_peak),
        "mir_min": int(mir_low),
        "hdr_min": int(hdr_low),
        "hdr_peak": int(hdr_peak),
    }
    return {**parts, **steps, "holds": all(parts.values())}


def check_G1(table: pd.DataFrame, p: int) -> Check:
    """G1: train accuracy reaches 100 % at step m, test accuracy reaches 95 % at g >= 3 m, and test accuracy
    at m is nearly random guessing: at most 3 / p (three times chance). Fails when the run memorizes and
    groks but too early or from well above chance; inconclusive when it never groks (or never memorizes)."""
    ph = phases(table)
    mem, grok, test_at_mem = ph["memorization"], ph["grokking"], ph["test_acc_at_memorization"]
    bound = CHANCE_TIMES / p
    ok = mem is not None and grok is not None and grok >= DELAY * mem and test_at_mem <= bound
    shown = test_at_mem if test_at_mem is None else round(test_at_mem, 3)
    return Check.of(
        "G1",
        ok,
        f"memorization step {mem}, grokking step {grok}, test accuracy at memorization {shown} (chance 1/p = "
        f"{1 / p:.3f})",
        f"g >= {DELAY} m and test acc at m <= {CHANCE_TIMES}/p = {bound:.3f}",
        inconclusive=grok is None or mem is None,
        evidence=None if test_at_mem is None else Interval(test_at_mem, math.nan, math.nan, 1, "one run"),
        null=1 / p,
        **ph,
    )


DECIDING_SPLIT = "train"  # G2 is decided on the training pairs (the representation fitted); test is reported


def check_G2(table: pd.DataFrame) -> Check:
    """G2: all four parts of ``two_phase_test`` on the batch-mean ratios of the training split (the test
    split's parts are recorded beside it); inconclusive without grokking. Fails when a part fails."""
    grok = phases(table)["grokking"]
    if grok is None:
        return Check.of("G2", False, "no grokking step: the two-phase test needs one", "all four parts", True)
    parts = {split: two_phase_test(table, grok, split) for split in ("train", "test")}
    g2 = parts[DECIDING_SPLIT]
    text = f"{DECIDING_SPLIT} (decides): " + ", ".join(f"{k}: {v}" for k, v in g2.items() if k != "holds")
    other = parts["test"]
    text += (
        f"; test: {sum(v for k, v in other.items() if isinstance(v, bool) and k != 'holds')} of 4 parts hold"
    )
    exact = two_phase_test(table, grok, DECIDING_SPLIT, batch=False)
    return Check.of(
        "G2",
        g2["holds"],
        text,
        "all four parts, train split, batch mean",
        exact=f"on the exact values all four parts: {exact['holds']}",
        train=g2,
        test=other,
    )


SPEC = Experiment(
    name="grokking",
    title="Grokking",
    notebook="06",
    profiles={
        # p = 59 with half the pairs for training groks within a couple of thousand steps (smoke).
        "smoke": lambda: GrokConfig(
            p=59, train_frac=0.5, steps=1500, eval_every=50, ckpt_every=500, metric_samples=512
        ),
        # The paper's setting; on 2 cores test accuracy passes 95 % near step 7,600 (README).
        "cpu": lambda: GrokConfig(p=113, train_frac=0.3, steps=9000, eval_every=100, ckpt_every=1000),
        "paper": lambda: GrokConfig(
            p=113, train_frac=0.3, steps=40_000, eval_every=100, ckpt_every=2000, metric_samples=4096
        ),
    },
    store=STORE,
    trainer=train,
    claims={
        "G1": "Grokking: train accuracy hits 100% early, test accuracy much later",
        "G2": "Two phases: MIR up / HDR down, then MIR down / HDR up; HDR drops after grokking",
    },
)
