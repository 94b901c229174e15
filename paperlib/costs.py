"""What one training step costs on a GPU, for ``plan``: counted work, a stated device class, and measured
seconds where a device has been measured.

The work of a step is counted, not guessed: ``torch.utils.flop_counter.FlopCounterMode`` runs the model's
forward and backward (and the optimizer's update) on the ``meta`` device, which computes shapes only, so even
WRN-28-8 on 960 images counts in well under a second. The count is the matrix products and convolutions
(BatchNorm, activations and the loss are not counted: a few per cent of the arithmetic), and it is linear in
the images, so it is stored per image. The operations dispatched in the same pass and by the step's
augmentation (views excluded) bound a step from below when each one costs a kernel launch. Counts live in ``benchmarks/flops.json``
(``python -m benchmarks.flops`` writes it; a test keeps it equal to a fresh count), and a kind not in it is
counted on the fly.

Seconds on the device class ``GPU`` are max(FLOPs / sustained throughput, operations x launch time): compute
and launches overlap in eager PyTorch, so whichever is larger paces the step. Where ``benchmarks/
gpu_times.json`` holds a measured step of that kind on a device of that class (``benchmarks/gpu.py`` writes
it), the measurement replaces the estimate, scaled linearly with the images as the CPU times are.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from . import data as D
from .augment import strong_augment, weak_augment
from .experiments import own_network
from .train import grokking, supervised
from .train.freematch import FreeMatchConfig

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
FLOPS = BENCHMARKS / "flops.json"
GPU_TIMES = BENCHMARKS / "gpu_times.json"
IMAGE_SIDE = {"fashion_mnist": 28, "cifar10": 32, "cifar100": 32, "stl10": 96}


@dataclass(frozen=True)
class DeviceClass:
    """A GPU class the plan states hours for, and the assumptions that turn counted work into seconds."""

    name: str
    match: str  # a measured device counts for this class when its name contains this
    sustained_flops: float  # floating-point operations per second a training step sustains
    launch_s: float  # seconds per dispatched operation when launches, not arithmetic, pace a step
    why: str


GPU = DeviceClass(
    name="NVIDIA H100 SXM",
    match="H100",
    sustained_flops=40e12,
    launch_s=10e-6,
    why=(
        "NVIDIA's H100 SXM datasheet gives 67 TFLOP/s FP32 and 495 TFLOP/s dense TF32 on tensor cores (989 "
        "with sparsity); PyTorch runs convolutions in TF32 through cuDNN by default, but convolutions of 16 to "
        "512 channels on maps of 32 x 32 and smaller, in NCHW order, leave tensor cores mostly idle, so the "
        "assumed 40 TFLOP/s (8 % of the TF32 peak) sits below even the FP32 peak. 10 us per dispatched "
        "operation is the order of an eager PyTorch operator's CPU overhead plus a kernel launch. Neither "
        "figure was measured (no device was lent to this session); bf16 autocast or channels_last would change "
        "both"
    ),
)


class _OpCounter(TorchDispatchMode):
    """Counts the operations dispatched (views, which launch no kernel, excluded)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops += not func.is_view
        return func(*args, **(kwargs or {}))


def _model_and_input(like: Any, n: int) -> tuple[torch.nn.Module, torch.Tensor, torch.optim.Optimizer]:
    """The model of a run config, ``n`` of its inputs and its optimizer, all on the meta device."""
    with torch.device("meta"):
        if isinstance(like, grokking.GrokConfig):
            model = grokking.make_model(like)
            x = torch.zeros(n, 3, dtype=torch.long)
            opt = torch.optim.AdamW(model.parameters(), lr=like.lr, weight_decay=like.weight_decay)
            return model, x, opt
        recipe = getattr(like, "recipe", None)
        dataset = recipe.dataset if recipe is not None else like.dataset
        side = IMAGE_SIDE[dataset]
        x = torch.zeros(n, len(D.STATS[dataset][0]), side, side)
        if recipe is None:  # chapter 08's own network
            model = own_network.build_model(D.NUM_CLASSES[dataset])
            return model, x, torch.optim.SGD(model.parameters(), lr=like.lr, momentum=like.momentum)
        model = supervised.make_model(recipe, 0)
        return model, x, supervised.make_optimizer(model, recipe)


def _augmentation(like: Any) -> Callable[[], object]:
    """The batch preparation of one step of ``like`` (augmentation and normalization, as the methods' ``step``)
    on a small random CPU batch: its operations, not its size, are what is counted."""
    recipe = getattr(like, "recipe", None)
    if recipe is None:
        return lambda: None  # grokking's pairs are fixed; chapter 08 only normalizes
    side, g = IMAGE_SIDE[recipe.dataset], torch.Generator().manual_seed(0)
    x = torch.randint(
        0, 256, (64, len(D.STATS[recipe.dataset][0]), side, side), generator=g, dtype=torch.uint8
    )
    if isinstance(like, FreeMatchConfig):
        views = (weak_augment, weak_augment, strong_augment)
        return lambda: D.normalize(torch.cat([view(x, g, pad=like.pad) for view in views]), recipe.dataset)
    return lambda: D.normalize(weak_augment(x, g) if like.augment else x, recipe.dataset)


def count(like: Any, n: int = 2) -> dict[str, float]:
    """FLOPs per image (sequence) of a training step of ``like`` (forward, backward and update, counted on ``n``
    inputs) and the operations one step dispatches (those of its augmentation included)."""
    flops, ops = FlopCounterMode(display=False), _OpCounter()
    # building a model seeds torch; the caller's random stream stays as it was
    with torch.random.fork_rng(devices=[]):
        model, x, opt = _model_and_input(like, n)
    with flops, ops:
        out = model(x)
        (out[0] if isinstance(out, tuple) else out).float().sum().backward()
        opt.step()
    with ops:
        _augmentation(like)()
    return {"flops_per_image": flops.get_total_flops() / n, "ops": ops.ops}


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


@cache
def _stored() -> dict:
    return _read(FLOPS).get("kinds", {})


def work(name: str, like: Any) -> dict[str, float]:
    """The counted work of the step kind ``name`` (from ``benchmarks/flops.json``, else counted now)."""
    return _stored().get(name) or _counted(name, like)


_COUNTED: dict[str, dict] = {}


def _counted(name: str, like: Any) -> dict:
    if name not in _COUNTED:
        _COUNTED[name] = count(like)
    return _COUNTED[name]


def measured(path: Path = GPU_TIMES, device: DeviceClass = GPU) -> dict:
    """Measured GPU steps of ``benchmarks/gpu_times.json`` by kind, when they were taken on ``device``'s class
    (an empty dict otherwise), and the file's device line."""
    found = _read(path)
    if device.match not in found.get("device", ""):
        return {}
    return found


def gpu_seconds(name: str, like: Any, images: int, times: dict | None = None) -> tuple[float, bool]:
    """Seconds of one step of kind ``name`` on ``images`` images on the ``GPU`` class, and whether it was
    measured (True) or estimated from counted work (False)."""
    entry = (times or {}).get("steps", {}).get(name)
    if entry is not None:
        return entry["step_s"] * images / entry["images"], True
    w = work(name, like)
    return max(w["flops_per_image"] * images / GPU.sustained_flops, w["ops"] * GPU.launch_s), False
