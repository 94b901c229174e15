"""paperlib.metrics never answers wrongly in silence: each probe of the "Hardening" issue (item 4) either gives
the right number or a one-line error that says what is wrong.

Before the fix: numpy inputs died with AttributeError; rows scaled by 1e154+ gave NaN MIR and HDR 1.0, rows of
norm 1e-170 were "zero rows"; non-PSD or non-symmetric unit-diagonal matrices got an entropy; one head, one
sample or identical features gave a silent NaN MIR beside HDR 1.0; one single-class batch made the batch mean
NaN; ``batch_size=16.0`` passed the check and failed in ``range``.
"""

import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from paperlib import metrics as M
from paperlib.train.info_loss import info_term


def data(n=40, d=6, c=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=g, dtype=torch.float64)
    w = torch.randn(c, d, generator=g, dtype=torch.float64)
    return z, w, torch.arange(n) % c


RATIOS = ("mir", "hdr")

# ------------------------------------------------------------------------------------------------ numpy


def test_every_public_function_accepts_numpy_and_gives_the_torch_numbers():
    z, w, y = data()
    k1, k2 = M.gram(z), M.gram(w[y])
    zn, wn, yn, k1n, k2n = z.numpy(), w.numpy(), y.numpy(), k1.numpy(), k2.numpy()
    assert torch.equal(M.gram(zn), k1)
    assert torch.equal(M.nudge_zero_rows(zn), z)
    for f in (M.mutual_information, M.mir, M.hdr):
        assert f(k1n, k2n).item() == f(k1, k2).item()
    assert M.matrix_entropy(k1n).item() == M.matrix_entropy(k1).item()
    assert M.feature_entropy(zn).item() == M.feature_entropy(z).item()
    assert M.interplay(zn, wn, yn) == M.interplay(z, w, y)
    assert M.interplay(zn, wn, yn, batch_size=16) == M.interplay(z, w, y, batch_size=16)
    assert M.paired_interplay(zn, zn[:, ::-1].copy()) == M.paired_interplay(z, z.flip(1))
    got, want = M.batch_entropies(zn, wn, yn), M.batch_entropies(z, w, y)
    assert [h.item() for h in got] == [h.item() for h in want]


@pytest.mark.parametrize(
    "call",
    [
        lambda: M.gram([[1.0, 2.0], [3.0, 4.0]]),
        lambda: M.matrix_entropy([[1.0, 0.0], [0.0, 1.0]]),
        lambda: M.mir(torch.eye(2), [[1.0, 0.0], [0.0, 1.0]]),
        lambda: M.interplay([[1.0, 0.0], [0.0, 1.0]], torch.eye(2), torch.tensor([0, 1])),
        lambda: M.paired_interplay(torch.eye(2), "features"),
    ],
)
def test_other_inputs_are_a_type_error_that_says_what_to_pass(call):
    with pytest.raises(TypeError, match="must be a torch.Tensor or a numpy array"):
        call()


def test_complex_input_is_refused():
    with pytest.raises(TypeError, match="complex"):
        M.gram(torch.ones(2, 2, dtype=torch.complex128))


# ---------------------------------------------------------------------------------------------- scaling


@pytest.mark.parametrize("factor", [1e-300, 1e-170, 1e-154, 1e154, 1e200, 1e300])
def test_ratios_do_not_change_when_rows_are_scaled_to_the_edge_of_float64(factor):
    z, w, y = data()
    base, scaled = M.interplay(z, w, y), M.interplay(factor * z, w, y)
    for key in base:
        assert scaled[key] == pytest.approx(base[key], rel=1e-12, abs=1e-12), key
    assert M.interplay(z, factor * w, y) == pytest.approx(base, rel=1e-12, abs=1e-12)
    paired, paired_scaled = M.paired_interplay(z, z.flip(1)), M.paired_interplay(factor * z, z.flip(1))
    assert paired_scaled == pytest.approx(paired, rel=1e-12, abs=1e-12)


def test_gram_of_huge_and_tiny_rows_is_the_cosine_gram():
    k = M.gram(torch.tensor([[1e200, 1e200], [3e-170, 0.0], [1.0, 0.0], [5e-324, 0.0]], dtype=torch.float64))
    assert torch.allclose(k.diagonal(), torch.ones(4, dtype=torch.float64), atol=1e-15)
    assert k[0, 1].item() == pytest.approx(math.sqrt(0.5), abs=1e-15) and k[1, 3].item() == 1.0


def test_rows_of_ordinary_size_give_bit_identical_unit_rows():
    """The rescaling is by powers of two, which is exact: nothing changes for rows that never overflowed."""
    z = data()[0] * 3.7
    assert torch.equal(M.gram(z), (z / z.norm(dim=1, keepdim=True)) @ (z / z.norm(dim=1, keepdim=True)).T)


def test_only_exactly_zero_rows_are_zero_rows():
    z = data()[0]
    z[[3, 17]] = 0.0
    with pytest.raises(ValueError, match=r"2 zero row\(s\) \(first: \[3, 17\]\)"):
        M.interplay(z, *data()[1:])
    z[[3, 17]] = 1e-300
    assert math.isfinite(M.interplay(z, *data()[1:])["mir"])


# ------------------------------------------------------------------------------------ matrix entropy checks

NOT_PSD = torch.tensor([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]], dtype=torch.float64)  # eig -0.8
NOT_SYMMETRIC = torch.tensor([[1.0, 0.9], [-0.9, 1.0]], dtype=torch.float64)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: M.matrix_entropy(NOT_PSD), r"not positive semi-definite \(smallest eigenvalue -0.8"),
        (lambda: M.matrix_entropy(NOT_SYMMETRIC), r"not symmetric \(\|K\[0,1\] - K\[1,0\]\| = 1.8"),
        (lambda: M.mir(NOT_PSD, torch.eye(3)), "k1 is not positive semi-definite"),
        (lambda: M.hdr(torch.eye(2), NOT_SYMMETRIC), "k2 is not symmetric"),
        (lambda: M.mutual_information(torch.eye(3), NOT_PSD), "k2 is not positive"),
    ],
)
def test_matrix_that_is_no_gram_is_refused_with_the_reason(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_round_off_asymmetry_and_negative_eigenvalues_are_still_accepted():
    k = M.gram(torch.randn(30, 3, dtype=torch.float64))  # rank 3: 27 eigenvalues that are 0 up to round-off
    noise = 1e-12 * torch.randn(30, 30, dtype=torch.float64)
    noise.fill_diagonal_(0)
    assert M.matrix_entropy(k + noise).item() == pytest.approx(M.matrix_entropy(k).item(), abs=1e-9)
    tilted = k - 1e-10 * torch.eye(30, dtype=torch.float64)  # diagonal 1 - 1e-10, smallest eigenvalue -1e-10
    assert M.matrix_entropy(tilted).item() == pytest.approx(M.matrix_entropy(k).item(), abs=1e-8)


def test_grams_the_library_builds_pass_the_checks():
    g = torch.Generator().manual_seed(5)
    z = torch.randn(60, 3, generator=g, dtype=torch.float64)
    collapsed = torch.randn(4, 16, generator=g, dtype=torch.float64)[torch.arange(60) % 4]
    for k in (M.gram(z), M.gram(collapsed), M.gram(z) * M.gram(collapsed), M.gram(-z)):
        assert math.isfinite(M.matrix_entropy(k).item())
    z32 = torch.randn(60, 16, generator=g)  # a Gram built in float32 by the caller
    z32 = z32 / z32.norm(dim=1, keepdim=True)
    assert math.isfinite(M.matrix_entropy(z32 @ z32.T).item())


def test_entropies_in_a_loss_keep_finite_gradients():
    z, w, y = data(24, 5, 3)
    z, w = z.requires_grad_(), w.requires_grad_()
    h_f, h_v, h_j = M.batch_entropies(z, w, y)
    (h_f + h_v - h_j + M.matrix_entropy(M.gram(z)) + M.feature_entropy(z)).backward()
    assert torch.isfinite(z.grad).all() and torch.isfinite(w.grad).all() and z.grad.abs().sum() > 0
    assert M.feature_entropy(z).item() == pytest.approx(M.matrix_entropy(M.gram(z)).item(), abs=1e-12)
    assert info_term("mi", 1e200 * z.detach(), w, y).isfinite()


# --------------------------------------------------------------------------------------- undefined ratios


@pytest.mark.parametrize(
    "case,match",
    [
        (
            "one head",
            r"H\(G\(heads\[labels\]\)\) = 0 because all 40 labels are class 0, .* at least two classes",
        ),
        ("one sample", "undefined for a single sample"),
        ("identical features", r"H\(G\(features\)\) = 0 because all 40 rows of features point in one"),
        ("parallel heads", r"the 2 heads in use point in one direction"),
    ],
)
def test_undefined_ratio_is_an_error_that_says_why(case, match):
    z, w, y = data()
    if case == "one head":
        w, y = w[:1], torch.zeros_like(y)
    elif case == "one sample":
        z, y = z[:1], y[:1]
    elif case == "identical features":
        z = torch.ones_like(z)
    else:
        w, y = torch.stack([w[0], 2 * w[0]]), y % 2
    with pytest.raises(ValueError, match=match):
        M.interplay(z, w, y)


def test_paired_interplay_refuses_undefined_ratios_too():
    z = data()[0]
    with pytest.raises(ValueError, match=r"H\(G\(features_b\)\) = 0"):
        M.paired_interplay(z, torch.ones_like(z))
    with pytest.raises(ValueError, match="single sample"):
        M.paired_interplay(z[:1], z[:1])


# ------------------------------------------------------------------------------------------- batch mean


def test_batch_mean_of_class_sorted_labels_skips_single_class_batches_and_counts_them():
    z, w, _ = data(500, 8, 5, seed=1)
    y = torch.arange(500) // 100  # sorted by class: batches 0-63, 128-191, ... hold one class
    got = M.interplay(z, w, y, batch_size=64)
    kept, skipped = [], 0
    for start in range(0, 500, 64):
        if y[start : start + 64].unique().numel() == 1:
            skipped += 1
        else:
            kept.append(M.interplay(z[start : start + 64], w, y[start : start + 64]))
    assert skipped == got["skipped_batches"] and 0 < skipped < 8
    for key in kept[0]:
        assert math.isfinite(got[key])
        assert got[key] == pytest.approx(np.mean([k[key] for k in kept]), abs=1e-12)


def test_batch_mean_with_no_defined_batch_is_an_error():
    z, w, _ = data(128, 6, 4)
    with pytest.raises(
        ValueError, match=r"every one of the 2 batch\(es\) of 64 rows .*batch 0: MIR is undefined"
    ):
        M.interplay(z, w, torch.zeros(128, dtype=torch.long), batch_size=64)


def test_exact_value_has_no_batch_count():
    assert "skipped_batches" not in M.interplay(*data())


@pytest.mark.parametrize(
    "bad,error",
    [
        (16.0, TypeError),
        (True, TypeError),
        ("16", TypeError),
        (1, ValueError),
        (0, ValueError),
        (-4, ValueError),
    ],
)
def test_batch_size_must_be_an_int_of_at_least_two(bad, error):
    with pytest.raises(error, match="batch_size must be an int >= 2"):
        M.interplay(*data(), batch_size=bad)


def test_numpy_integer_batch_size_is_an_int():
    assert M.interplay(*data(), batch_size=np.int64(16)) == M.interplay(*data(), batch_size=16)


# ----------------------------------------------------------------------------------------------- property

scales = st.lists(st.tuples(st.floats(-300, 300), st.booleans()), min_size=24, max_size=24)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), scales)
def test_ratios_invariant_to_row_scaling_by_any_factor_from_1e_minus_300_to_1e300(seed, exponents):
    """Any non-zero factor per row, sign included (a sign flip is D G D with D = diag(+-1): same spectrum).
    The range holds the issue's 1e-150 .. 1e150, where the old code happened to work, and the edges where it
    did not (its squared norms overflowed from about 1e154 and underflowed below about 1e-162)."""
    z, w, y = data(24, 5, 3, seed=seed)
    factor = torch.tensor([(-1.0 if neg else 1.0) * 10.0**e for e, neg in exponents], dtype=torch.float64)
    base, moved = M.interplay(z, w, y), M.interplay(factor[:, None] * z, w, y)
    for key in RATIOS:
        assert moved[key] == pytest.approx(base[key], abs=1e-10)


# ------------------------------------------------- values and messages pinned against independent numpy code


def _np_gram(z: np.ndarray) -> np.ndarray:
    zn = z / np.linalg.norm(z, axis=1, keepdims=True)
    return zn @ zn.T


def _np_entropy(k: np.ndarray) -> float:
    lam = np.linalg.eigvalsh(k) / len(k)
    lam = lam[lam > 1e-15]
    return float(-(lam * np.log(lam)).sum())


def test_nudge_zero_rows_moves_only_all_zero_rows_by_1e_12():
    z = torch.tensor([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5], [0.5, -0.5, 0.0]], dtype=torch.float64)
    out = M.nudge_zero_rows(z)
    assert out[0].tolist() == pytest.approx([1e-12] * 3, rel=1e-6, abs=0)  # 1e-12 as float32 holds it
    assert torch.equal(out[1:], z[1:])  # a row of |sum| 1 included: unchanged
    with pytest.raises(TypeError, match="^z must be a torch.Tensor or a numpy array, got list"):
        M.nudge_zero_rows([[0.0]])


def test_gram_tolerance_by_precision():
    assert M._gram_tol(torch.float64) == 1e-8
    assert M._gram_tol(torch.float32) == 10 * torch.finfo(torch.float32).eps
    assert M._gram_tol(torch.int64) == 1e-8


def test_errors_name_the_argument_that_is_wrong():
    good = torch.eye(2, dtype=torch.float64)
    with pytest.raises(TypeError, match="^gram must be a torch.Tensor"):
        M.matrix_entropy([[1.0]])
    with pytest.raises(ValueError, match="^gram is not unit-diagonal"):
        M.matrix_entropy(2 * good)
    with pytest.raises(TypeError, match="^k1 must be a torch.Tensor"):
        M.mir([[1.0, 0.0], [0.0, 1.0]], good)
    with pytest.raises(TypeError, match="^k2 must be a torch.Tensor"):
        M.mir(good, [[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="^k1 is not unit-diagonal"):
        M.hdr(2 * good, good)
    with pytest.raises(ValueError, match="^features has 1 zero row"):
        M.feature_entropy(torch.tensor([[0.0, 0.0], [1.0, 2.0]]))
    with pytest.raises(TypeError, match="got float 2.5"):
        M.interplay(*data(), batch_size=2.5)


def test_not_psd_message_states_the_bound():
    k = torch.tensor([[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"< -1e-08 \* n = -3e-08\); matrix entropy is defined for Gram"):
        M.matrix_entropy(k)


def test_hadamard_product_checked_under_its_own_name():
    """Two Grams each within the 1e-8 symmetry tolerance whose product is not: the error names k1 * k2."""
    k = torch.tensor([[1.0, 1.0 - 0.9e-8], [1.0, 1.0]], dtype=torch.float64)
    with pytest.raises(ValueError, match=r"^k1 \* k2 is not symmetric"):
        M.mutual_information(k, k)


def test_batch_entropies_match_numpy_and_leave_out_the_joint_term():
    z, w, y = data(n=10, d=6, c=4)
    h1, h2, hj = M.batch_entropies(z, w, y)
    gz, gw = _np_gram(z.numpy()), _np_gram(w.numpy()[y.numpy()])
    assert (h1.item(), h2.item(), hj.item()) == pytest.approx(
        (_np_entropy(gz), _np_entropy(gw), _np_entropy(gz * gw)), abs=1e-10
    )
    assert M.batch_entropies(z, w, y, joint=False)[2] is None


def test_batch_size_two_is_allowed_and_one_batch_has_no_sd():
    z, w, y = data(n=8, d=6, c=4)
    assert M.interplay(z, w, y, batch_size=2)["batches"] >= 1
    one = M.interplay(z, w, y, batch_size=8)
    exact = M.interplay(z, w, y)
    assert one["batches"] == 1 and math.isnan(one["mir_sd"]) and one["mir"] == pytest.approx(exact["mir"])
    two = M.interplay(z, w, y, batch_size=4)
    halves = [M.interplay(z[i : i + 4], w, y[i : i + 4])["mir"] for i in (0, 4)]
    assert two["mir_sd"] == pytest.approx(abs(halves[0] - halves[1]) / math.sqrt(2), rel=1e-12)


@pytest.mark.parametrize("n,d1,d2", [(30, 3, 4), (6, 3, 4)])  # the Kronecker-row route, then the n x n one
def test_paired_interplay_matches_numpy(n, d1, d2):
    g = np.random.default_rng(n)
    a, b = g.normal(size=(n, d1)), g.normal(size=(n, d2))
    ga, gb = _np_gram(a), _np_gram(b)
    h1, h2, hj = _np_entropy(ga), _np_entropy(gb), _np_entropy(ga * gb)
    out = M.paired_interplay(torch.from_numpy(a), torch.from_numpy(b))
    assert (out["h_features"], out["h_heads"], out["h_joint"]) == pytest.approx((h1, h2, hj), abs=1e-10)
    assert out["mir"] == pytest.approx((h1 + h2 - hj) / min(h1, h2), abs=1e-10)


def test_paired_interplay_names_the_side_without_information():
    a = torch.ones(5, 3, dtype=torch.float64)
    b = torch.randn(5, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    with pytest.raises(M.UndefinedRatio, match=r"H\(G\(features_a\)\) = 0 because all 5 rows of features_a"):
        M.paired_interplay(a, b)


def test_route_decides_which_matrix_is_decomposed(monkeypatch):
    """n = 40, d = 6, C = 4: the Khatri-Rao matrix is 24 x 24, smaller than n, so the automatic route never
    forms the 40 x 40 Hadamard product; forcing "gram" does (eigvalsh is wrapped to record sizes only)."""
    sizes, eigvalsh = [], torch.linalg.eigvalsh

    def recording(k, *args, **kwargs):
        sizes.append(k.shape[0])
        return eigvalsh(k, *args, **kwargs)

    monkeypatch.setattr(torch.linalg, "eigvalsh", recording)
    z, w, y = data(n=40, d=6, c=4)
    values = {}
    for route in (None, "kron", "gram"):
        sizes.clear()
        values[route] = M.interplay(z, w, y, route=route)["h_joint"]
        assert (40 in sizes) == (route == "gram"), (route, sizes)
        assert 24 in sizes or route == "gram"
    assert values[None] == pytest.approx(values["gram"], abs=1e-10) and values["kron"] == values[None]


def test_joint_route_takes_gram_when_the_kron_matrix_is_not_smaller():
    assert M.joint_route(24, 6, 4) == "gram" and M.joint_route(25, 6, 4) == "kron"


def test_undefined_messages_say_why_in_full():
    z, w, y = data(n=6, d=3, c=3)
    with pytest.raises(
        M.UndefinedRatio,
        match="^MIR and HDR are undefined for a single sample: every entropy of a 1 x 1 Gram is 0; measure at least two samples$",
    ):
        M.interplay(z[:1], w, y[:1])
    same = torch.ones(6, 3, dtype=torch.float64)
    with pytest.raises(
        M.UndefinedRatio,
        match=r"^MIR is undefined: H\(G\(features\)\) = 0 because all 6 rows of features point in one direction \(G is all ones, e.g. identical or collapsed rows\), so they carry no information to compare$",
    ):
        M.interplay(same, w, y)


def test_feature_entropy_decomposes_the_smaller_side(monkeypatch):
    sizes, eigvalsh = [], torch.linalg.eigvalsh

    def recording(k, *args, **kwargs):
        sizes.append(k.shape[0])
        return eigvalsh(k, *args, **kwargs)

    monkeypatch.setattr(torch.linalg, "eigvalsh", recording)
    z = data(n=40, d=6)[0]
    for rows, expected in ((40, 6), (3, 3)):
        sizes.clear()
        value = M.feature_entropy(z[:rows]).item()
        assert sizes == [expected]
        assert value == pytest.approx(_np_entropy(_np_gram(z[:rows].numpy())), abs=1e-10)


def test_interplay_input_errors_in_full():
    z, w, y = data(n=6, d=3, c=3)
    cases = [
        ((z.tolist(), w, y), TypeError, "^features must be a torch.Tensor or a numpy array, got list"),
        ((z, w.tolist(), y), TypeError, "^heads must be a torch.Tensor or a numpy array, got list"),
        ((z[:, 0], w, y), ValueError, r"^features must be 2-D \(n, d\), got shape \(6,\)$"),
        (
            (z, w[:, 0], y),
            ValueError,
            r"^heads must be 2-D \(C, d\) with one row per class, got shape \(3,\)$",
        ),
        (
            (z, w[:, :2], y),
            ValueError,
            "^features have d=3 columns but heads have 2; the head rows must live in the feature space$",
        ),
        (
            (z, w, y[:5]),
            ValueError,
            r"^labels must be 1-D with one entry per feature row \(6\), got shape \(5,\)$",
        ),
        ((z, w, y.double()), ValueError, r"^labels must be integers \(class indices\)$"),
        ((z * torch.tensor([[0.0]] * 1 + [[1.0]] * 5), w, y), ValueError, "^features has 1 zero row"),
    ]
    for args, error, match in cases:
        with pytest.raises(error, match=match):
            M.interplay(*args)


def test_row_errors_list_what_they_found():
    z = torch.ones(12, 3, dtype=torch.float64)
    z[:11] = 0.0
    first_ten = list(range(10))
    with pytest.raises(
        ValueError,
        match=rf"^features has 11 zero row\(s\) \(first: {re.escape(str(first_ten))}\); a zero vector has no "
        "cosine similarity; drop those rows or add a tiny offset$",
    ):
        M.gram(z)  # gram's rows are "features"
    with pytest.raises(TypeError, match="^features must be a torch.Tensor or a numpy array, got list"):
        M.gram([[1.0]])
    bad = torch.ones(4, 3, dtype=torch.float64)
    bad[0, :] = math.nan
    bad[1, :] = math.inf
    w, y = data(n=4, d=3, c=2)[1:]
    with pytest.raises(
        ValueError,
        match=r"^features contains NaN or inf \(first positions \[\[0, 0\], \[0, 1\], \[0, 2\], \[1, 0\], \[1, 1\]\]\)",
    ):
        M.interplay(bad, w, y)


def test_gram_check_messages_in_full():
    assert M.matrix_entropy(torch.ones(1, 1, dtype=torch.float64)).item() == 0.0  # one sample is a Gram
    with pytest.raises(ValueError, match="^gram is empty; need at least one sample$"):
        M.matrix_entropy(torch.zeros(0, 0, dtype=torch.float64))
    nan = torch.eye(2, dtype=torch.float64)
    nan[0, 1] = math.nan
    with pytest.raises(ValueError, match="^gram contains NaN or inf"):
        M.matrix_entropy(nan)
    with pytest.raises(
        ValueError,
        match=r"matrix entropy is defined for normalized Grams: use gram\(z\), which normalizes the rows$",
    ):
        M.matrix_entropy(2 * torch.eye(2, dtype=torch.float64))
    asym = torch.tensor([[1.0, 0.5], [0.4, 1.0]], dtype=torch.float64)
    with pytest.raises(
        ValueError,
        match=r"^gram is not symmetric \(\|K\[0,1\] - K\[1,0\]\| = 0.1 > 1e-08\); matrix entropy is defined "
        r"for Gram matrices, which are symmetric: build it with gram\(z\)$",
    ):
        M.matrix_entropy(asym)


def test_both_undefined_reasons_are_joined():
    w = data(n=6, d=3, c=3)[1]
    same = torch.ones(6, 3, dtype=torch.float64)
    with pytest.raises(
        M.UndefinedRatio,
        match=r"so they carry no information to compare; and H\(G\(heads\[labels\]\)\) = 0 because all 6 labels "
        "are class 0, so every sample shares one head; measure with at least two classes$",
    ):
        M.interplay(same, w, torch.zeros(6, dtype=torch.long))
