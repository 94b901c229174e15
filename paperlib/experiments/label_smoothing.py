"""Label smoothing (Sec 5.3, Fig 5, notebook 04): the training-dynamics run repeated at each smoothing level and
seed, and the claim S1 that accuracy, MIR and HDR change little across levels."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .. import runs
from ..configs import FRACTION, OPTIONAL_POSITIVE_INT, group_of, setting, tuple_of, validate
from ..runs import NEW_FIELD
from ..train.supervised import TrainConfig, train
from ..verdicts import Check, little_change
from . import common, dynamics
from .spec import SEEDS, Experiment

LEVELS = (0.0, 0.05, 0.1, 0.2, 0.3)  # the levels of Fig 5
# S1 "changes little": margins for the range of the level means (accuracy, batch-mean ratios). Set on
# 2026-11-28 (commit 842b50a, chapter 04 at smoke), before the first cpu build (2026-11-28, later that day);
# the rule that judges them against the seeds (intervals, 2026-11-29; Tukey's range blocked by seed and the
# familywise level, 2026-12-04) came after it.
MARGINS = {"acc": 0.02, "mir_batch": 0.1, "hdr_batch": 0.1}


@dataclass(frozen=True)
class SmoothingConfig:
    """The training-dynamics recipe at every smoothing level and seed (the eps = 0 runs are plain training)."""

    train: TrainConfig = setting(rule=group_of(TrainConfig))
    levels: tuple[float, ...] = setting(LEVELS, tuple_of(FRACTION))
    seeds: tuple[int, ...] = setting((0, 1, 2), SEEDS)
    # Evaluation cadence of the smoothed runs (None: the train recipe's). The unsmoothed runs keep the
    # recipe's denser cadence: their curves are the seeds chapter 02's trajectory claims are decided on.
    smoothed_eval_every: int | None = setting(None, OPTIONAL_POSITIVE_INT, metadata={NEW_FIELD: True})

    def __post_init__(self) -> None:
        validate(self)


def _sweep(cfg: SmoothingConfig, profile: str, overrides: dict) -> list[TrainConfig]:
    """Each setting of the training-dynamics experiment (the paper profile has two) at every level and seed."""
    base = dynamics.settings(cfg.train, profile, overrides)

    def at(c: TrainConfig, eps: float) -> TrainConfig:
        every = cfg.smoothed_eval_every
        return common.with_recipe(c, eval_every=every) if eps and every else c

    return [
        dataclasses.replace(at(c, eps), label_smoothing=eps, seed=seed)
        for c in base
        for eps in cfg.levels
        for seed in cfg.seeds
    ]


def run_all(profile: str, **overrides: Any) -> list[runs.Run]:
    """Every run of the profile, trained or resumed where not done yet."""
    return SPEC.runs(profile, **overrides)


def finals(all_runs: list[runs.Run]) -> pd.DataFrame:
    """The last evaluation of every run, with a ``setting`` column ('fashion_mnist / wrn-10-1')."""
    final = common.finals(all_runs)
    final["setting"] = final.dataset + " / " + final.model
    return final


RATIOS = ["acc", "mir_batch", "hdr_batch", "mir", "hdr"]


def level_means(final: pd.DataFrame) -> pd.DataFrame:
    """Per setting and level, the mean over seeds of accuracy and the ratios (the points of Fig 5)."""
    return final.groupby(["setting", "label_smoothing"])[RATIOS].mean()


def changes(final: pd.DataFrame, level: str = "label_smoothing") -> dict[tuple[str, str], dict]:
    """Per (setting, metric of ``MARGINS``): level -> the per-seed values (a Series indexed by seed: every level
    runs the same seeds, so ``verdicts.little_change`` blocks by seed)."""
    return {
        (s, m): {lv: g.set_index("seed")[m] for lv, g in t.groupby(level)}
        for s, t in final.groupby("setting")
        for m in MARGINS
    }


def check_S1(final: pd.DataFrame) -> Check:
    """S1 on the batch-mean ratios: "across smoothing levels accuracy, MIR and HDR change little", so every
    metric in every setting must change little (composition: each part). Per (setting, metric) the range of the
    level means gets Tukey's simultaneous interval, blocked by seed (the levels share initialization and data
    order), at the familywise level over the parts (Bonferroni: 98.33 % for one setting's three metrics);
    holds when every upper end is within its margin (``MARGINS``), fails when a lower end exceeds its margin,
    inconclusive otherwise, with the half-width the seeds resolve (``verdicts.little_change``)."""
    if final.empty or final.label_smoothing.nunique() < 2:
        return Check.of("S1", False, "fewer than two smoothing levels", "", inconclusive=True)
    exact = final.groupby("label_smoothing")[["mir", "hdr"]].mean()
    return little_change(
        "S1",
        changes(final),
        MARGINS,
        "smoothing-level",
        exact_range={m: float(exact[m].max() - exact[m].min()) for m in ("mir", "hdr")},
    )


SPEC = Experiment(
    name="label_smoothing",
    title="Label smoothing",
    notebook="04",
    profiles={
        "smoke": lambda: SmoothingConfig(
            train=common.supervised("smoke", steps=100, eval_every=20),
            levels=(0.0, 0.1, 0.3),
            seeds=(0, 1),
            smoothed_eval_every=50,
        ),
        # 1,200 steps (1.3 epochs) x 4 levels x 3 seeds: within the cpu book's hour, seeds were bought with
        # shorter runs (chapter 02's run is 5,000 steps); the eps = 0 runs are also the models chapter 05 prunes.
        "cpu": lambda: SmoothingConfig(
            train=common.supervised("cpu", steps=1200, eval_every=150, ckpt_every=600),
            levels=(0.0, 0.1, 0.2, 0.3),
            smoothed_eval_every=600,
        ),
        "paper": lambda: SmoothingConfig(train=common.supervised("paper")),
    },
    store=common.SUPERVISED_STORE,
    trainer=train,
    sweep_fn=_sweep,
    claims={"S1": "Accuracy, MIR and HDR change little across label-smoothing levels"},
)
