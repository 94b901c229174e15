"""Linear mode connectivity (Sec 5.2): two runs from one initialization that differ only in data order (and
augmentation draws), the straight line between their weights, and accuracy, MIR and HDR along it.

BatchNorm buffers are interpolated with the weights; as a second curve the running statistics are recomputed
on training data at every point, because interpolated statistics do not match the interpolated weights and
can create a barrier of their own.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import torch

from .. import data as D
from .. import runs
from ..configs import LMCConfig
from ..train.supervised import TrainConfig, eval_split, make_model, measure, train
from .supervised import STORE


def endpoints(base: TrainConfig) -> tuple[runs.Run, runs.Run]:
    """The two runs: same ``seed`` (initialization), data order seeds ``seed + 1`` and ``seed + 2``."""
    a, b = (dataclasses.replace(base, data_seed=base.seed + k) for k in (1, 2))
    return runs.run(STORE, a, train), runs.run(STORE, b, train)


def load_model(run: runs.Run) -> torch.nn.Module:
    model = make_model(run.config)
    model.load_state_dict(run.load_checkpoint()["model"])
    return model.eval()


def mix(state_a: dict, state_b: dict, omega: float) -> dict:
    """(1 - omega) * a + omega * b for floating-point tensors; integer buffers (BN step counts) come from a."""
    return {
        k: (1 - omega) * a + omega * state_b[k] if a.is_floating_point() else a for k, a in state_a.items()
    }


@torch.no_grad()
def recompute_bn(model: torch.nn.Module, images: torch.Tensor, dataset: str, batch: int) -> None:
    """Replace the running statistics by exact averages over ``images`` (train mode, no gradient)."""
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    for i in range(0, len(images), batch):
        model(D.normalize(images[i : i + batch], dataset))
    model.eval()


def path(run_a: runs.Run, run_b: runs.Run, omegas, bn_batches: int) -> pd.DataFrame:
    """Accuracy, MIR and HDR on the test set along the line, with interpolated and with recomputed BN."""
    cfg = run_a.config
    test = eval_split(cfg)
    train_set = D.load(cfg.dataset, "train")
    pick = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(cfg.seed))
    bn_images = train_set.images[pick[: bn_batches * cfg.batch_size * 4]]
    sa, sb = (load_model(r).state_dict() for r in (run_a, run_b))
    model = make_model(cfg)
    rows = []
    for omega in omegas:
        for variant in ("interpolated BN", "recomputed BN"):
            model.load_state_dict(mix(sa, sb, omega))
            if variant == "recomputed BN":
                recompute_bn(model, bn_images, cfg.dataset, cfg.batch_size * 4)
            out = measure(model, test, cfg.dataset, cfg.metric_batch)
            rows.append({"omega": omega, "variant": variant, **out})
    return pd.DataFrame(rows)


def barrier(table: pd.DataFrame) -> pd.Series:
    """Per variant: the largest drop of accuracy below the straight line between the two end points."""
    out = {}
    for variant, t in table.groupby("variant"):
        t = t.sort_values("omega")
        line = (1 - t.omega) * t.acc.iloc[0] + t.omega * t.acc.iloc[-1]
        out[variant] = float((line - t.acc).max())
    return pd.Series(out, name="barrier")


def sweep(cfg: LMCConfig) -> pd.DataFrame:
    """The interpolation path for every learning rate, with an ``lr`` column (cached in the store)."""
    tables = []
    for lr in cfg.lrs:
        base = dataclasses.replace(cfg.train, lr=lr)
        key = dataclasses.replace(cfg, lrs=(lr,))

        def compute(base=base):
            return path(*endpoints(base), cfg.omegas, cfg.bn_batches)

        tables.append(runs.cached_table("lmc", key, compute).assign(lr=lr))
    return pd.concat(tables, ignore_index=True)
