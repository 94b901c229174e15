"""Every claim check on small hand-built tables made to hold, to fail and to be inconclusive.

Each "fails" table differs from its "holds" table only in the property the claim is about, so a check that
cannot fail (or cannot hold) is caught. The checks are pure functions of tables: no training, no data.
"""

import json

import numpy as np
import pandas as pd
import pytest

from paperlib import verdicts
from paperlib.experiments import (
    dynamics,
    freematch,
    grokking,
    label_smoothing,
    lmc,
    nc_theory,
    pruning,
    supervised_info,
)
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


def test_value_range():
    assert verdicts.value_range(pd.Series([3.0, 1.0, 2.5])) == 2.0
    spread = verdicts.value_range(pd.DataFrame({"a": [1.0, 4.0], "b": [0.5, 0.5]}))
    assert spread.to_dict() == {"a": 3.0, "b": 0.0}


# ----------------------------------------------------------------------------- nc_theory: T1, T2, T3, T4, X1


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


def test_T4_inconclusive_without_draws():
    c = nc_theory.check_T4(regression_table().iloc[:0], rank_table())
    assert (c.id, c.verdict) == ("T4", "inconclusive")


def test_T4_inconclusive_when_a_spectrum_has_no_rho():
    """rho is undefined for the flat spectrum (exp(H) missing): the ordering claim cannot be decided."""
    c = nc_theory.check_T4(regression_table(), rank_table(flat=lambda r: np.full(len(r), np.nan)))
    assert c.numbers["rho"]["flat"] is None
    assert c.verdict == "inconclusive"


def bias_table(mir_batch: dict[int, float], exact: float = 0.5) -> pd.DataFrame:
    """``batch_bias``: batch-mean MIR per batch size (HDR rows with no bias)."""
    rows = [dict(batch_size=b, metric="mir", batch_mean=v, exact=exact) for b, v in mir_batch.items()]
    rows += [dict(batch_size=b, metric="hdr", batch_mean=0.3, exact=0.3) for b in mir_batch]
    t = pd.DataFrame(rows)
    t["bias"] = t.batch_mean - t.exact
    return t


@pytest.mark.parametrize(
    "mir_batch, verdict",
    [
        ({1024: 0.51, 16: 0.6, 128: 0.55}, "holds"),  # biased at batch 16, less so at 1024 (unsorted input)
        ({16: 0.51, 128: 0.505, 1024: 0.5}, "fails"),  # no bias worth the name at the smallest batch
        ({16: 0.6, 128: 0.65, 1024: 0.7}, "fails"),  # the gap grows with the batch
        ({16: 0.6}, "inconclusive"),
    ],
)
def test_X1_synthetic(mir_batch, verdict):
    c = nc_theory.check_X1(bias_table(mir_batch))
    assert (c.id, c.verdict) == ("X1", verdict)
    if verdict == "holds":
        assert c.numbers["gap_smallest_batch"] == pytest.approx(0.2)
        assert c.numbers["gap_largest_batch"] == pytest.approx(0.02)
        assert c.numbers["batch_sizes"] == [16, 1024]


# ------------------------------------------------------------------------------ dynamics: D1, D2, X2, X1

RISE = np.linspace(0.0, 1.0, 6)


def curves_table(n: int = 6, **columns) -> pd.DataFrame:
    """Training curves: accuracy and MIR rise, HDR and the NC measures fall; ``columns`` replace any."""
    rise = np.linspace(0.0, 1.0, n)
    t = pd.DataFrame(
        {
            "step": np.arange(n) * 100,
            "acc": 0.1 + 0.8 * rise,
            "mir_batch": 0.2 + 0.5 * rise,
            "hdr_batch": 0.8 - 0.5 * rise,
            "nc1": 2.0 - 1.5 * rise,
            "nc2_equiangular": 0.5 - 0.4 * rise,
            "nc3": 1.0 - 0.8 * rise,
        }
    )
    t["mir"], t["hdr"] = t.mir_batch + 0.2, t.hdr_batch - 0.1  # exact values away from the batch means
    for k, v in columns.items():
        t[k] = v
    return t


GOOD = curves_table()
SHORT = curves_table(n=2)  # two evaluations: no rank correlation


@pytest.mark.parametrize(
    "check, cid, bad",
    [
        (dynamics.check_D1, "D1", curves_table(mir_batch=0.7 - 0.5 * RISE)),  # MIR falls as accuracy rises
        (dynamics.check_D2, "D2", curves_table(hdr_batch=0.3 + 0.5 * RISE)),  # HDR rises with accuracy
        (dynamics.check_X2, "X2", curves_table(nc3=0.2 + 0.8 * RISE)),  # NC3 grows while MIR rises
        (dynamics.check_X1, "X1", curves_table(mir=1.01 * GOOD.mir_batch)),  # exact within 1 % of batch
    ],
)
def test_dynamics_checks(check, cid, bad):
    assert check({"a": GOOD}).id == cid
    assert check({"a": GOOD, "b": GOOD}).verdict == "holds"
    assert check({"a": bad}).verdict == "fails"
    assert check({"a": GOOD, "b": bad}).verdict == "fails"  # every setting must show it
    assert (
        check({"a": GOOD, "b": SHORT if cid != "X1" else curves_table(mir=np.nan)}).verdict == "inconclusive"
    )


def test_dynamics_numbers():
    d1, d2 = dynamics.check_D1({"a": GOOD}), dynamics.check_D2({"a": GOOD})
    assert d1.numbers == {"rho": {"a": pytest.approx(1.0)}, "mir_change": {"a": pytest.approx(0.5)}}
    assert d2.numbers == {"rho": {"a": pytest.approx(-1.0)}, "hdr_change": {"a": pytest.approx(-0.5)}}
    x2 = dynamics.check_X2({"a": GOOD}).numbers["rho"]
    assert x2["a mir"] == pytest.approx({"nc1": -1.0, "nc2_equiangular": -1.0, "nc3": -1.0})
    assert x2["a hdr"] == pytest.approx({"nc1": 1.0, "nc2_equiangular": 1.0, "nc3": 1.0})
    assert dynamics.check_X1({"a": GOOD}).numbers["relative_gap"]["a"] == pytest.approx(0.2 / 0.9)


def test_D1_needs_mir_to_end_above_its_start():
    """A rank correlation alone is not enough: MIR must also end above where it started."""
    wiggle = curves_table(n=12, mir_batch=[0.5, *np.linspace(0.2, 0.45, 11)])
    c = dynamics.check_D1({"a": wiggle})
    assert c.numbers["rho"]["a"] >= 0.5 and c.numbers["mir_change"]["a"] < 0
    assert c.verdict == "fails"


# ------------------------------------------------------------------------------------------ lmc: L1-L3

OMEGAS = np.round(np.linspace(0.0, 1.0, 11), 1)
TENT = 1 - np.abs(2 * OMEGAS - 1)  # 0 at the ends, 1 at omega = 0.5
NEAR_ENDS = np.isin(OMEGAS, (0.1, 0.9)).astype(float)


def path_table(
    lr: float, barrier: float = 0.0, mir_bump: float = 0.01, hdr_dip: float = 0.01
) -> pd.DataFrame:
    """One learning rate's path: accuracy drops by ``barrier`` mid-path, MIR rises by ``mir_bump`` there and
    HDR dips by ``hdr_dip`` next to both ends (so MIR and HDR range over ``mir_bump`` and ``hdr_dip``);
    recomputed BN is flat."""
    interp = pd.DataFrame(
        {
            "omega": OMEGAS,
            "variant": "interpolated BN",
            "acc": 0.9 - barrier * TENT,
            "mir_batch": 0.5 + mir_bump * TENT,
            "hdr_batch": 0.3 - hdr_dip * NEAR_ENDS,
        }
    )
    recomputed = interp.assign(variant="recomputed BN", acc=0.9)
    return pd.concat([interp, recomputed], ignore_index=True).assign(lr=lr)


def paths(*tables: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(tables, ignore_index=True)


FLAT_LOW = path_table(3e-4)
BROKEN_HIGH = path_table(0.03, barrier=0.5, mir_bump=0.2, hdr_dip=0.1)


@pytest.mark.parametrize(
    "table, verdict",
    [
        (paths(BROKEN_HIGH, FLAT_LOW), "holds"),
        (paths(BROKEN_HIGH, path_table(3e-4, mir_bump=0.2)), "fails"),  # MIR moves along a flat path
        (paths(BROKEN_HIGH, path_table(3e-4, hdr_dip=0.2)), "fails"),  # HDR moves along a flat path
        (paths(BROKEN_HIGH), "inconclusive"),  # LMC holds nowhere
    ],
)
def test_L1(table, verdict):
    c = lmc.check_L1(table)
    assert (c.id, c.verdict) == ("L1", verdict)


def test_L1_numbers():
    c = lmc.check_L1(paths(BROKEN_HIGH, path_table(3e-4, barrier=0.015, mir_bump=0.03, hdr_dip=0.04)))
    assert c.verdict == "holds" and c.numbers["ranges"] == {"0.0003": pytest.approx([0.03, 0.04])}


@pytest.mark.parametrize(
    "table, verdict",
    [
        (paths(BROKEN_HIGH, FLAT_LOW), "holds"),
        (paths(path_table(0.03, barrier=0.5, mir_bump=-0.2, hdr_dip=0.1), FLAT_LOW), "fails"),  # MIR dips
        (paths(path_table(0.03, barrier=0.5, mir_bump=0.2, hdr_dip=-0.1), FLAT_LOW), "fails"),  # HDR rises
        (paths(FLAT_LOW, path_table(0.01, barrier=0.05)), "inconclusive"),  # LMC fails nowhere (0.05 < 0.10)
    ],
)
def test_L2(table, verdict):
    c = lmc.check_L2(table)
    assert (c.id, c.verdict) == ("L2", verdict)
    if verdict == "holds":
        assert c.numbers["parts"] == {"0.03": [True, True]}


@pytest.mark.parametrize(
    "table, verdict",
    [
        (paths(BROKEN_HIGH, path_table(3e-3, barrier=0.2, mir_bump=0.1, hdr_dip=0.05), FLAT_LOW), "holds"),
        (paths(path_table(0.03), path_table(3e-4, barrier=0.5, mir_bump=0.2, hdr_dip=0.1)), "fails"),
        (paths(BROKEN_HIGH, path_table(3e-4, mir_bump=0.3)), "fails"),  # MIR range grows as lr falls
        (paths(BROKEN_HIGH, path_table(3e-4, barrier=0.5, mir_bump=0.2, hdr_dip=0.1)), "fails"),  # no LMC
        (paths(FLAT_LOW), "inconclusive"),  # one learning rate
    ],
)
def test_L3(table, verdict):
    c = lmc.check_L3(table)
    assert (c.id, c.verdict) == ("L3", verdict)
    if verdict == "holds":
        assert c.numbers["barriers"] == pytest.approx({"0.03": 0.5, "0.003": 0.2, "0.0003": 0.0}, abs=1e-12)


# -------------------------------------------------------------------------------- label_smoothing: S1


def finals_table(setting: str, levels=(0.0, 0.1, 0.2), acc=0.01, mir=0.05, hdr=0.05) -> pd.DataFrame:
    """``finals`` of one setting: accuracy, MIR and HDR spread evenly over ``acc``, ``mir``, ``hdr``."""
    s = np.linspace(0.0, 1.0, len(levels))
    t = pd.DataFrame(
        {"setting": setting, "label_smoothing": levels, "acc": 0.9 + acc * s, "mir_batch": 0.6 - mir * s}
    )
    t["hdr_batch"] = 0.2 + hdr * s
    t["mir"], t["hdr"] = t.mir_batch + 0.1, t.hdr_batch
    return t


@pytest.mark.parametrize(
    "bad, verdict",
    [
        (finals_table("b"), "holds"),
        (finals_table("b", acc=0.05), "fails"),
        (finals_table("b", mir=0.3), "fails"),
        (finals_table("b", hdr=0.3), "fails"),
        (finals_table("b", levels=(0.1,)), "inconclusive"),  # one level in one setting
    ],
)
def test_S1(bad, verdict):
    c = label_smoothing.check_S1(pd.concat([finals_table("a"), bad], ignore_index=True))
    assert (c.id, c.verdict) == ("S1", verdict)
    assert c.numbers["ranges"]["a"] == pytest.approx(
        {"acc": 0.01, "mir_batch": 0.05, "hdr_batch": 0.05, "mir": 0.05, "hdr": 0.05}
    )


# --------------------------------------------------------------------------------------- pruning: P1


def prune_table(sparsities=(0.5, 0.7, 0.9), mir=0.9, mir_self=1.0, acc=0.01, hdr=0.02) -> pd.DataFrame:
    """Pruning rows: MIR ``mir`` of a ceiling ``mir_self``; accuracy and HDR spread over ``acc``, ``hdr``."""
    s = np.linspace(0.0, 1.0, len(sparsities))
    return pd.DataFrame(
        {
            "sparsity": sparsities,
            "reached": np.array(sparsities) + 0.001,
            "acc_finetuned": 0.9 - acc * s,
            "mir": mir - 0.01 * s,
            "mir_self": mir_self,
            "hdr": 0.2 + hdr * s,
        }
    )


@pytest.mark.parametrize(
    "table, verdict",
    [
        (prune_table(), "holds"),
        (prune_table(mir=0.7), "fails"),  # below 80 % of the ceiling at 90 % sparsity
        (prune_table(acc=0.05), "fails"),
        (prune_table(hdr=0.2), "fails"),
        (prune_table(sparsities=(0.5, 0.7, 0.8)), "inconclusive"),  # nothing within 0.05 of 90 %
    ],
)
def test_P1(table, verdict):
    c = pruning.check_P1(table)
    assert (c.id, c.verdict) == ("P1", verdict)
    if verdict == "holds":
        assert c.numbers["mir_90"] == pytest.approx(0.89) and c.numbers["ceiling"] == 1.0
        assert c.numbers["ranges"] == pytest.approx({"acc_finetuned": 0.01, "mir": 0.01, "hdr": 0.02})


# -------------------------------------------------------------------------------------- grokking: G1, G2

STEPS = np.arange(1, 41) * 100
TWO_PHASE_MIR = ([100, 600, 1200, 4000], [0.2, 0.6, 0.3, 0.5])  # rises, falls to a minimum at grokking
TWO_PHASE_HDR = ([100, 500, 1200, 4000], [0.8, 0.3, 0.7, 0.2])  # falls, peaks at grokking, drops


def grok_table(mem=300, grok=1200, test_at_mem=0.1, mir=TWO_PHASE_MIR, hdr=TWO_PHASE_HDR) -> pd.DataFrame:
    """Train accuracy 1 from ``mem``, test accuracy 0.97 from ``grok`` (never if None); train MIR and HDR
    piecewise linear through the (steps, values) knots ``mir`` and ``hdr``."""
    test_acc = np.where(STEPS >= (grok or np.inf), 0.97, test_at_mem)
    train = pd.DataFrame(
        {
            "step": STEPS,
            "split": "train",
            "acc": np.where(STEPS >= mem, 1.0, 0.5),
            "mir": np.interp(STEPS, *mir),
            "hdr": np.interp(STEPS, *hdr),
        }
    )
    test = pd.DataFrame({"step": STEPS, "split": "test", "acc": test_acc, "mir": 0.1, "hdr": 0.9})
    return pd.concat([train, test], ignore_index=True)


@pytest.mark.parametrize(
    "table, verdict",
    [
        (grok_table(), "holds"),
        (grok_table(grok=600), "fails"),  # grokking only twice as late as memorization
        (grok_table(test_at_mem=0.8), "fails"),  # test accuracy already high at memorization
        (grok_table(grok=None), "inconclusive"),
    ],
)
def test_G1(table, verdict):
    c = grokking.check_G1(table)
    assert (c.id, c.verdict) == ("G1", verdict)


def test_G1_numbers():
    c = grokking.check_G1(grok_table())
    assert c.numbers == {"memorization": 300, "grokking": 1200, "test_acc_at_memorization": 0.1}


@pytest.mark.parametrize(
    "table, verdict",
    [
        (grok_table(), "holds"),
        (grok_table(mir=([100, 4000], [0.2, 0.6])), "fails"),  # MIR only rises
        (grok_table(hdr=([100, 500, 3600, 4000], [0.8, 0.3, 0.7, 0.2])), "fails"),  # HDR peaks far after g
        (grok_table(grok=None), "inconclusive"),
    ],
)
def test_G2(table, verdict):
    c = grokking.check_G2(table)
    assert (c.id, c.verdict) == ("G2", verdict)
    if verdict == "holds":
        assert c.numbers["mir_min"] == 1200 and c.numbers["hdr_peak"] == 1200


def test_G2_fails_when_hdr_only_falls():
    """HDR falling all the way (no second phase) should not pass "then rises and drops"."""
    c = grokking.check_G2(grok_table(hdr=([100, 4000], [0.8, 0.2])))
    assert c.verdict == "fails"


# ------------------------------------------------------------------------------- info losses: E1, E2


def sup_stats(ce=95.0, mi=95.4, hdr=95.5) -> pd.DataFrame:
    """``summarize`` of one supervised setting: mean test accuracy % per method."""
    return pd.DataFrame(
        {
            "method": ["cross-entropy", "cross-entropy + MI", "cross-entropy + HDR"],
            "mean": [ce, mi, hdr],
            "sd": [0.2, 0.1, 0.3],
            "seeds": 3,
            "lam": [np.nan, 0.1, 1.0],
        }
    )


@pytest.mark.parametrize(
    "bad, verdict",
    [
        (sup_stats(), "holds"),
        (sup_stats(hdr=94.9), "fails"),  # HDR below cross-entropy
        (sup_stats(mi=95.0), "fails"),  # a tie is not an improvement
        (sup_stats(mi=np.nan), "inconclusive"),
    ],
)
def test_E1(bad, verdict):
    c = supervised_info.check_E1({"a": sup_stats(), "b": bad})
    assert (c.id, c.verdict) == ("E1", verdict)
    first = c.numbers["differences"][0]
    assert first[:2] == ["a", "cross-entropy + MI"] and first[2:] == pytest.approx(
        [0.4, (0.04 / 3 + 0.01 / 3) ** 0.5]
    )


def ssl_stats(fm=(5.0, 4.8), mi=(4.9, 4.7), hdr=(4.9, 4.7), counts=(40, 250)) -> pd.DataFrame:
    """``summarize(..., error=True)`` of one semi-supervised setting: mean test error % per method and count."""
    means = {"supervised only": (30.0, 20.0), "FreeMatch": fm, "FreeMatch + MI": mi, "FreeMatch + HDR": hdr}
    return pd.DataFrame(
        [
            {"method": m, "num_labels": n, "mean": v[i], "sd": 0.1, "seeds": 2, "lam": 0.1}
            for m, v in means.items()
            for i, n in enumerate(counts)
        ]
    )


@pytest.mark.parametrize(
    "bad, verdict",
    [
        (ssl_stats(), "holds"),
        (ssl_stats(hdr=(4.9, 4.9)), "fails"),  # HDR wins at half of the counts: not more than half
        (ssl_stats(mi=(5.1, 4.9)), "fails"),  # MI never wins
        (ssl_stats(hdr=(np.nan, 4.7)), "inconclusive"),
    ],
)
def test_E2(bad, verdict):
    c = freematch.check_E2({"a": ssl_stats(), "b": bad})
    assert (c.id, c.verdict) == ("E2", verdict)
    assert c.numbers["win_share"]["a FreeMatch + MI"] == 1.0


def test_E2_ignores_the_supervised_baseline_and_is_inconclusive_without_variants():
    no_variants = ssl_stats()
    no_variants = no_variants[no_variants.method.isin(["supervised only", "FreeMatch"])]
    c = freematch.check_E2({"a": no_variants})
    assert (c.id, c.verdict) == ("E2", "inconclusive")
    assert "win_share" not in c.numbers


@pytest.mark.parametrize(
    "stats",
    [{}, {"a": sup_stats().iloc[:2]}, {"a": sup_stats().iloc[:1]}],
    ids=["no setting", "no HDR variant", "cross-entropy only"],
)
def test_E1_inconclusive_when_a_setting_is_incomplete(stats):
    assert supervised_info.check_E1(stats).verdict == "inconclusive"


@pytest.mark.parametrize(
    "check", [dynamics.check_D1, dynamics.check_D2, dynamics.check_X1, dynamics.check_X2]
)
def test_dynamics_checks_are_inconclusive_without_runs(check):
    assert check({}).verdict == "inconclusive"


def test_X1_synthetic_inconclusive_on_an_empty_table():
    empty = pd.DataFrame(columns=["batch_size", "metric", "batch_mean", "exact", "bias"])
    assert nc_theory.check_X1(empty).verdict == "inconclusive"
