"""The grokking experiment: run it through the store, find its memorization and grokking steps, and test the
two-phase description of Sec 5.5 with a statistic fixed before the run."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pandas as pd
from scipy import stats

from .. import runs
from ..intervals import Interval, familywise
from ..train.grokking import GrokConfig, train
from ..verdicts import Check
from . import common
from .spec import Experiment

STORE = "grokking"
# Provenance of each threshold (item 7 of issue 27): the first cpu build is the one whose times README records
# in commit 5d763d5 (2026-11-28 15:03); a timing run of the cpu setting (DESIGN.md speed notes) preceded it.
# Train / test accuracy that mark memorization and grokking: set 2026-11-28 (0cf692e), before the first cpu build.
MEMORIZED, GROKKED = 1.0, 0.95
# G1: grokking at least DELAY times later than memorization (set 2026-11-28, before the first cpu build);
# "nearly random guessing" at memorization means test accuracy at most CHANCE_TIMES x 1/p. CHANCE_TIMES was set
# 2026-11-29 (056e9c8), AFTER the first cpu build: it replaced the bound 0.5 (CHANCE_BOUND), which by issue 27
# turned G1 from holds to fails on the cpu run. Kept, and said so in G1's row (CHANCE_PROVENANCE) and the chapter.
DELAY, CHANCE_TIMES = 3, 3
CHANCE_PROVENANCE = (
    "bound set after the cpu result: 3/p replaced 0.5 on 2026-11-29, after the first cpu build (2026-11-28)"
)
# G2's smoothing window (evaluations), margin and peak window [g / PEAK_FACTOR, PEAK_FACTOR g], and deciding on
# the train split: set 2026-11-28 (0cf692e), before the first cpu build. Part 2's "minimum at or after g" (it was
# "within [g/2, 2g]") and deciding on the batch mean (the exact values before): 2026-11-29 (056e9c8), after it;
# "inconclusive when a turning point lies at the last evaluated step": 2026-12-04, after it (issue 27).
WINDOW, MARGIN, PEAK_FACTOR = 5, 0.02, 2
G2_PROVENANCE = "rule of 2026-11-29/12-04, set after the first cpu build (2026-11-28)"
# X5 (2026-12-04, after the cpu G1 result, before any mirrored split was measured): Wilson intervals over the
# test pairs of each group, at the familywise level of its two parts, against G1's bound 3/p.
X5_PARTS = 2
MIRROR_GROUPS = ("mirrored", "unmirrored")  # train.grokking.mirror_groups; the diagonal (a, a) is in neither


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


def mirror_split(table: pd.DataFrame, step: int | None) -> dict[str, float | int | None]:
    """Test accuracy, loss and pair count at ``step`` on all test pairs and on each of ``MIRROR_GROUPS`` (None
    where the run predates the split's logging or ``step`` is None): whether the accuracy a memorizing network
    shows on test pairs is the commutativity it can read off the mirrored training pairs."""
    keys = ["acc", "loss"] + [f"{m}_{g}" for g in MIRROR_GROUPS for m in ("acc", "loss", "n")]
    test = table[table.split == "test"].set_index("step")
    out: dict[str, float | int | None] = {}
    for key in keys:
        value = None if step is None or key not in test else test[key].get(step)
        value = None if value is None or not math.isfinite(value) else float(value)
        out[key] = int(value) if key.startswith("n_") and value is not None else value
    return out


def binomial_interval(acc: float | None, n: int | None, level: float = 0.95) -> Interval:
    """Wilson's score interval of an accuracy over ``n`` test pairs. Given the trained model, the pairs are
    independent trials of "this kind of pair is answered correctly", so the interval is the sampling
    uncertainty over pairs; it says nothing about run-to-run (seed) variation, which one run cannot show."""
    if acc is None or not n:
        return Interval(math.nan if acc is None else acc, math.nan, math.nan, n or 0, "Wilson interval")
    z = float(stats.norm.ppf(0.5 + level / 2))
    centre = (acc + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(acc * (1 - acc) / n + z * z / (4 * n * n))
    pct = "" if level == 0.95 else f" ({100 * level:.4g} %)"
    return Interval(acc, centre - half, centre + half, n, f"Wilson interval over {n} pairs{pct}")


def mirror_table(table: pd.DataFrame, p: int) -> pd.DataFrame:
    """At memorization, grokking and the last step: test accuracy (with its Wilson 95 % interval) and loss on
    all test pairs and per mirror group, beside chance 1/p, G1's bound 3/p and a uniform guess's loss log p."""
    ph = phases(table)
    last = int(table.step.max())
    rows = []
    for moment, step in (("memorization", ph["memorization"]), ("grokking", ph["grokking"]), ("last", last)):
        split = mirror_split(table, step)
        for group in ("all", *MIRROR_GROUPS):
            sfx = "" if group == "all" else f"_{group}"
            n = None if group == "all" else split[f"n{sfx}"]  # the count of all test pairs is not logged
            ci = binomial_interval(split[f"acc{sfx}"], n)
            rows.append(
                {
                    "moment": moment,
                    "step": step,
                    "pairs": group,
                    "n": n,
                    "acc": split[f"acc{sfx}"],
                    "acc_low": ci.as_list()[0],
                    "acc_high": ci.as_list()[1],
                    "loss": split[f"loss{sfx}"],
                }
            )
    out = pd.DataFrame(rows).astype({"n": "Int64"})
    return out.assign(chance=1 / p, bound=CHANCE_TIMES / p, log_p=math.log(p))


def smooth(series: pd.Series, window: int = WINDOW) -> pd.Series:
    """Centred rolling median over evaluation points (robust to single noisy evaluations)."""
    return series.rolling(window, center=True, min_periods=1).median()


# The turning points each part of the G2 statistic locates: a part whose point is the last evaluated step is
# undetermined (the curve may still be falling or rising there, so no turning point has been seen).
TURNING_POINTS = {
    "mir_rises": ("mir_peak",),
    "mir_lowest_after_grokking": ("mir_peak", "mir_min"),
    "hdr_falls": ("hdr_min",),
    "hdr_peaks_near_grokking_then_drops": ("hdr_min", "hdr_peak"),
}


def two_phase_test(
    table: pd.DataFrame, grok_step: int, split: str = "train", margin: float = MARGIN, batch: bool = True
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
    Returns each part's boolean, the located steps, ``at_last_step`` (the located turning points that are the
    last evaluated step, comma-separated; "" if none), ``undetermined`` (the parts resting on one) and
    ``holds`` (all four, none undetermined).
    """
    t = table[table.split == split].sort_values("step").set_index("step")
    suffix = "_batch" if batch else ""
    if f"mir{suffix}" not in t:
        raise KeyError(f"the grokking table has no mir{suffix} column: rerun the run with this version")
    mir, hdr = smooth(t[f"mir{suffix}"]), smooth(t[f"hdr{suffix}"])
    lo, hi = grok_step / PEAK_FACTOR, grok_step * PEAK_FACTOR
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
    last = int(mir.index.max())
    at_end = [k for k, v in steps.items() if v == last]
    undetermined = [k for k, needs in TURNING_POINTS.items() if set(needs) & set(at_end)]
    return {
        **parts,
        **steps,
        "last_step": last,
        "at_last_step": ", ".join(at_end),
        "undetermined": ", ".join(undetermined),
        "holds": all(parts.values()) and not undetermined,
    }


def check_G1(table: pd.DataFrame, p: int) -> Check:
    """G1: train accuracy reaches 100 % at step m, test accuracy reaches 95 % at g >= 3 m, and test accuracy
    at m is nearly random guessing: at most 3 / p (three times chance; a bound set after the cpu result, see
    ``CHANCE_PROVENANCE``). Fails when the run memorizes and groks but too early or from well above chance;
    inconclusive when it never groks (or never memorizes). The row also carries what explains the accuracy at
    m: the test accuracy on pairs whose mirror (b, a) was trained on and on those whose mirror was not
    (``mirror_split``; X5 decides on it), and the test loss at m against log p, a uniform guess's loss."""
    ph = phases(table)
    mem, grok, test_at_mem = ph["memorization"], ph["grokking"], ph["test_acc_at_memorization"]
    bound = CHANCE_TIMES / p
    ok = mem is not None and grok is not None and grok >= DELAY * mem and test_at_mem <= bound
    shown = test_at_mem if test_at_mem is None else round(test_at_mem, 3)
    at_mem = mirror_split(table, mem)
    return Check.of(
        "G1",
        ok,
        f"memorization step {mem}, grokking step {grok}, test accuracy at memorization {shown} (chance 1/p = "
        f"{1 / p:.3f}){_explained(at_mem, p)}",
        f"g >= {DELAY} m and test acc at m <= {CHANCE_TIMES}/p = {bound:.3f} ({CHANCE_PROVENANCE})",
        inconclusive=grok is None or mem is None,
        evidence=None if test_at_mem is None else Interval(test_at_mem, math.nan, math.nan, 1, "one run"),
        null=1 / p,
        **ph,
        **_at_memorization(at_mem),
        log_p=math.log(p),
    )


def _at_memorization(at_mem: dict) -> dict:
    """``mirror_split`` at memorization as G1's numbers: test_<metric>_at_memorization, the counts as n_<group>
    (the overall test accuracy is already ``test_acc_at_memorization``)."""
    return {
        (k if k.startswith("n_") else f"test_{k}_at_memorization"): v for k, v in at_mem.items() if k != "acc"
    }


def _explained(at_mem: dict, p: int) -> str:
    """G1's sentence on the mirror groups and the loss at memorization ("" where the run does not log them)."""
    parts = []
    if at_mem["acc_mirrored"] is not None and at_mem["acc_unmirrored"] is not None:
        parts.append(
            f"{at_mem['acc_mirrored']:.3f} on the {at_mem['n_mirrored']} test pairs whose mirror (b, a) was "
            f"trained on, {at_mem['acc_unmirrored']:.3f} on the {at_mem['n_unmirrored']} whose mirror was not"
        )
    if at_mem["loss"] is not None:
        parts.append(f"test loss at memorization {at_mem['loss']:.2f} against log p = {math.log(p):.2f}")
    return "; " + "; ".join(parts) if parts else ""


# G2 is decided on the training pairs (the representation fitted); test is reported. Set 2026-11-28 (0cf692e,
# named here 2026-11-29), before the first cpu build.
DECIDING_SPLIT = "train"


def check_G2(table: pd.DataFrame) -> Check:
    """G2: all four parts of ``two_phase_test`` on the batch-mean ratios of the training split (the test
    split's parts are recorded beside it). Holds when all four hold; fails when a part fails whose turning
    points were seen; inconclusive without grokking, or when a part rests on a turning point at the last
    evaluated step (a minimum there, the paper's "MIR reaches its lowest", may only mean the run stopped while
    MIR was still falling: evaluate past it to decide)."""
    grok = phases(table)["grokking"]
    if grok is None:
        return Check.of("G2", False, "no grokking step: the two-phase test needs one", "all four parts", True)
    parts = {split: two_phase_test(table, grok, split) for split in ("train", "test")}
    g2 = parts[DECIDING_SPLIT]
    undetermined = [k for k in g2["undetermined"].split(", ") if k]
    decided = {k: g2[k] for k in TURNING_POINTS if k not in undetermined}
    shown = {k: v for k, v in g2.items() if k not in ("holds", "last_step", "at_last_step", "undetermined")}
    text = f"{DECIDING_SPLIT} (decides): " + ", ".join(f"{k}: {v}" for k, v in shown.items())
    if undetermined:
        text += f"; at the last evaluated step {g2['last_step']}: {g2['at_last_step']}"
    other = parts["test"]
    text += f"; test: {sum(other[k] for k in TURNING_POINTS)} of 4 parts hold"
    exact = two_phase_test(table, grok, DECIDING_SPLIT, batch=False)
    return Check.rule(
        "G2",
        g2["holds"],
        not all(decided.values()),
        text,
        f"all four parts, train split, batch mean ({G2_PROVENANCE})",
        exact=f"on the exact values all four parts: {exact['holds']}",
        note=f"{g2['at_last_step']} at the last evaluated step" if undetermined else "",
        train=g2,
        test=other,
    )


def check_X5(table: pd.DataFrame, p: int) -> Check:
    """X5 (the study's own, set after the cpu G1 result and before any mirrored split was measured): the test
    accuracy of a network that has just memorized comes from the test pairs whose mirror (b, a) is a training
    pair. At the memorization step, with Wilson intervals over each group's test pairs at the familywise level
    of the two parts (Bonferroni, 97.5 % each), against G1's bound 3/p:

    * holds when the mirrored pairs' interval lies above 3/p and the unmirrored pairs' interval lies at or
      below it (those pairs are nearly random guessing in G1's sense);
    * fails when the unmirrored pairs' interval lies above 3/p (pairs with no mirror are answered above the
      bound too) or the mirrored pairs' interval lies below it (the mirrors are not answered either);
    * inconclusive otherwise, without memorization, or when the run logs no mirrored split.
    The intervals are sampling error over pairs given the one trained model, not over seeds."""
    mem = phases(table)["memorization"]
    at_mem = mirror_split(table, mem)
    bound = CHANCE_TIMES / p
    level = familywise(X5_PARTS)
    ci = {g: binomial_interval(at_mem[f"acc_{g}"], at_mem[f"n_{g}"], level) for g in MIRROR_GROUPS}
    mirrored, unmirrored = ci["mirrored"], ci["unmirrored"]
    holds = mirrored.above(bound) and unmirrored.defined and unmirrored.high <= bound
    fails = unmirrored.above(bound) or mirrored.below(bound)
    if mem is None:
        statistic, note = "no memorization step", "no memorization"
    elif not (mirrored.defined and unmirrored.defined):
        statistic, note = "no mirrored split logged at memorization", "no mirrored split"
    else:
        statistic = (
            f"test accuracy at memorization (step {mem}): mirrored pairs {mirrored.text(3)} "
            f"(n = {mirrored.n}), unmirrored pairs {unmirrored.text(3)} (n = {unmirrored.n}); chance 1/p = "
            f"{1 / p:.3f}"
        )
        note = "an interval straddles 3/p"
    # the row shows the interval that decided: the unmirrored one where it lies above the bound or straddles it
    shown = unmirrored if unmirrored.above(bound) or (mirrored.above(bound) and not holds) else mirrored
    return Check.rule(
        "X5",
        holds,
        fails,
        statistic,
        f"mirrored interval above {CHANCE_TIMES}/p = {bound:.3f}, unmirrored at or below it (Wilson, "
        f"{100 * level:.4g} % each)",
        evidence=shown if shown.defined else None,
        null=bound,
        note=note,
        memorization=mem,
        mirrored=[mirrored.estimate, *mirrored.as_list()],
        unmirrored=[unmirrored.estimate, *unmirrored.as_list()],
        n_mirrored=at_mem["n_mirrored"],
        n_unmirrored=at_mem["n_unmirrored"],
        level=level,
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
        "X5": "Above-chance test accuracy at memorization comes from pairs whose mirror (b, a) was trained on",
    },
)
