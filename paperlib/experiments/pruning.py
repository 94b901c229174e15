"""Pruning (Sec 5.4): global unstructured magnitude pruning of a trained model, fine-tuning with the masks
kept, and MIR / HDR between the features of the pruned and the original model on the same test images."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch.nn.utils import prune

from .. import data as D
from .. import runs
from ..configs import (
    NONNEGATIVE_INT,
    OPEN_FRACTION,
    POSITIVE,
    POSITIVE_INT,
    group_of,
    setting,
    tuple_of,
    validate,
)
from ..metrics import paired_interplay
from ..rng import generator
from ..train.supervised import TrainConfig, eval_split, extract, make_optimizer, measure
from ..verdicts import Check, value_range
from . import common
from .spec import Experiment

STORE = "pruning"  # the pruning tables; the pruned model is the training-dynamics run of the profile
MIR_SHARE, ACC_RANGE, RATIO_RANGE = 0.8, 0.02, 0.1  # P1


@dataclass(frozen=True)
class PruneConfig:
    """Pruning of the training-dynamics model."""

    # the trained model to prune: the training-dynamics run, reused from the store
    train: TrainConfig = setting(rule=group_of(TrainConfig))
    sparsities: tuple[float, ...] = setting(
        tuple(round(0.1 * i, 1) for i in range(1, 10)), tuple_of(OPEN_FRACTION)
    )
    finetune_steps: int = setting(300, NONNEGATIVE_INT)
    finetune_lr: float = setting(0.01, POSITIVE)
    # test images per class for the exact feature-vs-feature ratios
    compare_per_class: int = setting(200, POSITIVE_INT)

    def __post_init__(self) -> None:
        validate(self)


def prunable(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """Every convolution and linear layer (their weights are pruned; biases and BatchNorm are kept)."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d | torch.nn.Linear)]


def prune_globally(model: torch.nn.Module, sparsity: float) -> None:
    """Zero the ``sparsity`` fraction of all prunable weights with the smallest magnitude (masks stay)."""
    prune.global_unstructured(
        [(m, "weight") for _, m in prunable(model)], pruning_method=prune.L1Unstructured, amount=sparsity
    )


def sparsity_of(model: torch.nn.Module) -> dict[str, float]:
    """The fraction of zero weights per prunable layer and ``overall``."""
    out, zeros, total = {}, 0, 0
    for name, m in prunable(model):
        w = m.weight
        out[name] = float((w == 0).sum()) / w.numel()
        zeros, total = zeros + int((w == 0).sum()), total + w.numel()
    out["overall"] = zeros / total
    return out


def finetune(model: torch.nn.Module, cfg: TrainConfig, train_set: D.Split, steps: int, lr: float, seed: int):
    """SGD at a constant ``lr`` on random batches; pruned weights stay zero because the masks are applied in
    every forward pass and the gradient of a masked weight is zero."""
    opt = make_optimizer(model, cfg.recipe)
    for group in opt.param_groups:
        group["lr"] = lr
    g = generator(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(train_set), (cfg.recipe.batch_size,), generator=g)
        logits, _ = model(D.normalize(train_set.images[idx], cfg.recipe.dataset))
        loss = F.cross_entropy(logits, train_set.labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()


def compute(cfg: PruneConfig) -> pd.DataFrame:
    """One row per sparsity: accuracy of the original, pruned and fine-tuned model; MIR and HDR between the
    fine-tuned and the original features, the original's MIR with itself (the ceiling), and, for reference,
    MIR / HDR of the fine-tuned features with its heads;
    the sparsity reached overall and per layer (columns ``layer:<name>``)."""
    r = cfg.train.recipe
    original = common.load_model(common.train_supervised(cfg.train))
    test = eval_split(r)
    compare = test.subset(D.balanced_subset(test.labels, cfg.compare_per_class, seed=0))
    _, feats_original = extract(original, compare.images, r.dataset)
    acc_original = measure(original, test, r.dataset, r.metric_batch)["acc"]
    # The ceiling for feature-vs-feature MIR: the original features against themselves (MI(K, K) / H(K)).
    mir_self = paired_interplay(feats_original.double(), feats_original.double())["mir"]
    train_set = D.load(r.dataset, "train")
    rows = []
    for sparsity in cfg.sparsities:
        model = copy.deepcopy(original)
        prune_globally(model, sparsity)
        logits, _ = extract(model, test.images, r.dataset)
        acc_pruned = (logits.argmax(1) == test.labels).float().mean().item()
        finetune(model, cfg.train, train_set, cfg.finetune_steps, cfg.finetune_lr, seed=cfg.train.seed)
        after = measure(model, test, r.dataset, r.metric_batch)
        _, feats = extract(model, compare.images, r.dataset)
        pair = paired_interplay(feats.double(), feats_original.double())
        layers = {f"layer:{k}": v for k, v in sparsity_of(model).items() if k != "overall"}
        rows.append(
            {
                "sparsity": sparsity,
                "reached": sparsity_of(model)["overall"],
                "acc_original": acc_original,
                "acc_pruned": acc_pruned,
                "acc_finetuned": after["acc"],
                "mir": pair["mir"],
                "mir_self": mir_self,
                "hdr": pair["hdr"],
                "mir_heads": after["mir"],
                "hdr_heads": after["hdr"],
                **layers,
            }
        )
    return pd.DataFrame(rows)


def run(cfg: PruneConfig) -> pd.DataFrame:
    """The pruning table of ``cfg``, from the store or computed now."""
    return runs.cached_table(STORE, cfg, lambda: compute(cfg))


def check_P1(table: pd.DataFrame) -> Check:
    """P1: at the sparsity closest to 90 %, MIR(pruned, original) is at least 80 % of the original's MIR with
    itself, and across sparsities the fine-tuned accuracy varies by at most 2 points and MIR and HDR by at
    most 0.1 (inconclusive without a sparsity within 0.05 of 90 %)."""
    at90 = table.iloc[(table.sparsity - 0.9).abs().argmin()]
    spread = value_range(table[["acc_finetuned", "mir", "hdr"]])
    ok = (
        at90.mir >= MIR_SHARE * at90.mir_self
        and spread.acc_finetuned <= ACC_RANGE
        and spread.mir <= RATIO_RANGE
        and spread.hdr <= RATIO_RANGE
    )
    return Check.of(
        "P1",
        ok,
        f"MIR at sparsity {at90.sparsity:.1f} (reached {at90.reached:.3f}): {at90.mir:.3f} "
        f"(ceiling {at90.mir_self:.3f}); ranges over sparsity: accuracy {spread.acc_finetuned:.3f}, "
        f"MIR {spread.mir:.3f}, HDR {spread.hdr:.3f}",
        f"MIR(90%) >= {MIR_SHARE} ceiling; accuracy range <= {ACC_RANGE}; MIR, HDR ranges <= {RATIO_RANGE}",
        inconclusive=abs(at90.sparsity - 0.9) > 0.05,
        mir_90=at90.mir,
        ceiling=at90.mir_self,
        ranges=spread.to_dict(),
    )


def report(profile: str, **overrides: Any) -> str:
    table = run(SPEC.config(profile, **overrides))
    cols = ["sparsity", "reached", "acc_pruned", "acc_finetuned", "mir", "hdr"]
    return table[cols].round(4).to_string(index=False)


SPEC = Experiment(
    name="pruning",
    title="Pruning",
    notebook="05",
    profiles={
        "smoke": lambda: PruneConfig(
            train=common.supervised("smoke"), finetune_steps=10, compare_per_class=20
        ),
        "cpu": lambda: PruneConfig(train=common.supervised("cpu"), finetune_steps=300, compare_per_class=200),
        "paper": lambda: PruneConfig(
            train=common.supervised("paper"), finetune_steps=2000, compare_per_class=500
        ),
    },
    store=STORE,
    report=report,
    claims={"P1": "Pruned + fine-tuned features keep a high MIR with the original ones up to 90% sparsity"},
)
