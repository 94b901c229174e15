"""Training dynamics (Sec 5.1, Figs 1-2, notebook 02): accuracy, MIR, HDR and NC1-NC3 during supervised
training, and the claims D1, D2, X2 and X1 (on trained features) decided from those curves."""

from __future__ import annotations

from typing import Any

import pandas as pd
from scipy import stats

from .. import runs
from ..train.supervised import train
from ..verdicts import Check
from . import common
from .nc_theory import X1_CLAIM
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
    return float(stats.spearmanr(a, b)[0]) if len(a) > 2 else float("nan")


def _undecidable(values) -> bool:
    """No setting to decide on, or a statistic is missing (NaN: fewer than three evaluations, a constant
    curve or an undefined ratio)."""
    values = list(values)
    return not values or any(pd.isna(v) for v in values)


def check_D1(curves: dict[str, pd.DataFrame]) -> Check:
    """D1: in every setting, Spearman rho(accuracy, batch-mean MIR) >= 0.5 and MIR ends above its start."""
    d1 = {
        n: (_rho(t.acc, t.mir_batch), t.mir_batch.iloc[-1] - t.mir_batch.iloc[0], t.mir_batch.iloc[-1])
        for n, t in curves.items()
    }
    ok = all(r >= 0.5 and up > 0 for r, up, _ in d1.values())
    text = "; ".join(
        f"{n}: rho(acc, MIR) = {r:.2f}, MIR {end - up:.3f} -> {end:.3f}" for n, (r, up, end) in d1.items()
    )
    return Check.of(
        "D1",
        ok,
        text,
        "rho >= 0.5 and MIR(end) > MIR(start)",
        inconclusive=_undecidable(r for r, _, _ in d1.values()),
        rho={n: v[0] for n, v in d1.items()},
        mir_change={n: v[1] for n, v in d1.items()},
    )


def check_D2(curves: dict[str, pd.DataFrame]) -> Check:
    """D2: in every setting, rho(accuracy, batch-mean HDR) <= -0.5 and HDR ends below its start."""
    d2 = {
        n: (_rho(t.acc, t.hdr_batch), t.hdr_batch.iloc[-1] - t.hdr_batch.iloc[0]) for n, t in curves.items()
    }
    return Check.of(
        "D2",
        all(r <= -0.5 and down < 0 for r, down in d2.values()),
        "; ".join(f"{n}: rho(acc, HDR) = {r:.2f}, HDR change {down:+.3f}" for n, (r, down) in d2.items()),
        "rho <= -0.5 and HDR(end) < HDR(start)",
        inconclusive=_undecidable(r for r, _ in d2.values()),
        rho={n: v[0] for n, v in d2.items()},
        hdr_change={n: v[1] for n, v in d2.items()},
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
    """X2: every NC measure correlates with MIR at rho <= -0.5 and with HDR at rho >= 0.5."""
    corr = nc_correlations(curves)
    ok = all((corr.loc[(n, "mir")] <= -0.5).all() and (corr.loc[(n, "hdr")] >= 0.5).all() for n in curves)
    text = (
        "Spearman rho of (NC1, NC2, NC3) with MIR: "
        + ", ".join(f"{v:.2f}" for n in curves for v in corr.loc[(n, "mir")])
        + "; with HDR: "
        + ", ".join(f"{v:.2f}" for n in curves for v in corr.loc[(n, "hdr")])
    )
    return Check.of(
        "X2",
        ok,
        text,
        "MIR rho <= -0.5 and HDR rho >= 0.5 for all three",
        inconclusive=corr.empty or bool(corr.isna().any().any()),
        rho={f"{n} {m}": corr.loc[(n, m)].to_dict() for n, m in corr.index},
    )


def check_X1(curves: dict[str, pd.DataFrame]) -> Check:
    """X1 on trained features: the batch-mean MIR at the end is more than 5 % (relative) from the exact one."""
    end = {n: (t.mir_batch.iloc[-1], t.mir.iloc[-1]) for n, t in curves.items()}
    gaps = {n: abs(b - e) / abs(e) for n, (b, e) in end.items()}
    text = "; ".join(
        f"{n}: MIR batch-mean {b:.3f} vs exact {e:.3f} (gap {gaps[n]:.0%})" for n, (b, e) in end.items()
    )
    return Check.of(
        "X1",
        all(g > 0.05 for g in gaps.values()),
        text,
        "relative gap > 5 % at the end",
        inconclusive=_undecidable(gaps.values()),
        relative_gap=gaps,
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
        "X1": X1_CLAIM,
        "X2": "MIR and HDR track the classical neural-collapse measures NC1-NC3",
    },
)
