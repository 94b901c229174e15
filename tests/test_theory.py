"""paperlib.theory: the Theorem 4.2 value, the ETF construction, NC measures and the Lemma 4.5 bound."""

import math

import numpy as np
import pytest
import torch

from paperlib.metrics import gram, hdr, interplay, mir
from paperlib.theory import (
    collapsed_features,
    lemma45_bound,
    nc_measures,
    nc_mir_bound,
    regression_error,
    simplex_etf,
)


def test_nc_mir_bound_values():
    assert nc_mir_bound(3) == 0.5
    c = 10
    assert nc_mir_bound(c) == pytest.approx(1 / 9 + 8 * math.log(8) / (9 * math.log(9)), abs=1e-15)
    assert 0.99 < nc_mir_bound(1000) < 1
    values = [nc_mir_bound(c) for c in range(3, 60)]
    assert all(a < b for a, b in zip(values, values[1:], strict=False))


@pytest.mark.parametrize("c", [2, 1, 0, 3.5])
def test_nc_mir_bound_rejects_small_c(c):
    with pytest.raises(ValueError, match="C >= 3"):
        nc_mir_bound(c)


@pytest.mark.parametrize("c,dim", [(3, 2), (5, 5), (10, 64)])
def test_simplex_etf_geometry(c, dim):
    w = simplex_etf(c, dim)
    assert w.shape == (c, dim)
    g = gram(w)
    off = g[~torch.eye(c, dtype=torch.bool)]
    assert torch.allclose(off, torch.full_like(off, -1 / (c - 1)), atol=1e-12)
    assert torch.allclose(w.sum(0), torch.zeros(dim, dtype=torch.float64), atol=1e-12)


def test_simplex_etf_rejects_too_few_dimensions():
    with pytest.raises(ValueError, match="spans 9 dimensions"):
        simplex_etf(10, 5)


@pytest.mark.parametrize("c", [3, 4, 7, 25])
def test_corollary_43_on_constructed_collapse(c):
    heads = simplex_etf(c, c + 3, seed=c)
    z, y = collapsed_features(heads, per_class=4, scale=2.0)
    out = interplay(z, heads, y)
    assert out["mir"] == pytest.approx(nc_mir_bound(c), abs=1e-10)
    assert out["hdr"] == pytest.approx(0, abs=1e-10)
    assert mir(gram(heads), gram(3 * heads)).item() == pytest.approx(nc_mir_bound(c), abs=1e-10)
    assert hdr(gram(heads), gram(3 * heads)).item() == pytest.approx(0, abs=1e-12)


def test_nc_measures_zero_at_collapse_and_positive_off_it():
    heads = simplex_etf(5, 8)
    z, y = collapsed_features(heads, per_class=10, scale=1.5)
    at = nc_measures(z + 0.0, y, heads)
    assert all(v == pytest.approx(0, abs=1e-9) for v in at.values()), at
    noisy = z + 0.3 * torch.randn(z.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    off = nc_measures(noisy, y, torch.randn(5, 8, dtype=torch.float64))
    assert off["nc1"] > 0.01 and off["nc2_equiangular"] > 0 and off["nc3"] > 0.1


def test_nc_measures_stay_on_the_features_device(monkeypatch):
    """NC1-NC4 of features on a (simulated) second device compute there: class means built on the CPU would
    raise on a GPU when the features are added into them."""
    from .virtual_device import VIRTUAL, Simulation

    heads = simplex_etf(3, 4)
    z, y = collapsed_features(heads, per_class=4)
    noisy = z + 0.1 * torch.randn(z.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    sim = Simulation(monkeypatch)
    with sim:
        out = nc_measures(noisy.to(VIRTUAL), y.to(VIRTUAL), heads.to(VIRTUAL))
    assert not sim.mode.problems, sim.mode.problems
    assert out == pytest.approx(nc_measures(noisy, y, heads), rel=1e-12)


def test_nc_measures_needs_every_class():
    heads = simplex_etf(4, 4)
    z, y = collapsed_features(heads, per_class=3)
    with pytest.raises(ValueError, match=r"classes \[3\] have no samples"):
        nc_measures(z[y < 3], y[y < 3], heads)


def test_lemma45_bound_below_regression_error():
    g = torch.Generator().manual_seed(1)
    for _ in range(20):
        z1 = torch.randn(60, 5, generator=g, dtype=torch.float64) @ torch.randn(
            5, 12, generator=g, dtype=torch.float64
        )
        z2 = torch.randn(60, 2, generator=g, dtype=torch.float64) @ torch.randn(
            2, 7, generator=g, dtype=torch.float64
        )
        assert regression_error(z1, z2) >= lemma45_bound(z1, 2) - 1e-9
    assert lemma45_bound(z1, 5) == 0.0  # no tail beyond rank(Z2) + 1 = rank(Z1) + 1


def test_nc_mir_bound_names_why_c2_is_undefined():
    with pytest.raises(ValueError, match=r"Gram has matrix entropy log\(C-1\) = 0, so the MIR denominator"):
        nc_mir_bound(2)


@pytest.mark.parametrize("c,dim", [(2, 2), (3, 3), (6, 9)])
def test_simplex_etf_is_unit_rows_with_the_etf_gram(c, dim):
    """Unit rows whose Gram matrix is C/(C-1) I - 1/(C-1) 11^T, built in numpy from the definition (not
    through ``gram``, which normalizes rows itself); C = 2 is the antipodal pair."""
    w = simplex_etf(c, dim).numpy()
    assert w.shape == (c, dim)
    expected = c / (c - 1) * np.eye(c) - np.ones((c, c)) / (c - 1)
    np.testing.assert_allclose(w @ w.T, expected, atol=1e-12)
    assert np.linalg.matrix_rank(w, tol=1e-9) == c - 1


def test_simplex_etf_default_dim_seed_and_smallest_dim():
    assert simplex_etf(4).shape == (4, 4)
    assert torch.equal(simplex_etf(4), simplex_etf(4, 4, seed=0))
    assert torch.equal(simplex_etf(4, seed=None), simplex_etf(4, seed=0))
    assert not torch.allclose(simplex_etf(4, seed=3), simplex_etf(4, seed=0))
    assert simplex_etf(5, dim=4).shape == (5, 4)  # C - 1 dimensions suffice
    with pytest.raises(ValueError, match="spans 4 dimensions; dim=3"):
        simplex_etf(5, dim=3)
    with pytest.raises(ValueError, match="at least 2 classes, got 1"):
        simplex_etf(1)


def test_collapsed_features_repeat_each_head_in_float64():
    heads = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 0.25]], dtype=torch.float32)
    z, y = collapsed_features(heads, per_class=1)
    assert z.dtype == torch.float64
    assert torch.equal(y, torch.tensor([0, 1, 2]))
    assert torch.equal(z, heads.double())
    z2, y2 = collapsed_features(heads, per_class=2, scale=-0.5)
    assert torch.equal(y2, torch.tensor([0, 0, 1, 1, 2, 2]))
    assert torch.equal(z2, -0.5 * heads.double()[[0, 0, 1, 1, 2, 2]])
    with pytest.raises(ValueError, match="per_class must be at least 1, got 0"):
        collapsed_features(heads, per_class=0)


def test_regression_error_equals_numpy_least_squares():
    """The residual of numpy's least squares with an intercept column, divided by N (N != d1 so dividing by
    the width would differ)."""
    rng = np.random.default_rng(4)
    z1 = rng.normal(size=(30, 4)).astype(np.float32)
    z2 = rng.normal(size=(30, 3)).astype(np.float32)
    design = np.hstack([z2.astype(np.float64), np.ones((30, 1))])
    coef, *_ = np.linalg.lstsq(design, z1.astype(np.float64), rcond=None)
    expected = ((z1.astype(np.float64) - design @ coef) ** 2).sum() / 30
    got = regression_error(torch.from_numpy(z1), torch.from_numpy(z2))
    assert got == pytest.approx(expected, rel=1e-12)
    assert expected > 0.5  # a real residual, not a perfect fit


def test_lemma45_bound_is_the_tail_of_chosen_singular_values():
    """Z1 = sqrt(N) U diag(s) V^T has sigma(Z1 / sqrt(N)) = s; with rank(Z2) = 1 the bound sums s_j^2 for
    j = 3 .. 5 = 3^2 + 2^2 + 1^2 = 14. A float32 Z1 gives the float64 value."""
    rng = np.random.default_rng(5)
    n = 40
    u, _ = np.linalg.qr(rng.normal(size=(n, 5)))
    v, _ = np.linalg.qr(rng.normal(size=(7, 5)))
    z1 = math.sqrt(n) * u @ np.diag([5.0, 4.0, 3.0, 2.0, 1.0]) @ v.T
    assert lemma45_bound(torch.from_numpy(z1), 1) == pytest.approx(14.0, rel=1e-12)
    assert lemma45_bound(torch.from_numpy(z1), 3) == pytest.approx(1.0, rel=1e-12)
    z1_32 = torch.from_numpy(z1).float()
    exact = np.linalg.svd(z1_32.double().numpy() / math.sqrt(n), compute_uv=False)
    assert lemma45_bound(z1_32, 1) == pytest.approx(float((exact[2:5] ** 2).sum()), rel=1e-12)
