"""Table 2 of Sec 6 (notebook 07): fully supervised cross-entropy alone and with the MI or HDR term, lambda
chosen on a validation split (``info_losses``), and the claim E1."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ..configs import BOOL, POSITIVE, group_of, setting, tuple_of, validate
from ..train.info_loss import KINDS
from ..train.supervised import TrainConfig
from ..verdicts import Check
from . import common
from . import info_losses as il
from .spec import SEEDS, Experiment

# The paper's Table 2, test accuracy %, printed beside ours.
PAPER_TABLE2 = pd.DataFrame(
    {"CIFAR-10 / WRN-28-2": [95.35, 95.52, 95.57], "CIFAR-100 / WRN-28-8": [80.77, 80.81, 80.96]},
    index=["cross-entropy", "cross-entropy + MI", "cross-entropy + HDR"],
)


@dataclass(frozen=True)
class SupervisedInfo:
    """Cross-entropy alone and with each term. For each term, lambda is chosen among ``lambdas`` by the
    validation accuracy of the first seed (``train.recipe.val_per_class`` images per class held out); the
    other seeds then run with the chosen lambda. The test set is only read for the table."""

    train: TrainConfig = setting(rule=group_of(TrainConfig))
    seeds: tuple[int, ...] = setting((0, 1, 2), SEEDS)
    lambdas: tuple[float, ...] = setting((0.1, 1.0), tuple_of(POSITIVE))
    detach_head: bool = setting(False, BOOL)

    def __post_init__(self) -> None:
        validate(self)


def _sweep(study: SupervisedInfo, profile: str, overrides: dict) -> list:
    """The paper profile adds CIFAR-100 with WRN-28-8, unless a data set was asked for."""
    if profile == "paper" and not common.names_setting(overrides, "dataset"):
        return [
            study,
            dataclasses.replace(study, train=common.with_recipe(study.train, **common.PAPER_CIFAR100)),
        ]
    return [study]


def run_study(study: SupervisedInfo) -> pd.DataFrame:
    """One row per run (plain, candidates and chosen), trained or read from the store."""

    def launch(kind: str, lam: float, seed: int) -> dict:
        spec = il.loss_spec(kind, lam, study.detach_head)
        cfg = dataclasses.replace(study.train, seed=seed, extra_loss=spec)
        run = common.train_supervised(cfg)
        r = cfg.recipe
        return il.result_row(run, dataset=r.dataset, model=r.model, loss=kind, **{"lambda": lam}, seed=seed)

    return pd.DataFrame(il.with_lambda_chosen(KINDS, study.lambdas, study.seeds, launch))


def run_all(profile: str, **overrides: Any) -> dict[str, pd.DataFrame]:
    """Each setting's table of runs, by setting name."""
    return {common.setting(s.train.recipe): run_study(s) for s in SPEC.sweep(profile, **overrides)}


def differences(stats: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Each variant's mean test accuracy minus cross-entropy's, with its standard error, per setting."""
    return pd.concat({n: il.against(s, "cross-entropy") for n, s in stats.items()}, names=["setting"])


VARIANTS = ("cross-entropy + MI", "cross-entropy + HDR")


def check_E1(stats: dict[str, pd.DataFrame]) -> Check:
    """E1: in every setting both variants have a higher mean test accuracy than cross-entropy alone
    (``stats``: ``info_losses.summarize`` of each setting's table); inconclusive when a setting lacks
    cross-entropy or a variant, or a mean is undefined."""
    complete = bool(stats) and all({"cross-entropy", *VARIANTS} <= set(s.method) for s in stats.values())
    if not complete:
        return Check.of("E1", False, "a setting lacks cross-entropy or a variant", "", inconclusive=True)
    e1 = differences(stats)
    return Check.of(
        "E1",
        bool((e1["diff"] > 0).all()),
        "; ".join(f"{n}: {r.method} {r['diff']:+.2f} ± {r.se:.2f} points" for (n, _), r in e1.iterrows()),
        "both variants above cross-entropy in mean test accuracy",
        inconclusive=bool(e1["diff"].isna().any()),
        differences=[[n, r.method, r["diff"], r.se] for (n, _), r in e1.iterrows()],
    )


def report(profile: str, **overrides: Any) -> str:
    tables = []
    for name, frame in run_all(profile, **overrides).items():
        table = il.formatted(il.summarize(frame))
        tables.append(f"{name}, test accuracy %, mean ± sd over seeds:\n{table.to_string()}")
    return "\n\n".join(tables)


SPEC = Experiment(
    name="supervised_info",
    title="Information losses, fully supervised (Table 2)",
    notebook="07",
    profiles={
        "smoke": lambda: SupervisedInfo(
            train=common.supervised("smoke", steps=60, eval_every=60, ckpt_every=60, val_per_class=20),
            seeds=(0, 1),
        ),
        # 1,000 steps (1.1 epochs) without augmentation, as the cpu dynamics run; 500 validation images per
        # class. Eleven runs (3 seeds x 3 losses + 2 candidates).
        "cpu": lambda: SupervisedInfo(
            train=common.supervised("cpu", steps=1000, eval_every=1000, ckpt_every=500, val_per_class=500)
        ),
        "paper": lambda: SupervisedInfo(train=common.supervised("paper", val_per_class=500)),
    },
    store=common.SUPERVISED_STORE,
    sweep_fn=_sweep,
    report=report,
    claims={"E1": "-lambda MI or +lambda |dH| slightly improves fully supervised accuracy (Table 2)"},
)
