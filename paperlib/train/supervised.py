"""Supervised training as in the paper's Sec 5 (the FixMatch / TorchSSL / USB lineage), through the run store.

SGD with Nesterov momentum 0.9, weight decay 5e-4 (not on BatchNorm parameters and biases, as USB), learning
rate lr * cos(7 pi k / 16 K), batch 64, optional label smoothing, and a hook for an extra loss term. Every
``eval_every`` steps the test features are measured: accuracy, loss, ``interplay`` exact and batch-mean, and
NC1-NC4, as tidy rows (step, split, metric, value).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .. import data as D
from .. import distributed
from ..augment import weak_augment
from ..metrics import interplay, nudge_zero_rows
from ..models import build
from ..progress import progress
from ..runs import NEW_FIELD, Run, resume_training, save_training
from ..theory import nc_measures
from .info_loss import InfoLoss

ExtraLoss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.nn.Module], torch.Tensor]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a supervised run; its hash names the run folder."""

    dataset: str = "fashion_mnist"
    model: str = "wrn-10-1"
    bn_momentum: float = 0.001  # USB's value; the short CPU runs use PyTorch's 0.1 (see configs)
    train_per_class: int | None = None  # None: the whole training set
    eval_per_class: int | None = None  # test samples per class measured during training; None: all
    steps: int = 2**20
    batch_size: int = 64
    lr: float = 0.03
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = True
    label_smoothing: float = 0.0
    augment: bool = True
    eval_every: int = 5000
    ckpt_every: int = 5000
    metric_batch: int = 64  # batch size of the paper's batch-mean estimate
    seed: int = 0  # initialization (and data order, unless data_seed is set)
    data_seed: int | None = None  # data order and augmentation draws; two runs that differ only here share
    # their initialization (linear mode connectivity)
    extra_loss: str = ""  # an information loss term, e.g. "mi:0.5" or "hdr:1" (see train.info_loss)
    # Images per class held out of the training set as a validation split (accuracy and loss logged as split
    # "val"), for choosing hyperparameters without the test set; 0: none.
    val_per_class: int = field(default=0, metadata={NEW_FIELD: True})


def cosine_factor(step: int, total: int) -> float:
    """The FixMatch-lineage schedule: cos(7 pi k / (16 K)), from 1 down to cos(7 pi / 16) ~ 0.195."""
    return math.cos(7 * math.pi * step / (16 * total))


def smoothed_targets(labels: torch.Tensor, num_classes: int, eps: float) -> torch.Tensor:
    """y' = (1 - eps) y + eps / C (Sec 5.3)."""
    return (1 - eps) * F.one_hot(labels, num_classes).float() + eps / num_classes


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD with weight decay on weights only (BatchNorm parameters and biases are not decayed, as USB)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or "bn" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)


def make_model(cfg: TrainConfig) -> torch.nn.Module:
    """The model of ``cfg``, initialized from ``cfg.seed``."""
    torch.manual_seed(cfg.seed)
    model = build(cfg.model, D.NUM_CLASSES[cfg.dataset], in_channels=len(D.STATS[cfg.dataset][0]))
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = cfg.bn_momentum
    return model


@torch.no_grad()
def extract(model: torch.nn.Module, images: torch.Tensor, dataset: str, chunk: int = 1000):
    """Logits and features (on the CPU) of uint8 ``images`` in eval mode, in chunks on the model's device.
    Under torchrun each process computes its shard and every process gets all rows."""
    net = distributed.unwrap(model)
    dev = next(net.parameters()).device
    mine = distributed.shard(len(images))
    part = images[mine.start : mine.stop]
    net.eval()
    outs = [net(D.normalize(part[i : i + chunk], dataset).to(dev)) for i in range(0, len(part), chunk)]
    net.train()
    logits, feats = (torch.cat([o[k] for o in outs]) for k in (0, 1))
    return tuple(distributed.gather_rows(x, len(images)).cpu() for x in (logits, feats))


def _scores(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    return {
        "acc": (logits.argmax(1) == labels).float().mean().item(),
        "loss": F.cross_entropy(logits, labels).item(),
    }


def measure(model: torch.nn.Module, split: D.Split, dataset: str, metric_batch: int) -> dict[str, float]:
    """Accuracy, loss, exact and batch-mean interplay, and NC1-NC4 of ``model`` on ``split``."""
    logits, feats = extract(model, split.images, dataset)
    labels = split.labels
    heads = model.head_weight.detach().cpu()
    out = _scores(logits, labels)
    # A dead (all-zero) feature row has no direction; nudge it so early, unstable checkpoints still measure.
    safe = nudge_zero_rows(feats.double())
    out.update(interplay(safe, heads, labels))
    out.update({f"{k}_batch": v for k, v in interplay(safe, heads, labels, batch_size=metric_batch).items()})
    out.update(nc_measures(safe, labels, heads, model.head.bias.detach().cpu()))
    return out


def accuracy(model: torch.nn.Module, split: D.Split, dataset: str) -> dict[str, float]:
    """Accuracy and cross-entropy only (the validation split needs no information measures)."""
    return _scores(extract(model, split.images, dataset)[0], split.labels)


def _eval_order(split: D.Split, seed: int) -> D.Split:
    """A fixed random order, so the batch-mean estimate sees mixed classes in every batch (as a shuffled
    loader would)."""
    return split.subset(torch.randperm(len(split), generator=torch.Generator().manual_seed(seed + 1)))


def eval_split(cfg: TrainConfig) -> D.Split:
    """The test images a run is measured on, in a fixed shuffled order (balanced subset if asked for)."""
    test_set = D.load(cfg.dataset, "test")
    if cfg.eval_per_class:
        test_set = test_set.subset(D.balanced_subset(test_set.labels, cfg.eval_per_class, seed=0))
    return _eval_order(test_set, 0)


def train(cfg: TrainConfig, run: Run, extra_loss: ExtraLoss | None = None) -> None:
    """Train ``cfg`` into ``run``'s folder, resuming from its checkpoint if there is one."""
    train_set = D.load(cfg.dataset, "train")
    val_set = None
    if cfg.val_per_class:
        train_set, val_set = D.hold_out(train_set, cfg.val_per_class)
    if cfg.train_per_class:
        train_set = train_set.subset(D.balanced_subset(train_set.labels, cfg.train_per_class, cfg.seed))
    test_set = eval_split(cfg)
    num_classes = D.NUM_CLASSES[cfg.dataset]

    if extra_loss is None and cfg.extra_loss:
        term = InfoLoss.parse(cfg.extra_loss)

        def extra_loss(feats, logits, labels, model):
            return term(feats, model.head_weight, labels)

    dev = distributed.device()
    model = make_model(cfg).to(dev)
    opt = make_optimizer(model, cfg)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: cosine_factor(k, cfg.steps))
    data_seed = cfg.seed if cfg.data_seed is None else cfg.data_seed
    order_g = torch.Generator().manual_seed(data_seed)
    aug_g = torch.Generator().manual_seed(data_seed + 10_000)
    modules = {"model": model, "optimizer": opt, "scheduler": sched}
    step, rows, extra = resume_training(run, modules, (order_g, aug_g))
    if step == 0:
        perm, pos = torch.randperm(len(train_set), generator=order_g), 0
    else:
        perm, pos = extra["perm"], extra["pos"]
    net = distributed.wrap(model)  # every process draws the global batch and trains on its slice

    def evaluate(at: int) -> None:
        distributed.sync_buffers(model)
        for name, value in measure(model, test_set, cfg.dataset, cfg.metric_batch).items():
            rows.append((at, "test", name, float(value)))
        if val_set is not None:
            rows.extend(
                (at, "val", name, value) for name, value in accuracy(model, val_set, cfg.dataset).items()
            )

    def checkpoint() -> None:
        if distributed.is_main():
            save_training(run, step, rows, modules, (order_g, aug_g), perm=perm, pos=pos)

    model.train()
    bar = progress(range(step, cfg.steps), desc=f"{cfg.model} {run.folder.name}", total=cfg.steps - step)
    for _ in bar:
        if step % cfg.eval_every == 0:
            evaluate(step)
        if pos + cfg.batch_size > len(perm):
            perm, pos = torch.randperm(len(train_set), generator=order_g), 0
        idx = perm[pos : pos + cfg.batch_size]
        pos += cfg.batch_size
        images = train_set.images[idx]
        if cfg.augment:
            images = weak_augment(images, aug_g, flip=D.FLIP[cfg.dataset])
        mine = distributed.local_slice(len(idx))
        labels = train_set.labels[idx][mine].to(dev)
        logits, feats = net(D.normalize(images[mine], cfg.dataset).to(dev))
        loss = F.cross_entropy(logits, smoothed_targets(labels, num_classes, cfg.label_smoothing))
        if extra_loss is not None:
            loss = loss + extra_loss(feats, logits, labels, model)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        if step % cfg.ckpt_every == 0 and step < cfg.steps:
            checkpoint()
    if not rows or rows[-1][0] != cfg.steps:
        evaluate(cfg.steps)
    checkpoint()
    if distributed.is_main():
        run.mark_done()
    distributed.barrier()
