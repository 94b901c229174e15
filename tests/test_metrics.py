"""paperlib.metrics against a plain numpy n x n reference, plus properties, gradients and bad input."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from paperlib.metrics import (
    feature_entropy,
    gram,
    hdr,
    interplay,
    joint_route,
    matrix_entropy,
    mir,
    mutual_information,
)


def ref_gram(z):
    z = np.asarray(z, dtype=np.float64)
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    return z @ z.T


def ref_entropy(k):
    lam = np.clip(np.linalg.eigvalsh(k), 0, None) / k.shape[0]
    lam = lam[lam > 1e-15]
    return float(-(lam * np.log(lam)).sum())


def ref_all(z, w, y):
    k1, k2 = ref_gram(z), ref_gram(np.asarray(w)[np.asarray(y)])
    h1, h2, hj = ref_entropy(k1), ref_entropy(k2), ref_entropy(k1 * k2)
    mi = h1 + h2 - hj
    return dict(
        mir=mi / min(h1, h2), hdr=abs(h1 - h2) / max(h1, h2), mi=mi, h_features=h1, h_heads=h2, h_joint=hj
    )


def data(n, d, c, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(n, d, generator=g),
        torch.randn(c, d, generator=g),
        torch.randint(0, c, (n,), generator=g),
    )


def test_building_blocks_match_reference():
    z, w, y = data(40, 7, 5)
    k1, k2 = gram(z), gram(w[y])
    np.testing.assert_allclose(k1.numpy(), ref_gram(z.numpy()), atol=1e-12)
    ref = ref_all(z.numpy(), w.numpy(), y.numpy())
    assert matrix_entropy(k1).item() == pytest.approx(ref["h_features"], abs=1e-10)
    assert mutual_information(k1, k2).item() == pytest.approx(ref["mi"], abs=1e-10)
    assert mir(k1, k2).item() == pytest.approx(ref["mir"], abs=1e-10)
    assert hdr(k1, k2).item() == pytest.approx(ref["hdr"], abs=1e-10)
    for out in (matrix_entropy(k1), mir(k1, k2), hdr(k1, k2), mutual_information(k1, k2)):
        assert out.dtype == torch.float64 and out.dim() == 0


@pytest.mark.parametrize(
    "n,d,c,route",
    [
        (2000, 16, 10, "kron"),
        (3000, 24, 12, "kron"),
        (300, 64, 10, "gram"),
        (50, 8, 40, "gram"),
        (150, 8, 40, "kron"),
    ],
)
def test_exact_routes_match_nxn_reference(n, d, c, route):
    z, w, y = data(n, d, c, seed=n)
    assert joint_route(n, d, min(c, d)) == route
    got, ref = interplay(z, w, y), ref_all(z.numpy(), w.numpy(), y.numpy())
    for key, value in ref.items():
        assert got[key] == pytest.approx(value, abs=1e-9), key


@pytest.mark.parametrize("n,d,c", [(400, 8, 5), (120, 16, 10), (60, 4, 30)])
def test_both_joint_routes_give_the_same_values_whichever_is_chosen(n, d, c):
    z, w, y = data(n, d, c, seed=c)
    auto, kron, full = (interplay(z, w, y, route=r) for r in (None, "kron", "gram"))
    for key in auto:
        assert kron[key] == pytest.approx(full[key], abs=1e-9) and auto[key] == pytest.approx(
            full[key], abs=1e-9
        )
    with pytest.raises(ValueError, match="unknown route"):
        interplay(z, w, y, route="fast")


def test_feature_entropy_is_interplays_h_features_without_heads():
    z, w, y = data(300, 8, 4, seed=2)
    assert feature_entropy(z).item() == interplay(z, w, y)["h_features"]
    assert feature_entropy(z[:6]).item() == pytest.approx(ref_entropy(ref_gram(z[:6].numpy())), abs=1e-12)


def test_route_rule_picks_the_smaller_matrix():
    assert joint_route(10_000, 128, 10) == "kron"  # 1,280 < 10,000
    assert joint_route(10_000, 128, 100) == "gram"  # 12,800 > 10,000
    assert joint_route(100_000, 128, 100) == "kron"


def test_low_rank_heads_reduce_to_their_span():
    z, _, y = data(1500, 20, 6, seed=3)
    w = torch.randn(6, 2) @ torch.randn(2, 20)  # six heads in a 2-dim span
    got, ref = interplay(z, w, y), ref_all(z.numpy(), w.numpy(), y.numpy())
    for key, value in ref.items():
        assert got[key] == pytest.approx(value, abs=1e-9), key


def test_batch_mean_is_mean_over_consecutive_batches():
    z, w, y = data(203, 10, 4)
    got = interplay(z, w, y, batch_size=50)
    parts = [ref_all(z[i : i + 50].numpy(), w.numpy(), y[i : i + 50].numpy()) for i in range(0, 200, 50)]
    parts_all = parts + [ref_all(z[200:].numpy(), w.numpy(), y[200:].numpy())]
    spread = {"skipped_batches", "batches", "mir_sd", "hdr_sd"}
    for key in set(got) - spread:  # the trailing batch of 3 rows counts, a single row would not
        assert got[key] == pytest.approx(np.mean([p[key] for p in parts_all]), abs=1e-9)
    assert got["skipped_batches"] == 0 and got["batches"] == 5
    for key in ("mir", "hdr"):  # the sd over batches behind the batch mean's interval
        assert got[f"{key}_sd"] == pytest.approx(np.std([p[key] for p in parts_all], ddof=1), abs=1e-9)
    single = interplay(z[:201], w, y[:201], batch_size=50)
    assert single["mir"] == pytest.approx(np.mean([p["mir"] for p in parts]), abs=1e-9)
    assert single["skipped_batches"] == 1  # the trailing single row has no ratio


features = st.integers(0, 10_000).flatmap(
    lambda seed: st.tuples(st.just(seed), st.integers(3, 30), st.integers(1, 12), st.integers(2, 6))
)


@settings(max_examples=60, deadline=None)
@given(features)
def test_ranges_and_symmetry(params):
    seed, n, d, c = params
    z, w, y = data(n, d, c, seed)
    k1, k2 = gram(z), gram(w[y])
    assert mutual_information(k1, k2).item() == pytest.approx(mutual_information(k2, k1).item(), abs=1e-10)
    for value in (mir(k1, k2).item(), hdr(k1, k2).item()):
        assert math.isnan(value) or -1e-9 <= value <= 1 + 1e-9
    assert mir(k1, k2).item() == pytest.approx(mir(k2, k1).item(), abs=1e-10, nan_ok=True)


def interplay_or_undefined(*args, **kwargs):
    """``interplay``'s dict, or "undefined" where it refuses an undefined ratio (one class, parallel rows)."""
    try:
        return interplay(*args, **kwargs)
    except ValueError as err:
        assert "undefined" in str(err)
        return "undefined"


@settings(max_examples=40, deadline=None)
@given(features)
def test_invariant_to_row_scaling_and_rotation(params):
    seed, n, d, c = params
    z, w, y = data(n, d, c, seed)
    g = torch.Generator().manual_seed(seed + 1)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    scale = torch.rand(n, 1, generator=g, dtype=torch.float64) * 10 + 0.1
    base = interplay_or_undefined(z, w, y)
    moved = interplay_or_undefined(scale * z.double() @ q, w.double() @ q, y)
    if base == "undefined":
        assert moved == "undefined"
        return
    for key in base:
        assert moved[key] == pytest.approx(base[key], abs=1e-8)


def _loss_fn(w, y):
    return lambda z: (
        mir(gram(z), gram(w[y])) + hdr(gram(z), gram(w[y])) + mutual_information(gram(z), gram(w[y]))
    )


@pytest.mark.parametrize("n,d,c", [(12, 3, 4), (10, 6, 2), (8, 8, 8)])
def test_gradients_finite_and_match_finite_differences(n, d, c):
    """Rank-deficient cases included: n > d, and repeated labels (rank(G(W_y)) <= C < n)."""
    z, w, y = data(n, d, c, seed=7)
    z = z.double().requires_grad_()
    w = w.double().requires_grad_()
    f = _loss_fn(w, y)
    f(z).backward()
    assert torch.isfinite(z.grad).all() and torch.isfinite(w.grad).all()
    assert torch.autograd.gradcheck(f, (z,), eps=1e-6, atol=1e-5)
    assert torch.autograd.gradcheck(
        lambda ww: _loss_fn(ww, y)(z.detach()), (w.detach().requires_grad_(),), eps=1e-6, atol=1e-5
    )


def test_gradient_finite_with_identical_rows():
    z = torch.ones(6, 4, dtype=torch.float64) + 0.0
    z[3:] *= -1
    z.requires_grad_()
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    w = torch.randn(2, 4, dtype=torch.float64)
    out = mutual_information(gram(z), gram(w[y]))
    out.backward()
    assert torch.isfinite(z.grad).all()


def test_zero_denominator_gives_nan_on_grams_and_an_error_in_interplay():
    k = torch.ones(5, 5, dtype=torch.float64)  # rank one: H = 0
    other = gram(torch.randn(5, 3))
    assert math.isnan(mir(k, other).item())
    assert math.isnan(hdr(k, k).item())
    assert hdr(k, other).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"H\(G\(heads\[labels\]\)\) = 0 because all 10 labels are class 0"):
        interplay(torch.randn(10, 4), torch.randn(3, 4), torch.zeros(10, dtype=torch.long))


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: gram(torch.tensor([[1.0, float("nan")], [1.0, 2.0]])), "NaN or inf"),
        (lambda: gram(torch.tensor([[1.0, float("inf")], [1.0, 2.0]])), "NaN or inf"),
        (lambda: gram(torch.tensor([[1.0, 2.0], [0.0, 0.0]])), r"zero row\(s\) \(first: \[1\]\)"),
        (lambda: gram(torch.ones(3)), "2-D"),
        (lambda: gram(torch.ones(0, 3)), "empty"),
        (lambda: matrix_entropy(torch.ones(3, 4)), "square"),
        (lambda: matrix_entropy(2 * torch.eye(3)), "unit-diagonal"),
        (lambda: mir(torch.eye(3), torch.eye(4)), "same shape"),
        (
            lambda: interplay(torch.randn(5, 3), torch.randn(2, 4), torch.zeros(5, dtype=torch.long)),
            "columns",
        ),
        (
            lambda: interplay(torch.randn(5, 3), torch.randn(2, 3), torch.zeros(4, dtype=torch.long)),
            "one entry",
        ),
        (lambda: interplay(torch.randn(5, 3), torch.randn(2, 3), torch.full((5,), 2)), r"\[0, 1\]"),
        (lambda: interplay(torch.randn(5, 3), torch.randn(2, 3), torch.full((5,), -1)), r"\[0, 1\]"),
        (lambda: interplay(torch.randn(5, 3), torch.randn(2, 3), torch.zeros(5)), "integers"),
        (
            lambda: interplay(torch.randn(5, 3), torch.zeros(2, 3), torch.zeros(5, dtype=torch.long)),
            "heads has",
        ),
        (
            lambda: interplay(torch.randn(5, 3), torch.randn(2, 3), torch.zeros(5, dtype=torch.long), 1),
            "batch_size",
        ),
    ],
)
def test_bad_input_is_a_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
