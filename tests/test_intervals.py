"""The 95 % intervals behind every verdict, against hand computations with scipy's distributions."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from paperlib import intervals
from paperlib.intervals import Interval

T975 = {n: stats.t.ppf(0.975, n) for n in range(1, 30)}  # two-sided 95 % quantiles by degrees of freedom


def test_interval_properties():
    i = Interval(0.5, 0.2, 0.8, 3, "t interval over 3 seeds")
    assert i.defined and i.above(0.1) and not i.above(0.2) and i.below(0.9) and not i.below(0.8)
    assert i.text(2) == "0.50 [0.20, 0.80]" and i.as_list() == [0.2, 0.8]
    undefined = Interval(0.5, math.nan, math.nan, 1, "t interval over seeds")
    assert not undefined.defined and not undefined.above(-1) and not undefined.below(2)
    assert undefined.text(2) == "0.50 (no interval: n = 1)" and undefined.as_list() == [None, None]


def test_mean_interval_by_hand():
    x = [0.61, 0.64, 0.58, 0.66]
    mean, sd = sum(x) / 4, np.std(x, ddof=1)
    half = T975[3] * sd / 2
    i = intervals.mean_interval(x)
    assert (i.estimate, i.low, i.high, i.n) == pytest.approx((mean, mean - half, mean + half, 4))
    assert i.method == "t interval over 4 seeds"
    assert intervals.mean_interval(x, what="batches").method == "t interval over 4 batches"


@pytest.mark.parametrize("values", [[0.5], [], [0.5, np.nan, 0.7]], ids=["one", "none", "nan"])
def test_mean_interval_undefined(values):
    i = intervals.mean_interval(values)
    assert not i.defined and i.n == len(values) and i.as_list() == [None, None]
    if len(values) == 1:
        assert i.estimate == 0.5


def test_mean_interval_of_equal_values_gives_no_interval():
    i = intervals.mean_interval([0.3, 0.3, 0.3])
    assert i.estimate == pytest.approx(0.3) and not i.defined and "no spread" in i.method
    assert not i.above(0.0) and not i.below(1.0)  # so no check can decide on it


def test_differences_equal_up_to_round_off_give_no_interval():
    """1.1 - 1.0 and 1.2 - 1.1 differ in the last bits only: no spread, so no near-zero-width interval."""
    i = intervals.paired_interval([1.1, 1.2], [1.0, 1.1])
    assert i.estimate == pytest.approx(0.1) and not i.defined and "no spread" in i.method


def test_familywise_level_is_bonferroni_and_widens_the_interval():
    assert intervals.familywise(1) == pytest.approx(0.95) and intervals.familywise(2) == pytest.approx(0.975)
    x = [0.1, 0.4, 0.25]
    one, two = intervals.mean_interval(x), intervals.mean_interval(x, level=intervals.familywise(2))
    half = stats.t.ppf(1 - 0.025 / 2, 2) * np.std(x, ddof=1) / np.sqrt(3)
    assert two.high - two.estimate == pytest.approx(half) and two.high > one.high
    with pytest.raises(ValueError, match="at least one part"):
        intervals.familywise(0)


def test_paired_interval_is_the_interval_of_the_differences():
    a, b = [95.5, 93.6, 97.2], [95.0, 93.0, 96.5]  # seeds far apart, differences close together
    i = intervals.paired_interval(a, b)
    d = np.subtract(a, b)
    half = T975[2] * np.std(d, ddof=1) / np.sqrt(3)
    assert (i.estimate, i.low, i.high) == pytest.approx((0.6, 0.6 - half, 0.6 + half))
    assert i.above(0) and i.method == "paired t interval over 3 seeds"
    assert not intervals.mean_interval(a).above(intervals.mean_interval(b).high)  # unpaired: overlap


def test_paired_interval_needs_the_same_seeds():
    with pytest.raises(ValueError, match="same seeds"):
        intervals.paired_interval([1.0, 2.0], [1.0])
    assert not intervals.paired_interval([1.0], [0.5]).defined


def test_spearman_interval_by_hand():
    x = np.arange(10.0)
    y = x.copy()
    y[[3, 4]] = y[[4, 3]]  # one swap: rho = 1 - 6 * 2 / (10 * 99)
    rho = 1 - 12 / 990
    i = intervals.spearman_interval(x, y)
    z, se = math.atanh(rho), math.sqrt(1.06 / 7)
    q = stats.norm.ppf(0.975)
    assert i.estimate == pytest.approx(rho)
    assert (i.low, i.high) == pytest.approx((math.tanh(z - q * se), math.tanh(z + q * se)))
    assert i.low < rho < i.high and i.n == 10 and i.method == "Fisher-z interval over 10 points"


def test_spearman_interval_of_a_perfect_rank_correlation_has_no_interval():
    """rho = +-1 has an infinite Fisher z: no interval (it used to collapse onto [1, 1] and decide)."""
    x = np.arange(6.0)
    up, down = intervals.spearman_interval(x, x**2), intervals.spearman_interval(x, -x)
    assert up.estimate == pytest.approx(1.0) and not up.defined and not up.above(0.9)
    assert down.estimate == pytest.approx(-1.0) and not down.defined and not down.below(-0.9)
    assert "exactly +1" in up.method and "exactly -1" in down.method
    near = intervals.spearman_interval(x, [0, 1, 2, 4, 3, 5])  # one swap: an interval below 1
    assert near.defined and near.above(0) and near.high < 1.0


def test_spearman_interval_undefined():
    three = intervals.spearman_interval([1, 2, 3], [1, 3, 2])
    assert three.estimate == pytest.approx(0.5) and not three.defined and three.n == 3
    for x, y in (([1, 2], [2, 1]), ([1, 2, 3, 4, 5], [2, 2, 2, 2, 2])):
        i = intervals.spearman_interval(x, y)
        assert math.isnan(i.estimate) and not i.defined


def test_spearman_interval_drops_undefined_points():
    x = [1, 2, 3, 4, 5, 6]
    with_nan = intervals.spearman_interval(x, [1, 2, np.nan, 4, 5, 6])
    assert with_nan.n == 5 and with_nan.estimate == pytest.approx(1.0)


def noncentral_power(delta: float, sd: float, n: int, level: float = 0.95) -> float:
    """Power of the two-sided paired t test at ``level`` for a true difference ``delta`` (scipy.stats.nct)."""
    t, ncp = stats.t.ppf(0.5 + level / 2, n - 1), delta / sd * math.sqrt(n)
    return stats.nct.sf(t, n - 1, ncp) + np.nan_to_num(stats.nct.cdf(-t, n - 1, ncp))  # NaN: a tail of ~0


def test_detectable_has_the_exact_noncentral_t_power():
    d = intervals.detectable(0.4, 3)
    assert noncentral_power(d, 0.4, 3) == pytest.approx(0.8, abs=1e-6)
    approx = (T975[2] + stats.t.ppf(0.8, 2)) * 0.4 / math.sqrt(3)  # the normal-style formula: too small
    assert d / approx == pytest.approx(5.6535 / 5.3633, rel=1e-3) and noncentral_power(approx, 0.4, 3) < 0.8
    assert intervals.detectable(0.8, 3) == pytest.approx(2 * d)  # proportional to the sd
    assert intervals.detectable(0.4, 3, power=0.9) > d
    strict = intervals.detectable(0.4, 3, level=intervals.familywise(2))
    assert strict > d and noncentral_power(strict, 0.4, 3, level=0.975) == pytest.approx(0.8, abs=1e-6)


def test_detectable_decreases_with_seeds():
    d = [intervals.detectable(0.4, n) for n in range(2, 12)]
    assert all(a > b for a, b in zip(d, d[1:], strict=False))
    powers = [noncentral_power(x, 0.4, n) for x, n in zip(d, range(2, 12), strict=True)]
    assert powers == pytest.approx([0.8] * len(d), abs=1e-6)


@pytest.mark.parametrize("sd, n", [(0.4, 1), (0.4, 0), (np.nan, 5)])
def test_detectable_undefined(sd, n):
    assert math.isnan(intervals.detectable(sd, n))


def test_batch_interval_by_hand():
    i = intervals.batch_interval(0.55, 0.02, 16)
    half = T975[15] * 0.02 / 4
    assert (i.estimate, i.low, i.high, i.n) == pytest.approx((0.55, 0.55 - half, 0.55 + half, 16))
    assert i.method == "t interval over 16 batches"
    for mean, sd, batches in ((0.55, 0.02, 1), (0.55, np.nan, 16), (np.nan, 0.02, 16)):
        assert not intervals.batch_interval(mean, sd, batches).defined


def blocked_half(y: np.ndarray, level: float = 0.95) -> float:
    """Tukey's half-width for the range of the row means of levels x seeds ``y``, blocked by seed, by hand."""
    k, n = y.shape
    resid = y - y.mean(1, keepdims=True) - y.mean(0, keepdims=True) + y.mean()
    df = (k - 1) * (n - 1)
    return stats.studentized_range.ppf(level, k, df) * math.sqrt((resid**2).sum() / df / n)


def by_seed(y: np.ndarray) -> dict:
    """levels x seeds as level -> {seed: value} (the levels share their seeds)."""
    return {level: dict(enumerate(row)) for level, row in enumerate(y)}


def test_largest_difference_blocked_by_seed_by_hand():
    """Seeds far apart, the same at every level: blocking removes them; the range gets Tukey's half-width."""
    y = np.array([[0.90, 0.80, 0.95], [0.88, 0.79, 0.92], [0.905, 0.81, 0.95]])
    i = intervals.largest_difference(by_seed(y))
    diff, half = np.ptp(y.mean(1)), blocked_half(y)
    assert (i.estimate, i.low, i.high, i.n) == pytest.approx((diff, diff - half, diff + half, 9))
    assert i.method == "Tukey studentized range, seed-blocked, 3 seeds x 3 levels"
    unblocked = intervals.largest_difference({k: list(v.values()) for k, v in by_seed(y).items()})
    assert unblocked.high - unblocked.low > 5 * (i.high - i.low)  # the seed spread no longer counts
    wider = intervals.largest_difference(by_seed(y), level=intervals.familywise(3))
    assert wider.high - wider.estimate == pytest.approx(blocked_half(y, 1 - 0.05 / 3))
    assert wider.method.endswith("(98.33 %)")


def test_largest_difference_blocks_by_seed_not_by_order():
    y = np.array([[0.90, 0.80, 0.95], [0.88, 0.79, 0.92]])
    shuffled = {0: {2: 0.95, 0: 0.90, 1: 0.80}, 1: {1: 0.79, 2: 0.92, 0: 0.88}}
    assert intervals.largest_difference(shuffled) == intervals.largest_difference(by_seed(y))
    series = {k: pd.Series(v) for k, v in shuffled.items()}
    assert intervals.largest_difference(series) == intervals.largest_difference(by_seed(y))


def test_largest_difference_unequal_groups_is_tukey_kramer_and_not_clipped():
    """Independent samples of unequal size: Tukey-Kramer with the pooled sd; bounds as computed (a lower end
    below 0 is shown, not clipped), and different seeds at two levels are not blocked."""
    groups = {"a": [1.0, 1.2], "b": [1.05, 1.15, 1.1, 1.0]}
    ss = 0.02 + sum((v - 1.075) ** 2 for v in groups["b"])
    pooled = math.sqrt(ss / (6 - 2))
    half = stats.studentized_range.ppf(0.95, 2, 4) / math.sqrt(2) * pooled * math.sqrt(1 / 2 + 1 / 4)
    i = intervals.largest_difference(groups)
    assert (i.estimate, i.low, i.high) == pytest.approx((0.025, 0.025 - half, 0.025 + half))
    assert i.low < 0 and i.method.startswith("Tukey-Kramer")
    other_seeds = {"a": {0: 1.0, 1: 1.2}, "b": {2: 1.05, 3: 1.15, 4: 1.1, 5: 1.0}}
    assert intervals.largest_difference(other_seeds) == i


def test_largest_difference_undefined():
    one_seed = intervals.largest_difference({0.0: [0.9], 0.1: [0.8], 0.2: [0.85]})
    assert one_seed.estimate == pytest.approx(0.1) and not one_seed.defined and one_seed.n == 3
    for groups in ({0.0: [0.9, 0.91]}, {}, {0.0: [0.9, np.nan], 0.1: [0.8, 0.81]}):
        i = intervals.largest_difference(groups)
        assert not i.defined
    assert math.isnan(intervals.largest_difference({0.0: [0.9, 0.91], 0.1: []}).estimate)  # empty level out


@pytest.mark.parametrize(
    "groups",
    [
        {0: [1, 1], 1: [1.1, 1.1]},  # equal values within each level (it used to fail a margin of 0.1)
        by_seed(np.array([[1.0, 2.0, 3.0], [1.1, 2.1, 3.1]])),  # levels and seeds add up exactly
    ],
    ids=["within levels", "seed-blocked"],
)
def test_largest_difference_without_spread_has_no_interval(groups):
    i = intervals.largest_difference(groups)
    assert i.estimate == pytest.approx(0.1) and not i.defined and "no interval" in i.method
    assert not i.above(0.1 - 1e-9) and not i.below(1.0)


@pytest.mark.parametrize("true_means", [(0, 0, 0, 0), (0, 0.5, 1.0, 1.5), (0, 0, 0, 2.0)])
def test_largest_difference_covers_the_true_range_at_three_seeds_and_four_levels(true_means):
    """Simulated (seeded) levels x seeds tables with a seed effect shared by all levels (sd 2) and noise
    (sd 1): the seed-blocked Tukey interval covers the true range of the level means at least 95 % of the
    time (within two Monte Carlo standard errors), and its lower end lies above it at most 5 % of the time;
    the ordinary t interval of the largest pair, from the same residuals, does not keep its level."""
    rng = np.random.default_rng(27)
    mu, sims = np.asarray(true_means, dtype=float), 3000
    true = np.ptp(mu)
    y = mu[None, :, None] + rng.normal(0, 2, (sims, 1, 3)) + rng.normal(0, 1, (sims, 4, 3))
    got = [intervals.largest_difference(by_seed(t)) for t in y]
    covered = np.mean([i.low <= true <= i.high for i in got])
    low_above = np.mean([i.low > true for i in got])
    se = math.sqrt(0.95 * 0.05 / sims)
    assert covered >= 0.95 - 2 * se and low_above <= 0.05 + 2 * se
    if true == 0:  # the interval chosen for the largest pair alone, t with (k - 1)(n - 1) = 6 df
        half = np.array([(i.high - i.low) / 2 for i in got]) / stats.studentized_range.ppf(0.95, 4, 6)
        naive = np.array([i.estimate for i in got]) - stats.t.ppf(0.975, 6) * half * math.sqrt(2)
        assert np.mean(naive > 0) > 0.1  # it excludes the true range of 0 far more often than 5 %


# ----------------------------------------------------------------- every field of the undefined intervals


def _undefined(i: Interval, estimate: float, n: int, method: str) -> None:
    """Both bounds NaN (not None), and the estimate, count and method exactly as given (NaN estimate: NaN)."""
    assert math.isnan(i.low) and math.isnan(i.high), i
    assert math.isnan(i.estimate) if math.isnan(estimate) else i.estimate == pytest.approx(estimate), i
    assert (i.n, i.method) == (n, method)


def _ranks(x):
    return np.argsort(np.argsort(x)).astype(float)


def _fisher(rho: float, n: int) -> tuple[float, float]:
    half = 1.959963984540054 * math.sqrt(1.06 / (n - 3))
    return math.tanh(math.atanh(rho) - half), math.tanh(math.atanh(rho) + half)


def test_spearman_interval_undefined_fields():
    _undefined(intervals.spearman_interval([1, 2], [3, 4]), math.nan, 2, "Fisher-z interval")
    # one constant series is enough to have no correlation
    _undefined(
        intervals.spearman_interval([2, 2, 2, 2, 2], [1, 3, 2, 5, 4]), math.nan, 5, "Fisher-z interval"
    )
    _undefined(
        intervals.spearman_interval([1, 3, 2, 5, 4], [7, 7, 7, 7, 7]), math.nan, 5, "Fisher-z interval"
    )
    _undefined(intervals.spearman_interval([1, 2, 3], [1, 3, 2]), 0.5, 3, "Fisher-z interval")
    _undefined(
        intervals.spearman_interval([1, 2, 3, 4], [2, 4, 6, 9]),
        1.0,
        4,
        "no interval: rank correlation of exactly +1",
    )


@pytest.mark.parametrize("n", [4, 5])
def test_spearman_interval_from_four_points_on_series_spanning_exactly_one(n):
    """Series whose range is exactly 1 are not constant; rho is Pearson's r of the ranks (numpy), the interval
    Fisher's z +- 1.96 sqrt(1.06 / (n - 3))."""
    a = np.array([0.0, 0.2, 1.0, 0.5, 0.8])[:n]
    b = np.array([0.0, 0.6, 0.2, 1.0, 0.4])[:n]
    rho = float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])
    i = intervals.spearman_interval(a, b)
    assert i.estimate == pytest.approx(rho, abs=1e-12) and abs(rho) < 1
    assert (i.low, i.high) == pytest.approx(_fisher(rho, n), abs=1e-9)
    assert (i.n, i.method) == (n, f"Fisher-z interval over {n} points")


def test_power_at_zero_effect_is_the_tests_size():
    """With no effect a two-sided test rejects with probability 1 - level, half in each tail."""
    for df in (1, 2, 5):
        assert intervals._power(0.0, df, 0.95) == pytest.approx(0.05, abs=1e-9)


def test_batch_interval_fields():
    _undefined(intervals.batch_interval(0.4, 0.1, 1), 0.4, 1, "t interval over batches")
    _undefined(intervals.batch_interval(math.nan, 0.1, 5), math.nan, 5, "t interval over batches")
    _undefined(intervals.batch_interval(0.4, math.nan, 5), 0.4, 5, "t interval over batches")
    i = intervals.batch_interval(0.5, 0.1, 2)  # two batches already give an interval: t(0.975, 1) = 12.706
    half = 12.706204736174704 * 0.1 / math.sqrt(2)
    assert (i.low, i.high) == pytest.approx((0.5 - half, 0.5 + half), abs=1e-9)
    assert (i.n, i.method) == (2, "t interval over 2 batches")


def test_largest_difference_undefined_fields():
    method = "Tukey studentized range, seed-blocked, {} seeds x 2 levels"
    _undefined(
        intervals.largest_difference({"a": {0: 1.0, 1: math.nan}, "b": {0: 2.0, 1: 3.0}}),
        math.nan,
        4,
        method.format(2),
    )
    _undefined(intervals.largest_difference({"a": {0: 1.0}, "b": {0: 3.0}}), 2.0, 2, method.format(1))
    _undefined(
        intervals.largest_difference({"a": {0: 1.0, 1: 2.0}, "b": {0: 3.0, 1: 4.0}}),
        2.0,
        4,
        "no interval: no residual spread over 2 seeds",
    )
    kramer = "Tukey-Kramer studentized range, pooled sd, {} seeds per level"
    _undefined(
        intervals.largest_difference({"a": [1.0, math.nan], "b": [2.0, 3.0]}), math.nan, 4, kramer.format(2)
    )
    _undefined(intervals.largest_difference({"a": [1.0], "b": [3.0]}), 2.0, 2, kramer.format(1))
    _undefined(
        intervals.largest_difference({"a": [1.0, 1.0], "b": [3.0, 3.0]}),
        2.0,
        4,
        "no interval: no spread within levels",
    )


def test_largest_difference_of_two_seeds_by_hand():
    """Two levels x two seeds, blocked: the residual of a 2 x 2 table is +-e with e = (y11 - y12 - y21 + y22) / 4,
    s^2 = 4 e^2 / 1 on one degree of freedom, range +- q(2, 1) s / sqrt(2); q(2, df) = sqrt(2) t(0.975, df)."""
    y = {"a": {0: 1.0, 1: 2.0}, "b": {0: 3.0, 1: 5.0}}
    e = (1.0 - 2.0 - 3.0 + 5.0) / 4
    half = math.sqrt(2) * 12.706204736174704 * math.sqrt(4 * e**2) / math.sqrt(2)
    i = intervals.largest_difference(y)
    assert (i.estimate, i.low, i.high) == pytest.approx((2.5, 2.5 - half, 2.5 + half), rel=1e-6)
    assert i.n == 4


def test_largest_difference_with_one_degree_of_freedom_by_hand():
    """Independent levels of 2 and 1 values: N - k = 1 degree of freedom, s = |x1 - x2| / sqrt(2), and for two
    levels Tukey-Kramer is the t interval, half-width t(0.975, 1) s sqrt(1/2 + 1/1)."""
    i = intervals.largest_difference({"a": [1.0, 2.0], "b": [4.0]})
    s = 1.0 / math.sqrt(2)
    half = 12.706204736174704 * s * math.sqrt(1 / 2 + 1)
    assert (i.estimate, i.low, i.high) == pytest.approx((2.5, 2.5 - half, 2.5 + half), rel=1e-6)
    assert (i.n, i.method) == (3, "Tukey-Kramer studentized range, pooled sd, 2 seeds per level")


def test_text_defaults_to_three_digits_and_paired_keeps_the_count():
    assert Interval(0.41234, 0.39, 0.43, 3, "m").text() == "0.412 [0.390, 0.430]"
    i = intervals.paired_interval([0.5, 0.7, 0.6], [0.4, 0.5, 0.45])
    assert (i.n, i.method) == (3, "paired t interval over 3 seeds")


def test_largest_difference_of_fewer_than_two_levels_fields():
    one = "studentized range interval over seeds"
    _undefined(intervals.largest_difference({"a": [1.0, 2.0]}), math.nan, 0, one)
    _undefined(intervals.largest_difference({"a": [1.0, 2.0], "b": []}), math.nan, 0, one)


def test_no_spread_tolerance_is_1e_12_relative_to_the_values_or_absolute_below_1():
    assert intervals._no_spread(np.array([1e-12, -5e-13]), np.array([1.0]))  # at the tolerance: no spread
    assert not intervals._no_spread(np.array([1.5e-12]), np.array([0.5]))  # below 1 the tolerance is absolute
    assert intervals._no_spread(np.array([5e-11]), np.array([-100.0]))  # relative to |values| above 1
    assert not intervals._no_spread(np.array([2e-10]), np.array([100.0]))
