"""``InterplayMetric``: the exact dataset-level MIR, HDR, MI and entropies as a torchmetrics ``Metric``.

Its states are the per-class float64 sums of ``paperlib.streaming`` (C x d x d second moments and C counts), so
torchmetrics' own synchronisation adds them across processes (``dist_reduce_fx="sum"``), Lightning moves them
with the module, and a ``MetricCollection`` flattens its dict result next to other metrics.
"""

from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import nn
from torchmetrics import Metric

from ..streaming import MAX_JOINT, add_moments, measure_moments, prepare_batch, unit_heads

__all__ = ["InterplayMetric"]


class InterplayMetric(Metric):
    """``interplay(all_features, heads, all_targets)`` accumulated by ``update(features, target)``.

    ``heads``: the classifier, an ``nn.Linear`` whose weight rows are read at each ``compute`` (so the value
    follows training; only a weak reference is kept, the metric never owns or moves the model), or a fixed
    (C, d) tensor. ``update(features, target)`` takes the penultimate features (b, d) and integer targets (b,)
    (torchmetrics' name, so that a ``MetricCollection`` can pass ``target`` to every metric and ``features``
    only to this one). ``compute()`` returns a dict of 0-dim float64 tensors with ``interplay``'s keys
    ``mir``, ``hdr``, ``mi``, ``h_features``, ``h_heads``, ``h_joint``; in Lightning, log it with
    ``self.log_dict(metric.compute())`` at the end of the epoch (``self.log`` takes single values only).
    Calling the metric (``forward``) also measures the batch alone, which raises ``UndefinedRatio`` for a
    batch of one class or one row: in loops, call ``update``.

    Memory: C d^2 + C float64 numbers on the metric's device, whatever the number of rows. ``compute`` solves
    eigenvalue problems of size d, C and d r (r = rank of the heads); above ``max_joint`` it raises a
    ValueError with the sizes before allocating, naming the n x n route of ``paperlib.metrics.interplay`` when
    that is smaller. Errors of ``update`` and ``compute`` are ``interplay``'s (labels out of range, zero rows,
    NaN, an undefined ratio as ``paperlib.metrics.UndefinedRatio``).
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    def __init__(
        self, heads: nn.Linear | torch.Tensor, *, max_joint: int | None = MAX_JOINT, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(heads, nn.Linear):
            self._linear = weakref.ref(heads)
            weight = heads.weight
        elif isinstance(heads, torch.Tensor) and heads.dim() == 2:
            self._linear = None
            self.register_buffer("_heads", heads.detach().clone(), persistent=False)
            weight = heads
        else:
            raise TypeError(
                f"heads must be the classifier's nn.Linear or a (C, d) tensor of its weight rows, got "
                f"{type(heads).__name__}{tuple(heads.shape) if isinstance(heads, torch.Tensor) else ''}"
            )
        self.num_classes, self.num_features = weight.shape
        if self.num_classes < 2:
            raise ValueError(f"heads must have at least two rows (classes), got {self.num_classes}")
        self.max_joint = max_joint
        c, d = self.num_classes, self.num_features
        self.add_state("moments", torch.zeros(c, d, d, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("counts", torch.zeros(c, dtype=torch.float64), dist_reduce_fx="sum")

    def heads(self) -> torch.Tensor:
        """The weight rows ``compute`` uses now."""
        if self._linear is None:
            return self._heads
        linear = self._linear()
        if linear is None:
            raise RuntimeError(
                "the nn.Linear given as heads no longer exists; make the metric with a live module"
            )
        return linear.weight

    def update(self, features: torch.Tensor, target: torch.Tensor) -> None:
        """Add a batch: features (b, d) and integer class targets (b,)."""
        z, y = prepare_batch(features, target, self.num_classes, self.num_features, int(self.counts.sum()))
        if z.shape[0]:
            add_moments(self.moments, self.counts, z.to(self.moments.device), y.to(self.moments.device))

    def compute(self) -> dict[str, torch.Tensor]:
        """``interplay``'s six values over every row added (on every process, once synchronised)."""
        w = unit_heads(self.heads(), self.num_classes, self.num_features, self.moments.device)
        out = measure_moments(self.moments, self.counts, w, self.max_joint)
        return {
            key: torch.tensor(value, dtype=torch.float64, device=self.moments.device)
            for key, value in out.items()
        }
