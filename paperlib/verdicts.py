"""What a claim check returns: the verdict word with the statistic, the threshold and the evidence behind it.

Checks are pure functions of result tables, written next to their experiment (``check_<ID>``) and unit-tested
on synthetic tables made to hold, to fail, to be inconclusive and to be underpowered; notebooks only print and
record them. The rule every empirical check follows (``Check.rule``): ``holds`` when the effect is in the
claimed direction and its 95 % interval excludes the null; ``fails`` when the interval excludes the claimed
effect; ``inconclusive`` otherwise, ``inconclusive (underpowered)`` when the paper's own effect is smaller than
what the seeds run can detect.

A claim with several parts (terms, metrics, settings, label counts) is composed from its parts' decisions as
its words say (``compose``: every part, any part, or most parts), each part's interval at the familywise level
``intervals.familywise(number of parts)`` (Bonferroni), so that "holds" and "fails" each keep their 5 %.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .intervals import Interval, familywise, largest_difference

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


@dataclass(frozen=True)
class Part:
    """One part of a claim, decided on its own interval (computed at the claim's familywise level).

    ``severity`` orders parts for the row's evidence: larger is further toward failing, best in units of the
    interval's half-width so that parts on different scales compare (``toward_failing``). ``note`` qualifies an undecided part
    ("underpowered"); ``null`` is the value its interval is judged against (the row's null when shown)."""

    name: str
    holds: bool
    fails: bool
    evidence: Interval | None = None
    severity: float = 0.0
    note: str = ""
    null: float | None = None

    @property
    def word(self) -> str:
        return "holds" if self.holds else ("fails" if self.fails else "inconclusive")


HOW = {
    "every": "holds when every part holds, fails when any part fails",
    "any": "holds when any part holds, fails when every part fails",
    "most": "holds when more than half of the parts hold, fails when half or more fail",
}


def compose(parts: Sequence[Part], how: str = "every") -> tuple[str, Part | None]:
    """The claim's verdict from its parts' decisions as its words say (``HOW``), and the part to show: among
    the parts decided as the claim is (the undecided ones when it is inconclusive), the most severe, so a
    "holds" row shows its weakest part and a "fails" row a part that fails. No parts: inconclusive.

    With every part's interval at ``intervals.familywise(len(parts))`` a false "holds" and a false "fails" each
    stay below 5 % under any of the three rules (Bonferroni bounds the union over the parts)."""
    if how not in HOW:
        raise ValueError(f"how must be one of {sorted(HOW)}, got {how!r}")
    if not parts:
        return "inconclusive", None
    n, held, failed = len(parts), sum(p.holds for p in parts), sum(p.fails and not p.holds for p in parts)
    if how == "every":
        verdict = "holds" if held == n else ("fails" if failed else "inconclusive")
    elif how == "any":
        verdict = "holds" if held else ("fails" if failed == n else "inconclusive")
    else:
        verdict = "holds" if held > n / 2 else ("fails" if failed >= n / 2 else "inconclusive")
    shown = [p for p in parts if p.word == verdict] or list(parts)
    return verdict, max(shown, key=lambda p: p.severity if math.isfinite(p.severity) else -math.inf)


def composed(
    claim_id: str,
    parts: Sequence[Part],
    how: str,
    statistic: str,
    threshold: str,
    *,
    note: str = "",
    intervals: int | None = None,
    **evidence,
) -> Check:
    """A claim's Check from its parts (``compose``): the shown part's interval as the row's evidence, the
    composition and the familywise level in the threshold, each part's word and interval in
    ``numbers['parts']``; ``note`` (else the undecided parts' notes) qualifies an inconclusive row; the row's
    null is the shown part's unless ``evidence`` gives one; ``intervals`` is the number of intervals behind
    the parts where parts are themselves composed (default: one per part). ``evidence`` takes ``Check.rule``'s other keywords
    and the numbers behind the statistic."""
    verdict, shown = compose(parts, how)
    count = intervals if intervals is not None else len(parts)
    level = familywise(max(1, count))
    if not note:
        note = "; ".join(dict.fromkeys(p.note for p in parts if p.note and p.word == "inconclusive"))
    words = {p.name: [p.word, *(_interval_numbers(p.evidence))] for p in parts}
    evidence.setdefault("null", shown.null if shown else None)
    return Check.rule(
        claim_id,
        verdict == "holds",
        verdict == "fails",
        statistic,
        f"{threshold}; {HOW[how]}, each interval at {100 * level:.4g} % (Bonferroni over {count})",
        evidence=shown.evidence if shown else None,
        note=note,
        parts=words,
        **evidence,
    )


def toward_failing(interval: Interval, bound: float, side: int) -> float:
    """How far ``interval`` lies toward failing a claim that it lies above (``side`` +1) or below (-1)
    ``bound``, in half-widths: the distance from ``bound`` to the interval's end on the wrong side, negative
    while that end is clear of it (so a holding part closer to its bound is more severe). An undefined interval
    gives -inf (a part with an interval is shown first)."""
    if not interval.defined:
        return -math.inf
    half = (interval.high - interval.low) / 2
    end = interval.low if side > 0 else interval.high
    return side * (bound - end) / half if half > 0 else -math.inf


def _interval_numbers(i: Interval | None) -> list:
    return [i.estimate, *i.as_list()] if i is not None else [None, None, None]


def change_part(name: str, interval: Interval, margin: float) -> Part:
    """One metric of "changes little": holds when the range interval's upper end is within ``margin``, fails
    when its lower end exceeds it; an interval without bounds decides nothing (note 'no seed spread'), and an
    undecided one notes how far its seeds resolve (the half-width: the smallest margin they could confirm)."""
    if not interval.defined:
        note = "no seed spread"
    else:
        note = f"{name} resolved to +-{(interval.high - interval.low) / 2:.3f} at these seeds"
    return Part(
        name,
        interval.defined and interval.high <= margin,
        interval.above(margin),
        interval,
        toward_failing(interval, margin, -1),
        note,
        margin,
    )


def change_parts(
    groups: Mapping[tuple[str, str], Mapping], margins: Mapping[str, float], level: float
) -> list[Part]:
    """The "changes little" parts of ``groups`` ((setting, metric) -> level -> per-seed values, a mapping seed
    -> value where the levels share seeds), each a range interval at ``level``
    (``intervals.largest_difference``) against ``margins[metric]``."""
    return [
        change_part(f"{s + ' ' if s else ''}{m}", largest_difference(dict(values), level), margins[m])
        for (s, m), values in groups.items()
    ]


def little_change(
    claim_id: str,
    groups: Mapping[tuple[str, str], Mapping],
    margins: Mapping[str, float],
    what: str,
    **numbers,
) -> Check:
    """The "changes little" rule of S1 (and P1's second part): for every (setting, metric) of ``groups`` the
    range of the level means gets Tukey's simultaneous interval (seed-blocked where the levels share seeds) at
    the familywise level over all of them; holds when every upper end is within its margin, fails when a lower
    end exceeds its margin (a change larger than the margin beyond seed noise), inconclusive otherwise, noting
    how far the seeds resolve or that there is no seed spread."""
    parts = change_parts(groups, margins, familywise(max(1, len(groups))))
    return composed(
        claim_id,
        parts,
        "every",
        change_text(parts, what),
        change_threshold(margins),
        largest_difference={p.name: _interval_numbers(p.evidence) for p in parts},
        **numbers,
    )


def change_text(parts: Sequence[Part], what: str) -> str:
    """'range of smoothing-level means: acc 0.004 [-0.003, 0.012]; ...'."""
    text = "; ".join(f"{p.name} {p.evidence.text(3)}" for p in parts if p.evidence is not None)
    return f"range of {what} means: {text}" if text else "no runs"


def change_threshold(margins: Mapping[str, float]) -> str:
    """The margins of "changes little" as the row states them."""
    return (
        "upper end of each range interval within its margin ("
        + ", ".join(f"{m} {v}" for m, v in margins.items())
        + ")"
    )


def value_range(frame: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """max - min (per column of a frame): the spread several checks bound."""
    return frame.max() - frame.min()
