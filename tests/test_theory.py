"""paperlib.theory: the Theorem 4.2 value, the ETF construction, NC measures and the Lemma 4.5 bound."""

import math

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
