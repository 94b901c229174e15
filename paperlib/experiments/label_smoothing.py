"""Label smoothing (Sec 5.3, Fig 5, notebook 04): the training-dynamics run repeated at each smoothing level,
and the claim S1 that accuracy, MIR and HDR change little across levels."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd

from .. import runs
from ..verdicts import Check, value_range
from . import common, dynamics

LEVELS = (0.0, 0.05, 0.1, 0.2, 0.3)  # the levels of Fig 5
ACC_RANGE, RATIO_RANGE = 0.02, 0.1  # S1: "changes little"


def _sweep(cfg, profile: str, overrides: dict) -> list:
    """Each setting of the training-dynamics experiment at every level (the eps = 0 run is that run)."""
    base = dynamics.settings(cfg, profile, overrides)
    if common.names_setting(overrides, "label_smoothing"):
        return base
    return [dataclasses.replace(c, label_smoothing=eps) for c in base for eps in LEVELS]


def run_all(profile: str, **overrides: Any) -> list[runs.Run]:
    """Every run of the profile, trained or resumed where not done yet."""
    return SPEC.runs(profile, **overrides)


def finals(all_runs: list[runs.Run]) -> pd.DataFrame:
    """The last evaluation of every run, with a ``setting`` column ('fashion_mnist / wrn-10-1')."""
    final = common.finals(all_runs)
    final["setting"] = final.dataset + " / " + final.model
    return final


RATIOS = ["acc", "mir_batch", "hdr_batch", "mir", "hdr"]


def spreads(final: pd.DataFrame) -> pd.DataFrame:
    """Per setting, the range (max - min) over smoothing levels of accuracy and the ratios."""
    return final.groupby("setting")[RATIOS].agg(value_range)


def check_S1(final: pd.DataFrame) -> Check:
    """S1: in every setting the final accuracy varies by at most 2 points and batch-mean MIR and HDR by at
    most 0.1 across levels (inconclusive with fewer than two levels or an undefined value)."""
    spread = spreads(final)
    ok = bool(
        (
            (spread.acc <= ACC_RANGE) & (spread.mir_batch <= RATIO_RANGE) & (spread.hdr_batch <= RATIO_RANGE)
        ).all()
    )
    text = "; ".join(
        f"{s}: range of accuracy {row.acc:.3f}, MIR {row.mir_batch:.3f} (exact {row.mir:.3f}), "
        f"HDR {row.hdr_batch:.3f} (exact {row.hdr:.3f})"
        for s, row in spread.iterrows()
    )
    levels = final.groupby("setting").label_smoothing.nunique()
    return Check.of(
        "S1",
        ok,
        text,
        f"accuracy range <= {ACC_RANGE}, MIR and HDR ranges <= {RATIO_RANGE}",
        inconclusive=len(levels) == 0 or bool((levels < 2).any()) or bool(final[RATIOS].isna().any().any()),
        ranges=spread.to_dict(orient="index"),
    )


# The training-dynamics experiment with a sweep over smoothing levels: same settings, same store.
SPEC = dataclasses.replace(
    dynamics.SPEC,
    name="label_smoothing",
    title="Label smoothing",
    notebook="04",
    sweep_fn=_sweep,
    claims={"S1": "Accuracy, MIR and HDR change little across label-smoothing levels"},
)
