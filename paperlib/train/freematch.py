"""FreeMatch (Wang et al., 2023) as the paper's Sec 6.1 uses it, following USB's implementation, with an
optional information loss on the confident unlabeled samples.

One step: a labeled batch (weak view) and ``uratio`` times as many unlabeled images, each in a weak and a
strong view, go through the model in one forward pass (as USB, so BatchNorm sees all three). From the weak
view's probabilities (no gradient):

* the self-adaptive threshold: tau (EMA of the mean maximum probability) and p~ (EMA of the mean probability
  vector), both with momentum ``ema_p``; a sample is confident when its maximum probability reaches
  tau * p~(c) / max p~ for its predicted class c;
* hard pseudo-labels, used by a cross-entropy on the strong view of the confident samples (mean over all
  unlabeled samples, as USB);
* the fairness loss: with h~ the EMA histogram of the weak predictions and p-bar, h-bar the mean probability and
  prediction histogram of the confident strong views, L_f = sum SumNorm(p~ / h~) log SumNorm(p-bar / h-bar).

The information term (``extra_loss``) takes the strong-view features f' of the confident samples and the heads
of their pseudo-labels, V' = W_yhat. Evaluation uses an EMA copy of the weights (``ema_model``); BatchNorm
statistics are copied from the trained model.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .. import data as D
from .. import distributed
from ..augment import strong_augment, weak_augment
from ..configs import FRACTION, NONNEGATIVE, NONNEGATIVE_INT, POSITIVE_INT, setting, validate
from ..rng import generator
from ..runs import Run
from .info_loss import InfoLoss
from .loop import Method, Row, fit
from .supervised import (
    LOSS_SPEC,
    Recipe,
    accuracy,
    eval_split,
    make_model,
    make_optimizer,
    make_schedule,
    on_device,
    test_rows,
    val_rows,
)


@dataclass(frozen=True)
class FreeMatchConfig:
    """Everything that determines a FreeMatch run; its hash names the run folder. ``recipe.batch_size`` is the
    number of labeled images per step."""

    recipe: Recipe = field(default_factory=lambda: Recipe(dataset="cifar10", model="wrn-28-2"))
    num_labels: int = setting(40, POSITIVE_INT)
    uratio: int = setting(7, POSITIVE_INT)  # unlabeled images per labeled one
    lambda_u: float = setting(1.0, NONNEGATIVE)
    lambda_f: float = setting(0.001, NONNEGATIVE)  # USB's ent_loss_ratio
    ema_p: float = setting(0.999, FRACTION)  # momentum of the threshold statistics
    ema_model: float = setting(0.999, FRACTION)  # momentum of the evaluation weights
    pad: int = setting(4, NONNEGATIVE_INT)  # weak-augmentation padding (USB: 1/8 of the side)
    seed: int = setting(0, NONNEGATIVE_INT)  # labeled subset, initialization, data order and augmentation
    # information loss on the confident unlabeled samples, e.g. "mi:0.5"
    extra_loss: str = setting("", LOSS_SPEC)

    def __post_init__(self) -> None:
        validate(self)


class SelfAdaptiveThreshold:
    """FreeMatch's threshold state: tau, p~ and the prediction histogram h~, all EMAs with momentum ``m``,
    started at the uniform 1 / C as in USB."""

    def __init__(self, num_classes: int, m: float) -> None:
        self.m = m
        self.time_p = torch.tensor(1.0 / num_classes, dtype=torch.float64)
        self.p_model = torch.full((num_classes,), 1.0 / num_classes, dtype=torch.float64)
        self.label_hist = torch.full((num_classes,), 1.0 / num_classes, dtype=torch.float64)

    @torch.no_grad()
    def update(self, probs: torch.Tensor) -> None:
        """Fold one batch of weak-view probabilities (n, C) into the three EMAs."""
        probs = probs.double()
        self._to(probs.device)
        max_probs, pred = probs.max(dim=1)
        hist = torch.bincount(pred, minlength=self.p_model.numel()).double() / pred.numel()
        self.time_p = self.m * self.time_p + (1 - self.m) * max_probs.mean()
        self.p_model = self.m * self.p_model + (1 - self.m) * probs.mean(dim=0)
        self.label_hist = self.m * self.label_hist + (1 - self.m) * hist

    @torch.no_grad()
    def mask(self, probs: torch.Tensor) -> torch.Tensor:
        """Boolean mask of the confident samples: max prob >= tau * p~(c) / max p~ for the predicted c."""
        self._to(probs.device)
        max_probs, pred = probs.double().max(dim=1)
        return max_probs >= self.time_p * (self.p_model / self.p_model.max())[pred]

    def _to(self, device: torch.device) -> None:
        self.time_p, self.p_model, self.label_hist = (
            t.to(device) for t in (self.time_p, self.p_model, self.label_hist)
        )

    def state_dict(self) -> dict:
        return {"time_p": self.time_p, "p_model": self.p_model, "label_hist": self.label_hist}

    def load_state_dict(self, state: dict) -> None:
        self.time_p, self.p_model, self.label_hist = state["time_p"], state["p_model"], state["label_hist"]


def _sum_norm(x: torch.Tensor) -> torch.Tensor:
    return x / x.sum()


def _inverse_or_zero(x: torch.Tensor) -> torch.Tensor:
    """1 / x with 0 where x is 0 (a class nobody predicted gets no weight, as USB)."""
    return torch.where(x > 0, 1.0 / torch.where(x > 0, x, torch.ones_like(x)), torch.zeros_like(x))


def fairness_loss(
    logits_s: torch.Tensor, mask: torch.Tensor, p_model: torch.Tensor, label_hist: torch.Tensor
) -> torch.Tensor:
    """L_f = sum_c SumNorm(p~ / h~)_c log SumNorm(p-bar / h-bar)_c over the confident strong views; an exact
    zero (in the graph) when no sample is confident."""
    if not mask.any():
        return logits_s.sum() * 0.0
    probs = logits_s[mask].softmax(dim=1)
    hist = torch.bincount(probs.argmax(1), minlength=probs.shape[1]).to(probs.dtype)
    hist = hist / hist.sum()
    target = _sum_norm(p_model.to(probs.dtype) * _inverse_or_zero(label_hist.to(probs.dtype)))
    mean = _sum_norm(probs.mean(0) * _inverse_or_zero(hist))
    return (target * torch.log(mean + 1e-12)).sum()


class IndexStream:
    """An endless stream of shuffled indices 0..n-1: permutations drawn from ``g``, concatenated, so a batch
    larger than n (40 labels, batch 64) simply wraps; its position is checkpointed."""

    def __init__(self, n: int, g: torch.Generator) -> None:
        self.n, self.g = n, g
        self.buffer = torch.empty(0, dtype=torch.long)

    def take(self, k: int) -> torch.Tensor:
        while self.buffer.numel() < k:
            self.buffer = torch.cat([self.buffer, torch.randperm(self.n, generator=self.g)])
        out, self.buffer = self.buffer[:k], self.buffer[k:]
        return out

    def state_dict(self) -> dict:
        return {"buffer": self.buffer}

    def load_state_dict(self, state: dict) -> None:
        self.buffer = state["buffer"]


class EMAModel:
    """Exponential moving average of a model's parameters (momentum ``m``); buffers are copied."""

    def __init__(self, model: torch.nn.Module, m: float) -> None:
        self.m = m
        self.model = copy.deepcopy(model)
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for mine, theirs in zip(self.model.parameters(), model.parameters(), strict=True):
            mine.mul_(self.m).add_(theirs.detach(), alpha=1 - self.m)
        for mine, theirs in zip(self.model.buffers(), model.buffers(), strict=True):
            mine.copy_(theirs)

    def state_dict(self) -> dict:
        return self.model.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state)


def labeled_and_unlabeled(cfg: FreeMatchConfig) -> tuple[D.Split, D.Split, D.Split | None]:
    """(labeled, unlabeled, validation) training images of ``cfg``: the validation split is held out first, then
    ``num_labels`` balanced labeled images are drawn with ``cfg.seed``; the rest is the unlabeled pool."""
    dataset = cfg.recipe.dataset
    train_set = D.load(dataset, "train")
    val_set = None
    if cfg.recipe.val_per_class:
        train_set, val_set = D.hold_out(train_set, cfg.recipe.val_per_class)
    labeled, unlabeled = D.labeled_unlabeled_split(train_set.labels, cfg.num_labels, cfg.seed)
    pool = train_set.subset(unlabeled)
    if dataset == "stl10":  # STL-10's own unlabeled split joins the pool, as in USB
        extra = D.load("stl10", "unlabeled")
        pool = D.Split(torch.cat([pool.images, extra.images]), torch.cat([pool.labels, extra.labels]))
    return train_set.subset(labeled), pool, val_set


class FreeMatch(Method):
    """One FreeMatch step on a labeled batch and ``uratio`` times as many unlabeled images (module docstring);
    evaluation measures the EMA weights."""

    def __init__(self, cfg: FreeMatchConfig) -> None:
        r = self.recipe = cfg.recipe
        self.cfg, self.desc = cfg, "freematch"
        self.dev = distributed.device()
        # the training images move to the device once; batches are drawn and augmented there
        labeled, pool, self.val_set = labeled_and_unlabeled(cfg)
        self.labeled, self.pool = on_device(labeled, self.dev), on_device(pool, self.dev)
        self.test_set = eval_split(r)
        self.info = InfoLoss.parse(cfg.extra_loss)
        self.model = make_model(r, cfg.seed).to(self.dev)
        self.ema = EMAModel(self.model, cfg.ema_model)
        self.opt = make_optimizer(self.model, r)
        self.sched = make_schedule(self.opt, r.steps)
        self.threshold = SelfAdaptiveThreshold(D.NUM_CLASSES[r.dataset], cfg.ema_p)
        self.order_g, self.aug_g = generator(cfg.seed), generator(cfg.seed + 10_000)
        self.lab_stream = IndexStream(len(self.labeled), self.order_g)
        self.unl_stream = IndexStream(len(self.pool), self.order_g)
        self.net = distributed.wrap(self.model)  # every process draws the global batch, trains on its slice
        self.model.train()

    def state(self) -> dict:
        return {
            "model": self.model,
            "ema": self.ema,
            "optimizer": self.opt,
            "scheduler": self.sched,
            "threshold": self.threshold,
            "labeled": self.lab_stream,
            "unlabeled": self.unl_stream,
        }

    def generators(self) -> tuple:
        return (self.order_g, self.aug_g)

    def evaluate_at(self, step: int) -> bool:
        # Not at step 0: the EMA weights are the initialization there, and no curve of chapter 07 starts at it.
        return step > 0 and step % self.recipe.eval_every == 0

    def evaluate(self, step: int) -> list[Row]:
        r = self.recipe
        distributed.sync_buffers(self.model)
        distributed.sync_buffers(self.ema.model)
        rows = test_rows(self.ema.model, self.test_set, r, step)
        rows.append((step, "test", "acc_raw", accuracy(self.model, self.test_set, r.dataset)["acc"]))
        return rows + val_rows(self.ema.model, self.val_set, r, step)

    def step(self, step: int) -> list[Row]:
        r, cfg, dev = self.recipe, self.cfg, self.dev
        x = self.labeled.subset(self.lab_stream.take(r.batch_size).to(dev))
        u = self.pool.images[self.unl_stream.take(r.batch_size * cfg.uratio).to(dev)]
        views = [weak_augment(x.images, self.aug_g, pad=cfg.pad), weak_augment(u, self.aug_g, pad=cfg.pad)]
        views.append(strong_augment(u, self.aug_g, pad=cfg.pad))
        mine_x, mine_u = distributed.local_slice(len(x)), distributed.local_slice(len(u))
        views = [views[0][mine_x], views[1][mine_u], views[2][mine_u]]
        logits, feats = self.net(D.normalize(torch.cat(views), r.dataset))
        n_x, n_u = len(views[0]), len(views[1])
        logits_x, logits_w, logits_s = logits[:n_x], logits[n_x : n_x + n_u], logits[n_x + n_u :]
        probs_w = logits_w.detach().softmax(dim=1)
        self.threshold.update(distributed.all_gather_cat(probs_w))  # the statistics of the global batch
        mask = self.threshold.mask(probs_w)
        pseudo = probs_w.argmax(dim=1)
        unsup = (F.cross_entropy(logits_s, pseudo, reduction="none") * mask).mean()
        fair = fairness_loss(logits_s, mask, self.threshold.p_model, self.threshold.label_hist)
        sup = F.cross_entropy(logits_x, x.labels[mine_x])
        loss = sup + cfg.lambda_u * unsup + cfg.lambda_f * fair
        if self.info is not None:
            loss = loss + self.info(feats[n_x + n_u :][mask], self.model.head_weight, pseudo[mask])
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        self.ema.update(self.model)
        done = step + 1
        if done % r.eval_every == 0 or done == r.steps:
            stats = {"mask_rate": mask.float().mean().item(), "threshold": self.threshold.time_p.item()}
            return [(done, "train", k, v) for k, v in stats.items()]
        return []


def train(cfg: FreeMatchConfig, run: Run) -> None:
    """Train ``cfg`` into ``run``'s folder, resuming from its checkpoint if there is one."""
    fit(run, FreeMatch(cfg), cfg.recipe.steps, cfg.recipe.ckpt_every)
