"""Seeded random generators. Data order, augmentation, splits and synthetic draws come from one of these;
the global torch RNG is seeded only to initialize a model's weights (``make_model``), and the trainers
checkpoint its state with theirs."""

from __future__ import annotations

import torch


def generator(seed: int | None) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed`` (``None`` means 0)."""
    return torch.Generator().manual_seed(0 if seed is None else int(seed))
