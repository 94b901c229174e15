"""Measure your own network (notebook 08): a torchvision ResNet-18, a model this project did not write, trained
on Fashion-MNIST with ``paperlib.Monitor`` in its loop, and the claim X3 that chapter 02's trajectory (MIR up
with accuracy, HDR down) holds for it too.

The chapter is about the public API (``paperlib.probe``, ``paperlib.Monitor``) on an off-the-shelf model, so
every profile trains on Fashion-MNIST; the paper profile trains the same model longer (20 epochs), it does not
change the data set. Training goes through the run store and the one loop (``train.loop.fit``), so a second
book build reads the run back, and an interrupted run resumes with the same numbers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from .. import data as D
from .. import distributed, runs
from ..configs import (
    BOOL,
    FRACTION,
    NONNEGATIVE,
    NONNEGATIVE_INT,
    OPTIONAL_POSITIVE_INT,
    POSITIVE,
    POSITIVE_INT,
    one_of,
    setting,
    validate,
)
from ..monitor import Monitor
from ..probe import Probe
from ..rng import generator
from ..train.loop import Method, Row, fit
from ..train.supervised import EpochSampler, make_schedule
from ..verdicts import Check
from . import common, dynamics
from .spec import Experiment

STORE = "own_network"
HEAD = "fc"  # torchvision's name for the ResNet classifier; probe would also find it on its own


@dataclass(frozen=True)
class OwnNetworkConfig:
    """Everything that determines a run of this chapter; its hash names the run folder."""

    # Only Fashion-MNIST: the one-channel stem below is built for its 28 x 28 grey images.
    dataset: str = setting("fashion_mnist", one_of(("fashion_mnist",)))
    model: str = setting("resnet18", one_of(("resnet18",)))
    steps: int = setting(300, POSITIVE_INT)
    batch_size: int = setting(64, POSITIVE_INT)
    lr: float = setting(0.05, POSITIVE)
    momentum: float = setting(0.9, FRACTION)
    nesterov: bool = setting(True, BOOL)
    weight_decay: float = setting(5e-4, NONNEGATIVE)
    eval_every: int = setting(25, POSITIVE_INT)
    ckpt_every: int = setting(100, POSITIVE_INT)
    # test images per class in the fixed evaluation subset the monitors read; None: the whole test set
    eval_per_class: int | None = setting(100, OPTIONAL_POSITIVE_INT)
    metric_batch: int = setting(64, POSITIVE_INT)  # batch size of the paper's batch-mean estimate
    seed: int = setting(0, NONNEGATIVE_INT)  # initialization and data order

    def __post_init__(self) -> None:
        validate(self)


PROFILES = {
    # batch 32, half the arithmetic of a step of 64; 24 such steps took test accuracy from 11 % to 62 % here
    "smoke": OwnNetworkConfig(steps=24, batch_size=32, eval_every=4, ckpt_every=24, eval_per_class=10),
    "cpu": OwnNetworkConfig(steps=300, eval_every=25, ckpt_every=100, eval_per_class=100),
    # 20 epochs of the 60,000 training images in batches of 64, measured on the whole test set
    "paper": OwnNetworkConfig(steps=18_750, eval_every=750, ckpt_every=3750, eval_per_class=None),
}


def build_model(classes: int = 10) -> nn.Module:
    """torchvision's ResNet-18, untrained, with a one-channel first convolution.

    Only ``conv1`` changes (1 input channel instead of 3); the rest is torchvision's network as a reader would
    take it. The standard stem (7 x 7 stride 2, then the 3 x 3 stride-2 max-pool) is kept: on 28 x 28 images
    it leaves 7 x 7 maps for the first stage, coarse but enough for Fashion-MNIST, and it is the cheapest
    choice. Measured one after another here (2 cores shared with other jobs, so only the ratios mean much),
    one SGD step of batch 64 took 2.5 s with it, 6.0 s with a 3 x 3 stride-1 stem and 7.5 s with that stem
    and no max-pool (the CIFAR-style adaptation); a forward pass of 1,000 images 2.6 s, 8.6 s and 15.7 s.
    The larger maps would cost the cpu profile several times its few minutes.

    ``zero_init_residual=True`` (torchvision's own option: each residual branch starts as zero, so each block
    starts as the identity) keeps the first steps tame. Without it, the BatchNorm running statistics lag the
    growing activations for the first ~20 steps, the eval-mode network predicts one class (10 % accuracy at
    steps 5-15 of a 30-step smoke run) and a short run's curves say more about that lag than about learning;
    with it, the same 30 steps of batch 32 reached 70 % test accuracy.
    """
    model = torchvision.models.resnet18(weights=None, num_classes=classes, zero_init_residual=True)
    model.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    # torchvision initializes its convolutions this way; a replaced layer would otherwise get PyTorch's default
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    return model


def evaluation_data(cfg: OwnNetworkConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed evaluation subset (normalized images, labels): ``eval_per_class`` test images of each class,
    in a seeded shuffled order so that every batch of the batch mean mixes classes."""
    test_set = D.load(cfg.dataset, "test")
    if cfg.eval_per_class:
        test_set = test_set.subset(D.balanced_subset(test_set.labels, cfg.eval_per_class, seed=0))
    test_set = test_set.subset(torch.randperm(len(test_set), generator=generator(1)))
    return D.normalize(test_set.images, cfg.dataset), test_set.labels


def make_optimizer(model: nn.Module, cfg: OwnNetworkConfig) -> torch.optim.Optimizer:
    """SGD as in chapter 02: weight decay on the weights only, not on BatchNorm parameters and biases."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    rest = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)


# What a record writes: the exact values under their own names, the batch means with the suffix "_batch".
_QUANTITIES = ("mir", "hdr", "mi", "h_features", "h_heads", "h_joint")


def probe_rows(result: Probe, step: int, suffix: str = "") -> list[Row]:
    """A ``Probe`` as the store's tidy rows (step, "test", metric, value)."""
    rows = [(step, "test", name + suffix, float(getattr(result, name))) for name in _QUANTITIES]
    if suffix:
        rows.append((step, "test", "batches_skipped", float(result.skipped_batches)))
    else:
        rows.append((step, "test", "acc", float(result.accuracy)))
    return rows


class OwnNetwork(Method):
    """Cross-entropy with SGD on Fashion-MNIST; each evaluation is two ``paperlib.Monitor`` records of the
    same subset, exact and batch mean (the Monitor API measures one of them per record)."""

    desc = "resnet18"

    def __init__(self, cfg: OwnNetworkConfig) -> None:
        self.cfg = cfg
        self.train_set = D.load(cfg.dataset, "train")
        self.dev = distributed.device()
        torch.manual_seed(cfg.seed)
        self.model = build_model(D.NUM_CLASSES[cfg.dataset]).to(self.dev)
        self.opt = make_optimizer(self.model, cfg)
        self.sched = make_schedule(self.opt, cfg.steps)
        self.order_g = generator(cfg.seed)
        self.sampler = EpochSampler(len(self.train_set), self.order_g)
        subset = evaluation_data(cfg)
        # every=1: the loop decides when to evaluate (evaluate_at, and always the last step); the monitors
        # record whenever they are asked. max_samples=None: the subset is already the size we chose.
        self.monitors = {
            "": Monitor(subset, every=1, head=HEAD, max_samples=None),
            "_batch": Monitor(subset, every=1, head=HEAD, max_samples=None, batch_size=cfg.metric_batch),
        }
        self.model.train()

    def state(self) -> dict:
        return {"model": self.model, "optimizer": self.opt, "scheduler": self.sched, "sampler": self.sampler}

    def generators(self) -> tuple:
        return (self.order_g,)

    def evaluate_at(self, step: int) -> bool:
        return step % self.cfg.eval_every == 0

    def evaluate(self, step: int) -> list[Row]:
        rows: list[Row] = []
        for suffix, monitor in self.monitors.items():
            rows += probe_rows(monitor.step(self.model, step), step, suffix)
        return rows

    def step(self, step: int) -> list[Row]:
        idx = self.sampler.take(self.cfg.batch_size)
        images = D.normalize(self.train_set.images[idx], self.cfg.dataset).to(self.dev)
        loss = F.cross_entropy(self.model(images), self.train_set.labels[idx].to(self.dev))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()
        return []


def train(cfg: OwnNetworkConfig, run: runs.Run) -> None:
    """Train ``cfg`` into ``run``'s folder, resuming from its checkpoint if there is one."""
    fit(run, OwnNetwork(cfg), cfg.steps, cfg.ckpt_every)


def run_one(profile: str, **overrides: Any) -> runs.Run:
    """The chapter's first run (seed ``seed``): from the store when done, else trained (or resumed) now."""
    return SPEC.runs(profile, **overrides)[0]


def run_seeds(profile: str, **overrides: Any) -> list[runs.Run]:
    """Every seed's run of ``profile`` (the first is ``run_one``'s): X3 is decided over them."""
    return SPEC.runs(profile, **overrides)


# X3 is decided over repeated runs: seed, seed + 1, ... (the first is the chapter's demonstration run)
SEEDS_PER_PROFILE = {"smoke": 2, "cpu": 3, "paper": 3}


def _seeds(cfg: OwnNetworkConfig, profile: str, overrides: dict) -> list[OwnNetworkConfig]:
    return [dataclasses.replace(cfg, seed=cfg.seed + k) for k in range(SEEDS_PER_PROFILE[profile])]


def load_model(run: runs.Run) -> nn.Module:
    """The trained network of a finished run, on the CPU, in eval mode."""
    model = build_model(D.NUM_CLASSES[run.config.dataset])
    model.load_state_dict(run.load_checkpoint()["model"])
    return model.eval()


def setting_name(cfg: OwnNetworkConfig) -> str:
    """'fashion_mnist / resnet18', as chapter 02 names its settings."""
    return f"{cfg.dataset} / {cfg.model}"


def curves(*all_runs: runs.Run) -> dict[str, pd.DataFrame]:
    """The runs' evaluations (one row per step and seed; columns step, acc, mir, hdr, mir_batch, hdr_batch,
    ..., dataset, model and seed) under their setting name: the form ``dynamics.trajectory_check`` reads."""
    frames: dict[str, list[pd.DataFrame]] = {}
    for run in all_runs:
        wide = common.curves(run)
        wide["dataset"], wide["model"], wide["seed"] = run.config.dataset, run.config.model, run.config.seed
        frames.setdefault(setting_name(run.config), []).append(wide)
    return {n: pd.concat(f, ignore_index=True) for n, f in frames.items()}


def check_X3(curves: dict[str, pd.DataFrame]) -> Check:
    """X3, "chapter 02's trajectory holds for torchvision's ResNet-18": the five parts of D1 (rho(acc, MIR),
    MIR rise, gap to MIR_NC shrinking: above 0) and D2 (rho(acc, HDR), HDR change: below 0), per seed, decided
    together over seeds by ``dynamics.trajectory_check``: each needed, Bonferroni over the five."""
    return dynamics.trajectory_check(
        "X3",
        curves,
        {**dynamics.D1_PARTS, **dynamics.D2_PARTS},
        "every part's interval on its claimed side of 0 (D1's above, D2's below)",
        exact=dynamics.exact_ends(curves, "mir_end_exact", "MIR") if curves else "",
    )


SPEC = Experiment(
    name="own_network",
    title="Measure your own network",
    notebook="08",
    profiles={p: (lambda p=p: PROFILES[p]) for p in PROFILES},
    store=STORE,
    trainer=train,
    sweep_fn=_seeds,
    claims={
        "X3": "The trajectory of chapter 02 (MIR up with accuracy, HDR down) holds for a different "
        "architecture (torchvision ResNet-18)",
    },
)
