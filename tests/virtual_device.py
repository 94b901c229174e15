"""A simulated second device for the tests: ``distributed.device()`` answers ``VIRTUAL`` (``cpu:0``, a device
object that differs from plain ``cpu`` yet computes on the CPU), and a ``TorchFunctionMode`` marks every tensor
that reached it, so a path that forgets ``.to(device)`` is found on a machine without a GPU
(``tests/test_device.py`` explains the rules and proves that they catch it)."""

from __future__ import annotations

import weakref

import pytest
import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from paperlib import distributed

VIRTUAL = torch.device("cpu", 0)
_PLAIN_CPU = torch.device("cpu")
# operations a GPU allows between a device tensor and a CPU one (CPU indices, cross-device copies)
_MIXING_ALLOWED = {
    torch.Tensor.__getitem__,
    torch.Tensor.__setitem__,
    torch.Tensor.copy_,
    torch.Tensor.to,
    torch._has_compatible_shallow_copy_type,
}


class VirtualDevice(TorchFunctionMode):
    """Marks tensors placed on ``VIRTUAL`` and what is computed from them (module docstring); ``problems``
    collects every place where a GPU run would have found a CPU tensor."""

    def __init__(self) -> None:
        super().__init__()
        self._placed: weakref.WeakValueDictionary[int, torch.Tensor] = weakref.WeakValueDictionary()
        self.problems: list[str] = []

    def placed(self, t: torch.Tensor) -> bool:
        return self._placed.get(id(t)) is t

    def mark(self, out, placed: bool, inputs: tuple = ()):
        """``out`` with each tensor marked; a tensor that must change its mark but is one of the ``inputs``
        (``.to`` onto its own device returns it) is replaced by an alias, so the input keeps its own mark."""
        leaves, spec = tree_flatten(out)
        given = {id(t) for t in tree_flatten(inputs)[0]}
        fresh = []
        for t in leaves:
            if isinstance(t, torch.Tensor):
                if id(t) in given and self.placed(t) != placed:
                    t = t.view_as(t)
                if placed:
                    self._placed[id(t)] = t
                else:
                    self._placed.pop(id(t), None)
            fresh.append(t)
        return spec.unflatten(fresh)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func == torch.Tensor.device.__get__:
            return VIRTUAL if self.placed(args[0]) else _PLAIN_CPU
        if func == torch.Tensor.data.__set__:  # ``module.to`` moves a Parameter by swapping its data
            func(*args, **kwargs)
            self.mark(args[0], self.placed(args[1]))
            return None
        if func is torch.Tensor.__deepcopy__:  # a copy stays where the original is
            return self.mark(func(*args, **kwargs), self.placed(args[0]))
        target = _target(func, args, kwargs)
        out = func(*args, **kwargs)
        if target is not None:
            return self.mark(out, target == VIRTUAL, args)
        tensors = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        marked = [self.placed(t) for t in tensors]
        if any(marked):
            stray = [tuple(t.shape) for t, m in zip(tensors, marked, strict=True) if not m and t.dim() > 0]
            if stray and func not in _MIXING_ALLOWED:
                self.problems.append(f"{_name(func)} mixes device tensors with CPU tensors of shapes {stray}")
            return self.mark(out, True, args)
        return out


def _name(func) -> str:
    return getattr(func, "__qualname__", getattr(func, "__name__", repr(func)))


def _target(func, args, kwargs) -> torch.device | None:
    """Where ``func`` puts its result when it says so (``.to``, ``.cpu``, ``device=``), else None."""
    if func is torch.Tensor.to:
        device = torch._C._nn._parse_to(*args[1:], **kwargs)[0]
        return None if device is None else torch.device(device)
    if func is torch.Tensor.cpu:
        return _PLAIN_CPU
    if kwargs.get("device") is not None:
        return torch.device(kwargs["device"])
    return None


class Simulation:
    """``VirtualDevice`` with a forward pre-hook on every module and a record of who asked for the device."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.mode, self.asked = VirtualDevice(), 0
        monkeypatch.setattr(distributed, "device", self._device)
        deepcopy = torch.nn.Parameter.__deepcopy__

        def copied(param, memo):  # a Parameter's deepcopy builds a new object around a clone: keep its mark
            return self.mode.mark(deepcopy(param, memo), self.mode.placed(param))

        monkeypatch.setattr(torch.nn.Parameter, "__deepcopy__", copied)

    def _device(self) -> torch.device:
        self.asked += 1
        return VIRTUAL

    def _check(self, module: torch.nn.Module, inputs: tuple) -> None:
        name = type(module).__name__
        for kind, items in (
            ("parameter", module.named_parameters(recurse=False)),
            ("buffer", module.named_buffers(recurse=False)),
        ):
            self.mode.problems += [
                f"{name}.{k}: {kind} on the CPU"
                for k, t in items
                if t is not None and not self.mode.placed(t)
            ]
        self.mode.problems += [
            f"{name}: input of shape {tuple(t.shape)} on the CPU"
            for t in tree_flatten(inputs)[0]
            if isinstance(t, torch.Tensor) and not self.mode.placed(t)
        ]

    def __enter__(self) -> Simulation:
        self.hook = torch.nn.modules.module.register_module_forward_pre_hook(self._check)
        self.mode.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.mode.__exit__(*exc)
        self.hook.remove()
