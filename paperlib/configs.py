"""Every experiment's settings under each profile, in one place where tests can reach them.

``get(experiment, profile, **overrides)`` returns a frozen dataclass; an unknown experiment, profile or
override key is a ``ValueError`` that lists what exists.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

PROFILES = ("smoke", "cpu", "paper")


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


_REGISTRY: dict[str, dict[str, dict]] = {
    "nc_theory": {
        "smoke": {},
        "cpu": dict(per_class=20, range_draws_per_kind=400, regression_draws=1000),
        "paper": dict(per_class=50, range_draws_per_kind=1000, regression_draws=2000),
    },
}
_CLASSES = {"nc_theory": NCTheory}


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
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ValueError(f"unknown setting(s) {unknown} for {experiment}; settings are {sorted(names)}")
    return cls(**{**_REGISTRY[experiment][profile], **overrides})
