"""Every claim check on small hand-built tables made to hold, to fail, to be inconclusive and (E1, E2) to be
underpowered, under the pre-registered rules with 95 % intervals (``paperlib.intervals``, ``Check.rule``).

Each "fails" table differs from its "holds" table only in the property the claim is about, so a check that
cannot fail (or cannot hold) is caught; seeds carry noise so that the intervals have a width. The checks are
pure functions of tables: no training, no data.
"""

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from paperlib import intervals, verdicts
from paperlib.experiments import (
    dynamics,
    freematch,
    grokking,
    label_smoothing,
    lmc,
    nc_theory,
    own_network,
    pruning,
    supervised_info,
)
from paperlib.experiments import info_losses as il
from paperlib.intervals import Interval
from paperlib.theory import nc_mir_bound
from paperlib.verdicts import Check

# ------------------------------------------------------------------------------------------------ verdicts


def test_check_refuses_an_unknown_verdict():
    with pytest.raises(ValueError, match="verdict must be"):
        Check("T1", "maybe", "s", "t")


@pytest.mark.parametrize(
    "ok, inconclusive, verdict",
    [
        (True, False, "holds"),
        (False, False, "fails"),
        (True, True, "inconclusive"),
        (False, True, "inconclusive"),
    ],
)
def test_check_of_verdict_word(ok, inconclusive, verdict):
    assert Check.of("T1", np.bool_(ok), "s", "t", inconclusive=inconclusive).verdict == verdict


def test_check_of_numbers_are_plain_and_json_able():
    c = Check.of(
        "X1",
        True,
        "s",
        "t",
        a=np.float64(0.25),
        b=np.int64(3),
        c=float("nan"),
        d={1: [np.float32(0.5), np.nan, np.inf]},
        e=(np.bool_(True), "x", None),
    )
    assert c.numbers == {"a": 0.25, "b": 3, "c": None, "d": {"1": [0.5, None, None]}, "e": [True, "x", None]}
    assert type(c.numbers["a"]) is float and type(c.numbers["b"]) is int and type(c.numbers["e"][0]) is bool
    assert json.loads(json.dumps(c.numbers, allow_nan=False)) == c.numbers


@pytest.mark.parametrize(
    "holds, fails, verdict",
    [(True, False, "holds"), (True, True, "holds"), (False, True, "fails"), (False, False, "inconclusive")],
)
def test_check_rule_verdict_word_and_note(holds, fails, verdict):
    """holds wins, then fails; the note (and so the label's qualifier) is kept only when inconclusive."""
    evidence = Interval(0.4, 0.1, 0.7, 3, "t interval over 3 seeds")
    c = Check.rule("E1", holds, fails, "s", "t", evidence=evidence, null=0.0, note="underpowered")
    assert c.verdict == verdict
    assert c.note == ("underpowered" if verdict == "inconclusive" else "")
    assert c.label == ("inconclusive (underpowered)" if verdict == "inconclusive" else verdict)
    assert (c.estimate, c.interval, c.null, c.method) == (0.4, [0.1, 0.7], 0.0, "t interval over 3 seeds")


def test_check_interval_without_bounds_is_json_able():
    c = Check.rule("S1", False, False, "s", "t", evidence=Interval(0.2, np.nan, np.nan, 1, "m"))
    assert c.estimate == 0.2 and c.interval == [None, None] and c.label == "inconclusive"


def part(name, word, severity=0.0, note=""):
    """A claim part decided as ``word`` (holds / fails / inconclusive) with an interval around ``severity``."""
    evidence = Interval(severity, severity - 1, severity + 1, 3, "m")
    return verdicts.Part(name, word == "holds", word == "fails", evidence, severity, note, 0.0)


@pytest.mark.parametrize(
    "how, words, verdict",
    [
        ("every", ["holds", "holds", "holds"], "holds"),
        ("every", ["holds", "inconclusive", "holds"], "inconclusive"),
        ("every", ["holds", "inconclusive", "fails"], "fails"),
        ("any", ["fails", "inconclusive", "holds"], "holds"),
        ("any", ["fails", "inconclusive", "fails"], "inconclusive"),
        ("any", ["fails", "fails"], "fails"),
        ("most", ["holds", "holds", "fails"], "holds"),
        ("most", ["holds", "inconclusive", "fails"], "inconclusive"),
        ("most", ["holds", "fails"], "fails"),  # half fail: more than half can no longer hold
        ("most", ["holds"], "holds"),  # one part (one label count): "most" is that part
        ("every", [], "inconclusive"),
    ],
)
def test_compose(how, words, verdict):
    parts = [part(f"p{k}", w, severity=k) for k, w in enumerate(words)]
    got, shown = verdicts.compose(parts, how)
    assert got == verdict
    if parts:  # the most severe of the parts decided as the claim is (of all parts when none is)
        same = [p for p in parts if p.word == verdict] or parts
        assert shown is max(same, key=lambda p: p.severity)
    with pytest.raises(ValueError, match="how must be"):
        verdicts.compose(parts, "some")


def test_composed_states_the_familywise_level_and_shows_the_deciding_part():
    parts = [
        part("a", "holds", -2.0),
        part("b", "fails", 1.0),
        part("c", "inconclusive", 5.0, "underpowered"),
    ]
    c = verdicts.composed("X9", parts, "every", "s", "each above 0", note="")
    assert c.verdict == "fails" and c.estimate == 1.0 and c.null == 0.0  # b decided it, not c (more severe)
    assert c.threshold.endswith("each interval at 98.33 % (Bonferroni over 3)")
    assert c.numbers["parts"]["c"] == ["inconclusive", 5.0, 4.0, 6.0]
    open_ = verdicts.composed("X9", parts[:1] + parts[2:], "every", "s", "t")
    assert open_.label == "inconclusive (underpowered)" and open_.estimate == 5.0


def test_toward_failing_is_in_half_widths():
    i = Interval(0.5, 0.3, 0.7, 3, "m")
    assert verdicts.toward_failing(i, 0.0, +1) == pytest.approx(-1.5)  # low end 1.5 half-widths above 0
    assert verdicts.toward_failing(i, 0.8, -1) == pytest.approx(-0.5)  # high end 0.5 below the bound
    assert verdicts.toward_failing(Interval(0.5, np.nan, np.nan, 1, "m"), 0.0, +1) == -np.inf


def seeded_levels(ranges, spread=0.002):
    """(setting, metric) -> level -> {seed: value}: three levels whose means spread evenly over ``ranges``
    [metric], three seeds with a seed effect shared by every level and a level x seed residual of sd
    ``spread``."""
    out = {}
    for metric, r in ranges.items():
        out[("s", metric)] = {
            lv: {k: r * lv / 2 + 0.05 * o + spread * o * (lv - 1) for k, o in enumerate(SEED_OFFSETS)}
            for lv in range(3)
        }
    return out


def test_little_change():
    """Holds when every upper end of a range interval (Tukey, seed-blocked, at the familywise level) is
    within its margin, fails when a lower end exceeds it, else inconclusive with what the seeds resolve."""
    margins = {"a": 0.1, "b": 1.0}
    half = stats.studentized_range.ppf(1 - 0.05 / 2, 3, 4) * 0.002 / np.sqrt(3)  # residual sd 0.002
    ok = verdicts.little_change("S1", seeded_levels({"a": 0.05, "b": 0.0}), margins, "level")
    assert ok.verdict == "holds" and ok.numbers["largest_difference"]["s a"] == pytest.approx(
        [0.05, 0.05 - half, 0.05 + half]
    )
    assert "each interval at 97.5 % (Bonferroni over 2)" in ok.threshold
    near = verdicts.little_change("S1", seeded_levels({"a": 0.1, "b": 0.0}), margins, "level")
    assert near.label == f"inconclusive (s a resolved to +-{half:.3f} at these seeds)"
    fails = verdicts.little_change("S1", seeded_levels({"a": 0.3, "b": 0.0}), margins, "level")
    assert (fails.verdict, fails.estimate, fails.null) == ("fails", pytest.approx(0.3), 0.1)
    flat = seeded_levels({"a": 0.05, "b": 0.0}, spread=0.0)  # levels and seeds add up: no residual spread
    undefined = verdicts.little_change("S1", flat, margins, "level")
    assert (undefined.label, undefined.numbers["largest_difference"]["s a"]) == (
        "inconclusive (no seed spread)",
        [pytest.approx(0.05), None, None],
    )
    assert verdicts.little_change("S1", {}, margins, "level").verdict == "inconclusive"


def test_value_range():
    assert verdicts.value_range(pd.Series([3.0, 1.0, 2.5])) == 2.0
    spread = verdicts.value_range(pd.DataFrame({"a": [1.0, 4.0], "b": [0.5, 0.5]}))
    assert spread.to_dict() == {"a": 3.0, "b": 0.0}


# --------------------------------------------------------------------------------- nc_theory: T1, T2, T3, T4


def collapse_table(heads_err: float = 0.0, samples_err: float = 0.0, column: str = "mir") -> pd.DataFrame:
    """``collapse_values``: values at the closed form, off by ``*_err`` in ``column`` (mir or hdr)."""
    c = np.array([3, 10, 100])
    t = pd.DataFrame({"C": c, "formula": 1.0 / (c - 1)})
    for kind, err in (("heads", heads_err), ("samples", samples_err)):
        t[f"mir_{kind}"] = t.formula + (err if column == "mir" else 0.0)
        t[f"hdr_{kind}"] = 0.0 + (err if column == "hdr" else 0.0)
    return t


FORMULA_CHECKS = {"T1": nc_theory.check_T1, "T2": lambda v: nc_theory.check_T2(v, per_class=2)}


@pytest.mark.parametrize("cid", FORMULA_CHECKS)
@pytest.mark.parametrize(
    "column, own_err, other_err, verdict",
    [
        ("mir", 0.0, 0.0, "holds"),
        ("mir", 0.0, 1e-3, "holds"),  # the other claim's columns are not read
        ("mir", 1e-8, 0.0, "fails"),
        ("hdr", 1e-8, 0.0, "fails"),
    ],
)
def test_T1_T2(cid, column, own_err, other_err, verdict):
    heads, samples = (own_err, other_err) if cid == "T1" else (other_err, own_err)
    c = FORMULA_CHECKS[cid](collapse_table(heads, samples, column))
    assert (c.id, c.verdict) == (cid, verdict)
    assert c.numbers["max_error"] == pytest.approx(own_err, abs=1e-15)
    assert c.numbers["classes"] == [3, 100]


@pytest.mark.parametrize("cid", FORMULA_CHECKS)
def test_T1_T2_inconclusive_without_values(cid):
    c = FORMULA_CHECKS[cid](collapse_table().iloc[:0])
    assert (c.id, c.verdict) == (cid, "inconclusive")
    assert c.numbers["max_error"] is None and c.numbers["classes"] == []


def test_T1_inconclusive_when_hdr_is_undefined():
    """An undefined HDR at collapse cannot confirm HDR = 0."""
    values = collapse_table().assign(hdr_heads=np.nan)
    assert nc_theory.check_T1(values).verdict == "inconclusive"


def range_table(mir=(0.0, 0.4, 1.0 + 1e-12), hdr=(0.0, 0.6, 1.0)) -> pd.DataFrame:
    """``range_draws``: one row per pair."""
    return pd.DataFrame({"kind": "gaussian", "n": 8, "mir": mir, "hdr": hdr})


@pytest.mark.parametrize(
    "mir, hdr, verdict",
    [
        ((0.0, 0.4, 1.0 + 1e-12), (0.0, 0.6, 1.0), "holds"),  # round-off at a bound is allowed
        ((0.0, 0.4, 1.2), (0.0, 0.6, 1.0), "fails"),
        ((0.0, 0.4, 1.0), (-0.1, 0.6, 1.0), "fails"),
        ((np.nan, np.nan, np.nan), (np.nan, np.nan, np.nan), "inconclusive"),
    ],
)
def test_T3(mir, hdr, verdict):
    c = nc_theory.check_T3(range_table(mir, hdr))
    assert (c.id, c.verdict) == ("T3", verdict)


def test_T3_numbers_skip_undefined_pairs():
    c = nc_theory.check_T3(range_table((0.1, np.nan, 0.9), (0.2, 0.5, 1.1)))
    assert c.verdict == "fails"
    assert c.numbers == {"min": 0.1, "max": 1.1, "pairs": 2, "undefined": 1}


def regression_table(error_gap: float = 0.05, bound_gap: float = 0.1) -> pd.DataFrame:
    """``regression_bound_draws``: error ``error_gap`` above Lemma 4.5, which is ``bound_gap`` below Thm 4.6."""
    r1, r2 = np.array([4, 8, 16]), np.array([1, 2, 4])
    t = pd.DataFrame({"n": 50, "rank_z1": r1, "rank_z2": r2, "thm46_mid": (r1 - r2 - 1) / r1})
    t["thm46_right"] = 1 - r2 / r1
    t["lemma45"] = t.thm46_mid - bound_gap
    t["error"] = t.lemma45 + error_gap
    return t


def rank_table(flat=lambda r: 0.9 * r, decaying=lambda r: 0.6 * r) -> pd.DataFrame:
    """``entropy_vs_rank``: exp(H) as a function of the rank, per spectrum."""
    ranks = np.array([1, 2, 4, 8, 16])
    return pd.concat(
        [
            pd.DataFrame({"rank": ranks, "spectrum": s, "exp_entropy": f(ranks).astype(float)})
            for s, f in (("flat", flat), ("decaying", decaying))
        ],
        ignore_index=True,
    )


def test_T4_holds():
    c = nc_theory.check_T4(regression_table(), rank_table())
    assert (c.id, c.verdict) == ("T4", "holds")
    assert c.numbers["rho"] == pytest.approx({"flat": 1.0, "decaying": 1.0})
    assert (
        c.numbers["lemma45_violations"] == c.numbers["thm46_violations"] == c.numbers["rank_violations"] == 0
    )


@pytest.mark.parametrize(
    "reg, ranks, count",
    [
        (regression_table(error_gap=-0.01), rank_table(), ("lemma45_violations", 3)),
        (regression_table(bound_gap=-0.01), rank_table(), ("thm46_violations", 3)),
        (regression_table(), rank_table(flat=lambda r: 1.1 * r), ("rank_violations", 5)),
        (regression_table(), rank_table(decaying=lambda r: 1.0 / r), ("rank_violations", 0)),  # rho = -1
    ],
)
def test_T4_fails(reg, ranks, count):
    c = nc_theory.check_T4(reg, ranks)
    assert (c.id, c.verdict) == ("T4", "fails")
    assert c.numbers[count[0]] == count[1]


def test_T4_threshold_text():
    assert nc_theory.check_T4(regression_table(), rank_table()).threshold == "0 violations; rho >= 0.95"


def test_T4_inconclusive_without_draws():
    c = nc_theory.check_T4(regression_table().iloc[:0], rank_table())
    assert (c.id, c.verdict) == ("T4", "inconclusive")


def test_T4_inconclusive_when_a_spectrum_has_no_rho():
    """rho is undefined for the flat spectrum (exp(H) missing): the ordering claim cannot be decided."""
    c = nc_theory.check_T4(regression_table(), rank_table(flat=lambda r: np.full(len(r), np.nan)))
    assert c.numbers["rho"]["flat"] is None
    assert c.verdict == "inconclusive"


@pytest.mark.parametrize(
    "mir, hdr, verdict",
    [
        ((-1e-9, 0.4, 1.0), (0.0, 0.6, 1.0), "holds"),  # exactly the allowed round-off below 0
        ((0.0, 0.4, 1.0), (0.0, 0.6, 1.0 + 1e-9), "holds"),  # and above 1
        ((-2e-9, 0.4, 1.0), (0.0, 0.6, 1.0), "fails"),  # just beyond it
        ((0.0, 0.4, 1.0), (0.0, 0.6, 1.0 + 2e-9), "fails"),
    ],
)
def test_T3_tolerance_at_the_bounds_is_inclusive(mir, hdr, verdict):
    assert nc_theory.check_T3(range_table(mir, hdr)).verdict == verdict


def test_T3_counts_each_undefined_pair():
    c = nc_theory.check_T3(range_table((0.1, np.nan, 0.9, np.nan), (0.2, 0.5, np.nan, np.nan)))
    assert c.numbers["pairs"] == 1 and c.numbers["undefined"] == 3


@pytest.mark.parametrize(
    "error_gap, bound_gap",
    [
        (0.0, 0.1),  # the regression error attains Lemma 4.5's bound
        (-1e-9, 0.1),  # below it by exactly the allowed round-off
        (0.05, 0.0),  # Lemma 4.5's bound attains Thm 4.6's middle term
        (0.05, -1e-9),  # above it by exactly the allowed round-off
    ],
)
def test_T4_bounds_attained_within_round_off_are_no_violations(error_gap, bound_gap):
    c = nc_theory.check_T4(regression_table(error_gap, bound_gap), rank_table())
    assert (c.numbers["lemma45_violations"], c.numbers["thm46_violations"], c.verdict) == (0, 0, "holds")


@pytest.mark.parametrize("above", [0.0, 1e-9, 2e-9])
def test_T4_thm46_middle_term_at_its_right_end(above):
    """Thm 4.6's middle term (r1 - r2 - 1) / r1 equal to its right end 1 - r2 / r1, or above it by the
    round-off allowed, is no violation; beyond that every draw is one."""
    reg = regression_table()
    reg["thm46_mid"] = reg.thm46_right + above
    c = nc_theory.check_T4(reg, rank_table())
    assert c.numbers["thm46_violations"] == (3 if above > 1e-9 else 0)


@pytest.mark.parametrize("over", [0.0, 1e-9, 2e-9])
def test_T4_exp_entropy_at_the_rank(over):
    """A flat spectrum has exp(H) = rank exactly; exp(H) above the rank by the allowed round-off is no
    violation, beyond it each of the five ranks is one."""
    c = nc_theory.check_T4(regression_table(), rank_table(flat=lambda r: r + over))
    assert c.numbers["rank_violations"] == (5 if over > 1e-9 else 0)
    assert c.verdict == ("fails" if over > 1e-9 else "holds")


def test_T4_holds_at_rho_exactly_095():
    """Ranks 1..16 with exp(H) ordered by a permutation with sum of squared rank differences 34: Spearman
    rho = 1 - 6 * 34 / (16 * 255) = 0.95, the threshold itself, which holds."""
    order = [1, 2, 3, 5, 8, 6, 7, 4, 9, 10, 11, 14, 13, 12, 15, 16]
    ranks = np.arange(1, 17)
    assert sum((o - r) ** 2 for o, r in zip(order, ranks, strict=True)) == 34
    table = pd.concat(
        [
            pd.DataFrame({"rank": ranks, "spectrum": "flat", "exp_entropy": 0.1 * np.array(order, float)}),
            pd.DataFrame({"rank": ranks, "spectrum": "decaying", "exp_entropy": 0.6 * ranks}),
        ],
        ignore_index=True,
    )
    c = nc_theory.check_T4(regression_table(), table)
    assert c.numbers["rho"] == {"flat": 0.95, "decaying": 1.0}
    assert c.verdict == "holds"


# ------------------------------------------------------------------------------------------- nc_theory: X4

BATCHES = {16: 128, 64: 32, 1024: 2}  # 2,048 samples: batches per batch size


def bias_table(mir_batch=None, exact: float = 0.5, sd: float = 0.01, batches=None) -> pd.DataFrame:
    """``batch_bias``: batch-mean MIR per batch size with the sd of its per-batch values and the number of
    batches (HDR rows unbiased). By default biased: 20 % above the exact value at batch 16, 10 % at 64, 2 % at
    1024, each interval narrow (sd 0.01)."""
    mir_batch = {16: 0.6, 64: 0.55, 1024: 0.51} if mir_batch is None else mir_batch
    batches = BATCHES if batches is None else batches
    rows = [
        dict(batch_size=b, metric="mir", batch_mean=v, exact=exact, sd=sd, batches=batches[b])
        for b, v in mir_batch.items()
    ]
    rows += [
        dict(batch_size=b, metric="hdr", batch_mean=0.3, exact=0.3, sd=sd, batches=batches[b])
        for b in mir_batch
    ]
    t = pd.DataFrame(rows)
    t["bias"] = t.batch_mean - t.exact
    return t


def test_X4_holds():
    c = nc_theory.check_X4(bias_table({1024: 0.51, 16: 0.6, 64: 0.55}))  # unsorted input
    assert (c.id, c.verdict) == ("X4", "holds")
    half = stats.t.ppf(0.975, 31) * 0.01 / np.sqrt(32)
    assert c.estimate == pytest.approx(0.55) and c.interval == pytest.approx([0.55 - half, 0.55 + half])
    assert c.null == 0.5 and c.exact == "0.5000"
    assert c.numbers["gap_smallest_batch"] == pytest.approx(0.2)
    assert c.numbers["gap_largest_batch"] == pytest.approx(0.02)
    assert c.numbers["batch_sizes"] == [16, 64, 1024]


def test_X4_holds_below_the_exact_value():
    assert nc_theory.check_X4(bias_table({16: 0.4, 64: 0.45, 1024: 0.49})).verdict == "holds"


@pytest.mark.parametrize(
    "table, verdict",
    [
        (bias_table({16: 0.6, 64: 0.5, 1024: 0.51}), "fails"),  # unbiased at 64: interval within 1 %
        (bias_table(batches={16: 128, 64: 1, 1024: 2}), "inconclusive"),  # one batch at 64: no interval
        (bias_table(sd=0.3), "inconclusive"),  # the interval at 64 straddles the exact value
        (bias_table({16: 0.51, 64: 0.55, 1024: 0.6}), "inconclusive"),  # the gap grows with the batch
        (bias_table({64: 0.55}), "inconclusive"),  # one batch size: no gap to compare
    ],
)
def test_X4_fails_and_inconclusive(table, verdict):
    assert nc_theory.check_X4(table).verdict == verdict


def test_X4_interval_undefined_with_one_batch():
    c = nc_theory.check_X4(bias_table(batches={16: 128, 64: 1, 1024: 2}))
    assert c.estimate == pytest.approx(0.55) and c.interval == [None, None]


def test_X4_fails_when_a_narrow_interval_excludes_the_exact_value_within_one_percent():
    narrow = bias_table({16: 0.6, 64: 0.502, 1024: 0.501}, sd=0.001)  # gap 0.4 % at 64, interval +- 0.04 %
    assert nc_theory.check_X4(narrow).verdict == "fails"


def test_X4_inconclusive_on_an_empty_table():
    empty = pd.DataFrame(columns=["batch_size", "metric", "batch_mean", "exact", "bias", "sd", "batches"])
    assert nc_theory.check_X4(empty).verdict == "inconclusive"


def test_X4_row_texts():
    c = nc_theory.check_X4(bias_table())
    half = stats.t.ppf(0.975, 31) * 0.01 / np.sqrt(32)
    assert c.statistic == (
        f"MIR batch-mean at batch 64: 0.550 [{0.55 - half:.3f}, {0.55 + half:.3f}] vs exact 0.500; relative gap "
        "0.20 at batch 16, 0.02 at batch 1024 (synthetic)"
    )
    assert c.threshold == "interval clear of the exact value by more than 1 % and the gap shrinking with batch size"
    one = nc_theory.check_X4(bias_table({64: 0.55}))
    assert (one.id, one.verdict, one.statistic, one.threshold) == (
        "X4",
        "inconclusive",
        "1 batch size(s): a gap needs two",
        "",
    )


def test_X4_decides_with_two_batch_sizes():
    c = nc_theory.check_X4(bias_table({16: 0.6, 64: 0.55}))
    assert c.verdict == "holds" and c.numbers["batch_sizes"] == [16, 64, 64]


@pytest.mark.parametrize(
    "mir_batch, verdict",
    [
        ({16: 0.6, 64: 0.51, 1024: 0.505}, "holds"),  # 2 % above at 64 (+- 0.04 %): clear of the 1 % margin
        ({16: 0.4, 64: 0.49, 1024: 0.495}, "holds"),  # 2 % below
        ({16: 0.6, 64: 0.505, 1024: 0.501}, "inconclusive"),  # 1 % above (+- 0.7 %): straddles the margin
    ],
)
def test_X4_margin_is_one_percent_of_the_exact_value(mir_batch, verdict):
    """With the exact value 0.5 the margin is 0.005 (1 % of it); narrow intervals unless stated."""
    sd = 0.01 if verdict == "inconclusive" else 0.001
    assert nc_theory.check_X4(bias_table(mir_batch, sd=sd)).verdict == verdict


def test_X4_a_gap_that_does_not_shrink_does_not_hold():
    """The same 10 % gap at every batch size: biased, but not shown to depend on the batch size."""
    c = nc_theory.check_X4(bias_table({16: 0.55, 64: 0.55, 1024: 0.55}))
    assert c.numbers["gap_smallest_batch"] == c.numbers["gap_largest_batch"] == pytest.approx(0.1)
    assert c.verdict == "inconclusive"


def test_X4_fails_at_exactly_one_percent():
    """Per-batch values without spread (sd 0) exactly 1 % above the exact value 0.78125 (0.0078125 = 2^-7,
    so the sums are exact in binary): the interval lies within 1 %, the bound included."""
    c = nc_theory.check_X4(bias_table({16: 0.9, 64: 0.7890625, 1024: 0.79}, exact=0.78125, sd=0.0))
    assert c.interval == [0.7890625, 0.7890625]
    assert c.verdict == "fails"


# ------------------------------------------------------------------------------ dynamics: D1, D2, X2, X1

MIR_NC = nc_mir_bound(10)  # Fashion-MNIST: 0.952


def curves_table(n: int = 6, **columns) -> pd.DataFrame:
    """Fashion-MNIST training curves over ``n`` evaluations: accuracy and batch-mean MIR rise (toward
    MIR_NC(10) = 0.952), batch-mean HDR and the NC measures fall; the exact values sit away from the batch
    means; the batch-mean MIR has a per-batch sd of 0.005 over 20 batches. ``columns`` replace any column."""
    rise = np.linspace(0.0, 1.0, n)
    t = pd.DataFrame(
        {
            "step": np.arange(n) * 100,
            "dataset": "fashion_mnist",
            "acc": 0.1 + 0.8 * rise,
            "mir_batch": 0.2 + 0.5 * rise,
            "hdr_batch": 0.8 - 0.5 * rise,
            "nc1": 2.0 - 1.5 * rise,
            "nc2_equiangular": 0.5 - 0.4 * rise,
            "nc3": 1.0 - 0.8 * rise,
            "mir_batch_sd": 0.005,
            "batches": 20,
        }
    )
    t["mir"], t["hdr"] = t.mir_batch + 0.2, t.hdr_batch - 0.1  # exact values away from the batch means
    for k, v in columns.items():
        t[k] = v
    return t


RISE = np.linspace(0.0, 1.0, 6)
GOOD = curves_table()
SHORT = curves_table(n=3)  # three evaluations: a rank correlation, but no Fisher-z interval
# Per-seed wobbles: seed s stretches batch-mean MIR's and HDR's change by 4 s % (start values kept) and lifts
# one evaluation past its neighbour (in steps of the column), so the per-seed statistics differ from seed to seed (three
# equal values would give no interval) while keeping their claimed direction.
WOBBLE = {0: (1, 0.0), 1: (2, 1.5), 2: (3, 1.3)}


def seeded(seeds: int = 3, n: int = 6, **columns) -> pd.DataFrame:
    """``curves_table`` at ``seeds`` seeds (a ``seed`` column), each with its own small wobble."""
    frames = []
    for seed in range(seeds):
        t = curves_table(n=n, **columns)
        at, size = WOBBLE[seed % 3]
        for col in ("mir_batch", "hdr_batch"):
            first, span = t[col].iloc[0], t[col].iloc[-1] - t[col].iloc[0]
            t[col] = first + (t[col] - first) * (1 + 0.04 * seed)
            t.loc[at % n, col] += size * span / (n - 1)
        frames.append(t.assign(seed=seed))
    return pd.concat(frames, ignore_index=True)


SEEDED = seeded()


@pytest.mark.parametrize(
    "check, cid, bad",
    [
        (dynamics.check_D1, "D1", seeded(mir_batch=0.7 - 0.5 * RISE)),  # MIR falls as accuracy rises
        (dynamics.check_D2, "D2", seeded(hdr_batch=0.3 + 0.5 * RISE)),  # HDR rises with accuracy
        (dynamics.check_X2, "X2", seeded(nc3=0.2 + 0.8 * RISE)),  # NC3 grows while MIR rises
    ],
)
def test_trajectory_checks_hold_fail_and_are_inconclusive(check, cid, bad):
    assert check({"a": SEEDED}).id == cid
    assert check({"a": SEEDED}).verdict == "holds"
    assert check({"a": SEEDED, "b": SEEDED}).verdict == "holds"
    assert check({"a": bad}).verdict == "fails"
    assert check({"a": SEEDED, "b": bad}).verdict == "fails"  # every setting must show it
    assert check({"a": seeded(seeds=1)}).verdict == "inconclusive"  # one seed: no interval over seeds
    assert check({"a": seeded(seeds=1)}).note == "one seed: no interval"
    assert check({"a": SEEDED, "b": seeded(seeds=1)}).verdict == "inconclusive"


def test_trajectory_checks_decide_over_seeds_not_points():
    """More evaluation points of the same runs do not narrow the interval: it is a t interval over the
    per-seed statistics, at the familywise level of the claim's parts."""
    c = dynamics.check_D2({"a": SEEDED})
    per_seed = dynamics.per_seed({"a": SEEDED})
    assert len(per_seed) == 3 and list(per_seed.seed) == [0, 1, 2]
    rho = per_seed.rho_hdr.to_numpy()
    level = 1 - 0.05 / 2  # D2 has two parts
    half = stats.t.ppf(0.5 + level / 2, 2) * rho.std(ddof=1) / np.sqrt(3)
    deciding = c.numbers["deciding"]
    assert deciding in ("a rho_hdr", "a hdr_change")
    col = deciding.split()[-1]
    values = per_seed[col].to_numpy()
    half = stats.t.ppf(0.5 + level / 2, 2) * values.std(ddof=1) / np.sqrt(3)
    assert c.estimate == pytest.approx(values.mean()) and c.interval[1] == pytest.approx(values.mean() + half)
    assert "97.5 %" in c.statistic and "3 seeds" in c.statistic


def test_trajectory_inconclusive_rows_state_what_the_seeds_detect():
    """Seed 2 wanders (rho about 0.09): D1's rho part straddles 0, and the row states the smallest mean rho
    the three seeds could detect at D1's familywise level (exact noncentral t, 80 % power)."""
    t = seeded()
    t.loc[t.seed == 2, "mir_batch"] = [0.2, 0.6, 0.5, 0.25, 0.3, 0.4]
    c = dynamics.check_D1({"a": t})
    rho = dynamics.per_seed({"a": t}).rho_mir
    expected = intervals.detectable(float(rho.std(ddof=1)), 3, level=1 - 0.05 / 3)
    assert c.verdict == "inconclusive" and c.numbers["detectable"]["a rho_mir"] == pytest.approx(expected)
    assert f"detectable at these seeds: rho_mir {expected:.3f}" in c.statistic
    assert "detectable" not in dynamics.check_D1({"a": SEEDED}).statistic  # decided rows need none


def test_trajectory_equal_values_over_seeds_give_no_verdict():
    """Three identical runs (rho = 1 at every seed): no spread, so no interval and no verdict."""
    same = pd.concat([curves_table().assign(seed=s) for s in range(3)], ignore_index=True)
    assert dynamics.check_D1({"a": same}).verdict == "inconclusive"


def test_trajectory_degenerate_correlation_at_a_seed_is_inconclusive():
    """A seed whose MIR never moves has no rank correlation: its part cannot be decided."""
    flat = seeded()
    flat.loc[flat.seed == 1, "mir_batch"] = 0.5
    assert np.isnan(dynamics.per_seed({"a": flat}).rho_mir[1])
    assert dynamics.check_D1({"a": flat}).verdict == "inconclusive"


@pytest.mark.parametrize(
    "check", [dynamics.check_D1, dynamics.check_D2, dynamics.check_X1, dynamics.check_X2]
)
def test_dynamics_checks_are_inconclusive_without_runs(check):
    assert check({}).verdict == "inconclusive"


def test_D1_parts_per_seed():
    c = dynamics.check_D1({"a": SEEDED})
    assert (c.verdict, c.null) == ("holds", 0.0)
    seed0 = c.numbers["per_seed"]["a seed 0"]
    assert seed0["mir_rise"] == pytest.approx(0.5) and seed0["gap_shrink"] == pytest.approx(0.5)
    assert seed0["rho_mir"] == pytest.approx(1.0)
    assert "exact MIR at the end" in c.exact  # the exact MIR at the end is reported, not decisive


def test_D1_fails_when_mir_rises_away_from_collapse():
    """rho(acc, MIR) near 1, but MIR rises past MIR_NC(10): the gap to collapse grows at every seed."""
    c = dynamics.check_D1({"a": seeded(mir_batch=0.96 + 0.04 * RISE)})
    assert c.verdict == "fails" and c.numbers["deciding"] == "a gap_shrink"
    assert c.interval[1] < 0


def test_D1_reads_the_number_of_classes():
    """The same curve rises toward MIR_NC(10) but away from MIR_NC(3) = 0.5."""
    t = seeded(mir_batch=0.6 + 0.3 * RISE)
    assert dynamics.check_D1({"a": t}).verdict == "holds"
    assert dynamics.check_D1({"a": t.assign(classes=3)}).verdict == "fails"


def test_D1_needs_mir_to_end_above_its_start():
    """A rank correlation alone is not enough: MIR ending below its start at every seed fails."""
    wiggle = seeded(n=12, mir_batch=[0.5, *np.linspace(0.2, 0.45, 11)])
    c = dynamics.check_D1({"a": wiggle})
    assert c.numbers["per_seed"]["a seed 0"]["rho_mir"] >= 0.5
    assert c.verdict == "fails" and c.numbers["deciding"] in ("a mir_rise", "a gap_shrink")


def test_D1_D2_decided_on_the_batch_means():
    """Exact MIR falling and exact HDR rising do not change verdicts taken on the batch means."""
    flipped = seeded(mir=0.9 - 0.5 * RISE, hdr=0.2 + 0.5 * RISE)
    assert dynamics.check_D1({"a": flipped}).verdict == "holds"
    assert dynamics.check_D2({"a": flipped}).verdict == "holds"


def test_D2_fails_when_hdr_ends_above_its_start():
    # HDR falls through each run except for a last jump above its start: rho < 0 but HDR ends higher
    jump = seeded(n=12, hdr_batch=[*np.linspace(0.8, 0.3, 11), 0.85])
    j = dynamics.check_D2({"a": jump})
    assert j.numbers["per_seed"]["a seed 0"]["rho_hdr"] < 0
    assert j.numbers["per_seed"]["a seed 0"]["hdr_change"] == pytest.approx(0.05)
    assert j.verdict == "fails" and j.numbers["deciding"] == "a hdr_change"


def test_X2_numbers():
    c = dynamics.check_X2({"a": SEEDED})
    assert c.verdict == "holds" and c.null == 0.0
    corr = dynamics.nc_correlations({"a": SEEDED})
    assert (corr.loc[("a", "mir")] < -0.8).all() and (corr.loc[("a", "hdr")] > 0.8).all()
    assert "99.17 %" in c.statistic  # six parts: 1 - 0.05 / 6


def test_X2_fails_when_hdr_moves_against_an_nc_measure():
    c = dynamics.check_X2({"a": seeded(nc1=0.5 + 1.5 * RISE)})  # NC1 grows while HDR falls
    assert c.verdict == "fails" and c.numbers["deciding"] in ("a nc1_mir", "a nc1_hdr")


def test_X1_evidence():
    c = dynamics.check_X1({"a": GOOD})
    half = stats.t.ppf(0.975, 19) * 0.005 / np.sqrt(20)
    assert c.verdict == "holds"
    assert c.estimate == pytest.approx(0.7) and c.interval == pytest.approx([0.7 - half, 0.7 + half])
    assert c.null == pytest.approx(0.9)  # the exact value the interval is tested against
    assert c.numbers["relative_gap"]["a"] == pytest.approx(0.2 / 0.9)


@pytest.mark.parametrize(
    "table",
    [
        curves_table(batches=1),  # one batch: no interval
        curves_table(mir_batch_sd=0.5),  # the interval straddles the exact value
        curves_table().drop(columns=["mir_batch_sd", "batches"]),  # no per-batch spread recorded
    ],
    ids=["one batch", "wide", "no spread"],
)
def test_X1_inconclusive(table):
    assert dynamics.check_X1({"a": table}).verdict == "inconclusive"


def test_X1_reads_the_last_evaluation():
    """Biased at every step but the last, where the batch mean equals the exact value: fails."""
    t = curves_table()
    t.loc[t.index[-1], "mir"] = t.mir_batch.iloc[-1]
    assert dynamics.check_X1({"a": t}).verdict == "fails"


def test_X1_fails_when_a_narrow_interval_excludes_the_exact_value_within_one_percent():
    narrow = curves_table(mir=0.197 + 0.5 * RISE, mir_batch_sd=0.001, batches=100)  # gap 0.4 % at the end
    assert dynamics.check_X1({"a": narrow}).verdict == "fails"


# ------------------------------------------------------------------------------------------ lmc: L1-L3

OMEGAS = np.round(np.linspace(0.0, 1.0, 11), 1)
TENT = 1 - np.abs(2 * OMEGAS - 1)  # 0 at the ends, 1 at omega = 0.5
NEAR_ENDS = np.isin(OMEGAS, (0.1, 0.9)).astype(float)


def per_seed(value, n: int) -> tuple:
    """One value per seed: a number spreads +-10 % per seed around itself, a tuple is taken as it is."""
    if np.ndim(value):
        return tuple(value)
    return tuple(value * (1 + 0.1 * (k - (n - 1) / 2)) for k in range(n))


def path_table(
    lr: float,
    barrier=0.0,
    mir_bump=0.01,
    hdr_dip=0.01,
    end_acc: float = 0.9,
    seeds=(0, 1, 2),
    setting: str | None = None,
    k: int = 0,
    pair: str = lmc.SAME,
    peak: float = 0.5,
) -> pd.DataFrame:
    """One learning rate's paths (spawned at ``k``, of ``pair``), one per seed: accuracy drops by ``barrier`` mid-path from ``end_acc`` at
    both ends, batch-mean MIR rises by ``mir_bump`` at omega = 0.5 and HDR dips by ``hdr_dip`` next to both
    ends (so the MIR and HDR ranges are ``|mir_bump|`` and ``|hdr_dip|``); recomputed BN is flat. Each effect
    is a number (spread over seeds, see ``per_seed``) or one value per seed. ``peak`` moves the accuracy dip
    (a tent with its lowest point there); MIR's bump stays at omega = 0.5."""
    n, tables = len(seeds), []
    dip = np.minimum(OMEGAS / peak, (1 - OMEGAS) / (1 - peak))
    for j, seed in enumerate(seeds):
        b, m, h = (per_seed(v, n)[j] for v in (barrier, mir_bump, hdr_dip))
        interp = pd.DataFrame(
            {
                "omega": OMEGAS,
                "variant": "interpolated BN",
                "acc": end_acc - b * dip,
                "mir_batch": 0.5 + m * TENT,
                "hdr_batch": 0.3 - h * NEAR_ENDS,
            }
        )
        interp["mir"], interp["hdr"] = interp.mir_batch + 0.1, interp.hdr_batch + 0.1
        recomputed = interp.assign(variant="recomputed BN", acc=end_acc)
        tables += [interp.assign(seed=seed), recomputed.assign(seed=seed)]
    out = pd.concat(tables, ignore_index=True).assign(lr=lr, k=k, pair=pair)
    return out if setting is None else out.assign(setting=setting)


def paths(*tables: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(tables, ignore_index=True)


FLAT_LOW = path_table(3e-4)
BROKEN_HIGH = path_table(0.03, barrier=0.5, mir_bump=0.2, hdr_dip=0.1)


def test_per_seed_table():
    """The table's per-seed quantities are the ones the L checks read."""
    s = lmc.per_seed(paths(BROKEN_HIGH, FLAT_LOW)).set_index(["lr", "seed"])
    assert s.loc[
        (0.03, 1), ["interpolated BN", "mir_range", "hdr_range", "mir_bump", "hdr_dip"]
    ].tolist() == (pytest.approx([0.5, 0.2, 0.1, 0.2, -0.1]))
    assert s.loc[(0.03, 0), "interpolated BN"] == pytest.approx(0.45) and s[
        "recomputed BN"
    ].max() == pytest.approx(0, abs=1e-12)
    assert s.end_acc.tolist() == pytest.approx([0.9] * 6)


@pytest.mark.parametrize(
    "table, verdict",
    [
        (paths(BROKEN_HIGH, FLAT_LOW), "holds"),
        (paths(BROKEN_HIGH, path_table(3e-4, mir_bump=0.2)), "fails"),  # MIR moves along a flat path
        (paths(BROKEN_HIGH, path_table(3e-4, hdr_dip=0.2)), "fails"),  # HDR moves along a flat path
        (paths(BROKEN_HIGH, path_table(3e-4, mir_bump=(0.01, 0.05, 0.09))), "inconclusive"),  # straddles
        (paths(BROKEN_HIGH), "inconclusive"),  # LMC holds nowhere
        (paths(path_table(0.03, barrier=0.05), FLAT_LOW.query("seed == 0")), "inconclusive"),  # one seed
    ],
    ids=["holds", "mir moves", "hdr moves", "straddles", "no flat path", "one seed"],
)
def test_L1(table, verdict):
    c = lmc.check_L1(table)
    assert (c.id, c.verdict, c.null) == ("L1", verdict, 0.05)


def test_L1_evidence():
    c = lmc.check_L1(paths(BROKEN_HIGH, path_table(3e-4, barrier=0.015, mir_bump=0.02, hdr_dip=0.03)))
    # HDR ranges 0.027, 0.03, 0.033; two parts (MIR and HDR range), so each interval is at 97.5 %
    half = stats.t.ppf(1 - 0.025 / 2, 2) * 0.003 / np.sqrt(3)
    assert c.verdict == "holds"
    assert c.estimate == pytest.approx(0.03) and c.interval == pytest.approx([0.03 - half, 0.03 + half])
    assert c.numbers["ranges"]["lr 0.0003: MIR range"] == pytest.approx(
        [0.02, 0.02 - half * 2 / 3, 0.02 + half * 2 / 3]
    )
    assert "lr 0.03: MIR range" not in c.numbers["ranges"]  # ranges are read where LMC holds only
    assert "97.5 %" in c.threshold
    assert lmc.check_L1(paths(BROKEN_HIGH)).note == "no learning rate with LMC"


def test_L1_flat_paths_are_chosen_by_every_seed_and_the_interval_not_the_mean():
    """Mean barrier 0.015 (<= 0.02), but one seed at 0.035: the path is not flat, so L1 has nothing to read."""
    t = paths(BROKEN_HIGH, path_table(3e-4, barrier=(0.005, 0.005, 0.035)))
    c = lmc.check_L1(t)
    assert c.verdict == "inconclusive" and c.note == "no learning rate with LMC"
    # a path that never dips below the line (barrier 0 at every seed) is flat without an interval
    assert lmc.is_flat(lmc.per_seed(FLAT_LOW)) and not lmc.is_broken(lmc.per_seed(FLAT_LOW))


@pytest.mark.parametrize(
    "table, verdict",
    [
        (paths(BROKEN_HIGH, FLAT_LOW), "holds"),
        (paths(path_table(0.03, barrier=0.5, mir_bump=-0.2, hdr_dip=0.1), FLAT_LOW), "fails"),  # MIR dips
        (paths(path_table(0.03, barrier=0.5, mir_bump=0.2, hdr_dip=-0.1), FLAT_LOW), "fails"),  # HDR rises
        (paths(path_table(0.03, barrier=0.5, mir_bump=(-0.05, 0.01, 0.07)), FLAT_LOW), "inconclusive"),
        (paths(FLAT_LOW, path_table(0.01, barrier=0.05)), "inconclusive"),  # LMC fails nowhere (0.05 < 0.10)
    ],
    ids=["holds", "mir dips", "hdr rises", "bump straddles 0", "no barrier"],
)
def test_L2(table, verdict):
    c = lmc.check_L2(table)
    assert (c.id, c.verdict, c.null) == ("L2", verdict, 0.0)


def test_L2_evidence():
    c = lmc.check_L2(paths(BROKEN_HIGH, FLAT_LOW))
    # dips -0.09, -0.1, -0.11 and bumps 0.18, 0.2, 0.22; two parts at 97.5 %: the dip, nearer 0, is shown
    half = stats.t.ppf(1 - 0.025 / 2, 2) * 0.01 / np.sqrt(3)
    assert c.numbers["deciding"] == "lr 0.03: HDR dip"
    assert c.estimate == pytest.approx(-0.1) and c.interval == pytest.approx([-0.1 - half, -0.1 + half])
    assert c.numbers["barriers"] == pytest.approx({"lr 0.03": 0.5, "lr 0.0003": 0.0})
    none = lmc.check_L2(paths(FLAT_LOW, path_table(0.01, barrier=0.05)))
    assert none.label == "inconclusive (no barrier)" and none.estimate is None


def test_L2_reads_the_bump_where_the_barrier_is():
    """Accuracy dips furthest at omega = 0.2, where MIR is only 0.4 of its mid-path bump: the bump is read
    there, not at omega = 0.5."""
    t = paths(path_table(0.03, barrier=0.5, mir_bump=0.2, hdr_dip=0.1, peak=0.2), FLAT_LOW)
    s = lmc.per_seed(t)
    assert s[s.lr == 0.03].barrier_omega.tolist() == pytest.approx([0.2] * 3)
    assert s[s.lr == 0.03].mir_bump.tolist() == pytest.approx([0.2 * 0.4 * f for f in (0.9, 1.0, 1.1)])
    c = lmc.check_L2(t)
    assert c.verdict == "holds" and c.numbers["barrier_omega"] == pytest.approx({"lr 0.03": 0.2})


def test_L2_reports_the_negative_control():
    control = path_table(0.03, barrier=0.6, pair=lmc.DIFFERENT)
    c = lmc.check_L2(paths(BROKEN_HIGH, FLAT_LOW, control))
    shown = c.numbers["negative_control"]["lr 0.03 (different init)"]
    assert shown["detected"] and shown["barrier"][0] == pytest.approx(0.6)
    assert "different init" not in c.statistic  # L2 is decided on spawned copies only
    undetected = lmc.check_L2(paths(BROKEN_HIGH, path_table(0.03, barrier=0.01, pair=lmc.DIFFERENT)))
    assert not undetected.numbers["negative_control"]["lr 0.03 (different init)"]["detected"]


def test_barrier_claims_need_the_negative_control_found():
    """A control measured but not found broken: the measurement could not see a barrier, so L2, L3 and X6
    decide nothing; a control found (or none measured) leaves them as they are."""
    missed = path_table(0.03, barrier=0.01, pair=lmc.DIFFERENT)
    found = path_table(0.03, barrier=0.6, pair=lmc.DIFFERENT)
    for check, table in (
        (lmc.check_L2, paths(BROKEN_HIGH, FLAT_LOW)),
        (lmc.check_L3, paths(BROKEN_HIGH, path_table(3e-3, barrier=0.2), FLAT_LOW)),
        (lmc.check_X6, paths(BROKEN_HIGH, path_table(0.03, barrier=0.005, k=100))),
    ):
        assert check(table).verdict == "holds"
        assert check(paths(table, found)).verdict == "holds"
        c = check(paths(table, missed))
        assert (c.verdict, c.note) == ("inconclusive", lmc.MISSED)


def test_L2_needs_both_parts():
    """A MIR bump without an HDR dip is not enough (and not a failure: the dip interval straddles 0)."""
    t = paths(path_table(0.03, barrier=0.5, mir_bump=0.2, hdr_dip=(-0.02, 0.0, 0.03)), FLAT_LOW)
    assert lmc.check_L2(t).verdict == "inconclusive"


@pytest.mark.parametrize(
    "table, verdict",
    [
        (paths(BROKEN_HIGH, path_table(3e-3, barrier=0.2), FLAT_LOW), "holds"),
        (paths(path_table(0.03, barrier=0.2), path_table(3e-4, barrier=0.5)), "fails"),  # barrier rises
        (paths(BROKEN_HIGH, path_table(3e-4, barrier=0.3)), "fails"),  # lower, but still broken
        (paths(BROKEN_HIGH, path_table(3e-4, barrier=0.06)), "inconclusive"),  # lower, not flat, not broken
    ],
    ids=["holds", "barrier rises", "still broken", "in between"],
)
def test_L3(table, verdict):
    c = lmc.check_L3(table)
    assert (c.id, c.verdict, c.null) == ("L3", verdict, 0.0)


def test_L3_evidence():
    c = lmc.check_L3(paths(BROKEN_HIGH, path_table(3e-3, barrier=0.2), FLAT_LOW))
    # paired drops 0.45, 0.5, 0.55 (lr 0.03 to 3e-4); four differences and the low rate's barrier: 99 %
    half = stats.t.ppf(1 - 0.01 / 2, 2) * 0.05 / np.sqrt(3)
    numbers = c.numbers["settings"][""]
    assert numbers["parts"]["barrier drop"] == pytest.approx([0.5, 0.5 - half, 0.5 + half])
    assert set(numbers["parts"]) == {
        "barrier drop",
        "accuracy range drop",
        "MIR range drop",
        "HDR range drop",
    }
    assert numbers["restored"] and c.interval[0] > 0
    assert numbers["barriers"] == pytest.approx({"0.03": 0.5, "0.003": 0.2, "0.0003": 0.0})
    assert numbers["comparable"] == [0.03, 0.003, 0.0003]


def test_L3_paired_by_seed():
    """The drop is paired by seed: seed-to-seed variation shared by both learning rates cancels, and the
    rows' order does not matter."""
    top = path_table(0.03, barrier=(0.48, 0.5, 0.52))
    low = path_table(3e-4, barrier=(0.47, 0.485, 0.51)).iloc[::-1]  # 0.01-0.015 below the top at every seed
    c = lmc.check_L3(paths(top, low))
    drop = c.numbers["settings"][""]["parts"]["barrier drop"]
    assert drop[0] == pytest.approx(0.035 / 3) and drop[1] < drop[0] < drop[2] < 0.1
    assert c.verdict == "fails"  # a small drop, but lr 3e-4's barrier interval lies above 0.10: still broken
    noisy = path_table(
        3e-4, barrier=(0.39, 0.48, 0.59)
    )  # as broken on average, but its interval reaches 0.10
    assert lmc.check_L3(paths(top, noisy)).verdict == "inconclusive"


def test_L3_tests_the_fluctuations():
    """The barrier drops and LMC is restored, but MIR varies as much along the low rate's path: the
    "shrinks the fluctuations" part fails."""
    t = paths(BROKEN_HIGH, path_table(3e-4, mir_bump=0.4))
    c = lmc.check_L3(t)
    assert c.verdict == "fails" and c.numbers["settings"][""]["parts"]["MIR range drop"][2] < 0


def test_L3_holds_at_the_lowest_comparable_lr():
    """lr 3e-4 has barely left the initialization (end points 0.4 below): the drop is read at lr 3e-3."""
    t = paths(BROKEN_HIGH, path_table(3e-3), path_table(3e-4, end_acc=0.5))
    c = lmc.check_L3(t)
    assert c.verdict == "holds" and c.numbers["settings"][""]["comparable"] == [0.03, 0.003]
    assert "to 0.003" in c.statistic


@pytest.mark.parametrize(
    "table, note",
    [
        (paths(path_table(0.03, barrier=0.05), FLAT_LOW), "no barrier to restore"),
        (paths(BROKEN_HIGH, path_table(3e-4, end_acc=0.86)), "confounded: end points not comparably trained"),
        (paths(BROKEN_HIGH, path_table(3e-3, end_acc=0.95), path_table(3e-4, end_acc=0.8)), "confounded"),
        (FLAT_LOW, "one learning rate"),
    ],
    ids=["no barrier", "0.04 below", "both lower lrs off", "one lr"],
)
def test_L3_inconclusive(table, note):
    c = lmc.check_L3(table)
    assert c.verdict == "inconclusive" and note in c.note and c.label == f"inconclusive ({c.note})"


def test_L3_comparable_within_three_points():
    assert lmc.check_L3(paths(BROKEN_HIGH, path_table(3e-4, end_acc=0.88))).verdict == "holds"


def test_L3_end_accuracy_reads_the_interpolated_bn_ends():
    """Recomputed BN at the ends does not decide how well the end points are trained."""
    low = path_table(3e-4, end_acc=0.5)
    low.loc[low.variant == "recomputed BN", "acc"] = 0.9
    assert "confounded" in lmc.check_L3(paths(BROKEN_HIGH, low)).note


def test_L3_every_setting_must_hold():
    holds = paths(
        path_table(0.03, barrier=0.5, mir_bump=0.2, hdr_dip=0.1, setting="a"), path_table(3e-4, setting="a")
    )
    fails = paths(path_table(0.03, barrier=0.2, setting="b"), path_table(3e-4, barrier=0.5, setting="b"))
    assert lmc.check_L3(holds).verdict == "holds"
    c = lmc.check_L3(paths(holds, fails))
    assert c.verdict == "fails" and set(c.numbers["settings"]) == {"a", "b"}
    assert c.estimate == pytest.approx(-0.3)  # the evidence of the setting that does not hold


SPAWN_FLAT = path_table(0.03, barrier=0.005, k=100)


@pytest.mark.parametrize(
    "table, verdict, note",
    [
        (paths(BROKEN_HIGH, path_table(0.03, barrier=0.2, k=20), SPAWN_FLAT), "holds", ""),
        (paths(BROKEN_HIGH, path_table(0.03, barrier=0.4, k=100)), "fails", ""),  # still broken late
        (paths(BROKEN_HIGH, path_table(0.03, barrier=0.7, k=100)), "fails", ""),  # barrier grows with k
        (paths(BROKEN_HIGH, path_table(0.03, barrier=0.05, k=100)), "inconclusive", ""),  # lower, not flat
        (paths(path_table(0.03, barrier=0.05), SPAWN_FLAT), "inconclusive", "no barrier at k = 0"),
        (BROKEN_HIGH, "inconclusive", "one spawn step"),
    ],
    ids=["holds", "still broken", "grows", "in between", "no barrier", "k = 0 only"],
)
def test_X6(table, verdict, note):
    c = lmc.check_X6(table)
    assert (c.id, c.verdict, c.note) == ("X6", verdict, note)


def test_X6_numbers_say_where_stability_sets_in():
    c = lmc.check_X6(paths(BROKEN_HIGH, path_table(0.03, barrier=0.2, k=20), SPAWN_FLAT))
    assert c.numbers["stable_from"] == 100 and set(c.numbers["barrier_by_k"]) == {"0", "20", "100"}
    assert c.estimate == pytest.approx(0.5 - 0.005) and c.interval[0] > 0  # drop from k = 0 to k = 100
    # L3 reads the learning-rate axis at k = 0 only: the spawned paths do not enter it
    assert lmc.check_L3(paths(BROKEN_HIGH, SPAWN_FLAT)).note == "one learning rate"


def test_L3_fails_when_only_the_lower_lr_shows_a_barrier():
    c = lmc.check_L3(paths(path_table(0.03), path_table(3e-4, barrier=0.5)))
    assert c.verdict == "fails"


def test_L3_pairs_the_common_seeds():
    t = paths(path_table(0.03, barrier=0.5, mir_bump=0.2, hdr_dip=0.1, seeds=(0, 1, 2, 3)), FLAT_LOW)
    c = lmc.check_L3(t)
    assert c.verdict == "holds"  # seed 3 has no partner at lr 3e-4: the drop is read over seeds 0-2
    assert c.numbers["settings"][""]["parts"]["barrier drop"][0] == pytest.approx(
        np.mean([0.425, 0.475, 0.525])
    )


def t_text(values, parts: int = 1) -> str:
    """'mean [low, high]' to 3 decimals: Student's t interval of ``values`` at the familywise level of ``parts``
    (``t_half``, computed here from its formula)."""
    mean, half = float(np.mean(values)), t_half(values, parts)
    return f"{mean:.3f} [{mean - half:.3f}, {mean + half:.3f}]"


def test_L1_texts_and_note():
    """The statistic lists the flat path's range parts (or says there is none); an inconclusive verdict on a
    flat path carries no note (the note is for "no flat path" only)."""
    c = lmc.check_L1(paths(BROKEN_HIGH, path_table(3e-4, mir_bump=0.02, hdr_dip=0.03)))
    half = stats.t.ppf(1 - 0.025 / 2, 2) * 0.002 / np.sqrt(3)  # MIR ranges 0.018, 0.02, 0.022 at 97.5 %
    assert c.statistic.startswith(f"lr 0.0003: MIR range 0.020 [{0.02 - half:.3f}, {0.02 + half:.3f}]; ")
    assert "; lr 0.0003: HDR range 0.030 [" in c.statistic
    none = lmc.check_L1(paths(BROKEN_HIGH))
    assert none.statistic == "no path with a barrier interval within the flat limit"
    straddles = lmc.check_L1(paths(BROKEN_HIGH, path_table(3e-4, mir_bump=(0.01, 0.05, 0.09))))
    assert (straddles.verdict, straddles.note, straddles.label) == ("inconclusive", "", "inconclusive")


def test_L1_evidence_is_a_range_without_an_interval_before_any_interval():
    """HDR's range is 0.03 at every seed (no spread, no interval) and MIR's spreads: L1 cannot hold, and its
    evidence is the part it cannot bound (HDR), even though it comes after MIR."""
    c = lmc.check_L1(paths(BROKEN_HIGH, path_table(3e-4, mir_bump=0.02, hdr_dip=(0.03, 0.03, 0.03))))
    assert c.verdict == "inconclusive" and c.note == ""
    assert c.estimate == pytest.approx(0.03) and c.interval == [None, None]


def test_L2_texts():
    """The statistic names each part; the threshold gives the Bonferroni level over the parts; with no
    broken path the statistic says so and no part decides."""
    c = lmc.check_L2(paths(BROKEN_HIGH, FLAT_LOW))
    half = stats.t.ppf(1 - 0.025 / 2, 2) * 0.02 / np.sqrt(3)  # bumps 0.18, 0.2, 0.22 at 97.5 %
    bump = f"0.200 [{0.2 - half:.3f}, {0.2 + half:.3f}]"
    assert c.statistic.startswith(f"lr 0.03: MIR bump at the barrier {bump}; ")
    assert "; lr 0.03: HDR dip -0.100 [" in c.statistic
    assert c.threshold == (
        "bump interval above 0 and dip interval below 0 (97.5 %, Bonferroni over 2 parts) on every path whose "
        "mean barrier is above 0.10"
    )
    none = lmc.check_L2(paths(FLAT_LOW, path_table(0.01, barrier=0.05)))
    assert none.statistic == "no path between spawned copies with a mean barrier above 0.1"
    assert none.numbers["deciding"] == ""
    assert none.threshold.startswith("bump interval above 0 and dip interval below 0 on every path")


def test_L2_inconclusive_on_a_broken_path_has_no_note():
    t = paths(path_table(0.03, barrier=0.5, mir_bump=(-0.05, 0.01, 0.07)), FLAT_LOW)
    c = lmc.check_L2(t)
    assert (c.verdict, c.note, c.label) == ("inconclusive", "", "inconclusive")


def test_L2_negative_control_numbers():
    """The control's MIR bump and HDR dip are its seeds' means: bumps 0.045, 0.05, 0.055 and steps -0.018,
    -0.02, -0.022 from the ends inward."""
    control = path_table(0.03, barrier=0.6, mir_bump=0.05, hdr_dip=0.02, pair=lmc.DIFFERENT)
    shown = lmc.check_L2(paths(BROKEN_HIGH, FLAT_LOW, control)).numbers["negative_control"]
    assert shown["lr 0.03 (different init)"]["mir_bump"] == pytest.approx(0.05)
    assert shown["lr 0.03 (different init)"]["hdr_dip"] == pytest.approx(-0.02)


def test_L3_without_a_path_at_spawn_step_0():
    """Only spawned copies and a negative control: no path on the learning-rate axis, inconclusive."""
    control = path_table(0.03, barrier=0.6, pair=lmc.DIFFERENT)
    for table in (SPAWN_FLAT, paths(SPAWN_FLAT, control)):
        c = lmc.check_L3(table)
        assert (c.id, c.verdict, c.note) == ("L3", "inconclusive", "")
        assert (c.statistic, c.threshold) == ("no path", "")


def test_L3_texts():
    c = lmc.check_L3(paths(BROKEN_HIGH, FLAT_LOW))
    assert c.threshold == (
        "barrier drop and falling ranges of accuracy, MIR and HDR, each interval above 0, and LMC (barrier "
        "within 0.02) at the lowest comparable learning rate; fails when a difference lies below 0 or the low "
        "rate's barrier interval above 0.1 (Bonferroni over these five intervals); the comparability margin "
        "(0.03) was set after the first cpu build"
    )
    assert c.statistic.startswith(
        "lr 0.03: barrier 0.500 at end-point accuracy 0.900, lr 0.0003: barrier 0.000 at end-point accuracy "
        "0.900; from lr 0.03 to 0.0003 (99 % intervals): barrier drop "
    )


def test_L3_statistic_joins_the_settings():
    a = paths(path_table(0.03, barrier=0.5, setting="a"), path_table(3e-4, setting="a"))
    b = paths(path_table(0.03, barrier=0.2, setting="b"), path_table(3e-4, barrier=0.5, setting="b"))
    c = lmc.check_L3(paths(a, b))
    assert c.statistic == f"{lmc.check_L3(a).statistic}; {lmc.check_L3(b).statistic}"
    assert c.statistic.startswith("a lr 0.03: barrier 0.500") and "; b lr 0.03: barrier 0.200" in c.statistic


X6_HOLDS = paths(BROKEN_HIGH, path_table(0.03, barrier=0.2, k=20), SPAWN_FLAT)


def test_X6_texts():
    """Barriers per spawn step (95 % t intervals), the drop from k = 0 to k = 100 at 97.5 % (two ways to fail)
    and whether LMC holds there."""
    c = lmc.check_X6(X6_HOLDS)
    k0, k100 = (0.45, 0.5, 0.55), (0.0045, 0.005, 0.0055)
    drop = [a - b for a, b in zip(k0, k100, strict=True)]
    assert c.statistic == (
        f"barrier against the spawn step at lr 0.03: k = 0: {t_text(k0)}; k = 20: {t_text((0.18, 0.2, 0.22))}; "
        f"k = 100: {t_text(k100)}; barrier drop from k = 0 to 100 {t_text(drop, parts=2)}; LMC at k = 100: yes"
    )
    half = stats.t.ppf(1 - 0.025 / 2, 2) * np.std(drop, ddof=1) / np.sqrt(3)
    assert c.interval == pytest.approx([0.495 - half, 0.495 + half]) and c.null == 0.0
    assert c.threshold == (
        "drop interval above 0 and LMC at the last spawn step (every seed's barrier and its interval within "
        "0.02); fails when the drop lies below 0 or the barrier there lies above 0.1 (97.5 %, Bonferroni over 2 "
        "parts)"
    )
    late = lmc.check_X6(paths(BROKEN_HIGH, path_table(0.03, barrier=0.4, k=100)))
    assert late.verdict == "fails" and late.statistic.endswith("; LMC at k = 100: no") and late.null == 0.0


def test_X6_texts_when_not_decided():
    one = lmc.check_X6(BROKEN_HIGH)
    assert (one.statistic, one.threshold) == ("no spawn step beyond k = 0", "")
    c = lmc.check_X6(paths(path_table(0.03, barrier=0.05), SPAWN_FLAT))
    assert c.verdict == "inconclusive" and c.threshold == "k = 0 broken (mean barrier above 0.1)"
    k0, k100 = (0.045, 0.05, 0.055), (0.0045, 0.005, 0.0055)
    shown = f"k = 0: {t_text(k0)}; k = 100: {t_text(k100)}"
    assert c.statistic == f"barrier against the spawn step at lr 0.03: {shown}"
    assert c.numbers["stable_from"] == 100 and set(c.numbers["barrier_by_k"]) == {"0", "100"}


def test_X6_spawn_step_1_counts():
    c = lmc.check_X6(paths(BROKEN_HIGH, path_table(0.03, barrier=0.005, k=1)))
    assert c.verdict == "holds" and c.numbers["stable_from"] == 1


def test_X6_one_seed_at_the_spawn_step():
    """One seed spawned late: no paired interval, and one seed is not flat: inconclusive."""
    c = lmc.check_X6(paths(BROKEN_HIGH, path_table(0.03, barrier=0.005, k=100, seeds=(0,))))
    late = c.numbers["barrier_by_k"]["100"]
    assert c.verdict == "inconclusive" and late[0] == pytest.approx(0.005) and late[1:] == [None, None]
    assert c.estimate == pytest.approx(0.45 - 0.005) and c.interval == [None, None]


def test_X6_reads_only_the_spawned_learning_rate():
    """A flat path at lr 3e-4 spawned at 0 does not enter lr 0.03's curve."""
    c = lmc.check_X6(paths(X6_HOLDS, FLAT_LOW))
    assert c.verdict == "holds" and c.numbers["barrier_by_k"]["0"][0] == pytest.approx(0.5)


def test_X6_pairs_the_common_seeds():
    """Seed 3 is spawned at k = 100 only: the drop is read over seeds 0-2 (k = 100's barriers at four seeds
    spread 0.00425 ... 0.00575)."""
    c = lmc.check_X6(paths(BROKEN_HIGH, path_table(0.03, barrier=0.005, k=100, seeds=(0, 1, 2, 3))))
    paired = [0.45 - 0.00425, 0.5 - 0.00475, 0.55 - 0.00525]
    assert c.verdict == "holds" and c.estimate == pytest.approx(np.mean(paired))


def test_X6_still_broken_is_read_at_the_familywise_level():
    """The late barriers 0.165, 0.2, 0.235: their 95 % interval lies above 0.10 but their 97.5 % one (the
    level over X6's two ways to fail) does not, so X6 does not fail; it does not hold either (not flat)."""
    late = (0.165, 0.2, 0.235)
    half = lambda level: stats.t.ppf(0.5 + level / 2, 2) * np.std(late, ddof=1) / np.sqrt(3)  # noqa: E731
    assert 0.2 - half(0.95) > 0.1 > 0.2 - half(0.975)
    c = lmc.check_X6(paths(BROKEN_HIGH, path_table(0.03, barrier=late, k=100)))
    assert (c.verdict, c.note) == ("inconclusive", "")


# -------------------------------------------------------------------------------- label_smoothing: S1

SEED_OFFSETS = (-1.0, 0.0, 1.0)  # seed k's residual at a level: SEED_OFFSETS[k] x spread x that level's sign
SHARED_SEED = 0.01  # a seed effect common to every level (same initialization and data order), blocked out


def finals_table(
    setting: str, levels=(0.0, 0.1, 0.2), seeds=3, acc=0.005, mir=0.02, hdr=0.02, spread=0.002
) -> pd.DataFrame:
    """``finals`` of one setting: per level and seed, accuracy, batch-mean MIR and HDR whose level means
    spread evenly over ``acc``, ``mir``, ``hdr``; each seed carries an effect shared by all levels
    (``SHARED_SEED``) and a level x seed residual whose sd is ``spread`` at three levels and seeds."""
    rows = []
    for s, level in zip(np.linspace(0.0, 1.0, len(levels)), levels, strict=True):
        for seed in range(seeds):
            o = (SHARED_SEED + spread * (2 * s - 1)) * SEED_OFFSETS[seed] if seeds > 1 else 0.0
            rows.append(
                dict(
                    setting=setting,
                    label_smoothing=level,
                    seed=seed,
                    acc=0.9 + acc * s + o,
                    mir_batch=0.6 - mir * s + o,
                    hdr_batch=0.2 + hdr * s + o,
                )
            )
    t = pd.DataFrame(rows)
    t["mir"], t["hdr"] = t.mir_batch + 0.1, t.hdr_batch + 0.05
    return t


def tukey_half(sd: float, parts: int, seeds: int = 3, levels: int = 3) -> float:
    """Half-width of the seed-blocked Tukey range interval: residual sd ``sd``, at the familywise level of
    ``parts`` parts (Bonferroni)."""
    q = stats.studentized_range.ppf(1 - 0.05 / parts, levels, (levels - 1) * (seeds - 1))
    return q * sd / np.sqrt(seeds)


@pytest.mark.parametrize(
    "bad, verdict",
    [
        (finals_table("b"), "holds"),
        (finals_table("b", acc=0.05), "fails"),
        (finals_table("b", mir=0.3), "fails"),
        (finals_table("b", hdr=0.3), "fails"),
        (finals_table("b", acc=0.015, spread=0.01), "inconclusive"),  # accuracy interval straddles 0.02
        (finals_table("b", seeds=1), "inconclusive"),  # one seed per level: no interval
        (finals_table("b", levels=(0.1,)), "inconclusive"),  # one level in one setting
    ],
    ids=["holds", "acc", "mir", "hdr", "wide seeds", "one seed", "one level"],
)
def test_S1(bad, verdict):
    c = label_smoothing.check_S1(pd.concat([finals_table("a"), bad], ignore_index=True))
    assert (c.id, c.verdict) == ("S1", verdict)
    half = tukey_half(0.002, parts=6)  # two settings x three metrics: each at 99.17 %
    assert c.numbers["largest_difference"]["a mir_batch"] == pytest.approx([0.02, 0.02 - half, 0.02 + half])
    assert "99.17 % (Bonferroni over 6)" in c.threshold


def test_S1_blocks_the_seed_effect_shared_by_the_levels():
    """A seed effect 50 times the residual moves every level alike: the interval does not widen."""
    t = finals_table("a")
    t["acc"] += 0.1 * t.seed  # seed 2 is 0.2 above seed 0 at every level
    c = label_smoothing.check_S1(t)
    half = tukey_half(0.002, parts=3)
    assert c.verdict == "holds" and c.numbers["largest_difference"]["a acc"] == pytest.approx(
        [0.005, 0.005 - half, 0.005 + half]
    )


def test_S1_evidence_is_the_change_closest_to_its_margin():
    c = label_smoothing.check_S1(finals_table("a", mir=0.3))
    half = tukey_half(0.002, parts=3)
    assert (c.verdict, c.null) == ("fails", 0.1)
    assert c.estimate == pytest.approx(0.3) and c.interval == pytest.approx([0.3 - half, 0.3 + half])
    ok = label_smoothing.check_S1(finals_table("a"))
    # closest to its margin in half-widths: accuracy, 0.005 + half against 0.02
    assert ok.verdict == "holds" and ok.null == 0.02 and ok.estimate == pytest.approx(0.005)


def test_S1_wide_seeds_straddle_the_margin_and_state_what_the_seeds_resolve():
    c = label_smoothing.check_S1(finals_table("a", acc=0.015, spread=0.01))
    half = tukey_half(0.01, parts=3)
    assert c.interval[0] < 0 < 0.02 < c.interval[1] and c.verdict == "inconclusive"  # shown as computed
    assert c.label == f"inconclusive (a acc resolved to +-{half:.3f} at these seeds)"


def test_S1_one_seed_has_no_interval():
    c = label_smoothing.check_S1(finals_table("a", seeds=1))
    assert c.label == "inconclusive (no seed spread)" and c.interval == [None, None]


def test_S1_equal_seeds_decide_nothing():
    """Seeds that agree to the last digit at every level (no residual spread) give no interval."""
    c = label_smoothing.check_S1(finals_table("a", acc=0.05, spread=0.0))
    assert c.label == "inconclusive (no seed spread)" and c.numbers["largest_difference"]["a acc"][1] is None


def test_S1_inconclusive_with_one_level():
    assert label_smoothing.check_S1(finals_table("a", levels=(0.1,))).verdict == "inconclusive"
    assert label_smoothing.check_S1(finals_table("a").iloc[:0]).verdict == "inconclusive"


def test_S1_decided_on_the_batch_means():
    """Exact MIR moving by 0.5 across levels is reported, not decisive."""
    t = finals_table("a")
    t["mir"] = 0.2 + 2.5 * t.label_smoothing
    c = label_smoothing.check_S1(t)
    assert c.verdict == "holds" and c.numbers["exact_range"]["mir"] == pytest.approx(0.5)


# --------------------------------------------------------------------------------------- pruning: P1

PRUNE_SEEDS = (0, 1, 2)
INDEPENDENT_OFFSETS = (1.0, -1.0, 0.0)  # the independent networks' seed offsets (x spread)
P1_LEVEL = 1 - 0.05 / 4  # four parts: high MIR, and accuracy, MIR and HDR changing little


def prune_table(
    sparsities=(0.5, 0.7, 0.9),
    seeds=PRUNE_SEEDS,
    mir=0.9,
    independent=0.5,
    acc=0.005,
    mir_drop=0.02,
    hdr=0.02,
    spread=0.01,
    acc_spread=0.002,
) -> pd.DataFrame:
    """``pruning.run``: per seed and sparsity, batch-mean MIR (pruned + fine-tuned vs original) ``mir``,
    falling by ``mir_drop`` up to the largest sparsity, against ``independent`` for an independently trained
    network; fine-tuned accuracy ``acc`` below the original at the largest sparsity; HDR rising by ``hdr``.
    Each seed carries an effect shared by every sparsity and a sparsity x seed residual (sd ``spread``;
    accuracy: ``acc_spread``, sd acc_spread * sqrt(2 / 3) with the unpruned model as a fourth level)."""
    rows = []
    for seed in seeds:
        o = SEED_OFFSETS[seed] if len(seeds) > 1 else 0.0
        acc_original = 0.91 + acc_spread * o
        for s, sparsity in zip(np.linspace(0.0, 1.0, len(sparsities)), sparsities, strict=True):
            mir_s = mir - mir_drop * s + spread * o * 2 * s
            ind = independent + spread * (INDEPENDENT_OFFSETS[seed] if len(seeds) > 1 else 0.0)
            hdr_s = 0.2 + hdr * s + spread * o * 2 * s
            rows.append(
                dict(
                    seed=seed,
                    sparsity=sparsity,
                    reached=sparsity + 0.001,
                    acc_original=acc_original,
                    acc_pruned=acc_original - 0.3 * s,
                    acc_finetuned=acc_original - acc * s + acc_spread * o * (2 * s - 1),
                    mir=mir_s + 0.05,
                    hdr=hdr_s,
                    mir_batch=mir_s,
                    hdr_batch=hdr_s,
                    independent_mir=ind + 0.05,
                    independent_hdr=0.4,
                    independent_mir_batch=ind,
                    independent_hdr_batch=0.4,
                    shuffled_mir=0.3,
                    shuffled_hdr=0.5,
                    shuffled_mir_batch=0.3,
                    shuffled_hdr_batch=0.5,
                    mir_heads=0.7,
                    hdr_heads=0.1,
                )
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "table, verdict",
    [
        (prune_table(), "holds"),
        (prune_table(mir=0.5), "inconclusive"),  # no more related than an independent network: noise only
        (prune_table(mir=0.3), "fails"),  # less related than an independent network
        (prune_table(acc=0.1), "fails"),  # accuracy falls by 0.1 > 0.02, beyond the seed noise
        (prune_table(mir_drop=0.3), "fails"),  # MIR changes by 0.3 > 0.1
        (prune_table(hdr=0.3), "fails"),
        (prune_table(mir_drop=0.1), "inconclusive"),  # MIR change straddles its margin
        (prune_table(seeds=(0,)), "inconclusive"),  # one seed: no interval
        (prune_table(sparsities=(0.5, 0.7, 0.8)), "inconclusive"),  # nothing within 0.05 of 90 %
    ],
    ids=["holds", "null", "below null", "acc", "mir", "hdr", "mir straddles", "one seed", "no 90 %"],
)
def test_P1(table, verdict):
    c = pruning.check_P1(table)
    assert (c.id, c.verdict) == ("P1", verdict)
    assert "98.75 % (Bonferroni over 4)" in c.threshold


def test_P1_evidence():
    c = pruning.check_P1(prune_table())
    # at 90 %: differences 0.38 + (-3, 1, 2) x 0.01 (sd 0.01 sqrt 7), paired t over three seeds at 98.75 %
    half = stats.t.ppf(1 - (1 - P1_LEVEL) / 2, 2) * 0.01 * np.sqrt(7) / np.sqrt(3)
    assert c.verdict == "holds"
    assert c.numbers["mir_difference"] == pytest.approx([0.38, 0.38 - half, 0.38 + half])
    assert c.numbers["change_verdict"] == "holds"
    # accuracy includes the unpruned model as sparsity 0: range 0.005, four levels of three seeds, blocked
    acc_half = stats.studentized_range.ppf(P1_LEVEL, 4, 6) * 0.002 * np.sqrt(2 / 3) / np.sqrt(3)
    assert c.numbers["change"]["acc"] == pytest.approx([0.005, 0.005 - acc_half, 0.005 + acc_half])
    # the row shows the holding part closest to its bound: MIR's change, 0.02 + 0.044 against 0.1
    mir_half = stats.studentized_range.ppf(P1_LEVEL, 3, 4) * 0.01 / np.sqrt(3)
    assert c.null == 0.1 and c.interval == pytest.approx([0.02 - mir_half, 0.02 + mir_half])
    assert "0.300" in c.statistic  # the shuffled-row null is reported beside
    assert "set on 2026-11-29, after the first cpu build" in c.threshold


def test_P1_row_shows_the_part_that_decided_it():
    """Decided by the change part (accuracy falls by 0.1), the row shows that interval, not the MIR one."""
    c = pruning.check_P1(prune_table(acc=0.1))
    assert c.verdict == "fails" and c.null == 0.02
    assert c.interval == pytest.approx(c.numbers["change"]["acc"][1:]) and c.interval[0] > 0.02
    below = pruning.check_P1(prune_table(mir=0.3))
    assert below.null == 0.0 and below.interval == pytest.approx(below.numbers["mir_difference"][1:])
    assert below.interval[1] < 0


@pytest.mark.parametrize("seed_noise", [0.005, 0.02, 0.05])
def test_P1_never_holds_at_the_independent_null(seed_noise):
    """Pruned features no more related to the originals than an independent network's, with seed noise."""
    c = pruning.check_P1(prune_table(mir=0.5, mir_drop=0.0, spread=seed_noise))
    assert c.verdict in ("fails", "inconclusive")
    low, high = c.numbers["mir_difference"][1:]
    assert low < 0 < high


def test_P1_needs_both_parts():
    """High MIR alone (little change inconclusive) or little change alone (MIR at the null) do not hold."""
    high_only = pruning.check_P1(prune_table(mir_drop=0.1))
    assert high_only.numbers["mir_difference"][1] > 0
    assert high_only.numbers["change_verdict"] == "inconclusive"
    assert high_only.verdict == "inconclusive"
    little_only = pruning.check_P1(prune_table(mir=0.5))
    assert little_only.numbers["change_verdict"] == "holds" and little_only.verdict == "inconclusive"


def test_P1_accuracy_change_counts_the_unpruned_model():
    """Fine-tuned accuracy flat across sparsity but 0.1 below the unpruned model: a change beyond the margin."""
    t = prune_table(acc=0.0)
    t["acc_finetuned"] -= 0.1
    c = pruning.check_P1(t)
    assert c.verdict == "fails" and c.numbers["change"]["acc"][1] > 0.02


def test_P1_labels():
    assert (
        pruning.check_P1(prune_table(sparsities=(0.5, 0.7, 0.8))).label
        == "inconclusive (no sparsity near 90 %)"
    )
    assert pruning.check_P1(prune_table().iloc[:0]).verdict == "inconclusive"


def test_P1_independent_networks_are_seeds_of_their_own():
    """Each seed's independent network is a seed outside the sweep and no other seed's: the paired
    differences over seeds share no model."""
    for seeds in ((0, 1, 2), (0, 1), (3, 7, 5)):
        other = [pruning.independent_seed(seeds, s) for s in seeds]
        assert len(set(other)) == len(seeds) and not set(other) & set(seeds)
    assert pruning.independent_seed((0, 1, 2), 0) == 3 and pruning.independent_seed((4,), 4) == 5


def test_P1_decides_at_the_sparsity_closest_to_90_percent_not_the_largest():
    """Sparsities 0.5, 0.9, 0.95: the MIR part is read at 0.9, the middle of the table's linear MIR drop:
    pruned MIR 0.9 - 0.02 / 2 = 0.89 against the independent network's 0.5 (exact values 0.05 above both)."""
    c = pruning.check_P1(prune_table(sparsities=(0.5, 0.9, 0.95)))
    assert c.numbers["mir_difference"][0] == pytest.approx(0.39)
    assert c.exact == "MIR at 0.9: 0.940 vs independent 0.550 (exact)"


def test_P1_notes_a_mir_part_without_seed_spread():
    """The same paired difference 0.38 at 90 % in every seed: no interval, so the MIR part and the row are
    undecided, noted "no seed spread"; an interval that straddles 0 (MIR at the null) adds no note."""
    t = prune_table()
    at90 = t.sparsity == 0.9
    t.loc[at90, "independent_mir_batch"] = t.loc[at90, "mir_batch"] - 0.38
    c = pruning.check_P1(t)
    assert c.numbers["mir_difference"] == [pytest.approx(0.38), None, None]
    assert c.numbers["change_verdict"] == "holds"
    assert (c.verdict, c.note, c.label) == ("inconclusive", "no seed spread", "inconclusive (no seed spread)")
    null = pruning.check_P1(prune_table(mir=0.5))
    assert (null.verdict, null.note, null.label) == ("inconclusive", "", "inconclusive")


def test_P1_row_shows_the_mir_part_when_it_is_the_holding_part_closest_to_its_bound():
    """Pruned MIR 0.74 at 90 %: paired difference 0.22 with half-width h (t, 2 df, 98.75 %), toward failing
    by (0 - (0.22 - h)) / h half-widths, closer to its bound than MIR's change part (0.02 + m - 0.1) / m (m its
    Tukey half-width) and than the other parts, so the holding row shows the MIR part (null 0)."""
    h = stats.t.ppf(1 - (1 - P1_LEVEL) / 2, 2) * 0.01 * np.sqrt(7) / np.sqrt(3)
    m = stats.studentized_range.ppf(P1_LEVEL, 3, 4) * 0.01 / np.sqrt(3)
    severity, change_severity = (h - 0.22) / h, (0.02 + m - 0.1) / m
    assert 2 * severity < change_severity < severity  # the MIR part is shown, but not at twice its severity
    c = pruning.check_P1(prune_table(mir=0.74))
    assert c.verdict == "holds"
    assert c.null == 0.0 and c.interval == pytest.approx([0.22 - h, 0.22 + h])


# -------------------------------------------------------------------------------------- grokking: G1, G2

P = 59  # the modulus: chance is 1/p, the G1 bound 3/p
STEPS = np.arange(1, 41) * 100
TWO_PHASE_MIR = ([100, 600, 1200, 4000], [0.2, 0.6, 0.3, 0.5])  # rises, falls to a minimum at grokking
TWO_PHASE_HDR = ([100, 500, 1200, 4000], [0.8, 0.3, 0.7, 0.2])  # falls, peaks at grokking, drops
MIR_STILL_FALLING = ([100, 600, 4000], [0.2, 0.6, 0.3])  # rises, then falls until the last step (4000)


def grok_table(
    mem=300,
    grok=1200,
    test_at_mem=2 / P,
    mir=TWO_PHASE_MIR,
    hdr=TWO_PHASE_HDR,
    exact_mir=None,
    exact_hdr=None,
    mirror=None,
) -> pd.DataFrame:
    """Train accuracy 1 from ``mem`` (never if None), test accuracy 0.97 from ``grok`` (never if None); train
    batch-mean MIR and HDR piecewise linear through the (steps, values) knots ``mir`` and ``hdr``, the exact
    values through ``exact_mir`` / ``exact_hdr`` (default: the same knots). ``mirror`` = (accuracy on mirrored
    test pairs, on unmirrored ones, their two counts) at every step, with test losses 1, 9 and 5 overall; None:
    a run stored before the mirrored split was logged."""
    test_acc = np.where(STEPS >= (grok or np.inf), 0.97, test_at_mem)
    split = {}
    if mirror is not None:
        acc_m, acc_u, n_m, n_u = mirror
        split = dict(acc_mirrored=acc_m, acc_unmirrored=acc_u, n_mirrored=n_m, n_unmirrored=n_u)
        split |= dict(loss=5.0, loss_mirrored=1.0, loss_unmirrored=9.0)
    train = pd.DataFrame(
        {
            "step": STEPS,
            "split": "train",
            "acc": np.where(STEPS >= (mem or np.inf), 1.0, 0.5),
            "mir_batch": np.interp(STEPS, *mir),
            "hdr_batch": np.interp(STEPS, *hdr),
            "mir": np.interp(STEPS, *(exact_mir or mir)),
            "hdr": np.interp(STEPS, *(exact_hdr or hdr)),
        }
    )
    test = pd.DataFrame(
        {
            "step": STEPS,
            "split": "test",
            "acc": test_acc,
            "mir": 0.1,
            "hdr": 0.9,
            "mir_batch": 0.1,
            "hdr_batch": 0.9,
            **split,
        }
    )
    return pd.concat([train, test], ignore_index=True)


@pytest.mark.parametrize(
    "table, verdict",
    [
        (grok_table(), "holds"),
        (grok_table(test_at_mem=5 / P), "fails"),  # test accuracy at memorization above 3/p
        (grok_table(grok=600), "fails"),  # grokking only twice as late as memorization
        (grok_table(grok=None), "inconclusive"),  # never groks
        (grok_table(mem=None), "inconclusive"),  # never memorizes
    ],
    ids=["2/p", "5/p", "early", "no grokking", "no memorization"],
)
def test_G1(table, verdict):
    c = grokking.check_G1(table, P)
    assert (c.id, c.verdict) == ("G1", verdict)
    assert c.null == pytest.approx(1 / P)


def test_G1_bound_is_three_over_p():
    """The same run, test accuracy 0.1 at memorization: within 3/p for p = 29, above it for p = 31."""
    t = grok_table(test_at_mem=0.1)
    assert grokking.check_G1(t, 29).verdict == "holds"  # 3/29 = 0.103
    assert grokking.check_G1(t, 31).verdict == "fails"  # 3/31 = 0.097
    assert "3/p = 0.103" in grokking.check_G1(t, 29).threshold


def test_G1_numbers():
    c = grokking.check_G1(grok_table(mirror=(0.9, 0.01, 800, 820)), P)
    assert c.numbers == {
        "memorization": 300,
        "grokking": 1200,
        "test_acc_at_memorization": pytest.approx(2 / P),
        "test_loss_at_memorization": 5.0,
        "test_acc_mirrored_at_memorization": 0.9,
        "test_loss_mirrored_at_memorization": 1.0,
        "n_mirrored": 800,
        "test_acc_unmirrored_at_memorization": 0.01,
        "test_loss_unmirrored_at_memorization": 9.0,
        "n_unmirrored": 820,
        "log_p": pytest.approx(np.log(P)),
    }
    assert "0.900 on the 800 test pairs whose mirror (b, a) was trained on, 0.010 on the 820" in c.statistic
    assert "test loss at memorization 5.00 against log p = 4.08" in c.statistic
    assert grokking.check_G1(grok_table(grok=900), P).verdict == "holds"  # g = 3 m exactly
    # a run stored before the split was logged: the same verdict, the split's numbers empty
    old = grokking.check_G1(grok_table(), P)
    assert old.verdict == c.verdict and old.numbers["n_mirrored"] is None and "mirror" not in old.statistic


def test_G1_says_its_bound_was_set_after_the_cpu_result():
    """3/p replaced 0.5 after the first cpu build (git history): the row must say so."""
    threshold = grokking.check_G1(grok_table(), P).threshold
    assert "bound set after the cpu result" in threshold and "replaced 0.5" in threshold


def test_G1_test_accuracy_exactly_at_the_bound_holds():
    """A test accuracy of exactly 3/p at memorization is within the bound ("at most 3/p")."""
    assert grokking.check_G1(grok_table(test_at_mem=3 / P), P).verdict == "holds"


def test_G1_row_text_and_evidence():
    """The statistic in full (accuracy rounded to 3 places, chance 1/59 = 0.017, log 59 = 4.08), the one-run
    evidence (the test accuracy at memorization, no interval), and no evidence when the run never memorizes."""
    c = grokking.check_G1(grok_table(mirror=(0.9, 0.01, 800, 820)), P)
    assert c.statistic == (
        "memorization step 300, grokking step 1200, test accuracy at memorization 0.034 (chance 1/p = 0.017); "
        "0.900 on the 800 test pairs whose mirror (b, a) was trained on, 0.010 on the 820 whose mirror was not; "
        "test loss at memorization 5.00 against log p = 4.08"
    )
    assert c.estimate == pytest.approx(2 / P) and c.interval == [None, None] and c.method == "one run"
    never = grokking.check_G1(grok_table(mem=None), P)
    assert never.statistic == (
        "memorization step None, grokking step 1200, test accuracy at memorization None (chance 1/p = 0.017)"
    )
    assert (never.estimate, never.interval, never.method) == (None, None, "")


@pytest.mark.parametrize(
    "table, verdict",
    [
        (grok_table(), "holds"),
        (grok_table(mir=([100, 600, 900, 4000], [0.2, 0.6, 0.3, 0.5])), "fails"),  # MIR lowest before g
        (grok_table(mir=([100, 4000], [0.2, 0.6])), "fails"),  # MIR only rises
        (grok_table(hdr=([100, 500, 3600, 4000], [0.8, 0.3, 0.7, 0.2])), "fails"),  # HDR peaks far after g
        (grok_table(hdr=([100, 4000], [0.8, 0.2])), "fails"),  # HDR only falls: no second phase
        (grok_table(grok=None), "inconclusive"),
        (grok_table(mir=MIR_STILL_FALLING), "inconclusive"),  # MIR's minimum is the last evaluated step
        (grok_table(hdr=([100, 500, 4000], [0.8, 0.3, 0.7])), "inconclusive"),  # HDR still rising at the end
        (grok_table(mir=MIR_STILL_FALLING, hdr=([100, 4000], [0.8, 0.2])), "fails"),  # a seen part fails
    ],
    ids=[
        "holds",
        "mir min before g",
        "mir rises",
        "hdr late",
        "hdr falls",
        "no grokking",
        "mir min at the end",
        "hdr peak at the end",
        "end and a seen failure",
    ],
)
def test_G2(table, verdict):
    c = grokking.check_G2(table)
    assert (c.id, c.verdict) == ("G2", verdict)


def test_G2_numbers():
    c = grokking.check_G2(grok_table())
    assert c.numbers["train"]["mir_min"] == 1200 and c.numbers["train"]["hdr_peak"] == 1200
    assert c.numbers["train"]["holds"] is True
    early = grokking.check_G2(grok_table(mir=([100, 600, 900, 4000], [0.2, 0.6, 0.3, 0.5])))
    assert (
        early.numbers["train"]["mir_min"] < 1200
        and early.numbers["train"]["mir_lowest_after_grokking"] is False
    )


def test_G2_decided_on_the_batch_means():
    """The exact values are reported beside; the batch means decide."""
    early = ([100, 600, 900, 4000], [0.2, 0.6, 0.3, 0.5])
    c = grokking.check_G2(grok_table(exact_mir=early))
    assert c.verdict == "holds" and "all four parts: False" in c.exact
    d = grokking.check_G2(grok_table(mir=early, exact_mir=TWO_PHASE_MIR))
    assert d.verdict == "fails" and "all four parts: True" in d.exact


def test_G2_minimum_at_the_last_step_is_inconclusive():
    """The paper's "MIR reaches its lowest" needs a turning point: a minimum at the last evaluated step is a
    boundary value (MIR may still be falling), so the part is undetermined and the row says why."""
    c = grokking.check_G2(grok_table(mir=MIR_STILL_FALLING))
    assert c.label == "inconclusive (mir_min at the last evaluated step)"
    assert c.numbers["train"]["mir_min"] == 4000 and c.numbers["train"]["mir_lowest_after_grokking"] is True
    assert c.numbers["train"]["undetermined"] == "mir_lowest_after_grokking"
    assert "at the last evaluated step 4000: mir_min" in c.statistic
    assert grokking.check_G2(grok_table()).numbers["train"]["undetermined"] == ""
    assert "set after the first cpu build" in c.threshold


def test_G2_row_text_and_numbers():
    """The whole row of the two-phase table. Window-5 medians of the knots: MIR's smoothed peak 0.52 is the
    value at 500 in the windows of 500, 600 and 700 (the first, 500, is taken), its minimum after it the value
    at 1400 in the windows of 1200-1400 (1200); HDR's minimum before 1200 the value at 700 in those of 500-700
    (500), its peak the value at 1400 in those of 1200-1400 (1200). The test split's curves are constant: no
    part holds there, and each turning point is the first step."""
    c = grokking.check_G2(grok_table())
    assert c.statistic == (
        "train (decides): mir_rises: True, mir_lowest_after_grokking: True, hdr_falls: True, "
        "hdr_peaks_near_grokking_then_drops: True, mir_peak: 500, mir_min: 1200, hdr_min: 500, hdr_peak: 1200; "
        "test: 0 of 4 parts hold"
    )
    assert c.threshold == (
        "all four parts, train split, batch mean (rule of 2026-11-29/12-04, set after the first cpu build "
        "(2026-11-28))"
    )
    assert c.exact == "on the exact values all four parts: True" and c.note == ""
    parts = ("mir_rises", "mir_lowest_after_grokking", "hdr_falls", "hdr_peaks_near_grokking_then_drops")
    steps = ("mir_peak", "mir_min", "hdr_min", "hdr_peak")
    assert c.numbers["test"] == {
        **dict.fromkeys(parts, False),
        **dict.fromkeys(steps, 100),
        "last_step": 4000,
        "at_last_step": "",
        "undetermined": "",
        "holds": False,
    }


def test_G2_without_grokking_says_so():
    c = grokking.check_G2(grok_table(grok=None))
    assert (c.verdict, c.label, c.numbers) == ("inconclusive", "inconclusive", {})
    assert c.statistic == "no grokking step: the two-phase test needs one" and c.threshold == "all four parts"


def test_G2_two_parts_at_the_last_step_leave_it_inconclusive():
    """MIR falls by only 0.01 after its peak and is lowest at the last step (its part would fail: a drop under
    the 0.02 margin), and HDR rises to the last step (its part would fail: no drop after the peak). Both parts
    rest on a turning point at the last step, so neither decides: the two that are seen hold, and G2 is
    inconclusive. The smoothed MIR peak is the value at 800 in the windows of 600-800 (600 is taken)."""
    table = grok_table(mir=([100, 600, 4000], [0.2, 0.6, 0.59]), hdr=([100, 500, 4000], [0.8, 0.3, 0.7]))
    c = grokking.check_G2(table)
    assert c.verdict == "inconclusive"
    assert c.label == "inconclusive (mir_min, hdr_peak at the last evaluated step)"
    assert c.statistic == (
        "train (decides): mir_rises: True, mir_lowest_after_grokking: False, hdr_falls: True, "
        "hdr_peaks_near_grokking_then_drops: False, mir_peak: 600, mir_min: 4000, hdr_min: 500, hdr_peak: 4000; "
        "at the last evaluated step 4000: mir_min, hdr_peak; test: 0 of 4 parts hold"
    )
    undetermined = "mir_lowest_after_grokking, hdr_peaks_near_grokking_then_drops"
    assert c.numbers["train"]["undetermined"] == undetermined


# ------------------------------------------------------------------------------------------ grokking: X5

MIRRORED_HOLDS = (0.9, 0.01, 800, 820)  # mirrors answered, the rest at chance (3/p = 0.051)


@pytest.mark.parametrize(
    "table, verdict",
    [
        (grok_table(mirror=MIRRORED_HOLDS), "holds"),
        (grok_table(mirror=(0.9, 0.2, 800, 820)), "fails"),  # unmirrored pairs well above 3/p too
        (grok_table(mirror=(0.01, 0.01, 800, 820)), "fails"),  # mirrored pairs not answered either
        (grok_table(mirror=(0.9, 0.045, 800, 820)), "inconclusive"),  # unmirrored interval straddles 3/p
        (grok_table(mirror=(0.06, 0.01, 800, 820)), "inconclusive"),  # mirrored interval straddles 3/p
        (grok_table(mirror=(0.9, 0.01, 0, 820)), "inconclusive"),  # no mirrored pairs
        (grok_table(mem=None, mirror=MIRRORED_HOLDS), "inconclusive"),  # never memorizes
        (grok_table(), "inconclusive"),  # stored before the split was logged
    ],
    ids=["holds", "unmirrored high", "mirrored low", "straddles u", "straddles m", "empty", "no mem", "old"],
)
def test_X5(table, verdict):
    c = grokking.check_X5(table, P)
    assert (c.id, c.verdict) == ("X5", verdict)
    assert c.null == pytest.approx(3 / P)


def test_X5_numbers_and_intervals():
    """Wilson intervals at 97.5 % each (two parts, Bonferroni); the row shows the interval that decided."""
    from scipy.stats import binomtest

    c = grokking.check_X5(grok_table(mirror=MIRRORED_HOLDS), P)
    ref = binomtest(720, 800).proportion_ci(0.975, "wilson")
    assert c.interval == pytest.approx([ref.low, ref.high]) and c.estimate == 0.9
    assert c.numbers["memorization"] == 300 and c.numbers["level"] == pytest.approx(0.975)
    assert c.numbers["n_mirrored"] == 800 and c.numbers["unmirrored"][0] == 0.01
    assert "mirrored pairs 0.900 [" in c.statistic and "(n = 820)" in c.statistic
    fails = grokking.check_X5(grok_table(mirror=(0.9, 0.2, 800, 820)), P)
    assert fails.estimate == 0.2  # the unmirrored interval decided
    assert grokking.check_X5(grok_table(), P).label == "inconclusive (no mirrored split)"


def wilson_by_roots(acc, n, level):
    """Wilson's score interval as the two roots in q of (acc - q)^2 n = z^2 q (1 - q), z the normal quantile
    of (1 + level) / 2: the quadratic (n + z^2) q^2 - (2 n acc + z^2) q + n acc^2 = 0."""
    z = stats.norm.ppf((1 + level) / 2)
    return sorted(np.roots([n + z * z, -(2 * n * acc + z * z), n * acc * acc]).real)


def test_X5_row_text_and_numbers():
    """The whole row where X5 holds, the intervals solved from Wilson's quadratic at 97.5 %."""
    c = grokking.check_X5(grok_table(mirror=MIRRORED_HOLDS), P)
    m, u = wilson_by_roots(0.9, 800, 0.975), wilson_by_roots(0.01, 820, 0.975)
    assert c.statistic == (
        f"test accuracy at memorization (step 300): mirrored pairs 0.900 [{m[0]:.3f}, {m[1]:.3f}] (n = 800), "
        f"unmirrored pairs 0.010 [{u[0]:.3f}, {u[1]:.3f}] (n = 820); chance 1/p = 0.017"
    )
    threshold = "mirrored interval above 3/p = 0.051, unmirrored at or below it (Wilson, 97.5 % each)"
    assert c.threshold == threshold
    assert c.numbers == {
        "memorization": 300,
        "mirrored": pytest.approx([0.9, *m]),
        "unmirrored": pytest.approx([0.01, *u]),
        "n_mirrored": 800,
        "n_unmirrored": 820,
        "level": pytest.approx(0.975),
    }


@pytest.mark.parametrize(
    "mirror, shown, label",
    [
        ((0.9, 0.045, 800, 820), "unmirrored", "inconclusive (an interval straddles 3/p)"),
        ((0.06, 0.01, 800, 820), "mirrored", "inconclusive (an interval straddles 3/p)"),
        ((0.01, 0.01, 800, 820), "mirrored", "fails"),  # the mirrored interval lies below 3/p
    ],
    ids=["straddles u", "straddles m", "mirrored low"],
)
def test_X5_row_shows_the_interval_that_decided(mirror, shown, label):
    """Where the unmirrored interval straddles 3/p beside a mirrored one above it, the unmirrored interval
    is shown; where the mirrored one straddles or lies below, the mirrored one."""
    acc_m, acc_u, n_m, n_u = mirror
    acc, n = (acc_m, n_m) if shown == "mirrored" else (acc_u, n_u)
    c = grokking.check_X5(grok_table(mirror=mirror), P)
    assert (c.label, c.estimate) == (label, acc)
    assert c.interval == pytest.approx(wilson_by_roots(acc, n, 0.975))


def test_X5_without_memorization_or_mirrored_pairs_says_so():
    never = grokking.check_X5(grok_table(mem=None, mirror=MIRRORED_HOLDS), P)
    assert (never.label, never.statistic) == ("inconclusive (no memorization)", "no memorization step")
    empty = grokking.check_X5(grok_table(mirror=(0.9, 0.01, 0, 820)), P)  # no mirrored pairs: no interval
    assert empty.label == "inconclusive (no mirrored split)"
    assert empty.statistic == "no mirrored split logged at memorization"
    assert (empty.estimate, empty.interval, empty.method) == (None, None, "")


# ------------------------------------------------------------------------------- info losses: E1, E2

BASE_ACC = (
    95.0,
    93.0,
    96.5,
)  # cross-entropy's test accuracy % per seed: seeds differ far more than the terms


def sup_runs(
    mi=(0.55, 0.6, 0.65), hdr=(0.45, 0.5, 0.55), base=BASE_ACC, dataset: str = "cifar10"
) -> pd.DataFrame:
    """``supervised_info.run_study``: cross-entropy at ``base`` % per seed, each term ``mi`` / ``hdr`` points
    above it on the same seed (None: the term was not run), then the selection runs (seed 100, two lambdas per
    term, their own test accuracy)."""
    common = dict(dataset=dataset, model="wrn-28-2", val_acc=np.nan, mir=0.5, hdr=0.3)
    rows = []
    for loss, lam, gains in (("", 0.0, (0.0,) * len(base)), ("mi", 0.1, mi), ("hdr", 1.0, hdr)):
        if gains is None:
            continue
        for seed, (b, g) in enumerate(zip(base, gains, strict=True)):
            rows.append(
                dict(common, loss=loss, seed=seed, role="chosen", test_acc=(b + g) / 100, **{"lambda": lam})
            )
    for loss in ("mi", "hdr"):
        for lam in (0.1, 1.0):
            rows.append(
                dict(
                    common,
                    loss=loss,
                    seed=100,
                    role="selection",
                    test_acc=0.9,
                    val_acc=0.9,
                    **{"lambda": lam},
                )
            )
    return pd.DataFrame(rows)


def t_half(values, parts: int = 1) -> float:
    """Half-width of the t interval of ``values``' mean at the familywise level of ``parts`` (Bonferroni)."""
    q = stats.t.ppf(1 - 0.025 / parts, len(values) - 1)
    return q * np.std(values, ddof=1) / np.sqrt(len(values))


def exact_detectable(sd: float, n: int, parts: int) -> float:
    """The true difference the paired t test at 1 - 0.05 / parts detects with 80 % power (noncentral t)."""
    t = stats.t.ppf(1 - 0.025 / parts, n - 1)

    def power(delta: float) -> float:
        ncp = delta / sd * np.sqrt(n)
        return stats.nct.sf(t, n - 1, ncp) + np.nan_to_num(stats.nct.cdf(-t, n - 1, ncp)) - 0.8

    return optimize.brentq(power, 0, 100 * sd)


@pytest.mark.parametrize(
    "bad, verdict, note",
    [
        (sup_runs(), "holds", ""),
        (sup_runs(hdr=(-0.45, -0.5, -0.55)), "fails", ""),  # HDR lowers accuracy at every seed
        (sup_runs(mi=(0.5, -0.3, 0.1)), "inconclusive", "underpowered"),  # straddles, detectable > 0.17
        (sup_runs(mi=(0.01, -0.01, 0.0)), "inconclusive", ""),  # straddles, detectable 0.08 < 0.17
        (sup_runs(hdr=None), "inconclusive", ""),  # no HDR variant
    ],
    ids=["holds", "fails", "underpowered", "inconclusive", "no variant"],
)
def test_E1(bad, verdict, note):
    c = supervised_info.check_E1({"a": sup_runs(), "b": bad})
    assert (c.id, c.verdict, c.note) == ("E1", verdict, note)
    assert c.label == (f"{verdict} ({note})" if note else verdict)


def test_E1_evidence_is_paired_by_seed():
    """Seeds differ by 3.5 points, the terms gain 0.45 to 0.65 on every seed: the paired intervals, each at
    97.5 % (two terms, Bonferroni), lie above 0; the row shows the weaker term."""
    c = supervised_info.check_E1({"a": sup_runs()})
    half = t_half([0.45, 0.5, 0.55], parts=2)
    assert (c.verdict, c.null) == ("holds", 0.0)
    assert c.estimate == pytest.approx(0.5) and c.interval == pytest.approx([0.5 - half, 0.5 + half])
    assert c.method == "paired t interval over 3 seeds (97.5 %)"
    assert "97.5 % (Bonferroni over 2)" in c.threshold
    terms = {t[1]: t for t in c.numbers["terms"]}
    assert terms["cross-entropy + MI"][2:5] == pytest.approx([0.6, 0.6 - half, 0.6 + half])
    assert terms["cross-entropy + MI"][5] == pytest.approx(exact_detectable(0.05, 3, parts=2), rel=1e-6)
    assert [t[-1] for t in c.numbers["terms"]] == ["holds", "holds"]
    assert "cross-entropy + MI: +0.17" in c.paper and "the paper's CIFAR-10 Table 2 numbers" in c.paper


def test_decided_differences_carry_the_verdicts_level():
    """The tables printed beside E1 and E2 show the intervals that decided them."""
    e1 = supervised_info.decided({"a": sup_runs(), "b": sup_runs()})
    assert e1.level.tolist() == pytest.approx([1 - 0.05 / 4] * 4)
    e2 = freematch.decided({"a": ssl_runs(counts=(250,))})
    assert e2.level.tolist() == pytest.approx([0.975] * 2)


def test_E1_names_the_data_set_of_the_reference_effects():
    fashion = supervised_info.check_E1({"a": sup_runs(dataset="fashion_mnist")})
    assert "CIFAR-10 Table 2 numbers, applied to fashion_mnist, which the paper does not run" in fashion.paper
    assert "applied to" not in supervised_info.check_E1({"a": sup_runs()}).paper


def test_E1_one_term_failing_alone_at_95_percent_is_not_enough():
    """A term whose 95 % interval just excludes 0 but whose familywise (97.5 %) interval does not: the claim
    has two terms, so it is not 'fails' (the cpu build's HDR, -2.24 [-4.24, -0.23], was such a case)."""
    hdr = (-1.4, -2.3, -3.0)
    assert t_half(hdr) < -np.mean(hdr) < t_half(hdr, parts=2)
    c = supervised_info.check_E1({"a": sup_runs(mi=(3.0, -4.0, 0.5), hdr=hdr)})
    assert c.verdict == "inconclusive"


def test_E1_fails_with_the_failing_term_as_evidence():
    """MI straddles 0 with a wide interval that reaches further below 0 than HDR's; HDR lowers accuracy at every
    seed, so E1 fails, and the row shows HDR's interval, which lies below 0, not MI's, which does not."""
    c = supervised_info.check_E1({"a": sup_runs(mi=(3.0, -4.0, 0.5), hdr=(-0.45, -0.5, -0.55))})
    words = {t[1]: t[-1] for t in c.numbers["terms"]}
    assert words == {"cross-entropy + MI": "underpowered", "cross-entropy + HDR": "fails"}
    half = t_half([-0.45, -0.5, -0.55], parts=2)
    assert c.verdict == "fails" and c.interval == pytest.approx([-0.5 - half, -0.5 + half])
    assert c.estimate == pytest.approx(-0.5) and c.interval[1] < 0


def test_E1_underpowered():
    c = supervised_info.check_E1({"a": sup_runs(mi=(0.5, -0.3, 0.1))})
    mi = next(t for t in c.numbers["terms"] if t[1] == "cross-entropy + MI")
    assert mi[3] < 0 < mi[4] and mi[5] > 0.17 and mi[-1] == "underpowered"
    assert c.label == "inconclusive (underpowered)"


def test_E1_ignores_the_selection_runs():
    """A wildly different selection run, even at a reported seed, changes nothing."""
    frame = sup_runs(mi=(0.5, -0.3, 0.1))
    wild = pd.DataFrame(
        [
            dict(frame.iloc[-1], seed=0, test_acc=0.1, **{"lambda": 0.1}),
            dict(frame.iloc[-1], seed=0, loss="", test_acc=0.99, **{"lambda": 0.0}),
        ]
    )
    plain = supervised_info.check_E1({"a": frame})
    extra = supervised_info.check_E1({"a": pd.concat([frame, wild], ignore_index=True)})
    assert (extra.verdict, extra.note, extra.estimate, extra.interval) == (
        plain.verdict,
        plain.note,
        plain.estimate,
        plain.interval,
    )
    assert extra.numbers == plain.numbers


@pytest.mark.parametrize(
    "frames",
    [
        {},
        {"a": sup_runs(hdr=None)},
        {"a": sup_runs(mi=None, hdr=None)},
        {"a": sup_runs(), "b": sup_runs(mi=None)},
    ],
    ids=["no setting", "no HDR variant", "cross-entropy only", "one setting lacks MI"],
)
def test_E1_inconclusive_when_a_setting_is_incomplete(frames):
    assert supervised_info.check_E1(frames).verdict == "inconclusive"


def test_E1_a_variant_only_in_selection_runs_is_missing():
    frame = sup_runs(hdr=None)
    assert (frame[frame.loss == "hdr"].role == "selection").all()
    assert supervised_info.check_E1({"a": frame}).verdict == "inconclusive"


BASE_ERROR = (5.0, 6.5, 4.5)  # FreeMatch's test error % per seed
DOWN = (-0.55, -0.6, -0.65)  # error change (points) of a term that helps at every seed
UP = (0.55, 0.6, 0.65)
NOISY = (0.5, -0.3, 0.1)  # straddles 0; detectable above the paper's 0.24 to 0.32


def ssl_runs(mi=None, hdr=None, counts=(40, 250), base=BASE_ERROR) -> pd.DataFrame:
    """``freematch.run_study``: per label count and seed the supervised-only baseline (30 % error), FreeMatch
    at ``base`` % error, and each term's error change in points (``mi`` / ``hdr``: a tuple per seed used at
    every count, or a dict count -> tuple; default ``DOWN``); then the selection runs at the last count."""

    def change(value, n):
        value = DOWN if value is None else value
        return value[n] if isinstance(value, dict) else value

    common = dict(dataset="cifar10", model="wrn-28-2", val_acc=np.nan, mir=0.5, hdr=0.3)
    rows = []
    for n in counts:
        for seed, b in enumerate(base):
            terms = [("supervised", "", 0.0, 30.0), ("FreeMatch", "", 0.0, b)]
            terms += [("FreeMatch", k, 0.1, b + change(v, n)[seed]) for k, v in (("mi", mi), ("hdr", hdr))]
            for method, loss, lam, err in terms:
                rows.append(
                    dict(
                        common,
                        num_labels=n,
                        method=method,
                        loss=loss,
                        seed=seed,
                        role="chosen",
                        test_acc=1 - err / 100,
                        **{"lambda": lam},
                    )
                )
    for loss in ("mi", "hdr"):
        for lam in (0.1, 1.0):
            rows.append(
                dict(
                    common,
                    num_labels=counts[-1],
                    method="FreeMatch",
                    loss=loss,
                    seed=100,
                    role="selection",
                    test_acc=0.5,
                    val_acc=0.5,
                    **{"lambda": lam},
                )
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    "bad, verdict, note",
    [
        (ssl_runs(), "holds", ""),
        (ssl_runs(counts=(10, 40, 250), hdr={10: DOWN, 40: DOWN, 250: NOISY}), "holds", ""),  # 2 of 3 counts
        (ssl_runs(hdr={40: DOWN, 250: UP}), "fails", ""),  # HDR raises the error at half the counts
        (ssl_runs(mi=UP), "fails", ""),
        (ssl_runs(hdr={40: DOWN, 250: NOISY}), "inconclusive", "underpowered"),  # 1 of 2 counts
        (ssl_runs(mi=NOISY, hdr=NOISY), "inconclusive", "underpowered"),
        (ssl_runs(hdr={40: DOWN, 250: (0.01, -0.01, 0.0)}), "inconclusive", ""),  # detectable 0.12 < 0.28
    ],
    ids=["holds", "most counts", "fails half", "mi up", "half undecided", "all noisy", "inconclusive"],
)
def test_E2(bad, verdict, note):
    c = freematch.check_E2({"a": ssl_runs(), "b": bad})
    assert (c.id, c.verdict, c.note) == ("E2", verdict, note)
    assert c.label == (f"{verdict} ({note})" if note else verdict)
    assert c.numbers["share_holds_fails"]["a FreeMatch + MI"] == [1.0, 0.0]


def test_E2_most_counts_with_one_failing():
    """Lower error at 2 of 3 counts and higher at 1: holds ("in most label settings"); at 1 of 3: fails."""
    most = freematch.check_E2({"a": ssl_runs(counts=(10, 40, 250), hdr={10: DOWN, 40: DOWN, 250: UP})})
    assert most.verdict == "holds" and most.numbers["share_holds_fails"][
        "a FreeMatch + HDR"
    ] == pytest.approx([2 / 3, 1 / 3])
    assert most.interval[1] < 0  # the row shows a count where the error falls, not the count where it rises
    few = freematch.check_E2({"a": ssl_runs(counts=(10, 40, 250), hdr={10: DOWN, 40: UP, 250: UP})})
    assert few.verdict == "fails" and few.interval[0] > 0  # and here a count where it rises


def test_E2_evidence():
    c = freematch.check_E2({"a": ssl_runs()})
    half = t_half(DOWN, parts=4)  # two variants x two counts: each at 98.75 %
    assert (c.verdict, c.null) == ("holds", 0.0)
    assert c.estimate == pytest.approx(-0.6) and c.interval == pytest.approx([-0.6 - half, -0.6 + half])
    assert "each interval at 98.75 % (Bonferroni over 4)" in c.threshold  # comparisons, not variants
    assert len(c.numbers["terms"]) == 4  # two variants x two counts; the supervised baseline is not a term
    assert {t[1] for t in c.numbers["terms"]} == {"FreeMatch + MI", "FreeMatch + HDR"}
    assert "FreeMatch + MI 40: -0.24" in c.paper and "the paper's CIFAR-10 Table 1 numbers" in c.paper
    assert "one label count" not in c.threshold


def test_E2_says_when_it_rests_on_one_label_count():
    c = freematch.check_E2({"a": ssl_runs(counts=(250,))})
    assert c.verdict == "holds" and len(c.numbers["terms"]) == 2
    assert "at one label count in a (250 labels), 'most label counts' is that one count" in c.threshold
    half = t_half(DOWN, parts=2)  # two variants at one count: each at 97.5 %
    assert c.interval == pytest.approx([-0.6 - half, -0.6 + half])


def test_E2_a_variant_holds_at_most_counts_with_its_own_intervals_at_the_familywise_level():
    """One variant x three counts in one setting: six comparisons, each at 99.17 %; a count whose 95 %
    interval excludes 0 but whose familywise one does not is undecided."""
    weak = (-0.3, -0.5, -0.7)
    assert t_half(weak) < 0.5 < t_half(weak, parts=6)
    c = freematch.check_E2({"a": ssl_runs(counts=(10, 40, 250), hdr={10: DOWN, 40: weak, 250: weak})})
    assert c.numbers["share_holds_fails"]["a FreeMatch + HDR"] == pytest.approx([1 / 3, 0.0])
    assert c.verdict == "inconclusive"


def test_E2_ignores_the_supervised_baseline_and_the_selection_runs():
    frame = ssl_runs(hdr={40: DOWN, 250: NOISY})
    plain = freematch.check_E2({"a": frame})
    changed = frame.copy()
    changed.loc[changed.method == "supervised", "test_acc"] = 0.99  # baseline better than everything
    wild = dict(changed.iloc[-1], seed=0, num_labels=40, loss="", test_acc=0.01)  # a selection run at seed 0
    changed = pd.concat([changed, pd.DataFrame([wild])], ignore_index=True)
    c = freematch.check_E2({"a": changed})
    assert (c.verdict, c.note, c.estimate, c.interval) == (
        plain.verdict,
        plain.note,
        plain.estimate,
        plain.interval,
    )
    assert c.numbers == plain.numbers


@pytest.mark.parametrize(
    "keep",
    [["supervised only", "FreeMatch"], ["supervised only", "FreeMatch", "FreeMatch + MI"], []],
    ids=["no variants", "no HDR", "empty"],
)
def test_E2_inconclusive_without_variants(keep):
    frame = ssl_runs()
    names = frame.apply(il.method_name, axis=1)
    c = freematch.check_E2({"a": frame[names.isin(keep) | (frame.role == "selection")]} if keep else {})
    assert (c.id, c.verdict) == ("E2", "inconclusive")
    assert "share_holds_fails" not in c.numbers


# --------------------------------------------------------------------------------- own network: X3


def own_curves(seeds: int = 3, **columns) -> dict[str, pd.DataFrame]:
    """ResNet-18 runs at ``seeds`` seeds in the form ``own_network.curves`` gives (the dynamics tables above)."""
    return {"fashion_mnist / resnet18": seeded(seeds, **columns).assign(model="resnet18")}


def test_X3_holds_on_the_five_parts_of_D1_and_D2():
    c = own_network.check_X3(own_curves())
    assert (c.id, c.verdict, c.null) == ("X3", "holds", 0.0)
    assert set(c.numbers["per_seed"]["fashion_mnist / resnet18 seed 0"]) == {
        "rho_mir",
        "mir_rise",
        "gap_shrink",
        "rho_hdr",
        "hdr_change",
    }
    assert "99 %" in c.statistic and "Bonferroni over 5 parts" in c.statistic
    assert "exact MIR at the end" in c.exact


@pytest.mark.parametrize(
    "columns, deciding",
    [
        (dict(mir_batch=0.7 - 0.5 * RISE), ("rho_mir", "mir_rise", "gap_shrink")),  # MIR falls with accuracy
        (dict(hdr_batch=0.3 + 0.5 * RISE), ("rho_hdr", "hdr_change")),  # HDR rises with accuracy
    ],
)
def test_X3_fails_when_a_part_of_D1_or_D2_fails(columns, deciding):
    c = own_network.check_X3(own_curves(**columns))
    assert c.verdict == "fails" and c.numbers["deciding"].split()[-1] in deciding
    assert c.interval[1] < 0 if deciding[0] == "rho_mir" else c.interval[0] > 0  # shown: the wrong-way part


def test_X3_inconclusive_with_one_seed_or_a_straddling_part():
    assert own_network.check_X3(own_curves(seeds=1)).verdict == "inconclusive"
    # seed 2's MIR wanders (rho about 0.09) while the others rise: the rho part straddles 0, nothing fails
    mixed = own_curves()
    t = mixed["fashion_mnist / resnet18"]
    t.loc[t.seed == 2, "mir_batch"] = [0.2, 0.6, 0.5, 0.25, 0.3, 0.4]
    c = own_network.check_X3(mixed)
    assert c.verdict == "inconclusive" and c.numbers["deciding"].endswith("rho_mir")


def test_X3_without_runs_is_inconclusive():
    c = own_network.check_X3({})
    assert c.verdict == "inconclusive" and c.estimate is None


def test_change_part_fails_only_when_the_low_end_clears_the_margin():
    """ "Changes little" fails on the interval's low end, not its estimate: an estimate above the margin with a
    low end below it is undecided; the upper end exactly at the margin holds."""
    wide = Interval(0.12, 0.05, 0.19, 3, "m")
    p = verdicts.change_part("acc", wide, 0.1)
    assert (p.name, p.word, p.holds, p.fails, p.evidence, p.null) == (
        "acc",
        "inconclusive",
        False,
        False,
        wide,
        0.1,
    )
    assert p.note == "acc resolved to +-0.070 at these seeds"
    assert p.severity == pytest.approx((0.19 - 0.1) / 0.07)  # the high end 1.29 half-widths past the margin
    assert verdicts.change_part("acc", Interval(0.15, 0.11, 0.19, 3, "m"), 0.1).word == "fails"
    assert verdicts.change_part("acc", Interval(0.15, 0.1, 0.2, 3, "m"), 0.1).word == "inconclusive"
    assert verdicts.change_part("acc", Interval(0.05, 0.0, 0.1, 3, "m"), 0.1).word == "holds"
    flat = verdicts.change_part("acc", Interval(0.05, np.nan, np.nan, 3, "m"), 0.1)
    assert (flat.word, flat.note, flat.severity) == ("inconclusive", "no seed spread", -np.inf)


def test_check_of_decides_unless_told_inconclusive():
    assert Check.of("T1", True, "s", "t").verdict == "holds"
    assert Check.of("T1", False, "s", "t").verdict == "fails"


def test_little_change_texts_and_level_of_one_part():
    """The statistic lists each part's range interval to three digits, the threshold each margin; a single
    (setting, metric) keeps the plain 95 % level (Tukey's q at 0.95 by hand, residual sd 0.002)."""
    c = verdicts.little_change("S1", seeded_levels({"acc": 0.05}), {"acc": 0.1}, "smoothing-level")
    half = stats.studentized_range.ppf(0.95, 3, 4) * 0.002 / np.sqrt(3)
    assert c.numbers["largest_difference"]["s acc"] == pytest.approx([0.05, 0.05 - half, 0.05 + half])
    assert (
        c.statistic == f"range of smoothing-level means: s acc 0.050 [{0.05 - half:.3f}, {0.05 + half:.3f}]"
    )
    assert c.threshold == (
        "upper end of each range interval within its margin (acc 0.1); holds when every part holds, fails when "
        "any part fails, each interval at 95 % (Bonferroni over 1)"
    )


def test_change_text_and_threshold():
    shown = verdicts.change_part("acc", Interval(0.12, 0.05, 0.19, 3, "m"), 0.1)
    flat = verdicts.change_part("mir", Interval(0.02, np.nan, np.nan, 3, "m"), 0.1)
    bare = verdicts.Part("none", False, False)  # no interval: left out of the text
    assert verdicts.change_text([shown, bare, flat], "level") == (
        "range of level means: acc 0.120 [0.050, 0.190]; mir 0.020 (no interval: n = 3)"
    )
    assert verdicts.change_text([bare], "level") == "no runs"
    assert verdicts.change_text([], "level") == "no runs"
    assert verdicts.change_threshold({"acc": 0.1, "mir": 0.05}) == (
        "upper end of each range interval within its margin (acc 0.1, mir 0.05)"
    )


def test_check_rule_leaves_paper_and_exact_empty_unless_given():
    c = Check.rule("T1", True, False, "s", "t")
    assert (c.paper, c.exact, c.note, c.null) == ("", "", "", None)


def test_compose_shows_a_finite_severity_before_an_undefined_one():
    undefined = verdicts.Part("nan", True, False, severity=math.nan)
    finite = verdicts.Part("finite", True, False, severity=-3.0)
    assert verdicts.compose([undefined, finite], "every") == ("holds", finite)
    assert verdicts.compose([finite, undefined], "every") == ("holds", finite)


def test_composed_follows_its_rule():
    parts = [part("a", "holds", -1.0), part("b", "fails", 2.0)]
    assert verdicts.composed("X9", parts, "any", "s", "t").verdict == "holds"
    assert verdicts.composed("X9", parts, "every", "s", "t").verdict == "fails"


def test_composed_joins_the_undecided_parts_distinct_notes():
    parts = [part("a", "inconclusive", 0.0, "underpowered"), part("b", "inconclusive", 1.0, "no seed spread")]
    parts.append(part("c", "inconclusive", 2.0, "underpowered"))
    assert verdicts.composed("X9", parts, "every", "s", "t").note == "underpowered; no seed spread"
    decided = [part("a", "holds", 0.0, "underpowered"), part("b", "holds", 1.0, "no seed spread")]
    assert verdicts.composed("X9", decided, "every", "s", "t").note == ""


def test_composed_lists_a_part_without_an_interval():
    bare = verdicts.Part("bare", False, False)
    c = verdicts.composed("X9", [bare, part("a", "holds", 0.5)], "every", "s", "t")
    assert c.verdict == "inconclusive"
    assert c.numbers["parts"] == {"bare": ["inconclusive", None, None, None], "a": ["holds", 0.5, -0.5, 1.5]}


def test_toward_failing_of_a_zero_width_interval_is_minus_infinity():
    assert verdicts.toward_failing(Interval(0.5, 0.5, 0.5, 3, "m"), 0.0, +1) == -math.inf
    assert verdicts.toward_failing(Interval(0.5, 0.5, 0.5, 3, "m"), 1.0, -1) == -math.inf


def test_S1_E1_X3_rows_state_their_rule_and_what_is_missing():
    one = label_smoothing.check_S1(finals_table("a", levels=(0.1,)))
    assert (one.id, one.verdict, one.statistic, one.threshold) == (
        "S1",
        "inconclusive",
        "fewer than two smoothing levels",
        "",
    )
    assert label_smoothing.check_S1(finals_table("a")).statistic.startswith(
        "range of smoothing-level means: "
    )
    for frames in ({"a": sup_runs(hdr=None)}, {}):
        e1 = supervised_info.check_E1(frames)
        assert (e1.id, e1.verdict, e1.statistic, e1.threshold) == (
            "E1",
            "inconclusive",
            "a setting lacks cross-entropy or a variant",
            "",
        )
    e1 = supervised_info.check_E1({"a": sup_runs()})
    assert "accuracy points (detectable" in e1.statistic and e1.threshold.startswith(
        "each interval above 0; "
    )
    x3 = own_network.check_X3({})
    assert x3.exact == ""
    assert x3.threshold.startswith("every part's interval on its claimed side of 0 (D1's above, D2's below)")
    assert own_network.check_X3(own_curves()).threshold.startswith(
        "every part's interval on its claimed side"
    )


def test_E2_row_texts_and_parts():
    c = freematch.check_E2({"a": ssl_runs(counts=(250,))})
    assert c.threshold.startswith(
        "each variant's interval below 0 at most label counts; at one label count in a (250 labels), 'most "
        "label counts' is that one count; "
    )
    assert list(c.numbers["parts"]) == ["a: FreeMatch + MI", "a: FreeMatch + HDR"]  # in the table's order
    assert (
        "a: FreeMatch + MI, 250 labels -0.60 [" in c.statistic and "error points (detectable" in c.statistic
    )
    assert c.statistic.count(": holds") == 2
    two = freematch.check_E2({"a": ssl_runs(counts=(250,)), "b": ssl_runs(counts=(250,))})
    assert "at one label count in a (250 labels), b (250 labels), 'most label counts'" in two.threshold
    empty = freematch.check_E2({})
    assert (empty.verdict, empty.statistic, empty.threshold) == (
        "inconclusive",
        "a setting lacks FreeMatch or a variant",
        "",
    )
    runs = ssl_runs(counts=(250,))
    without_baseline = freematch.check_E2({"a": runs[runs.method != "supervised"]})
    assert without_baseline.verdict == "holds"  # the baseline is shown beside E2, not needed by it


def test_S1_two_levels_are_enough_to_decide():
    c = label_smoothing.check_S1(finals_table("a", levels=(0.0, 0.1), spread=0.0005))
    assert c.verdict == "holds" and c.statistic.startswith("range of smoothing-level means: ")


def _x1_end(low: float, high: float, exact: float = 0.5, batches: int = 100) -> pd.DataFrame:
    """One evaluation whose batch-mean MIR has the 95 % t interval [low, high] over ``batches`` batches."""
    half = (high - low) / 2
    sd = half * np.sqrt(batches) / stats.t.ppf(0.975, batches - 1)
    return pd.DataFrame([dict(mir_batch=low + half, mir=exact, mir_batch_sd=sd, batches=batches)])


@pytest.mark.parametrize(
    "low, high, verdict",
    [
        (0.51, 0.52, "holds"),  # clear of 0.5 by more than 1 % (0.505) above
        (0.48, 0.49, "holds"),  # ... and below (0.495)
        (0.496, 0.504, "fails"),  # within 1 %
        (0.496, 0.6, "inconclusive"),  # starts within 1 %, reaches past it
        (0.4, 0.504, "inconclusive"),
    ],
)
def test_X1_margin_is_one_percent_of_the_exact_value(low, high, verdict):
    c = dynamics.check_X1({"a": _x1_end(low, high)})
    assert (c.id, c.verdict) == ("X1", verdict)
    assert c.interval == pytest.approx([low, high])
    gap = abs((low + high) / 2 - 0.5) / 0.5
    assert (
        c.statistic
        == f"a: MIR batch-mean {(low + high) / 2:.3f} [{low:.3f}, {high:.3f}] vs exact 0.500 (gap {gap:.0%})"
    )
    assert c.exact == "0.500"
    assert c.threshold == (
        "interval of the batch mean clear of the exact value by more than 1%; fails within it (margin set after "
        "the first cpu build)"
    )


def test_X1_rows_join_settings_and_say_when_there_is_no_run():
    c = dynamics.check_X1({"a": _x1_end(0.51, 0.52), "b": _x1_end(0.2, 0.3, exact=0.4)})
    assert c.statistic.count("; b: MIR batch-mean 0.250 [0.200, 0.300] vs exact 0.400 (gap 38%)") == 1
    assert c.exact == "0.500, 0.400"
    empty = dynamics.check_X1({})
    assert (empty.verdict, empty.statistic, empty.exact) == ("inconclusive", "no run", "")


def test_trajectory_rows_state_their_threshold_and_exact_ends():
    curves = {"a": seeded()}
    d1, d2, x2 = (f(curves) for f in (dynamics.check_D1, dynamics.check_D2, dynamics.check_X2))
    assert d1.threshold.startswith("every part's interval above 0")
    assert d2.threshold.startswith("every part's interval below 0")
    assert x2.threshold.startswith("every interval clear of 0: below for MIR, above for HDR")
    assert d2.exact.startswith("a: exact HDR at the end ") and d2.exact.endswith(" (mean over seeds)")


def test_decide_inconclusive_wins_then_holds_or_fails():
    assert [verdicts.decide(True), verdicts.decide(False)] == ["holds", "fails"]
    assert verdicts.decide(True, inconclusive=True) == verdicts.decide(False, True) == "inconclusive"


def test_P1_row_texts_and_parts():
    c = pruning.check_P1(prune_table())
    assert c.statistic.startswith(
        "at sparsity 0.9: MIR(pruned, original) 0.880 vs independent network 0.500 and shuffled rows 0.300; "
        "paired difference 0.380 ["
    )
    assert "; range of sparsity means: acc 0.005 [" in c.statistic
    assert c.threshold.startswith(
        "MIR difference to the independent network above 0; upper end of each range interval within its margin "
        "(acc 0.02, mir_batch 0.1, hdr_batch 0.1) (the independent-network null was set on 2026-11-29"
    )
    assert c.exact == "MIR at 0.9: 0.930 vs independent 0.550 (exact)"
    assert list(c.numbers["parts"]) == ["MIR above the independent network", "acc", "mir_batch", "hdr_batch"]
    empty = pruning.check_P1(prune_table().iloc[:0])
    assert (empty.id, empty.verdict, empty.statistic, empty.threshold) == (
        "P1",
        "inconclusive",
        "no pruning table",
        "",
    )


def test_T1_to_T4_rows_state_what_they_measured():
    t1 = nc_theory.check_T1(collapse_table())
    assert t1.statistic == "max |MIR - formula|, |HDR| over C=3..100 below 1e-10: True"
    assert nc_theory.check_T1(collapse_table().iloc[:0]).statistic.startswith(
        "max |MIR - formula|, |HDR| over no C "
    )
    assert nc_theory.check_T2(collapse_table(), 2).statistic == "same for 2 samples per class: True"
    t3 = nc_theory.check_T3(range_table())
    assert (t3.statistic, t3.threshold) == ("min 0.000, max 1.000 over 3 pairs", "within [0, 1] +- 1e-09")
    t4 = nc_theory.check_T4(regression_table(), rank_table())
    head = (
        "0 Lemma 4.5 and 0 Thm 4.6 violations in 3 draws; exp(H) <= rank violated 0 times; Spearman rho(exp H, "
        "rank) >= 1.00; median |exp(H) - rank| / rank: "
    )
    assert t4.statistic.startswith(head)
    assert re.fullmatch(r"decaying \d+%, flat \d+%", t4.statistic[len(head) :])
    assert set(t4.numbers["relative_error"]) == {"decaying", "flat"}
