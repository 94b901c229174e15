"""Models: every one returns ``(logits, features)`` and exposes its classification heads as ``head_weight``."""

from __future__ import annotations

from torch import nn

from .wrn import WideResNet

# name -> (constructor keyword arguments); "wrn-10-1" etc. are the small CPU nets for 28x28x1 images.
ARCHITECTURES: dict[str, dict] = {
    "wrn-28-2": dict(depth=28, widen_factor=2),
    "wrn-28-8": dict(depth=28, widen_factor=8),
    "wrn-37-2": dict(depth=28, widen_factor=2, groups=4, first_stride=2),  # USB's wrn_var_37_2
    "wrn-10-1": dict(depth=10, widen_factor=1),
    "wrn-16-1": dict(depth=16, widen_factor=1),
    "wrn-10-2": dict(depth=10, widen_factor=2),
}


def build(name: str, num_classes: int, in_channels: int = 3) -> nn.Module:
    """A model by name (see ``ARCHITECTURES``)."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(ARCHITECTURES)}")
    return WideResNet(num_classes, in_channels=in_channels, **ARCHITECTURES[name])
