"""95 % intervals and the smallest effect a set of seeds can detect: the noise model behind every verdict.

Seeds are independent repetitions, so an estimate averaged over seeds gets Student's t interval, and a
difference between two methods run with the same seeds gets the paired t interval (same initialization and
data order on both sides, so seed-to-seed variation cancels). A correlation over the evaluation points of one
run gets the Fisher-z interval with the Spearman variance correction 1.06 / (n - 3) (Fieller, Hartley and
Pearson, 1957). Where there are fewer than two seeds (or four points) there is no interval: NaN bounds, and a
check that needs one is inconclusive. Values without spread (fewer than two distinct values) give no interval
either: a zero-width interval would decide with a certainty that three equal numbers do not carry.

A claim decided on several parts keeps its familywise level through ``familywise(parts)``: each part's
interval is computed at 1 - 0.05 / parts (Bonferroni), so "holds" (every part) and "fails" (any part) each
keep an error rate of at most 5 %.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95 % interval and how the interval was computed (``n`` values behind it)."""

    estimate: float
    low: float
    high: float
    n: int
    method: str

    @property
    def defined(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    def above(self, value: float) -> bool:
        """The whole interval lies above ``value`` (False when the interval is undefined)."""
        return self.defined and self.low > value

    def below(self, value: float) -> bool:
        """The whole interval lies below ``value`` (False when the interval is undefined)."""
        return self.defined and self.high < value

    def text(self, digits: int = 3) -> str:
        """'0.412 [0.390, 0.431]', or the estimate alone when there is no interval."""
        if not self.defined:
            return f"{self.estimate:.{digits}f} (no interval: n = {self.n})"
        return f"{self.estimate:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"

    def as_list(self) -> list[float | None]:
        """[low, high] with None for an undefined bound (JSON)."""
        return [v if math.isfinite(v) else None for v in (self.low, self.high)]


def familywise(parts: int, level: float = LEVEL) -> float:
    """The per-part confidence level that keeps ``level`` over ``parts`` intervals (Bonferroni)."""
    if parts < 1:
        raise ValueError(f"a claim has at least one part, got {parts}")
    return 1 - (1 - level) / parts


def _pct(level: float) -> str:
    return "" if level == LEVEL else f" ({100 * level:.4g} %)"


def _values(values: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.asarray([float(v) for v in values], dtype=float)


def mean_interval(
    values: Sequence[float] | np.ndarray, what: str = "seeds", level: float = LEVEL
) -> Interval:
    """The mean of ``values`` with Student's t interval at ``level`` (NaN bounds with fewer than two values, a
    NaN, or no spread: fewer than two distinct values)."""
    x = _values(values)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    if n < 2 or not np.isfinite(x).all():
        return Interval(mean, math.nan, math.nan, n, f"t interval over {what}")
    if np.unique(x).size < 2:
        return Interval(mean, math.nan, math.nan, n, f"no interval: no spread over {n} {what}")
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return Interval(mean, mean - half, mean + half, n, f"t interval over {n} {what}{_pct(level)}")


def paired_interval(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Interval:
    """Mean of the per-seed differences a - b with the paired t interval (``a``, ``b`` in seed order)."""
    if len(a) != len(b):
        raise ValueError(f"paired values need the same seeds on both sides, got {len(a)} and {len(b)}")
    d = _values(a) - _values(b)
    out = mean_interval(d, level=level)
    return Interval(
        out.estimate, out.low, out.high, out.n, out.method.replace("t interval", "paired t interval")
    )


def spearman_interval(x: Sequence[float], y: Sequence[float]) -> Interval:
    """Spearman's rho of ``x`` and ``y`` with the Fisher-z interval, variance 1.06 / (n - 3).

    Undefined (NaN estimate) with fewer than three points or a constant series; NaN bounds below four."""
    a, b = _values(x), _values(y)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    n = len(a)
    if n < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return Interval(math.nan, math.nan, math.nan, n, "Fisher-z interval")
    rho = float(stats.spearmanr(a, b)[0])
    if n < 4:
        return Interval(rho, math.nan, math.nan, n, "Fisher-z interval")
    z, se = math.atanh(max(min(rho, 1 - 1e-12), -1 + 1e-12)), math.sqrt(1.06 / (n - 3))
    q = float(stats.norm.ppf(0.5 + LEVEL / 2))
    return Interval(
        rho, math.tanh(z - q * se), math.tanh(z + q * se), n, f"Fisher-z interval over {n} points"
    )


def detectable(sd: float, n: int, power: float = 0.8) -> float:
    """The smallest true mean difference that a two-sided paired t test at 5 % detects with ``power``, given
    the sd of the per-seed differences and ``n`` seeds: (t_0.975 + t_power) * sd / sqrt(n) (NaN for n < 2)."""
    if n < 2 or not math.isfinite(sd):
        return math.nan
    t = stats.t.ppf(0.5 + LEVEL / 2, n - 1) + stats.t.ppf(power, n - 1)
    return float(t * sd / math.sqrt(n))


def batch_interval(mean: float, sd: float, batches: int) -> Interval:
    """The 95 % t interval of a batch mean from the sd of the per-batch values (batches as the repetitions)."""
    if batches < 2 or not (math.isfinite(mean) and math.isfinite(sd)):
        return Interval(mean, math.nan, math.nan, batches, "t interval over batches")
    half = float(stats.t.ppf(0.5 + LEVEL / 2, batches - 1) * sd / math.sqrt(batches))
    return Interval(mean, mean - half, mean + half, batches, f"t interval over {batches} batches")


def largest_difference(values: dict[object, Sequence[float]]) -> Interval:
    """The largest difference between the group means of ``values`` (group -> per-seed values), with a 95 % t
    interval from the pooled within-group (seed-to-seed) sd: diff +- t(N - k) * s * sqrt(1/n_a + 1/n_b).

    Used for "changes little across a setting" (smoothing level, sparsity): the change is judged against the
    seed-to-seed spread through the interval's width. The pair is the one with the largest observed
    difference, so the estimate leans high: that makes "changes little" harder to accept, never easier."""
    groups = {k: _values(v) for k, v in values.items() if len(v)}
    if len(groups) < 2 or any(not np.isfinite(v).all() for v in groups.values()):
        return Interval(math.nan, math.nan, math.nan, 0, "pooled t interval over seeds")
    means = {k: float(v.mean()) for k, v in groups.items()}
    hi, lo = max(means, key=means.get), min(means, key=means.get)
    diff = means[hi] - means[lo]
    n_total, k = sum(len(v) for v in groups.values()), len(groups)
    dof = n_total - k
    if dof < 1:
        return Interval(diff, math.nan, math.nan, n_total, "pooled t interval over seeds")
    pooled = math.sqrt(sum(float(((v - v.mean()) ** 2).sum()) for v in groups.values()) / dof)
    half = float(
        stats.t.ppf(0.5 + LEVEL / 2, dof) * pooled * math.sqrt(1 / len(groups[hi]) + 1 / len(groups[lo]))
    )
    n_seeds = max(len(v) for v in groups.values())
    return Interval(
        diff, max(diff - half, 0.0), diff + half, n_total, f"pooled t interval, {n_seeds} seeds per level"
    )
