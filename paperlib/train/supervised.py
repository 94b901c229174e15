"""Supervised training as in the paper's Sec 5 (the FixMatch / TorchSSL / USB lineage), through the run store.

SGD with Nesterov momentum 0.9, weight decay 5e-4 (not on BatchNorm parameters and biases, as USB), learning
rate lr * cos(7 pi k / 16 K), batch 64, optional label smoothing and an optional information loss term. Every
``eval_every`` steps the test features are measured: accuracy, loss, ``interplay`` exact and batch-mean, and
NC1-NC4, as tidy rows (step, split, metric, value).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from .. import data as D
from .. import distributed
from ..augment import weak_augment
from ..configs import (
    BOOL,
    FRACTION,
    NONNEGATIVE,
    NONNEGATIVE_INT,
    OPTIONAL_POSITIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    Rule,
    one_of,
    parsed_by,
    setting,
    validate,
)
from ..metrics import UndefinedRatio, interplay, nudge_zero_rows
from ..models import ARCHITECTURES, build
from ..rng import generator
from ..runs import NEW_FIELD, Run
from ..theory import nc_measures
from .info_loss import InfoLoss
from .loop import Method, Row, fit

BN_MOMENTUM = Rule(
    lambda v: isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 1, "a number in (0, 1]"
)


@dataclass(frozen=True)
class Recipe:
    """What every WideResNet run shares, whatever its loss: data set, model, SGD, schedule length, evaluation
    cadence and measurement. Supervised, information-loss and FreeMatch configs each hold one, so a baseline
    trained beside FreeMatch is built from FreeMatch's own recipe. Each setting declares what it allows."""

    dataset: str = setting("fashion_mnist", one_of(D.NUM_CLASSES))
    model: str = setting("wrn-10-1", one_of(ARCHITECTURES))
    # USB's value; the short CPU runs use PyTorch's 0.1 (see the experiments)
    bn_momentum: float = setting(0.001, BN_MOMENTUM)
    steps: int = setting(2**20, POSITIVE_INT)
    batch_size: int = setting(64, POSITIVE_INT)  # (labeled) images per step
    lr: float = setting(0.03, POSITIVE)
    momentum: float = setting(0.9, FRACTION)
    weight_decay: float = setting(5e-4, NONNEGATIVE)
    nesterov: bool = setting(True, BOOL)
    eval_every: int = setting(5000, POSITIVE_INT)
    ckpt_every: int = setting(5000, POSITIVE_INT)
    # test samples per class measured during training; None: all
    eval_per_class: int | None = setting(None, OPTIONAL_POSITIVE_INT)
    # Images per class held out of the training set as a validation split (accuracy and loss logged as split
    # "val"), for choosing hyperparameters without the test set; 0: none.
    val_per_class: int = setting(0, NONNEGATIVE_INT)
    metric_batch: int = setting(64, POSITIVE_INT)  # batch size of the paper's batch-mean estimate
    # Convolution weights in channels_last order: faster on CPUs, same numbers within seed noise but not bit
    # for bit (benchmarks/variants.py); the cpu profile turns it on. Added after runs were stored: it enters a
    # run's hash only when on.
    channels_last: bool = setting(False, BOOL, metadata={NEW_FIELD: True})

    def __post_init__(self) -> None:
        validate(self)


LOSS_SPEC = parsed_by(InfoLoss.parse, "'' or an information loss term such as 'mi:0.5' or 'hdr:1:detach'")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a supervised run; its hash names the run folder."""

    recipe: Recipe = field(default_factory=Recipe)
    train_per_class: int | None = setting(None, OPTIONAL_POSITIVE_INT)  # None: the whole training set
    label_smoothing: float = setting(0.0, FRACTION)
    augment: bool = setting(True, BOOL)
    seed: int = setting(0, NONNEGATIVE_INT)  # initialization (and data order, unless data_seed is set)
    # data order and augmentation draws; two runs that differ only here share their initialization (LMC)
    data_seed: int | None = setting(
        None, Rule(lambda v: v is None or NONNEGATIVE_INT(v), "an integer >= 0 or null")
    )
    extra_loss: str = setting("", LOSS_SPEC)  # an information loss term (see train.info_loss)
    # LMC's spawn step k (Frankle et al., 2020): the first k steps draw data and augmentation from ``seed``, the
    # rest from ``data_seed``, so two runs that differ only in data_seed share their first k steps exactly (on
    # one device) and are the two copies of one network spawned at step k. Hashed only when set.
    spawn_step: int = setting(0, NONNEGATIVE_INT, metadata={NEW_FIELD: True})

    def __post_init__(self) -> None:
        validate(self)
        if self.spawn_step >= self.recipe.steps:
            raise ValueError(
                f"spawn_step ({self.spawn_step}) must be below the run's steps ({self.recipe.steps}): the copies "
                "have to train apart after it"
            )


def cosine_factor(step: int, total: int) -> float:
    """The FixMatch-lineage schedule: cos(7 pi k / (16 K)), from 1 down to cos(7 pi / 16) ~ 0.195."""
    return math.cos(7 * math.pi * step / (16 * total))


def smoothed_targets(labels: torch.Tensor, num_classes: int, eps: float) -> torch.Tensor:
    """y' = (1 - eps) y + eps / C (Sec 5.3)."""
    return (1 - eps) * F.one_hot(labels, num_classes).float() + eps / num_classes


def make_optimizer(model: torch.nn.Module, recipe: Recipe) -> torch.optim.Optimizer:
    """SGD with weight decay on weights only (BatchNorm parameters and biases are not decayed, as USB)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if p.ndim <= 1 or "bn" in name else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": recipe.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.nesterov)


def make_schedule(opt: torch.optim.Optimizer, steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """The cosine schedule of ``cosine_factor`` over ``steps`` steps."""
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda k: cosine_factor(k, steps))


def make_model(recipe: Recipe, seed: int) -> torch.nn.Module:
    """The model of ``recipe``, initialized from ``seed`` (in channels_last order if the recipe says so)."""
    torch.manual_seed(seed)
    model = build(recipe.model, D.NUM_CLASSES[recipe.dataset], in_channels=len(D.STATS[recipe.dataset][0]))
    if recipe.channels_last:
        model = model.to(memory_format=torch.channels_last)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = recipe.bn_momentum
    return model


@torch.no_grad()
def extract(
    model: torch.nn.Module, images: torch.Tensor, dataset: str, chunk: int = 1000, to_cpu: bool = True
):
    """Logits and features of uint8 ``images`` in eval mode, computed in chunks on the model's device (each
    chunk moves there as uint8, a quarter of its float size) and returned on the CPU unless ``to_cpu`` is
    False (the metrics then run on the device too). Under torchrun each process computes its shard and every
    process gets all rows."""
    net = distributed.unwrap(model)
    dev = next(net.parameters()).device
    mine = distributed.shard(len(images))
    part = images[mine.start : mine.stop]
    net.eval()
    outs = [net(D.normalize(part[i : i + chunk].to(dev), dataset)) for i in range(0, len(part), chunk)]
    net.train()
    logits, feats = (torch.cat([o[k] for o in outs]) for k in (0, 1))
    out = tuple(distributed.gather_rows(x, len(images)) for x in (logits, feats))
    return tuple(x.cpu() for x in out) if to_cpu else out


def _scores(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    return {
        "acc": (logits.argmax(1) == labels).float().mean().item(),
        "loss": F.cross_entropy(logits, labels).item(),
    }


def measure(model: torch.nn.Module, split: D.Split, dataset: str, metric_batch: int) -> dict[str, float]:
    """Accuracy, loss, exact and batch-mean interplay, and NC1-NC4 of ``model`` on ``split``, computed on the
    model's device."""
    logits, feats = extract(model, split.images, dataset, to_cpu=False)
    labels = split.labels.to(feats.device)
    heads = model.head_weight.detach()
    out = _scores(logits, labels)
    # A dead (all-zero) feature row has no direction; nudge it so early, unstable checkpoints still measure.
    safe = nudge_zero_rows(feats.double())
    out.update(_ratios(safe, heads, labels, None))
    batch = _ratios(safe, heads, labels, metric_batch)
    out["batches_skipped"] = batch.pop("skipped_batches", math.nan)
    out["batches"] = batch.pop("batches", math.nan)
    out.update({f"{k}_batch_sd": batch.pop(f"{k}_sd", math.nan) for k in ("mir", "hdr")})
    out.update({f"{k}_batch": v for k, v in batch.items()})
    out.update(nc_measures(safe, labels, heads, model.head.bias.detach()))
    return out


_RATIO_KEYS = ("mir", "hdr", "mi", "h_features", "h_heads", "h_joint")


def _ratios(feats: torch.Tensor, heads: torch.Tensor, labels: torch.Tensor, batch: int | None) -> dict:
    """``interplay``, or NaN for each quantity where the ratios are undefined (a collapsed, dead network at
    an early checkpoint): a training run logs that evaluation as missing instead of stopping."""
    try:
        return interplay(feats, heads, labels, batch_size=batch)
    except UndefinedRatio as err:
        warnings.warn(f"evaluation without MIR / HDR: {err}", stacklevel=2)
        return dict.fromkeys(_RATIO_KEYS, math.nan)


def accuracy(model: torch.nn.Module, split: D.Split, dataset: str) -> dict[str, float]:
    """Accuracy and cross-entropy only (the validation split needs no information measures)."""
    return _scores(extract(model, split.images, dataset)[0], split.labels)


def eval_split(recipe: Recipe) -> D.Split:
    """The test images a run is measured on, in a fixed shuffled order (balanced subset if asked for), so the
    batch-mean estimate sees mixed classes in every batch (as a shuffled loader would)."""
    test_set = D.load(recipe.dataset, "test")
    if recipe.eval_per_class:
        test_set = test_set.subset(D.balanced_subset(test_set.labels, recipe.eval_per_class, seed=0))
    return test_set.subset(torch.randperm(len(test_set), generator=generator(1)))


def test_rows(model: torch.nn.Module, split: D.Split, recipe: Recipe, at: int) -> list[Row]:
    """The rows of one test evaluation (see ``measure``)."""
    return [
        (at, "test", k, float(v))
        for k, v in measure(model, split, recipe.dataset, recipe.metric_batch).items()
    ]


def val_rows(model: torch.nn.Module, split: D.Split | None, recipe: Recipe, at: int) -> list[Row]:
    """Validation accuracy and loss rows (none without a validation split)."""
    if split is None:
        return []
    return [(at, "val", k, v) for k, v in accuracy(model, split, recipe.dataset).items()]


def on_device(split: D.Split, device: torch.device) -> D.Split:
    """``split`` with its images and labels on ``device`` (the same tensors when they are there already)."""
    return D.Split(split.images.to(device), split.labels.to(device))


class EpochSampler:
    """Batches from shuffled passes over n samples: a new permutation when the rest of the current one is
    shorter than a batch (the tail is dropped); its position is checkpointed."""

    def __init__(self, n: int, g: torch.Generator) -> None:
        self.n, self.g = n, g
        self.perm, self.pos = torch.randperm(n, generator=g), 0

    def take(self, k: int) -> torch.Tensor:
        if self.pos + k > len(self.perm):
            self.perm, self.pos = torch.randperm(self.n, generator=self.g), 0
        out = self.perm[self.pos : self.pos + k]
        self.pos += k
        return out

    def state_dict(self) -> dict:
        return {"perm": self.perm, "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.perm, self.pos = state["perm"], int(state["pos"])


class Supervised(Method):
    """Cross-entropy (optionally smoothed) plus an optional information term, on weak-augmented batches."""

    def __init__(self, cfg: TrainConfig) -> None:
        r = self.recipe = cfg.recipe
        self.cfg, self.desc = cfg, r.model
        train_set = D.load(r.dataset, "train")
        self.val_set = None
        if r.val_per_class:
            train_set, self.val_set = D.hold_out(train_set, r.val_per_class)
        if cfg.train_per_class:
            train_set = train_set.subset(D.balanced_subset(train_set.labels, cfg.train_per_class, cfg.seed))
        self.dev = distributed.device()
        # the training images move to the device once; batches are drawn, augmented and normalized there
        self.train_set, self.test_set = on_device(train_set, self.dev), eval_split(r)
        self.num_classes = D.NUM_CLASSES[r.dataset]
        self.term = InfoLoss.parse(cfg.extra_loss)
        self.model = make_model(r, cfg.seed).to(self.dev)
        self.opt = make_optimizer(self.model, r)
        self.sched = make_schedule(self.opt, r.steps)
        data_seed = cfg.seed if cfg.data_seed is None else cfg.data_seed
        self.order_g, self.aug_g = generator(data_seed), generator(data_seed + 10_000)
        self.sampler = EpochSampler(len(train_set), self.order_g)
        self.trunk = None  # the shared first spawn_step steps draw from the seed's own generators
        if cfg.spawn_step:
            order, aug = generator(cfg.seed), generator(cfg.seed + 10_000)
            self.trunk = (EpochSampler(len(train_set), order), order, aug)
        self.net = distributed.wrap(self.model)  # every process draws the global batch, trains on its slice
        self.model.train()

    def state(self) -> dict:
        out = {"model": self.model, "optimizer": self.opt, "scheduler": self.sched, "sampler": self.sampler}
        return out | ({"trunk_sampler": self.trunk[0]} if self.trunk else {})

    def generators(self) -> tuple:
        return (self.order_g, self.aug_g) + (self.trunk[1:] if self.trunk else ())

    def evaluate_at(self, step: int) -> bool:
        return step % self.recipe.eval_every == 0

    def evaluate(self, step: int) -> list[Row]:
        distributed.sync_buffers(self.model)
        rows = test_rows(self.model, self.test_set, self.recipe, step)
        return rows + val_rows(self.model, self.val_set, self.recipe, step)

    def step(self, step: int) -> list[Row]:
        r, cfg = self.recipe, self.cfg
        sampler, aug_g = self.sampler, self.aug_g
        if self.trunk and step < cfg.spawn_step:
            sampler, _, aug_g = self.trunk
        idx = sampler.take(r.batch_size).to(self.dev)
        images = self.train_set.images[idx]
        if cfg.augment:
            images = weak_augment(images, aug_g)
        mine = distributed.local_slice(len(idx))
        labels = self.train_set.labels[idx][mine]
        logits, feats = self.net(D.normalize(images[mine], r.dataset))
        loss = F.cross_entropy(logits, smoothed_targets(labels, self.num_classes, cfg.label_smoothing))
        if self.term is not None:
            loss = loss + self.term(feats, self.model.head_weight, labels)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        return []


def train(cfg: TrainConfig, run: Run) -> None:
    """Train ``cfg`` into ``run``'s folder, resuming from its checkpoint if there is one."""
    fit(run, Supervised(cfg), cfg.recipe.steps, cfg.recipe.ckpt_every)
