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
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .. import data as D
from .. import distributed
from ..augment import strong_augment, weak_augment
from ..progress import progress
from ..runs import Run, resume_training, save_training
from .info_loss import InfoLoss
from .supervised import accuracy, cosine_factor, eval_split, make_model, make_optimizer, measure


@dataclass(frozen=True)
class FreeMatchConfig:
    """Everything that determines a FreeMatch run; its hash names the run folder."""

    dataset: str = "cifar10"
    model: str = "wrn-28-2"
    num_labels: int = 40
    bn_momentum: float = 0.001
    steps: int = 2**20
    batch_size: int = 64  # labeled images per step
    uratio: int = 7  # unlabeled images per labeled one
    lr: float = 0.03
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = True
    lambda_u: float = 1.0
    lambda_f: float = 0.001  # USB's ent_loss_ratio
    ema_p: float = 0.999  # momentum of the threshold statistics
    ema_model: float = 0.999  # momentum of the evaluation weights
    pad: int = 4  # weak-augmentation padding (USB: 1/8 of the side)
    val_per_class: int = 0  # images per class held out of labeled and unlabeled data for choosing lambda
    eval_per_class: int | None = None
    eval_every: int = 5000
    ckpt_every: int = 5000
    metric_batch: int = 64
    seed: int = 0  # labeled subset, initialization, data order and augmentation
    extra_loss: str = ""  # information loss on the confident unlabeled samples, e.g. "mi:0.5"


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
    train_set = D.load(cfg.dataset, "train")
    val_set = None
    if cfg.val_per_class:
        train_set, val_set = D.hold_out(train_set, cfg.val_per_class)
    labeled, unlabeled = D.labeled_unlabeled_split(train_set.labels, cfg.num_labels, cfg.seed)
    pool = train_set.subset(unlabeled)
    if cfg.dataset == "stl10":  # STL-10's own unlabeled split joins the pool, as in USB
        extra = D.load("stl10", "unlabeled")
        pool = D.Split(torch.cat([pool.images, extra.images]), torch.cat([pool.labels, extra.labels]))
    return train_set.subset(labeled), pool, val_set


def train(cfg: FreeMatchConfig, run: Run) -> None:
    """Train ``cfg`` into ``run``'s folder, resuming from its checkpoint if there is one."""
    labeled, pool, val_set = labeled_and_unlabeled(cfg)
    test_set = eval_split(cfg)
    flip, info = D.FLIP[cfg.dataset], InfoLoss.parse(cfg.extra_loss)
    dev = distributed.device()
    model = make_model(cfg).to(dev)
    ema = EMAModel(model, cfg.ema_model)
    opt = make_optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: cosine_factor(k, cfg.steps))
    threshold = SelfAdaptiveThreshold(D.NUM_CLASSES[cfg.dataset], cfg.ema_p)
    order_g, aug_g = torch.Generator().manual_seed(cfg.seed), torch.Generator().manual_seed(cfg.seed + 10_000)
    lab_stream, unl_stream = IndexStream(len(labeled), order_g), IndexStream(len(pool), order_g)
    modules = {
        "model": model,
        "ema": ema,
        "optimizer": opt,
        "scheduler": sched,
        "threshold": threshold,
        "labeled": lab_stream,
        "unlabeled": unl_stream,
    }
    step, rows, _ = resume_training(run, modules, (order_g, aug_g))
    net = distributed.wrap(model)  # every process draws the global batch and trains on its slice

    def evaluate(at: int) -> None:
        distributed.sync_buffers(model)
        distributed.sync_buffers(ema.model)
        for name, value in measure(ema.model, test_set, cfg.dataset, cfg.metric_batch).items():
            rows.append((at, "test", name, float(value)))
        rows.append((at, "test", "acc_raw", accuracy(model, test_set, cfg.dataset)["acc"]))
        if val_set is not None:
            rows.extend((at, "val", k, v) for k, v in accuracy(ema.model, val_set, cfg.dataset).items())

    def checkpoint() -> None:
        if distributed.is_main():
            save_training(run, step, rows, modules, (order_g, aug_g))

    model.train()
    bar = progress(range(step, cfg.steps), desc=f"freematch {run.folder.name}", total=cfg.steps - step)
    for _ in bar:
        if step % cfg.eval_every == 0 and step > 0:  # no curve starts at the random initialization here
            evaluate(step)
        x = labeled.subset(lab_stream.take(cfg.batch_size))
        u = pool.images[unl_stream.take(cfg.batch_size * cfg.uratio)]
        views = [weak_augment(x.images, aug_g, flip, cfg.pad), weak_augment(u, aug_g, flip, cfg.pad)]
        views.append(strong_augment(u, aug_g, flip, cfg.pad))
        mine_x, mine_u = distributed.local_slice(len(x)), distributed.local_slice(len(u))
        views = [views[0][mine_x], views[1][mine_u], views[2][mine_u]]
        logits, feats = net(D.normalize(torch.cat(views), cfg.dataset).to(dev))
        n_x, n_u = len(views[0]), len(views[1])
        logits_x, logits_w, logits_s = logits[:n_x], logits[n_x : n_x + n_u], logits[n_x + n_u :]
        probs_w = logits_w.detach().softmax(dim=1)
        threshold.update(distributed.all_gather_cat(probs_w))  # the statistics of the global batch
        mask = threshold.mask(probs_w)
        pseudo = probs_w.argmax(dim=1)
        unsup = (F.cross_entropy(logits_s, pseudo, reduction="none") * mask).mean()
        fair = fairness_loss(logits_s, mask, threshold.p_model, threshold.label_hist)
        loss = (
            F.cross_entropy(logits_x, x.labels[mine_x].to(dev)) + cfg.lambda_u * unsup + cfg.lambda_f * fair
        )
        if info is not None:
            loss = loss + info(feats[n_x + n_u :][mask], model.head_weight, pseudo[mask])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        ema.update(model)
        step += 1
        if step % cfg.eval_every == 0 or step == cfg.steps:
            rows.append((step, "train", "mask_rate", mask.float().mean().item()))
            rows.append((step, "train", "threshold", threshold.time_p.item()))
        if step % cfg.ckpt_every == 0 and step < cfg.steps:
            checkpoint()
    if not any(r[0] == cfg.steps and r[1] == "test" for r in rows):
        evaluate(cfg.steps)
    checkpoint()
    if distributed.is_main():
        run.mark_done()
    distributed.barrier()
