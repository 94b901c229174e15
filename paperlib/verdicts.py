"""What a claim check returns: the verdict word with the statistic, the threshold and the numbers behind it.

Checks are pure functions of result tables, written next to their experiment (``check_<ID>``) and unit-tested
on synthetic tables made to hold, to fail and to be inconclusive; notebooks only print and record them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

VERDICTS = ("holds", "fails", "inconclusive")


def decide(ok: bool, inconclusive: bool = False) -> str:
    """The verdict word for a pre-registered test: inconclusive wins, then holds / fails."""
    return "inconclusive" if inconclusive else ("holds" if ok else "fails")


@dataclass(frozen=True)
class Check:
    """One claim's decision. ``numbers`` holds the values the statistic was computed from (JSON-able)."""

    id: str
    verdict: str
    statistic: str
    threshold: str
    numbers: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    @classmethod
    def of(
        cls, claim_id: str, ok: bool, statistic: str, threshold: str, inconclusive: bool = False, **numbers
    ) -> Check:
        """A check from a boolean outcome (see ``decide``) and the numbers behind it."""
        return cls(claim_id, decide(bool(ok), inconclusive), statistic, threshold, _plain(numbers))


def _plain(obj: Any) -> Any:
    """Numbers as plain Python values (numpy scalars and NaN become float / None) so they serialize as JSON."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, bool | str) or obj is None:
        return obj
    if hasattr(obj, "item"):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def value_range(frame: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """max - min (per column of a frame): the spread several checks bound."""
    return frame.max() - frame.min()
