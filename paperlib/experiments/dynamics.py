"""Training dynamics (Sec 5.1, Figs 1-2, notebook 02): accuracy, MIR, HDR and NC1-NC3 during supervised
training, and the claims D1, D2, X2 and X1 (on trained features) decided from those curves."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from .. import runs
from ..data import NUM_CLASSES
from ..intervals import Interval, batch_interval, detectable, familywise, mean_interval, spearman_interval
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


TRAJECTORY_COLUMNS = [
    "rho_mir",
    "rho_hdr",
    "mir_rise",
    "gap_shrink",
    "hdr_change",
    "mir_end_exact",
    "hdr_end_exact",
    *(f"{c}_{m}" for m in ("mir", "hdr") for c in NC_COLUMNS),
]


def trajectory_configs(profile: str, **overrides: Any) -> list:
    """The runs D1, D2 and X2 are decided on: several seeds of supervised training with evaluation curves,
    which are chapter 04's unsmoothed runs (the same kind of run as chapter 02's, shorter, one per seed)."""
    from . import label_smoothing  # imports this module

    return [c for c in label_smoothing.SPEC.sweep(profile, **overrides) if c.label_smoothing == 0]


def trajectory_runs(profile: str, **overrides: Any) -> list[runs.Run]:
    """The finished runs of ``trajectory_configs`` (trained or resumed where not done yet)."""
    return common.train_supervised_all(trajectory_configs(profile, **overrides))


def trajectory_scale(profile: str, **overrides: Any) -> dict[str, Any]:
    """What D1, D2 and X2 rest on: data, model, steps, evaluations per run and seeds of the trajectory runs."""
    cfgs = trajectory_configs(profile, **overrides)
    r, data = cfgs[0].recipe, sorted({c.recipe.dataset for c in cfgs})
    models = sorted({c.recipe.model for c in cfgs})
    return {
        "profile": profile,
        "data": data if len(data) > 1 else data[0],
        "model": models if len(models) > 1 else models[0],
        "steps": r.steps,
        "evaluations": r.steps // r.eval_every + 1,
        "seeds": sorted({c.seed for c in cfgs}),
    }


def seed_tables(all_runs: list[runs.Run]) -> dict[str, pd.DataFrame]:
    """The curves of every seed's run, one frame per setting with a ``seed`` column (what D1, D2, X2 read)."""
    frames: dict[str, list[pd.DataFrame]] = {}
    for r in all_runs:
        frames.setdefault(common.setting(r.config.recipe), []).append(common.supervised_curves(r))
    return {n: pd.concat(f, ignore_index=True) for n, f in frames.items()}


def _by_seed(t: pd.DataFrame):
    """(seed, curve sorted by step) for each seed of a setting's frame (one seed when there is no column)."""
    if "seed" not in t:
        return [(0, t.sort_values("step"))]
    return [(seed, g.sort_values("step")) for seed, g in t.groupby("seed")]


def per_seed(curves: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (setting, seed): the trajectory statistics the claims are decided on, each a description
    of one run (Spearman rho over its evaluation points, start and end values). Their uncertainty comes from
    repeating the run, so the checks put intervals over seeds on these rows, never on the points of one run."""
    rows = []
    for n, t in curves.items():
        nc = collapse_value(t)
        for seed, g in _by_seed(t):
            start, end = g.mir_batch.iloc[0], g.mir_batch.iloc[-1]
            row = {
                "setting": n,
                "seed": seed,
                "points": len(g),
                "rho_mir": _rho(g.acc, g.mir_batch),
                "rho_hdr": _rho(g.acc, g.hdr_batch),
                "mir_rise": end - start,
                "gap_shrink": abs(nc - start) - abs(nc - end),
                "hdr_change": g.hdr_batch.iloc[-1] - g.hdr_batch.iloc[0],
                "mir_end_exact": g.mir.iloc[-1],
                "hdr_end_exact": g.hdr.iloc[-1],
            }
            for m in ("mir", "hdr"):
                for c in NC_COLUMNS:
                    row[f"{c}_{m}"] = _rho(g[c], g[f"{m}_batch"]) if c in g else float("nan")
            rows.append(row)
    return pd.DataFrame(rows, columns=["setting", "seed", "points", *TRAJECTORY_COLUMNS])


def trajectory_check(
    claim_id: str, curves: dict[str, pd.DataFrame], parts: dict[str, int], threshold: str, **numbers
) -> Check:
    """Decide a trajectory claim over seeds. ``parts`` maps a ``per_seed`` column to the claimed sign of its
    mean (+1 above 0, -1 below). Every part in every setting gets a t interval over seeds at the familywise
    level (Bonferroni over all parts: ``intervals.familywise``). Holds when every interval lies on its claimed
    side of 0; fails when any lies on the other side; inconclusive otherwise, including fewer than two seeds
    or an undefined (degenerate) correlation at a seed. The evidence shown is the deciding part: the one
    furthest on the wrong side for a 'fails', else the weakest in its claimed direction. An inconclusive row
    states, for each undecided part, the smallest mean the seeds could detect (``intervals.detectable``)."""
    seeds = per_seed(curves)
    level = familywise(max(1, len(parts) * len(curves)))
    ivs = {
        (n, col): mean_interval(g[col].tolist(), level=level)
        for n, g in seeds.groupby("setting", sort=False)
        for col in parts
    }
    right = {k: (i.above(0) if parts[k[1]] > 0 else i.below(0)) for k, i in ivs.items()}
    wrong = {k: (i.below(0) if parts[k[1]] > 0 else i.above(0)) for k, i in ivs.items()}
    holds, fails = bool(ivs) and all(right.values()), any(wrong.values())
    pick = [k for k in ivs if wrong[k]] if fails else list(ivs)
    shown = min(pick, key=lambda k: _reach(ivs[k], parts[k[1]]), default=None)
    n_seeds = int(seeds.groupby("setting").seed.nunique().min()) if len(seeds) else 0
    text = "; ".join(
        f"{n}: " + ", ".join(f"{col} {ivs[(n, col)].text(3)}" for col in parts)
        for n in dict.fromkeys(k[0] for k in ivs)
    )
    # what the seeds run can resolve: the smallest mean each undecided part would need to be decided on its
    # claimed side (exact noncentral t at the familywise level, 80 % power, from its seed-to-seed sd)
    undecided = [k for k in ivs if not right[k] and not wrong[k]]
    sd = {k: g[k[1]].std(ddof=1) for n, g in seeds.groupby("setting", sort=False) for k in ivs if k[0] == n}
    mde = {k: detectable(float(sd[k]), ivs[k].n, level=level) for k in undecided}
    if not holds and not fails and any(math.isfinite(v) for v in mde.values()):
        text += "; detectable at these seeds: " + ", ".join(
            f"{col} {v:.3f}" for (_, col), v in mde.items() if math.isfinite(v)
        )
    return Check.rule(
        claim_id,
        holds,
        fails,
        f"mean over {n_seeds} seeds (per-seed values; {100 * level:.4g} % t intervals, Bonferroni over "
        f"{len(ivs)} parts): {text}"
        if text
        else "no run",
        threshold,
        evidence=ivs[shown] if shown else None,
        null=0.0,
        note="" if n_seeds >= 2 else "one seed: no interval",
        per_seed={
            f"{r['setting']} seed {r['seed']}": {c: r[c] for c in parts} for r in seeds.to_dict("records")
        },
        deciding=" ".join(shown) if shown else "",
        detectable={" ".join(k): v for k, v in mde.items()},
        **numbers,
    )


def _reach(i: Interval, sign: int) -> float:
    """How far an interval's near end lies on its claimed side of 0 (undefined: -inf, the weakest)."""
    if not i.defined:
        return -math.inf
    return i.low if sign > 0 else -i.high


D1_PARTS = {"rho_mir": +1, "mir_rise": +1, "gap_shrink": +1}
D2_PARTS = {"rho_hdr": -1, "hdr_change": -1}
X2_PARTS = {f"{c}_{m}": (-1 if m == "mir" else +1) for m in ("mir", "hdr") for c in NC_COLUMNS}


def exact_ends(curves: dict[str, pd.DataFrame], column: str, what: str) -> str:
    seeds = per_seed(curves)
    return "; ".join(
        f"{n}: exact {what} at the end {g[column].mean():.3f} (mean over seeds)"
        for n, g in seeds.groupby("setting", sort=False)
    )


def check_D1(curves: dict[str, pd.DataFrame]) -> Check:
    """D1, "test accuracy and MIR move together and MIR rises toward its collapse value": three parts, each
    needed, on the paper's batch-mean MIR, per seed: Spearman rho(accuracy, MIR) over the run's evaluation
    points, MIR(end) - MIR(start), and how much the gap to MIR_NC(C) shrinks. Decided over seeds by
    ``trajectory_check`` (each part's familywise interval on its claimed side of 0: above)."""
    return trajectory_check(
        "D1",
        curves,
        D1_PARTS,
        "every part's interval above 0",
        exact=exact_ends(curves, "mir_end_exact", "MIR"),
    )


def check_D2(curves: dict[str, pd.DataFrame]) -> Check:
    """D2, "HDR falls during training, opposite to accuracy": two parts, each needed, per seed: rho(accuracy,
    HDR) below 0 and HDR(end) - HDR(start) below 0, decided over seeds by ``trajectory_check``."""
    return trajectory_check(
        "D2",
        curves,
        D2_PARTS,
        "every part's interval below 0",
        exact=exact_ends(curves, "hdr_end_exact", "HDR"),
    )


def nc_correlations(curves: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Spearman rho of each NC measure with batch-mean MIR and HDR, mean over seeds; rows (setting, ratio),
    columns NC."""
    means = per_seed(curves).groupby("setting", sort=False)[list(X2_PARTS)].mean()
    return pd.DataFrame(
        {
            (n, m): {c: means.loc[n, f"{c}_{m}"] for c in NC_COLUMNS}
            for n in means.index
            for m in ("mir", "hdr")
        }
    ).T


def check_X2(curves: dict[str, pd.DataFrame]) -> Check:
    """X2, "MIR and HDR track NC1-NC3": six parts, each needed: per seed, Spearman rho of each NC measure with
    batch-mean MIR (claimed below 0: collapse measures fall as MIR rises) and with HDR (claimed above 0),
    decided over seeds by ``trajectory_check``."""
    return trajectory_check("X2", curves, X2_PARTS, "every interval clear of 0: below for MIR, above for HDR")


# relative: a batch mean within 1 % of the exact value counts as unbiased. Set on 2026-11-29, after the first cpu
# build (2026-11-28); D1, D2 and X2 carry no threshold of their own (the sign of each part against 0).
X1_MARGIN = 0.01


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
        f"interval of the batch mean clear of the exact value by more than {X1_MARGIN:.0%}; fails within it "
        "(margin set after the first cpu build)",
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
