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

"Changes little across a setting" bounds the range of the level means (``largest_difference``): choosing the
largest of several differences needs a simultaneous interval (Tukey's studentized range), and levels run with
the same seeds (same initialization and data order at every level) are blocked by seed, so the seed-to-seed
variation common to all levels cancels as it does in a paired interval.

Provenance of the constants (the first cpu build ran on 2026-11-28; its times are in commit 5d763d5):
``LEVEL`` 0.95 and the 80 % power of ``detectable`` were set on 2026-11-29 (commit 056e9c8), after the first
cpu build, as the design's convention (DESIGN.md, Verdicts), not from its numbers.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

LEVEL = 0.95  # set 2026-11-29, after the first cpu build (2026-11-28): the design's 95 %, not a tuned value
POWER = 0.8  # set 2026-11-29, after the first cpu build: the conventional 80 % power of ``detectable``


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
    if _no_spread(x - mean, x):  # equal values, or equal up to round-off (differences of equal steps)
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

    Undefined (NaN estimate) with fewer than three points or a constant series; NaN bounds below four points
    and for a rho of exactly +-1, where the Fisher z is infinite and the interval would have no width."""
    a, b = _values(x), _values(y)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    n = len(a)
    if n < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return Interval(math.nan, math.nan, math.nan, n, "Fisher-z interval")
    rho = float(stats.spearmanr(a, b)[0])
    if n < 4:
        return Interval(rho, math.nan, math.nan, n, "Fisher-z interval")
    if abs(rho) >= 1 - 1e-12:  # z = atanh(rho) is infinite: the interval would collapse onto [1, 1]
        return Interval(rho, math.nan, math.nan, n, f"no interval: rank correlation of exactly {rho:+.0f}")
    z, se = math.atanh(rho), math.sqrt(1.06 / (n - 3))
    q = float(stats.norm.ppf(0.5 + LEVEL / 2))
    return Interval(
        rho, math.tanh(z - q * se), math.tanh(z + q * se), n, f"Fisher-z interval over {n} points"
    )


def _power(ncp: float, df: int, level: float) -> float:
    """Power of the two-sided one-sample t test at ``level`` with ``df`` degrees of freedom and noncentrality
    ``ncp`` (the lower tail's term, negligible where scipy returns NaN, counts as 0)."""
    t = stats.t.ppf(0.5 + level / 2, df)
    lower = float(stats.nct.cdf(-t, df, ncp))
    return float(stats.nct.sf(t, df, ncp)) + (lower if math.isfinite(lower) else 0.0)


def detectable(sd: float, n: int, power: float = POWER, level: float = LEVEL) -> float:
    """The smallest true mean difference that the two-sided paired t test at ``level`` detects with ``power``,
    given the sd of the per-seed differences and ``n`` seeds: delta = ncp * sd / sqrt(n), with ncp solved from
    the exact noncentral t (scipy.stats.nct). The approximation (t_0.975 + t_power) sd / sqrt(n) is 5 % too
    small at three seeds. The sd is the observed one (n - 1 degrees of freedom), so the result is itself an
    estimate. NaN for n < 2 or an undefined sd."""
    if n < 2 or not math.isfinite(sd):
        return math.nan
    df = n - 1
    high = float(stats.t.ppf(0.5 + level / 2, df) + stats.t.ppf(power, df))
    while _power(high, df, level) < power:
        high *= 2
    ncp = optimize.brentq(lambda x: _power(x, df, level) - power, 0.0, high, xtol=1e-10)
    return float(ncp * sd / math.sqrt(n))


def batch_interval(mean: float, sd: float, batches: int) -> Interval:
    """The 95 % t interval of a batch mean from the sd of the per-batch values (batches as the repetitions)."""
    if batches < 2 or not (math.isfinite(mean) and math.isfinite(sd)):
        return Interval(mean, math.nan, math.nan, batches, "t interval over batches")
    half = float(stats.t.ppf(0.5 + LEVEL / 2, batches - 1) * sd / math.sqrt(batches))
    return Interval(mean, mean - half, mean + half, batches, f"t interval over {batches} batches")


@functools.lru_cache(maxsize=256)
def _range_quantile(level: float, k: int, df: int) -> float:
    """The ``level`` quantile of the studentized range of ``k`` means with ``df`` degrees of freedom."""
    return float(stats.studentized_range.ppf(level, k, df))


def _seed_blocked(groups: dict) -> np.ndarray | None:
    """Levels x seeds when every level maps the same seeds to values (a dict or a Series indexed by seed)."""
    if not all(hasattr(v, "keys") for v in groups.values()):
        return None
    seeds = [sorted(v.keys()) for v in groups.values()]
    if any(s != seeds[0] for s in seeds):
        return None
    return np.asarray([[float(v[s]) for s in seeds[0]] for v in groups.values()], dtype=float)


def largest_difference(
    values: dict[object, Sequence[float] | Mapping[object, float]], level: float = LEVEL
) -> Interval:
    """The range of the level means of ``values`` (level -> per-seed values), max - min, with a simultaneous
    interval at ``level``: Tukey's studentized range covers every pairwise difference at once, so it covers
    the range whichever pair turns out largest (an ordinary t interval on the largest pair does not: choosing
    the largest makes its lower end too high).

    Levels given as mappings seed -> value with the same seeds (the levels share initialization and data
    order) are blocked by seed: the residual sd of the two-way levels x seeds table, (k - 1)(n - 1) degrees of
    freedom, range +- q(k, df) * s / sqrt(n). Levels given as plain sequences are independent samples:
    Tukey-Kramer with the pooled within-level sd, N - k degrees of freedom, lower end max(d_ij - h_ij) and
    upper end max(d_ij + h_ij) over ordered pairs. Bounds as computed (the lower end may be below 0); NaN bounds
    with fewer than two values per level or no spread (a residual sd of 0 to round-off)."""
    groups = {k: v for k, v in values.items() if len(v)}
    if len(groups) < 2:
        return Interval(math.nan, math.nan, math.nan, 0, "studentized range interval over seeds")
    blocked = _seed_blocked(groups)
    if blocked is not None:
        return _blocked_range(blocked, level)
    samples = [_values(list(v.values()) if hasattr(v, "keys") else v) for v in groups.values()]
    return _kramer_range(samples, level)


def _no_spread(resid: np.ndarray, y: np.ndarray) -> bool:
    return float(np.abs(resid).max(initial=0.0)) <= 1e-12 * max(1.0, float(np.abs(y).max()))


def _blocked_range(y: np.ndarray, level: float) -> Interval:
    """Tukey's interval for the range of the row means of a levels x seeds table, blocked by seed."""
    k, n = y.shape
    method = f"Tukey studentized range, seed-blocked, {n} seeds x {k} levels{_pct(level)}"
    if not np.isfinite(y).all():
        return Interval(math.nan, math.nan, math.nan, y.size, method)
    means = y.mean(axis=1)
    diff = float(means.max() - means.min())
    if n < 2:
        return Interval(diff, math.nan, math.nan, y.size, method)
    resid = y - means[:, None] - y.mean(axis=0)[None, :] + y.mean()
    if _no_spread(resid, y):
        return Interval(diff, math.nan, math.nan, y.size, f"no interval: no residual spread over {n} seeds")
    df = (k - 1) * (n - 1)
    half = _range_quantile(level, k, df) * math.sqrt(float((resid**2).sum()) / df / n)
    return Interval(diff, diff - half, diff + half, y.size, method)


def _kramer_range(samples: list[np.ndarray], level: float) -> Interval:
    """Tukey-Kramer interval for the range of the means of independent samples (pooled within-level sd)."""
    k, sizes = len(samples), [len(x) for x in samples]
    total, method = sum(sizes), f"Tukey-Kramer studentized range, pooled sd, {max(sizes)} seeds per level"
    if any(not np.isfinite(x).all() for x in samples):
        return Interval(math.nan, math.nan, math.nan, total, method + _pct(level))
    means = np.asarray([x.mean() for x in samples])
    diff = float(means.max() - means.min())
    df = total - k
    if df < 1:
        return Interval(diff, math.nan, math.nan, total, method + _pct(level))
    resid = np.concatenate([x - x.mean() for x in samples])
    if _no_spread(resid, np.concatenate(samples)):
        return Interval(diff, math.nan, math.nan, total, "no interval: no spread within levels")
    s, q = math.sqrt(float((resid**2).sum()) / df), _range_quantile(level, k, df)
    pairs = [(i, j) for i in range(k) for j in range(k) if i != j]
    h = {(i, j): q / math.sqrt(2) * s * math.sqrt(1 / sizes[i] + 1 / sizes[j]) for i, j in pairs}
    low = max(means[i] - means[j] - h[i, j] for i, j in pairs)
    high = max(means[i] - means[j] + h[i, j] for i, j in pairs)
    return Interval(diff, float(low), float(high), total, method + _pct(level))
