"""What a claim check returns: the verdict word with the statistic, the threshold and the evidence behind it.

Checks are pure functions of result tables, written next to their experiment (``check_<ID>``) and unit-tested
on synthetic tables made to hold, to fail, to be inconclusive and to be underpowered; notebooks only print and
record them. The rule every empirical check follows (``Check.rule``): ``holds`` when the effect is in the
claimed direction and its 95 % interval excludes the null; ``fails`` when the interval excludes the claimed
effect; ``inconclusive`` otherwise, ``inconclusive (underpowered)`` when the paper's own effect is smaller than
what the seeds run can detect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .intervals import Interval

VERDICTS = ("holds", "fails", "inconclusive")


def decide(ok: bool, inconclusive: bool = False) -> str:
    """The verdict word for a pre-registered test: inconclusive wins, then holds / fails."""
    return "inconclusive" if inconclusive else ("holds" if ok else "fails")


@dataclass(frozen=True)
class Check:
    """One claim's decision and its evidence.

    ``estimate`` is the deciding quantity and ``interval`` its 95 % interval ([low, high], None where the
    data give none) computed as ``method`` says; ``null`` is the value the claim is tested against (a null or a
    baseline); ``paper`` the paper's own number where it gives one; ``exact`` the exact dataset-level value
    where the verdict is decided on the paper's batch mean; ``note`` qualifies an inconclusive verdict
    ("underpowered", "confounded"). ``numbers`` holds the values the statistic was computed from (JSON-able).
    """

    id: str
    verdict: str
    statistic: str
    threshold: str
    numbers: dict[str, Any] = field(default_factory=dict)
    estimate: float | None = None
    interval: list | None = None
    method: str = ""
    null: float | None = None
    paper: str = ""
    exact: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    @property
    def label(self) -> str:
        """The verdict as the scorecard shows it: 'inconclusive (underpowered)' carries its note."""
        return (
            f"{self.verdict} ({self.note})" if self.note and self.verdict == "inconclusive" else self.verdict
        )

    @classmethod
    def of(
        cls, claim_id: str, ok: bool, statistic: str, threshold: str, inconclusive: bool = False, **evidence
    ) -> Check:
        """A two-way check (see ``decide``): ``rule`` with holds = ok and fails = not ok, unless
        ``inconclusive``; ``evidence`` takes ``rule``'s keywords and the numbers behind the statistic."""
        decided = not inconclusive
        return cls.rule(claim_id, decided and bool(ok), decided and not ok, statistic, threshold, **evidence)

    @classmethod
    def rule(
        cls,
        claim_id: str,
        holds: bool,
        fails: bool,
        statistic: str,
        threshold: str,
        *,
        evidence: Interval | None = None,
        null: float | None = None,
        paper: str = "",
        exact: str = "",
        note: str = "",
        **numbers,
    ) -> Check:
        """The three-way rule: ``holds`` (effect claimed, interval clear of the null) wins, then ``fails``
        (interval clear of the claimed effect), else inconclusive with ``note`` (kept only then)."""
        verdict = "holds" if holds else ("fails" if fails else "inconclusive")
        note = note if verdict == "inconclusive" else ""
        return cls(
            claim_id,
            verdict,
            statistic,
            threshold,
            _plain(numbers),
            **_evidence(evidence, null, paper, exact, note),
        )


def _evidence(evidence: Interval | None, null, paper: str, exact: str, note: str) -> dict:
    out = dict(null=_plain(null), paper=paper, exact=exact, note=note)
    if evidence is not None:
        out.update(estimate=_plain(evidence.estimate), interval=evidence.as_list(), method=evidence.method)
    return out


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


def little_change(claim_id: str, diffs: dict, margins: dict[str, float], what: str, **numbers) -> Check:
    """The "changes little" rule shared by S1 and P1. ``diffs`` maps (setting, metric) to the interval of the
    largest difference between level means (``intervals.largest_difference``). Holds when, for every metric,
    the upper end of that interval is within its margin; fails when a lower end exceeds its margin (a change larger than the margin beyond seed noise); inconclusive otherwise (the
    interval straddles the margin, or fewer than two seeds per level give no interval)."""
    holds = bool(diffs) and all(i.defined and i.high <= margins[m] for (_, m), i in diffs.items())
    fails = any(i.defined and i.low > margins[m] for (_, m), i in diffs.items())
    worst = max(diffs.items(), key=lambda kv: kv[1].estimate / margins[kv[0][1]], default=(None, None))
    text = "; ".join(f"{s + ': ' if s else ''}{m} {i.text(3)}" for (s, m), i in diffs.items())
    return Check.rule(
        claim_id,
        holds,
        fails,
        f"largest difference between {what} means: {text}" if text else "no runs",
        "upper end of each interval within its margin ("
        + ", ".join(f"{m} {v}" for m, v in margins.items())
        + ")",
        evidence=worst[1],
        null=margins[worst[0][1]] if worst[0] else None,
        note="" if all(i.defined for i in diffs.values()) else "no seed spread",
        largest_difference={f"{s} {m}": [i.estimate, *i.as_list()] for (s, m), i in diffs.items()},
        **numbers,
    )


def value_range(frame: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """max - min (per column of a frame): the spread several checks bound."""
    return frame.max() - frame.min()
