"""Linear mode connectivity (Sec 5.2): two runs from one initialization that differ only in data order (and
augmentation draws), the straight line between their weights, and accuracy, MIR and HDR along it.

BatchNorm buffers are interpolated with the weights; as a second curve the running statistics are recomputed
on training data at every point, because interpolated statistics do not match the interpolated weights and
can create a barrier of their own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch

from .. import data as D
from .. import runs
from ..configs import POSITIVE, POSITIVE_INT, Rule, group_of, setting, tuple_of, validate
from ..rng import generator
from ..train.supervised import TrainConfig, eval_split, make_model, measure
from ..verdicts import Check, value_range
from . import common
from .spec import Experiment

STORE = "lmc"  # the path tables; the two end-point runs live in the supervised store
FLAT, BROKEN = 0.02, 0.10  # barrier at most FLAT: LMC holds; above BROKEN: LMC fails
RANGE_L1, TOL_L3 = 0.05, 0.01
UNIT = Rule(
    lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 <= v <= 1, "a number in [0, 1]"
)


@dataclass(frozen=True)
class LMCConfig:
    """Two runs per learning rate from one initialization, and the path between them."""

    train: TrainConfig = setting(rule=group_of(TrainConfig))
    lrs: tuple[float, ...] = setting((0.03, 3e-4), tuple_of(POSITIVE))
    omegas: tuple[float, ...] = setting(tuple(round(0.1 * i, 1) for i in range(11)), tuple_of(UNIT))
    # training batches (of train.batch_size * 4) to recompute BatchNorm statistics
    bn_batches: int = setting(20, POSITIVE_INT)

    def __post_init__(self) -> None:
        validate(self)


def endpoints(base: TrainConfig) -> tuple[runs.Run, runs.Run]:
    """The two runs: same ``seed`` (initialization), data order seeds ``seed + 1`` and ``seed + 2``."""
    a, b = (dataclasses.replace(base, data_seed=base.seed + k) for k in (1, 2))
    return common.train_supervised(a), common.train_supervised(b)


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
    cfg, r = run_a.config, run_a.config.recipe
    test = eval_split(r)
    train_set = D.load(r.dataset, "train")
    pick = torch.randperm(len(train_set), generator=generator(cfg.seed))
    bn_images = train_set.images[pick[: bn_batches * r.batch_size * 4]]
    sa, sb = (common.load_model(run).state_dict() for run in (run_a, run_b))
    model = make_model(r, cfg.seed)
    rows = []
    for omega in omegas:
        for variant in ("interpolated BN", "recomputed BN"):
            model.load_state_dict(mix(sa, sb, omega))
            if variant == "recomputed BN":
                recompute_bn(model, bn_images, r.dataset, r.batch_size * 4)
            out = measure(model, test, r.dataset, r.metric_batch)
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
        base = common.with_recipe(cfg.train, lr=lr)
        key = dataclasses.replace(cfg, lrs=(lr,))

        def compute(base=base):
            return path(*endpoints(base), cfg.omegas, cfg.bn_batches)

        tables.append(runs.cached_table(STORE, key, compute).assign(lr=lr))
    return pd.concat(tables, ignore_index=True)


def barriers(table: pd.DataFrame) -> pd.DataFrame:
    """Barrier per learning rate (rows) and BatchNorm variant (columns)."""
    return table.groupby("lr").apply(barrier, include_groups=False)


def ratio_ranges(table: pd.DataFrame, variant: str = "interpolated BN") -> pd.DataFrame:
    """Range (max - min) of batch-mean MIR and HDR along the path, per learning rate."""
    t = table[table.variant == variant]
    return t.groupby("lr")[["mir_batch", "hdr_batch"]].agg(value_range)


def _along(table: pd.DataFrame, lr: float) -> pd.DataFrame:
    t = table[(table.variant == "interpolated BN") & (table.lr == lr)]
    return t.sort_values("omega").reset_index(drop=True)


def _by_lr(table: pd.DataFrame) -> pd.Series:
    """Interpolated-BN barrier per learning rate, from the largest learning rate down."""
    return barriers(table)["interpolated BN"].sort_index(ascending=False)


def check_L1(table: pd.DataFrame) -> Check:
    """L1: wherever LMC holds (barrier <= 0.02), MIR and HDR each vary by at most 0.05 along the path
    (inconclusive when LMC holds at no learning rate, or a ratio on a flat path is undefined)."""
    b = _by_lr(table)
    flat = [lr for lr in b.index if b[lr] <= FLAT]
    rng = ratio_ranges(table)
    l1 = {lr: (float(rng.mir_batch[lr]), float(rng.hdr_batch[lr])) for lr in flat}
    return Check.of(
        "L1",
        all(m <= RANGE_L1 and h <= RANGE_L1 for m, h in l1.values()),
        "; ".join(f"lr {lr:g}: MIR range {m:.3f}, HDR range {h:.3f}" for lr, (m, h) in l1.items())
        or "no flat path",
        f"ranges <= {RANGE_L1} where barrier <= {FLAT}",
        inconclusive=not flat or any(pd.isna(v) for pair in l1.values() for v in pair),
        ranges={str(lr): v for lr, v in l1.items()},
    )


def _l2_parts(t: pd.DataFrame) -> tuple[bool, bool]:
    """(MIR at omega = 0.5 above the mean of its ends, HDR next to each end below that end)."""
    mid = t.iloc[(t.omega - 0.5).abs().argmin()]
    mir_rise = mid.mir_batch > (t.mir_batch.iloc[0] + t.mir_batch.iloc[-1]) / 2
    hdr_dips = t.hdr_batch.iloc[1] < t.hdr_batch.iloc[0] and t.hdr_batch.iloc[-2] < t.hdr_batch.iloc[-1]
    return bool(mir_rise), bool(hdr_dips)


def check_L2(table: pd.DataFrame) -> Check:
    """L2: wherever LMC fails (barrier > 0.10), MIR rises mid-path and HDR dips next to both ends
    (inconclusive when LMC fails at no learning rate)."""
    b = _by_lr(table)
    broken = [lr for lr in b.index if b[lr] > BROKEN]
    l2 = {lr: _l2_parts(_along(table, lr)) for lr in broken}
    return Check.of(
        "L2",
        all(a and c for a, c in l2.values()),
        "; ".join(f"lr {lr:g}: MIR rises mid-path {a}, HDR dips near ends {c}" for lr, (a, c) in l2.items())
        or "no broken path",
        f"both, where barrier > {BROKEN:.2f}",
        inconclusive=not broken,
        parts={str(lr): v for lr, v in l2.items()},
    )


def check_L3(table: pd.DataFrame) -> Check:
    """L3: from the largest learning rate down, the barrier and the MIR and HDR ranges do not increase
    (tolerance 0.01), and the lowest learning rate shows LMC (inconclusive with one learning rate)."""
    b = _by_lr(table)
    rng = ratio_ranges(table).sort_index(ascending=False)
    monotone = all((s.diff().dropna() <= TOL_L3).all() for s in (b, rng.mir_batch, rng.hdr_batch))
    return Check.of(
        "L3",
        monotone and b.iloc[-1] <= FLAT,
        "barrier by decreasing lr: " + ", ".join(f"{lr:g}: {v:.3f}" for lr, v in b.items()),
        f"non-increasing (tol {TOL_L3}) and LMC at the lowest lr",
        inconclusive=len(b) < 2,
        barriers={str(lr): v for lr, v in b.items()},
    )


def report(profile: str, **overrides: Any) -> str:
    table = sweep(SPEC.config(profile, **overrides))
    return "accuracy barrier along the path, per learning rate:\n" + barriers(table).round(4).to_string()


SPEC = Experiment(
    name="lmc",
    title="Linear mode connectivity",
    notebook="03",
    profiles={
        "smoke": lambda: LMCConfig(
            train=common.supervised("smoke", steps=60, eval_every=60, ckpt_every=60),
            lrs=(0.03, 3e-4),
            omegas=(0.0, 0.25, 0.5, 0.75, 1.0),
            bn_batches=2,
        ),
        "cpu": lambda: LMCConfig(
            train=common.supervised("cpu", steps=1500, eval_every=1500, ckpt_every=500),
            lrs=(0.03, 0.01, 3e-3, 3e-4),
        ),
        "paper": lambda: LMCConfig(train=common.supervised("paper"), lrs=(0.03, 3e-4)),
    },
    store=STORE,
    report=report,
    claims={
        "L1": "Where LMC holds, MIR and HDR stay almost constant along the path",
        "L2": "Where LMC fails, MIR rises extra at the barrier and HDR dips near the ends",
        "L3": "A lower learning rate restores LMC and shrinks the fluctuations",
    },
)
