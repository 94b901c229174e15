"""Grokking on modular addition c = (a + b) mod p (Sec 5.5), through the run store.

Full-batch AdamW (lr 1e-3, weight decay 1, betas 0.9 / 0.98, ten warm-up steps), a seeded split of the p^2
pairs, cross-entropy in float64 over all p + 1 outputs (the reference's ``full_loss`` also keeps the "="
output; its analysis drops it). At evaluation steps: that loss and the accuracy (argmax over the p labels) on
train and test, the test accuracy and loss split by whether a pair's mirror (b, a) was trained on
(``mirror_groups``), and ``interplay`` between the last-position features and the p label heads, exact on a fixed
random subset of each split (the joint Gram has p * d_model >> n dimensions here, so the exact value costs an
n x n eigenvalue problem), and the paper's batch mean over batches of 64 of the same subset.
An optional Grokfast filter (Lee et al., 2024) adds an exponential moving average of past gradients to the
gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import distributed
from ..configs import (
    BOOL,
    FRACTION,
    NONNEGATIVE,
    NONNEGATIVE_INT,
    OPEN_FRACTION,
    POSITIVE,
    POSITIVE_INT,
    Rule,
    setting,
    validate,
)
from ..metrics import interplay
from ..models.transformer import GrokTransformer
from ..rng import generator
from ..runs import Run
from .loop import Method, Row, fit

PAPER_BATCH = 64


@dataclass(frozen=True)
class GrokConfig:
    """Everything that determines a grokking run; its hash names the run folder."""

    p: int = setting(113, Rule(lambda v: POSITIVE_INT(v) and v >= 3, "an integer >= 3"))
    train_frac: float = setting(0.3, OPEN_FRACTION)
    d_model: int = setting(128, POSITIVE_INT)
    n_heads: int = setting(4, POSITIVE_INT)
    d_head: int = setting(32, POSITIVE_INT)
    d_mlp: int = setting(512, POSITIVE_INT)
    lr: float = setting(1e-3, POSITIVE)
    weight_decay: float = setting(1.0, NONNEGATIVE)
    beta2: float = setting(0.98, FRACTION)
    warmup: int = setting(10, POSITIVE_INT)
    steps: int = setting(10_000, POSITIVE_INT)
    eval_every: int = setting(100, POSITIVE_INT)
    ckpt_every: int = setting(1000, POSITIVE_INT)
    metric_samples: int = setting(1024, POSITIVE_INT)  # per split, for interplay
    seed: int = setting(0, NONNEGATIVE_INT)
    grokfast: bool = setting(False, BOOL)
    grokfast_alpha: float = setting(0.98, FRACTION)
    grokfast_lambda: float = setting(2.0, NONNEGATIVE)

    def __post_init__(self) -> None:
        validate(self)


def split_pairs(p: int, train_frac: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Disjoint train and test indices into the p^2 pairs (a, b), index = a * p + b."""
    if not 0 < train_frac < 1:
        raise ValueError(f"train_frac must be in (0, 1), got {train_frac}")
    perm = torch.randperm(p * p, generator=generator(seed))
    cut = int(round(train_frac * p * p))
    return perm[:cut].sort().values, perm[cut:].sort().values


def pairs(p: int, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens "a b =" (n, 3) and labels (a + b) mod p for pair indices."""
    a, b = index // p, index % p
    tokens = torch.stack([a, b, torch.full_like(a, p)], dim=1)
    return tokens, (a + b) % p


def mirror_groups(p: int, train_idx: torch.Tensor, test_idx: torch.Tensor) -> dict[str, torch.Tensor]:
    """Boolean masks over ``test_idx``: "mirrored" where the mirror (b, a) of the test pair (a, b) is a training
    pair, "unmirrored" where it is not and a != b. Addition mod p is commutative, so a network that has only
    memorized can still answer a mirrored pair; the diagonal pairs (a, a) are their own mirror, never trained
    on, and belong to neither group."""
    a, b = test_idx // p, test_idx % p
    mirrored = torch.isin(b * p + a, train_idx)
    return {"mirrored": mirrored, "unmirrored": ~mirrored & (a != b)}


def eval_steps(total: int, every: int) -> set[int]:
    """Every ``every`` steps, plus log-spaced early steps so a log-scaled axis shows the start."""
    early = {int(round(1.5**k)) for k in range(40)} | {0}
    return {s for s in early if s < every} | set(range(0, total + 1, every)) | {total}


def make_model(cfg: GrokConfig) -> GrokTransformer:
    torch.manual_seed(cfg.seed)
    return GrokTransformer(cfg.p, cfg.d_model, cfg.n_heads, cfg.d_head, cfg.d_mlp)


class GradientEMA:
    """Grokfast's exponential moving average of past gradients, added to each new gradient."""

    def __init__(self, model: torch.nn.Module, alpha: float, lam: float) -> None:
        self.alpha, self.lam = alpha, lam
        self.ema = {n: torch.zeros_like(p) for n, p in model.named_parameters()}

    @torch.no_grad()
    def filter(self, model: torch.nn.Module) -> None:
        for name, p in model.named_parameters():
            self.ema[name].mul_(self.alpha).add_(p.grad, alpha=1 - self.alpha)
            p.grad.add_(self.ema[name], alpha=self.lam)

    def state_dict(self) -> dict:
        return dict(self.ema)

    def load_state_dict(self, state: dict) -> None:
        self.ema = dict(state)


class Grokking(Method):
    """Full-batch AdamW on the training pairs; evaluation on both splits at ``eval_steps``. Model, pairs, masks
    and metric subsets live on ``distributed.device()`` (drawn on the CPU, moved once)."""

    def __init__(self, cfg: GrokConfig) -> None:
        self.cfg, self.desc = cfg, f"grokking p={cfg.p}"
        dev = distributed.device()
        train_idx, test_idx = split_pairs(cfg.p, cfg.train_frac, cfg.seed)
        self.data = {
            k: tuple(t.to(dev) for t in pairs(cfg.p, idx))
            for k, idx in (("train", train_idx), ("test", test_idx))
        }
        self.mirror = {k: m.to(dev) for k, m in mirror_groups(cfg.p, train_idx, test_idx).items()}
        pick = generator(cfg.seed + 1)
        self.subsets = {
            k: torch.randperm(len(v[1]), generator=pick)[: cfg.metric_samples].to(dev)
            for k, v in self.data.items()
        }
        self.model = make_model(cfg).to(dev)
        self.opt = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, cfg.beta2)
        )
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda k: min((k + 1) / cfg.warmup, 1.0))
        self.grokfast = GradientEMA(self.model, cfg.grokfast_alpha, cfg.grokfast_lambda)
        self.when = eval_steps(cfg.steps, cfg.eval_every)

    def state(self) -> dict:
        return {
            "model": self.model,
            "optimizer": self.opt,
            "scheduler": self.sched,
            "grokfast": self.grokfast,
        }

    def evaluate_at(self, step: int) -> bool:
        return step in self.when

    @torch.no_grad()
    def evaluate(self, step: int) -> list[Row]:
        rows = []
        for split, (tokens, labels) in self.data.items():
            logits, feats = self.model(tokens)
            hit = logits[:, : self.cfg.p].argmax(1) == labels
            rows.append((step, split, "acc", hit.double().mean().item()))
            rows.append((step, split, "loss", F.cross_entropy(logits.double(), labels).item()))
            if split == "test":
                rows += self._mirror_rows(step, logits, labels, hit)
            sub = self.subsets[split]
            heads = self.model.head_weight
            for key, value in interplay(feats[sub], heads, labels[sub]).items():
                rows.append((step, split, key, float(value)))
            # the paper's estimator: the mean over batches of 64 (the subset is in random order)
            batch = interplay(feats[sub], heads, labels[sub], batch_size=PAPER_BATCH)
            rows += [(step, split, f"{k}_batch", float(batch[k])) for k in ("mir", "hdr")]
        return rows

    def _mirror_rows(
        self, step: int, logits: torch.Tensor, labels: torch.Tensor, hit: torch.Tensor
    ) -> list[Row]:
        """Accuracy, loss and pair count of the test pairs in each of ``mirror_groups`` (a mask over the
        predictions already made, so it costs nothing measurable)."""
        rows = []
        for group, mask in self.mirror.items():
            n = int(mask.sum())
            acc = hit[mask].double().mean().item() if n else float("nan")
            loss = F.cross_entropy(logits[mask].double(), labels[mask]).item() if n else float("nan")
            rows += [(step, "test", f"acc_{group}", acc), (step, "test", f"loss_{group}", loss)]
            rows.append((step, "test", f"n_{group}", float(n)))
        return rows

    def step(self, step: int) -> list[Row]:
        x, y = self.data["train"]
        logits, _ = self.model(x)
        loss = F.cross_entropy(logits.double(), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.grokfast:
            self.grokfast.filter(self.model)
        self.opt.step()
        self.sched.step()
        return []


def train(cfg: GrokConfig, run: Run) -> None:
    """Train ``cfg`` into ``run``'s folder, resuming from its checkpoint if there is one."""
    # Denormals slow the CPU several-fold once weight decay shrinks the weights. Flushing them is a global
    # processor setting, so it is switched off again afterwards (other code, e.g. the metrics, needs them).
    torch.set_flush_denormal(True)
    try:
        fit(run, Grokking(cfg), cfg.steps, cfg.ckpt_every)
    finally:
        torch.set_flush_denormal(False)
