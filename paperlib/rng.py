"""Seeded random generators: every random draw in the library comes from one of these, never the global RNG."""

from __future__ import annotations

import torch


def generator(seed: int | None) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with ``seed`` (``None`` means 0)."""
    return torch.Generator().manual_seed(0 if seed is None else int(seed))
