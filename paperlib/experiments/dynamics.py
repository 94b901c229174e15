"""Training dynamics (Sec 5.1, Figs 1-2, notebook 02): accuracy, MIR, HDR and NC1-NC3 during supervised
training, and the claims D1, D2, X2 and X1 (on trained features) decided from those curves."""

from __future__ import annotations

from typing import Any

import pandas as pd

from .. import runs
from ..data import NUM_CLASSES
from ..intervals import Interval, batch_interval, spearman_interval
from ..theory import nc_mir_bound
from ..train.supervised import train
from ..verdicts import Check
from . import common
from .spec import Experiment

NC_COLUMNS = ("nc1", "nc2_equiangular", "nc3")


def settings(cfg, profile: str, overrides: dict) -> list:
    """The paper profile adds its second setting, CIFAR-100 with WRN-28-8, unless a data set was asked for."""
    if profile == "paper" and not common.names_setting(overrides, "dataset"):
        return [cfg, common.with_recipe(cfg, **common.PAPER_CIFAR100)]
    return [cfg]


def run_all(profile: str, **overrides: Any) -> list[runs.Run]:
    """Every run of the profile, trained or resumed where not done yet."""
    return SPEC.runs(profile, **overrides)


def tables(all_runs: list[runs.Run]) -> dict[str, pd.DataFrame]:
    """The curves of each run by setting name ('fashion_mnist / wrn-10-1')."""
    return {common.setting(r.config.recipe): common.supervised_curves(r) for r in all_runs}


def _rho(a: pd.Series, b: pd.Series) -> float:
    return spearman_interval(a, b).estimate


def collapse_value(t: pd.DataFrame) -> float:
    """MIR at neural collapse (Thm 4.2) for the run's number of classes (``classes`` or ``dataset`` column)."""
    c = int(t["classes"].iloc[0]) if "classes" in t else NUM_CLASSES[t["dataset"].iloc[0]]
    return nc_mir_bound(c)


def _weakest(intervals: dict[str, Interval], sign: int) -> Interval | None:
    """The setting whose correlation is weakest in the claimed direction (the one that decides)."""
    return min(
        intervals.values(), key=lambda i: sign * i.estimate if i.estimate == i.estimate else -2, default=None
    )


def _trajectory(curves: dict[str, pd.DataFrame], column: str) -> dict[str, Interval]:
    return {n: spearman_interval(t.acc, t[column]) for n, t in curves.items()}


def check_D1(curves: dict[str, pd.DataFrame]) -> Check:
    """D1, decided on the paper's batch-mean MIR: in every setting, Spearman rho(accuracy, MIR) over the
    evaluation points is positive with its Fisher-z 95 % interval above 0, MIR ends above its start, and the
    gap to the collapse value MIR_NC(C) shrinks. Fails where a rho interval lies below 0 or MIR ends farther
    from MIR_NC(C) than it started; inconclusive otherwise (too few points for an interval, an undefined
    ratio)."""
    rho = _trajectory(curves, "mir_batch")
    moves = {}
    for n, t in curves.items():
        nc, start, end = collapse_value(t), t.mir_batch.iloc[0], t.mir_batch.iloc[-1]
        moves[n] = (start, end, abs(nc - start), abs(nc - end), t.mir.iloc[-1])
    closer = {n: m[3] < m[2] and m[1] > m[0] for n, m in moves.items()}
    holds = bool(rho) and all(r.above(0) for r in rho.values()) and all(closer.values())
    fails = any(r.below(0) for r in rho.values()) or any(m[3] > m[2] for m in moves.values())
    text = "; ".join(
        f"{n}: rho(acc, MIR) = {rho[n].text(2)}, MIR {m[0]:.3f} -> {m[1]:.3f}, gap to MIR_NC "
        f"{m[2]:.3f} -> {m[3]:.3f}"
        for n, m in moves.items()
    )
    return Check.rule(
        "D1",
        holds,
        fails,
        text or "no run",
        "rho interval above 0; MIR(end) > MIR(start); |MIR_NC - MIR| shrinks",
        evidence=_weakest(rho, +1),
        null=0.0,
        exact="; ".join(f"{n}: exact MIR at the end {m[4]:.3f}" for n, m in moves.items()),
        rho={n: r.estimate for n, r in rho.items()},
        mir_start_end={n: [m[0], m[1]] for n, m in moves.items()},
        gap_to_collapse={n: [m[2], m[3]] for n, m in moves.items()},
    )


def check_D2(curves: dict[str, pd.DataFrame]) -> Check:
    """D2, on the batch-mean HDR: in every setting rho(accuracy, HDR) has its Fisher-z interval below 0 and
    HDR ends below its start. Fails where a rho interval lies above 0 or HDR ends above its start."""
    rho = _trajectory(curves, "hdr_batch")
    change = {n: (t.hdr_batch.iloc[-1] - t.hdr_batch.iloc[0], t.hdr.iloc[-1]) for n, t in curves.items()}
    holds = bool(rho) and all(r.below(0) for r in rho.values()) and all(c < 0 for c, _ in change.values())
    fails = any(r.above(0) for r in rho.values()) or any(c > 0 for c, _ in change.values())
    return Check.rule(
        "D2",
        holds,
        fails,
        "; ".join(
            f"{n}: rho(acc, HDR) = {rho[n].text(2)}, HDR change {c:+.3f}" for n, (c, _) in change.items()
        )
        or "no run",
        "rho interval below 0 and HDR(end) < HDR(start)",
        evidence=_weakest(rho, -1),
        null=0.0,
        exact="; ".join(f"{n}: exact HDR at the end {e:.3f}" for n, (_, e) in change.items()),
        rho={n: r.estimate for n, r in rho.items()},
        hdr_change={n: c for n, (c, _) in change.items()},
    )


def nc_correlations(curves: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Spearman rho of each NC measure with batch-mean MIR and HDR; rows (setting, ratio), columns NC."""
    return pd.DataFrame(
        {
            (n, m): {nc: _rho(t[nc], t[f"{m}_batch"]) for nc in NC_COLUMNS}
            for n, t in curves.items()
            for m in ("mir", "hdr")
        }
    ).T


def check_X2(curves: dict[str, pd.DataFrame]) -> Check:
    """X2: every NC measure correlates negatively with batch-mean MIR and positively with HDR, each Fisher-z
    interval clear of 0 in that direction. Fails where an interval lies on the other side of 0."""
    pairs = {
        (n, m, nc): spearman_interval(t[nc], t[f"{m}_batch"])
        for n, t in curves.items()
        for m in ("mir", "hdr")
        for nc in NC_COLUMNS
    }
    sign = {"mir": -1, "hdr": +1}

    def right(key, i):
        return i.below(0) if sign[key[1]] < 0 else i.above(0)

    def wrong(key, i):
        return i.above(0) if sign[key[1]] < 0 else i.below(0)

    holds = bool(pairs) and all(right(k, i) for k, i in pairs.items())
    weakest = (
        min(pairs.items(), key=lambda kv: sign[kv[0][1]] * kv[1].estimate if kv[1].defined else -2)[1]
        if pairs
        else None
    )
    text = "; ".join(
        f"{m.upper()}: " + ", ".join(f"{nc} {pairs[(n, m, nc)].estimate:.2f}" for nc in NC_COLUMNS)
        for n in curves
        for m in ("mir", "hdr")
    )
    return Check.rule(
        "X2",
        holds,
        any(wrong(k, i) for k, i in pairs.items()),
        "Spearman rho with " + text if text else "no run",
        "every interval clear of 0: below for MIR, above for HDR",
        evidence=weakest,
        null=0.0,
        rho={" ".join(k): i.estimate for k, i in pairs.items()},
    )


X1_MARGIN = 0.01  # relative: a batch mean within 1 % of the exact value counts as unbiased


def check_X1(curves: dict[str, pd.DataFrame]) -> Check:
    """X1 on trained features: at the end of each run, the 95 % interval of the batch-mean MIR (t interval
    over its batches) lies clear of the exact value by more than 1 % (relative; within 1 % counts as no bias).
    Fails where that interval lies within 1 % of the exact value; inconclusive otherwise."""
    ends = {}
    for n, t in curves.items():
        last_row = t.iloc[-1]
        sd = last_row.get("mir_batch_sd", float("nan"))
        k = last_row.get("batches", float("nan"))
        interval = batch_interval(float(last_row.mir_batch), float(sd), int(k) if k == k else 0)
        ends[n] = (interval, float(last_row.mir))
    holds = bool(ends) and all(
        i.above(e + X1_MARGIN * abs(e)) or i.below(e - X1_MARGIN * abs(e)) for i, e in ends.values()
    )
    fails = any(
        i.defined and i.low >= e * (1 - X1_MARGIN) and i.high <= e * (1 + X1_MARGIN) for i, e in ends.values()
    )
    text = "; ".join(
        f"{n}: MIR batch-mean {i.text(3)} vs exact {e:.3f} (gap {abs(i.estimate - e) / abs(e):.0%})"
        for n, (i, e) in ends.items()
    )
    first = next(iter(ends.values()), (None, None))
    return Check.rule(
        "X1",
        holds,
        fails,
        text or "no run",
        f"interval of the batch mean clear of the exact value by more than {X1_MARGIN:.0%}; fails within it",
        evidence=first[0],
        null=first[1],
        exact=", ".join(f"{e:.3f}" for _, e in ends.values()),
        relative_gap={n: abs(i.estimate - e) / abs(e) for n, (i, e) in ends.items()},
    )


SPEC = Experiment(
    name="dynamics",
    title="Training dynamics",
    notebook="02",
    profiles={p: (lambda p=p: common.supervised(p)) for p in common.RECIPES},
    store=common.SUPERVISED_STORE,
    trainer=train,
    sweep_fn=settings,
    claims={
        "D1": "Test accuracy and MIR move together; MIR rises toward its collapse value",
        "D2": "HDR falls during training, opposite to accuracy",
        "X1": "On trained features the batch-mean estimate is biased against the exact dataset-level value",
        "X2": "MIR and HDR track the classical neural-collapse measures NC1-NC3",
    },
)
