"""What several experiments share: the store of supervised runs, the supervised settings per profile, and
reading runs back as tables or models."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import torch

from .. import distributed, runs
from ..train.supervised import Recipe, TrainConfig, make_model, train

# Every supervised run (chapters 02-05 and 07) lives in one store folder, so equal configs are trained once:
# label smoothing's eps = 0 run is the training-dynamics run, pruning prunes that same run.
SUPERVISED_STORE = "supervised"

# Short CPU runs use PyTorch's BatchNorm momentum (0.1): USB's 0.001 is tuned for 2^20 steps, and with a few
# thousand steps the running statistics would still lag the weights at every evaluation.
FMNIST = Recipe(dataset="fashion_mnist", model="wrn-10-1", bn_momentum=0.1)
RECIPES = {
    "smoke": dataclasses.replace(FMNIST, eval_per_class=50, steps=150, eval_every=25, ckpt_every=50),
    # channels_last: 21 % faster per whole cpu run here, bit-identical run to run, and within two seed sd of
    # eager on accuracy and every ratio (benchmarks/RESULTS.md, "channels_last and torch.compile ...").
    "cpu": dataclasses.replace(FMNIST, steps=5000, eval_every=500, ckpt_every=1000, channels_last=True),
    "paper": Recipe(dataset="cifar10", model="wrn-28-2", steps=2**20, eval_every=2**14, ckpt_every=2**14),
}
# The paper's second supervised setting: CIFAR-100 with WRN-28-8 (same hyperparameters).
PAPER_CIFAR100 = dict(dataset="cifar100", model="wrn-28-8")


def supervised(profile: str, **recipe) -> TrainConfig:
    """The training-dynamics config of ``profile``, with ``recipe`` settings changed."""
    extra = {
        "smoke": dict(train_per_class=100),
        # Without augmentation: measured here at 6000 steps, crop + flip reached 90.2 % test accuracy and no
        # augmentation 91.8 %; five epochs are too few for augmentation to pay off.
        "cpu": dict(augment=False),
    }.get(profile, {})
    return TrainConfig(recipe=dataclasses.replace(RECIPES[profile], **recipe), **extra)


def with_recipe(cfg, **changes):
    """``cfg`` (any config holding a ``recipe``) with recipe settings changed."""
    return dataclasses.replace(cfg, recipe=dataclasses.replace(cfg.recipe, **changes))


def train_supervised(cfg: TrainConfig) -> runs.Run:
    """The finished supervised run of ``cfg`` (from the store, resumed or trained now)."""
    return runs.run(SUPERVISED_STORE, cfg, train)


def train_supervised_all(cfgs: list[TrainConfig]) -> list[runs.Run]:
    """The finished supervised runs of ``cfgs``, in order; those not in the store are trained here, one after
    another (``python -m paperlib launch`` trains a store's runs side by side beforehand)."""
    return [train_supervised(cfg) for cfg in cfgs]


def load_model(run: runs.Run) -> torch.nn.Module:
    """The trained model of a finished supervised run, in eval mode, on ``distributed.device()``."""
    model = make_model(run.config.recipe, run.config.seed).to(distributed.device())
    model.load_state_dict(run.load_checkpoint()["model"])
    return model.eval()


def curves(run: runs.Run, by_split: bool = False) -> pd.DataFrame:
    """One row per evaluation step (and split, with ``by_split``), one column per metric."""
    index = ["step", "split"] if by_split else "step"
    wide = run.metrics().pivot_table(index=index, columns="metric", values="value").reset_index()
    wide.columns.name = None
    return wide


def last(run: runs.Run, split: str, metric: str) -> float:
    """The last logged value of ``metric`` on ``split`` (NaN if never logged)."""
    rows = run.metrics()
    rows = rows[(rows.split == split) & (rows.metric == metric)]
    return float(rows.sort_values("step").value.iloc[-1]) if len(rows) else math.nan


def supervised_curves(run: runs.Run) -> pd.DataFrame:
    """``curves`` of a supervised run, with its data set, model, smoothing level and seed as columns."""
    wide = curves(run)
    cfg = run.config
    for key, value in (("dataset", cfg.recipe.dataset), ("model", cfg.recipe.model)):
        wide[key] = value
    wide["label_smoothing"], wide["seed"] = cfg.label_smoothing, cfg.seed
    return wide


def finals(all_runs: list[runs.Run]) -> pd.DataFrame:
    """The last evaluation of every supervised run, one row each."""
    return pd.DataFrame([supervised_curves(r).iloc[-1] for r in all_runs]).reset_index(drop=True)


def setting(recipe: Recipe) -> str:
    """'fashion_mnist / wrn-10-1': how tables and figures name a setting."""
    return f"{recipe.dataset} / {recipe.model}"


def names_setting(overrides: dict, name: str) -> bool:
    """Whether ``overrides`` set ``name`` (by its full path or a shorter one, see ``configs.resolve``)."""
    return any(k.split(".")[-1] == name for k in overrides)
