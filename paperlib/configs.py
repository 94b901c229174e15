"""Every experiment's settings under each profile, in one place where tests can reach them.

``get(experiment, profile, **overrides)`` returns a frozen dataclass; an unknown experiment, profile or
override key is a ``ValueError`` that lists what exists.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .train.freematch import FreeMatchConfig
from .train.grokking import GrokConfig
from .train.supervised import TrainConfig

PROFILES = ("smoke", "cpu", "paper")
LABEL_SMOOTHING = (0.0, 0.05, 0.1, 0.2, 0.3)  # the levels of Fig 5


@dataclass(frozen=True)
class NCTheory:
    """Synthetic checks of Section 4 (notebook 01); no training, so cpu and paper share sizes."""

    seed: int = 0
    c_min: int = 3
    c_max: int = 100
    per_class: int = 2  # samples per class for Corollary 4.3
    range_draws_per_kind: int = 50  # T3
    regression_draws: int = 100  # T4, Lemma 4.5 / Theorem 4.6
    ranks: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)  # T4, exp(H) against rank
    path_classes: int = 10
    path_per_class: int = 20
    path_dim: int = 32
    x1_n: int = 4096
    x1_classes: int = 10
    x1_dim: int = 64
    x1_noise: float = 0.5
    batch_sizes: tuple[int, ...] = field(default=(16, 32, 64, 128, 256, 512, 1024))


# Short CPU runs use PyTorch's BatchNorm momentum (0.1): USB's 0.001 is tuned for 2^20 steps, and with a few
# thousand steps the running statistics would still lag the weights at every evaluation.
_FMNIST = dict(dataset="fashion_mnist", model="wrn-10-1", bn_momentum=0.1)
_SUPERVISED = {
    "smoke": dict(_FMNIST, train_per_class=100, eval_per_class=50, steps=150, eval_every=25, ckpt_every=50),
    # Without augmentation: measured here at 6000 steps, crop + flip reached 90.2 % test accuracy and no
    # augmentation 91.8 %; five epochs are too few for augmentation to pay off.
    "cpu": dict(_FMNIST, steps=5000, eval_every=500, ckpt_every=1000, augment=False),
    "paper": dict(dataset="cifar10", model="wrn-28-2", steps=2**20, eval_every=2**14, ckpt_every=2**14),
}
# The paper's second setting: CIFAR-100 with WRN-28-8 (same hyperparameters).
_PAPER_CIFAR100 = dict(dataset="cifar100", model="wrn-28-8")


@dataclass(frozen=True)
class LMCConfig:
    """Linear mode connectivity (notebook 03): two runs per learning rate and the path between them."""

    train: TrainConfig
    lrs: tuple[float, ...] = (0.03, 3e-4)
    omegas: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(11))
    bn_batches: int = 20  # training batches (of train.batch_size * 4) to recompute BatchNorm statistics


@dataclass(frozen=True)
class PruneConfig:
    """Pruning (notebook 05) of the training-dynamics model."""

    train: TrainConfig  # the trained model to prune: the training-dynamics run, reused from the store
    sparsities: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 10))
    finetune_steps: int = 300
    finetune_lr: float = 0.01
    compare_per_class: int = 200  # test images per class for the exact feature-vs-feature ratios


@dataclass(frozen=True)
class SupervisedInfo:
    """Table 2 (notebook 07): cross-entropy alone and with the MI or HDR term, fully supervised.

    For each term, lambda is chosen among ``lambdas`` by the validation accuracy of the first seed (the
    validation split is ``train.val_per_class`` images per class, held out of the training set); the other
    seeds then run with the chosen lambda. The test set is only read for the table."""

    train: TrainConfig
    seeds: tuple[int, ...] = (0, 1, 2)
    lambdas: tuple[float, ...] = (0.1, 1.0)
    detach_head: bool = False


@dataclass(frozen=True)
class SemiSupervisedInfo:
    """Table 1 (notebook 07): a supervised-only baseline on the labeled images, FreeMatch, FreeMatch + MI and
    FreeMatch + HDR, for each number of labels. Lambda is chosen per term at ``select_at`` labels by the
    validation accuracy of the first seed, then used at every label count."""

    freematch: FreeMatchConfig
    label_counts: tuple[int, ...] = (40, 250)
    seeds: tuple[int, ...] = (0, 1)
    lambdas: tuple[float, ...] = (0.1, 1.0)
    select_at: int = 250
    detach_head: bool = False


_FM_FMNIST = dict(
    dataset="fashion_mnist", model="wrn-10-1", bn_momentum=0.1, batch_size=16, val_per_class=100
)
# The paper reports no validation split; choosing lambda needs one, so 100 images per class are held out.
_FM_PAPER = dict(dataset="cifar10", model="wrn-28-2", eval_every=2**14, ckpt_every=2**14, val_per_class=100)
# The paper's other SSL settings: (data set, model, label counts, weak-augmentation padding).
PAPER_SSL_SETTINGS = (
    ("cifar100", "wrn-28-8", (400, 2500), 4),
    ("stl10", "wrn-37-2", (40, 1000), 12),
)

_REGISTRY: dict[str, dict[str, dict]] = {
    "nc_theory": {
        "smoke": {},
        "cpu": dict(per_class=20, range_draws_per_kind=400, regression_draws=1000),
        "paper": dict(per_class=50, range_draws_per_kind=1000, regression_draws=2000),
    },
    "dynamics": _SUPERVISED,
    "label_smoothing": _SUPERVISED,
    "grokking": {
        # p = 59 with half the pairs for training groks within a couple of thousand steps (smoke).
        "smoke": dict(p=59, train_frac=0.5, steps=1500, eval_every=50, ckpt_every=500, metric_samples=512),
        # The paper's setting; on 2 cores test accuracy passes 95 % near step 7,600 (DESIGN.md speed notes).
        "cpu": dict(p=113, train_frac=0.3, steps=9000, eval_every=100, ckpt_every=1000),
        "paper": dict(
            p=113, train_frac=0.3, steps=40_000, eval_every=100, ckpt_every=2000, metric_samples=4096
        ),
    },
}
_CLASSES = {
    "supervised_info": SupervisedInfo,
    "freematch": SemiSupervisedInfo,
    "nc_theory": NCTheory,
    "dynamics": TrainConfig,
    "label_smoothing": TrainConfig,
    "grokking": GrokConfig,
    "lmc": LMCConfig,
    "pruning": PruneConfig,
}


def _train(profile: str, **changes) -> TrainConfig:
    return TrainConfig(**{**_SUPERVISED[profile], **changes})


# LMC trains two short runs per learning rate; pruning reuses the training-dynamics run of the profile.
_REGISTRY["lmc"] = {
    "smoke": dict(
        train=_train("smoke", steps=60, eval_every=60, ckpt_every=60),
        lrs=(0.03, 3e-4),
        omegas=(0.0, 0.25, 0.5, 0.75, 1.0),
        bn_batches=2,
    ),
    "cpu": dict(
        train=_train("cpu", steps=1500, eval_every=1500, ckpt_every=500), lrs=(0.03, 0.01, 3e-3, 3e-4)
    ),
    "paper": dict(train=_train("paper"), lrs=(0.03, 3e-4)),
}
_REGISTRY["pruning"] = {
    "smoke": dict(train=_train("smoke"), finetune_steps=10, compare_per_class=20),
    "cpu": dict(train=_train("cpu"), finetune_steps=300, compare_per_class=200),
    "paper": dict(train=_train("paper"), finetune_steps=2000, compare_per_class=500),
}


_REGISTRY["supervised_info"] = {
    "smoke": dict(
        train=_train("smoke", steps=60, eval_every=60, ckpt_every=60, val_per_class=20), seeds=(0, 1)
    ),
    # 1,000 steps (1.1 epochs) without augmentation, as the cpu dynamics run; 500 validation images per class.
    # Eleven runs (3 seeds x 3 losses + 2 candidates); with Table 1, chapter 07 took 21 minutes here.
    "cpu": dict(train=_train("cpu", steps=1000, eval_every=1000, ckpt_every=500, val_per_class=500)),
    "paper": dict(train=_train("paper", val_per_class=500)),
}
_REGISTRY["freematch"] = {
    "smoke": dict(
        freematch=FreeMatchConfig(
            **_FM_FMNIST, steps=20, eval_every=20, ckpt_every=20, eval_per_class=20, ema_model=0.8, uratio=3
        ),
        seeds=(0, 1),
    ),
    # 500 steps with 16 labeled + 112 unlabeled images each (about one pass over the unlabeled pool, each image
    # in a weak and a strong view): an EMA momentum of 0.999 would still weigh the initialization at 0.6, so
    # 0.99 here.
    "cpu": dict(
        freematch=FreeMatchConfig(**_FM_FMNIST, steps=500, eval_every=500, ckpt_every=250, ema_model=0.99)
    ),
    "paper": dict(freematch=FreeMatchConfig(**_FM_PAPER), label_counts=(10, 40, 250), seeds=(0, 1, 2)),
}


def experiments() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get(experiment: str, profile: str, **overrides):
    """The frozen settings of ``experiment`` under ``profile``, with ``overrides`` applied on top."""
    if experiment not in _REGISTRY:
        raise ValueError(f"unknown experiment {experiment!r}; known: {', '.join(_REGISTRY)}")
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILES)}")
    cls = _CLASSES[experiment]
    names = {f.name for f in dataclasses.fields(cls)}
    flat = {k: v for k, v in overrides.items() if "." not in k}
    unknown = sorted(set(flat) - names)
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown} for {experiment}; settings are {sorted(names)}")
    cfg = cls(**{**_REGISTRY[experiment][profile], **flat})
    for key, value in overrides.items():  # "train.steps=100": a setting of a nested group
        if "." in key:
            cfg = _set_nested(cfg, experiment, key, value)
    return cfg


def _set_nested(cfg, experiment: str, key: str, value):
    outer, inner = key.split(".", 1)
    group = getattr(cfg, outer, None)
    if not dataclasses.is_dataclass(group):
        groups = [f.name for f in dataclasses.fields(cfg) if dataclasses.is_dataclass(getattr(cfg, f.name))]
        raise ValueError(f"{key!r}: {experiment} has no group {outer!r} of settings; groups: {groups}")
    inner_names = sorted(f.name for f in dataclasses.fields(group))
    if inner not in inner_names:
        raise ValueError(f"unknown setting {inner!r} in {outer} of {experiment}; settings are {inner_names}")
    return dataclasses.replace(cfg, **{outer: dataclasses.replace(group, **{inner: value})})


def sweep(experiment: str, profile: str, **overrides) -> list:
    """All configs an experiment runs: the paper profile adds CIFAR-100 / WRN-28-8 to the supervised
    experiments and CIFAR-100 and STL-10 to FreeMatch (Table 1's columns), and label smoothing repeats each
    setting for every level in ``LABEL_SMOOTHING``."""
    base = [get(experiment, profile, **overrides)]
    if experiment in ("dynamics", "label_smoothing") and profile == "paper" and "dataset" not in overrides:
        base.append(dataclasses.replace(base[0], **_PAPER_CIFAR100))
    if experiment == "supervised_info" and profile == "paper" and "train" not in overrides:
        base.append(dataclasses.replace(base[0], train=dataclasses.replace(base[0].train, **_PAPER_CIFAR100)))
    if experiment == "freematch" and profile == "paper" and "freematch" not in overrides:
        for dataset, model, counts, pad in PAPER_SSL_SETTINGS:
            fm = dataclasses.replace(base[0].freematch, dataset=dataset, model=model, pad=pad)
            base.append(dataclasses.replace(base[0], freematch=fm, label_counts=counts, select_at=counts[-1]))
    if experiment == "label_smoothing" and "label_smoothing" not in overrides:
        return [dataclasses.replace(c, label_smoothing=eps) for c in base for eps in LABEL_SMOOTHING]
    return base


def parse_overrides(pairs: list[str], experiment: str) -> dict:
    """``["steps=100", "lr=0.01"]`` -> typed overrides, checked against the experiment's settings; a dotted key
    (``train.steps=100``, ``freematch.num_labels=40``) sets one setting of a nested group."""
    import json

    if experiment not in _CLASSES:
        raise ValueError(f"unknown experiment {experiment!r}; known: {', '.join(_CLASSES)}")
    fields = {f.name: f for f in dataclasses.fields(_CLASSES[experiment])}
    out = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        if key.split(".", 1)[0] not in fields:
            raise ValueError(f"unknown setting {key!r} for {experiment}; settings are {sorted(fields)}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[key] = tuple(value) if isinstance(value, list) else value
    return out
