"""Pruning (Sec 5.4): global unstructured magnitude pruning of a trained model, fine-tuning with the masks
kept, and MIR / HDR between the features of the pruned and the original model on the same test images."""

from __future__ import annotations

import copy

import pandas as pd
import torch
import torch.nn.functional as F
from torch.nn.utils import prune

from .. import data as D
from .. import runs
from ..configs import PruneConfig
from ..metrics import paired_interplay
from ..train.supervised import TrainConfig, eval_split, extract, make_optimizer, measure, train
from .lmc import load_model
from .supervised import STORE


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
    opt = make_optimizer(model, cfg)
    for group in opt.param_groups:
        group["lr"] = lr
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(train_set), (cfg.batch_size,), generator=g)
        logits, _ = model(D.normalize(train_set.images[idx], cfg.dataset))
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
    base = runs.run(STORE, cfg.train, train)
    original = load_model(base)
    test = eval_split(cfg.train)
    compare = test.subset(D.balanced_subset(test.labels, cfg.compare_per_class, seed=0))
    _, feats_original = extract(original, compare.images, cfg.train.dataset)
    acc_original = measure(original, test, cfg.train.dataset, cfg.train.metric_batch)["acc"]
    # The ceiling for feature-vs-feature MIR: the original features against themselves (MI(K, K) / H(K)).
    mir_self = paired_interplay(feats_original.double(), feats_original.double())["mir"]
    train_set = D.load(cfg.train.dataset, "train")
    rows = []
    for sparsity in cfg.sparsities:
        model = copy.deepcopy(original)
        prune_globally(model, sparsity)
        logits, _ = extract(model, test.images, cfg.train.dataset)
        acc_pruned = (logits.argmax(1) == test.labels).float().mean().item()
        finetune(model, cfg.train, train_set, cfg.finetune_steps, cfg.finetune_lr, seed=cfg.train.seed)
        after = measure(model, test, cfg.train.dataset, cfg.train.metric_batch)
        _, feats = extract(model, compare.images, cfg.train.dataset)
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
    return runs.cached_table("pruning", cfg, lambda: compute(cfg))
