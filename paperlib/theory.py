"""Neural-collapse constructions, the Theorem 4.2 value, and the classical collapse measures NC1-NC4.

The constructions give the exact geometry the theorems assume (a simplex equiangular tight frame for the heads,
features sitting on their class heads); the measures tell how far trained features are from it, following
Papyan, Han and Donoho (2020).
"""

from __future__ import annotations

import math

import torch

from .metrics import _check_inputs
from .rng import generator

__all__ = [
    "simplex_etf",
    "collapsed_features",
    "nc_mir_bound",
    "nc_measures",
    "regression_error",
    "lemma45_bound",
]


def simplex_etf(num_classes: int, dim: int | None = None, seed: int | None = 0) -> torch.Tensor:
    """C unit vectors in R^dim with pairwise cosine -1/(C-1), randomly rotated; shape (C, dim).

    The frame spans C-1 dimensions, so ``dim`` must be at least C-1 (default: C); ``seed`` fixes the
    rotation (``None`` means 0). Costs a C x C eigendecomposition and a dim x (C-1) QR.
    ValueError for fewer than 2 classes or too small a ``dim``.
    """
    if num_classes < 2:
        raise ValueError(f"a simplex ETF needs at least 2 classes, got {num_classes}")
    dim = num_classes if dim is None else int(dim)
    if dim < num_classes - 1:
        raise ValueError(
            f"a simplex ETF of {num_classes} classes spans {num_classes - 1} dimensions; dim={dim}"
        )
    c = num_classes
    centred = torch.eye(c, dtype=torch.float64) - 1.0 / c
    # Coordinates of the centred basis vectors in the (C-1)-dim subspace they span.
    evals, evecs = torch.linalg.eigh(centred)
    coords = evecs[:, 1:] * evals[1:].clamp(min=0).sqrt()  # (C, C-1); drop the null direction 1/sqrt(C)
    rot, _ = torch.linalg.qr(torch.randn(dim, c - 1, dtype=torch.float64, generator=generator(seed)))
    etf = coords @ rot.T
    return etf / etf.norm(dim=1, keepdim=True)


def collapsed_features(
    heads: torch.Tensor, per_class: int, scale: float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features under NC1 + NC3: every sample of class k equals ``scale`` times head k; balanced classes.

    ``heads`` is (C, d). Returns (features (C*per_class, d) in float64, labels (C*per_class,)), grouped by
    class as in the proof of Corollary 4.3. ValueError for ``per_class`` < 1.
    """
    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}")
    labels = torch.arange(heads.shape[0]).repeat_interleave(per_class)
    return scale * heads.to(torch.float64)[labels], labels


def nc_mir_bound(num_classes: int) -> float:
    """MIR at neural collapse (Theorem 4.2): 1/(C-1) + (C-2) log(C-2) / ((C-1) log(C-1)).

    For C = 3 the second term is 0 (0 log 0 = 0), so the value is 1/2. A float, in constant time;
    ValueError for C < 3 or a C that is not an integer (for C = 2 the ratio is undefined).
    """
    c = int(num_classes)
    if c != num_classes or c < 3:
        raise ValueError(
            f"Theorem 4.2 needs an integer C >= 3, got {num_classes!r}: for C = 2 the simplex ETF Gram has "
            "matrix entropy log(C-1) = 0, so the MIR denominator vanishes and the ratio is undefined"
        )
    tail = 0.0 if c == 3 else (c - 2) * math.log(c - 2) / ((c - 1) * math.log(c - 1))
    return 1.0 / (c - 1) + tail


def _class_means(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    counts = torch.bincount(labels, minlength=num_classes).to(features.dtype)
    if (counts == 0).any():
        missing = (counts == 0).nonzero().squeeze(1).tolist()
        raise ValueError(f"classes {missing} have no samples; NC measures need every class present")
    sums = torch.zeros(num_classes, features.shape[1], dtype=features.dtype, device=features.device)
    sums = sums.index_add_(0, labels, features)
    return sums / counts[:, None]


@torch.no_grad()
def nc_measures(
    features: torch.Tensor, labels: torch.Tensor, heads: torch.Tensor, bias: torch.Tensor | None = None
) -> dict[str, float]:
    """NC1-NC4 of Papyan et al. (2020); each is 0 at perfect collapse. Returns a dict of floats:

    - ``nc1``: ``tr(Sigma_W Sigma_B^+) / C``, within-class variability relative to between-class spread;
    - ``nc2_equinorm``: coefficient of variation of the centred class-mean norms;
    - ``nc2_equiangular``: mean ``|cos(mu_i, mu_j) + 1/(C-1)|`` over class pairs (i != j);
    - ``nc3``: ``|| W/||W||_F - M/||M||_F ||_F`` with M the centred class means as rows (self-duality);
    - ``nc4``: fraction of samples whose classifier prediction differs from the nearest class centre.

    ``features`` (n, d), ``labels`` (n,) in [0, C - 1], ``heads`` (C, d), ``bias`` (C,) or None (used only
    for the predictions of nc4). Costs O(n d^2) for the covariance, a d x d pseudo-inverse and an n x C
    distance matrix. ValueError for mismatched shapes, labels out of range, zero rows, or a class
    without samples.
    """
    _check_inputs(features, heads, labels)
    z = features.to(torch.float64)
    w = heads.to(torch.float64)
    y = torch.as_tensor(labels).long()
    c = w.shape[0]
    means = _class_means(z, y, c)
    centred = means - z.mean(dim=0)
    within = z - means[y]
    sigma_w = within.T @ within / z.shape[0]
    sigma_b = centred.T @ centred / c
    nc1 = torch.trace(sigma_w @ torch.linalg.pinv(sigma_b, hermitian=True)).item() / c
    norms = centred.norm(dim=1)
    nc2_norm = (norms.std(unbiased=False) / norms.mean()).item()
    unit = centred / norms[:, None]
    cos = unit @ unit.T
    off = ~torch.eye(c, dtype=torch.bool)
    nc2_angle = (cos[off] + 1.0 / (c - 1)).abs().mean().item()
    nc3 = (w / w.norm() - centred / centred.norm()).norm().item()
    logits = z @ w.T + (0 if bias is None else bias.to(torch.float64))
    nearest = torch.cdist(z, means).argmin(dim=1)
    nc4 = (logits.argmax(dim=1) != nearest).double().mean().item()
    return {"nc1": nc1, "nc2_equinorm": nc2_norm, "nc2_equiangular": nc2_angle, "nc3": nc3, "nc4": nc4}


def regression_error(z1: torch.Tensor, z2: torch.Tensor) -> float:
    """``min over (H, eta) of (1/N) ||Z1 - (H Z2 + eta 1^T)||_F^2``, samples as rows (Lemma 4.5's left side).

    ``z1`` (N, d1) and ``z2`` (N, d2) are paired rows; a float from one least-squares solve of an
    N x (d2 + 1) design, O(N (d2 + 1)^2 + N d1 (d2 + 1)), in float64."""
    z1 = z1.to(torch.float64)
    design = torch.cat([z2.to(torch.float64), torch.ones(z2.shape[0], 1, dtype=torch.float64)], dim=1)
    coef = torch.linalg.lstsq(design, z1, driver="gelsd").solution
    return ((z1 - design @ coef) ** 2).sum().item() / z1.shape[0]


def lemma45_bound(z1: torch.Tensor, rank_z2: int) -> float:
    """Lemma 4.5's lower bound: sum of ``sigma_j^2`` for j = rank(Z2)+2 .. rank(Z1), sigma of Z1 / sqrt(N).

    ``z1`` is (N, d1) and ``rank_z2`` the rank of the regressor Z2; a float from two SVDs of ``z1``
    (singular values and rank), O(N d1 min(N, d1)), in float64."""
    z1 = z1.to(torch.float64)
    sig = torch.linalg.svdvals(z1 / math.sqrt(z1.shape[0]))
    r1 = int(torch.linalg.matrix_rank(z1))
    return float((sig[rank_z2 + 1 : r1] ** 2).sum())
