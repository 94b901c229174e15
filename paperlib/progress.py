"""One progress bar for the whole library: shown on a terminal or in a notebook, silent in CI and tests."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TypeVar

from tqdm.std import tqdm

T = TypeVar("T")


def quiet() -> bool:
    """True when progress output would only be noise: CI, tests, or PAPERLIB_QUIET=1."""
    return any(os.environ.get(k, "").lower() not in ("", "0", "false") for k in ("CI", "PAPERLIB_QUIET"))


def progress(iterable: Iterable[T], desc: str = "", total: int | None = None, **kwargs) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar unless ``quiet()``."""
    return tqdm(iterable, desc=desc, total=total, disable=quiet(), leave=False, **kwargs)
