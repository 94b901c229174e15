"""The 95 % intervals behind every verdict, against hand computations with scipy's distributions."""

import math

import numpy as np
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


def test_spearman_interval_perfect_and_negative():
    x = np.arange(6.0)
    up, down = intervals.spearman_interval(x, x**2), intervals.spearman_interval(x, -x)
    assert up.estimate == pytest.approx(1.0) and up.above(0.9) and up.high <= 1.0
    assert down.estimate == pytest.approx(-1.0) and down.below(-0.9)


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


def test_detectable_by_hand():
    expected = (T975[2] + stats.t.ppf(0.8, 2)) * 0.4 / math.sqrt(3)
    assert intervals.detectable(0.4, 3) == pytest.approx(expected)
    assert intervals.detectable(0.8, 3) == pytest.approx(2 * expected)  # proportional to the sd
    assert intervals.detectable(0.4, 3, power=0.9) > expected


def test_detectable_decreases_with_seeds():
    d = [intervals.detectable(0.4, n) for n in range(2, 12)]
    assert all(a > b for a, b in zip(d, d[1:], strict=False))


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


def test_largest_difference_by_hand():
    groups = {0.0: [0.90, 0.92, 0.91], 0.1: [0.88, 0.89, 0.87], 0.2: [0.905, 0.915, 0.91]}
    means = {k: np.mean(v) for k, v in groups.items()}
    diff = means[0.0] - means[0.1]  # the largest pair: 0.91 - 0.88
    ss = sum(((np.asarray(v) - np.mean(v)) ** 2).sum() for v in groups.values())
    pooled = math.sqrt(ss / (9 - 3))
    half = T975[6] * pooled * math.sqrt(1 / 3 + 1 / 3)
    i = intervals.largest_difference(groups)
    assert (i.estimate, i.low, i.high, i.n) == pytest.approx((diff, diff - half, diff + half, 9))
    assert i.method == "pooled t interval, 3 seeds per level"


def test_largest_difference_unequal_groups_and_clipping():
    """Unequal seeds per level use 1/n_a + 1/n_b; a lower end below 0 is clipped to 0 (a difference between
    the largest and smallest mean is never negative)."""
    groups = {"a": [1.0, 1.2], "b": [1.05, 1.15, 1.1, 1.0]}
    i = intervals.largest_difference(groups)
    ss = 0.02 + sum((v - 1.075) ** 2 for v in groups["b"])
    pooled = math.sqrt(ss / (6 - 2))
    half = T975[4] * pooled * math.sqrt(1 / 2 + 1 / 4)
    assert i.estimate == pytest.approx(0.025) and i.high == pytest.approx(0.025 + half)
    assert i.low == 0.0 and 0.025 - half < 0


def test_largest_difference_undefined():
    one_seed = intervals.largest_difference({0.0: [0.9], 0.1: [0.8], 0.2: [0.85]})
    assert one_seed.estimate == pytest.approx(0.1) and not one_seed.defined and one_seed.n == 3
    for groups in ({0.0: [0.9, 0.91]}, {}, {0.0: [0.9, np.nan], 0.1: [0.8, 0.81]}):
        i = intervals.largest_difference(groups)
        assert math.isnan(i.estimate) and not i.defined
    assert math.isnan(
        intervals.largest_difference({0.0: [0.9, 0.91], 0.1: []}).estimate
    )  # empty level left out
