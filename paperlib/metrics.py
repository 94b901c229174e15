"""Matrix entropy, matrix mutual information, MIR and HDR (Sec 3.2 of the paper).

Features are rows: ``z`` has shape (n, d). Everything is computed in float64 with natural logs.

Two layers live here:

* differentiable building blocks on Gram matrices (``gram``, ``matrix_entropy``, ``mutual_information``,
  ``mir``, ``hdr``) that return 0-dim float64 tensors and can be used inside a loss;
* ``interplay``, the measurement the study reports: the paper's quantities between G(features) and
  G(heads[labels]), exact at dataset level or as the paper's batch mean.

The exact route never forms an n x n matrix when a smaller one has the same non-zero spectrum:
the non-zero eigenvalues of Z Z^T equal those of Z^T Z, and the Hadamard product G(Z) * G(W_y) is the Gram of
the Khatri-Rao rows z_i (x) c_{y_i}, where c_k are the head coordinates in an orthonormal basis of the heads'
span (dimension r <= min(C, d)); its d r x d r Gram sum_k kron(S_k, c_k c_k^T) costs one pass over the data.
"""

from __future__ import annotations

import math

import torch

__all__ = [
    "gram",
    "matrix_entropy",
    "mutual_information",
    "mir",
    "hdr",
    "feature_entropy",
    "interplay",
    "paired_interplay",
    "joint_route",
    "nudge_zero_rows",
    "batch_entropies",
]

_DIAG_TOL = 1e-6
_ZERO_ENTROPY = 1e-12
_EIG_FLOOR = 1e-15


def _as_float64(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor, got {type(x).__name__}; wrap it with torch.as_tensor"
        )
    x = x.to(torch.float64)
    if not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).nonzero()[:5].tolist()
        raise ValueError(
            f"{name} contains NaN or inf (first positions {bad}); clean the input before measuring"
        )
    return x


def _normalize_rows(z: torch.Tensor, name: str = "features") -> torch.Tensor:
    """Unit-norm rows; a zero row has no direction, so it is an error rather than a silent NaN."""
    if z.dim() != 2:
        raise ValueError(f"{name} must be 2-D (n, d) with samples as rows, got shape {tuple(z.shape)}")
    if z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(z.shape)}); need at least one row and one column")
    z = _as_float64(z, name)
    norms = z.norm(dim=1, keepdim=True)
    zero = (norms.squeeze(1) == 0).nonzero().squeeze(1)
    if zero.numel():
        raise ValueError(
            f"{name} has {zero.numel()} zero row(s) (first: {zero[:10].tolist()}); a zero vector has no cosine "
            "similarity; drop those rows or add a tiny offset"
        )
    return z / norms


def nudge_zero_rows(z: torch.Tensor) -> torch.Tensor:
    """``z`` with every all-zero row (a dead ReLU feature) moved by 1e-12 along (1, ..., 1), so it has a
    direction; other rows are unchanged. For training losses and early checkpoints, where a crash would cost
    more than the tiny bias; the measuring functions themselves refuse zero rows."""
    return z + (z.abs().sum(1, keepdim=True) == 0) * 1e-12


def gram(z: torch.Tensor) -> torch.Tensor:
    """Cosine Gram matrix G(Z) of the rows of ``z`` (Definition 4.1), float64, shape (n, n)."""
    zn = _normalize_rows(z)
    return zn @ zn.T


def _check_gram(k: torch.Tensor, name: str = "gram") -> torch.Tensor:
    if k.dim() != 2 or k.shape[0] != k.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {tuple(k.shape)}; build it with gram(z)")
    if k.shape[0] == 0:
        raise ValueError(f"{name} is empty; need at least one sample")
    k = _as_float64(k, name)
    dev = (k.diagonal() - 1).abs().max().item()
    if dev > _DIAG_TOL:
        raise ValueError(
            f"{name} is not unit-diagonal (largest |K_ii - 1| = {dev:.3g}); matrix entropy is defined for "
            "normalized Grams: use gram(z), which normalizes the rows"
        )
    return k


def _entropy_of_spectrum(eigs: torch.Tensor, n: int) -> torch.Tensor:
    """-sum(l log l) for l = eig / n, with 0 log 0 = 0 and round-off negatives clamped to 0.

    The gradient at l = 0 is set to 0 (instead of -inf), which keeps gradients finite for rank-deficient
    inputs; structurally zero eigenvalues stay zero under any perturbation of the inputs, so this is exact.
    """
    lam = eigs.clamp(min=0) / n
    positive = lam > _EIG_FLOOR
    safe = torch.where(positive, lam, torch.ones_like(lam))
    return -(torch.where(positive, lam * torch.log(safe), torch.zeros_like(lam))).sum()


def matrix_entropy(k: torch.Tensor) -> torch.Tensor:
    """Von Neumann entropy H(K) = -tr(K/n log K/n) of a unit-diagonal PSD matrix (Definition 3.1)."""
    k = _check_gram(k)
    eigs = torch.linalg.eigvalsh(0.5 * (k + k.T))
    return _entropy_of_spectrum(eigs, k.shape[0])


def _check_pair(k1: torch.Tensor, k2: torch.Tensor) -> None:
    if k1.shape != k2.shape:
        raise ValueError(
            f"the two Grams must have the same shape, got {tuple(k1.shape)} and {tuple(k2.shape)}"
        )


def mutual_information(k1: torch.Tensor, k2: torch.Tensor) -> torch.Tensor:
    """Matrix mutual information H(K1) + H(K2) - H(K1 * K2) (Definition 3.2)."""
    _check_pair(k1, k2)
    return matrix_entropy(k1) + matrix_entropy(k2) - matrix_entropy(k1 * k2)


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den, NaN where den is zero (an entropy of 0 leaves the ratio undefined, not 0)."""
    ok = den > _ZERO_ENTROPY
    return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)), torch.full_like(num, math.nan))


def _mir_from(h1: torch.Tensor, h2: torch.Tensor, hj: torch.Tensor) -> torch.Tensor:
    return _ratio(h1 + h2 - hj, torch.minimum(h1, h2))


def _hdr_from(h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
    return _ratio((h1 - h2).abs(), torch.maximum(h1, h2))


def mir(k1: torch.Tensor, k2: torch.Tensor) -> torch.Tensor:
    """Matrix mutual-information ratio MI / min(H1, H2) (Definition 3.3); NaN if an entropy is 0."""
    _check_pair(k1, k2)
    return _mir_from(matrix_entropy(k1), matrix_entropy(k2), matrix_entropy(k1 * k2))


def hdr(k1: torch.Tensor, k2: torch.Tensor) -> torch.Tensor:
    """Matrix entropy-difference ratio |H1 - H2| / max(H1, H2) (Definition 3.4); NaN if both are 0."""
    _check_pair(k1, k2)
    return _hdr_from(matrix_entropy(k1), matrix_entropy(k2))


# ----------------------------------------------------------------------------------------------------------
# Dataset-level measurement


def _check_inputs(features: torch.Tensor, heads: torch.Tensor, labels: torch.Tensor):
    if features.dim() != 2:
        raise ValueError(f"features must be 2-D (n, d), got shape {tuple(features.shape)}")
    if heads.dim() != 2:
        raise ValueError(f"heads must be 2-D (C, d) with one row per class, got shape {tuple(heads.shape)}")
    if heads.shape[1] != features.shape[1]:
        raise ValueError(
            f"features have d={features.shape[1]} columns but heads have {heads.shape[1]}; "
            "the head rows must live in the feature space"
        )
    labels = torch.as_tensor(labels)
    if labels.dim() != 1 or labels.shape[0] != features.shape[0]:
        raise ValueError(
            f"labels must be 1-D with one entry per feature row ({features.shape[0]}), got shape "
            f"{tuple(labels.shape)}"
        )
    if labels.dtype.is_floating_point:
        raise ValueError("labels must be integers (class indices)")
    labels = labels.long()
    if labels.numel() and (labels.min() < 0 or labels.max() >= heads.shape[0]):
        raise ValueError(
            f"labels must lie in [0, {heads.shape[0] - 1}] (one head per class), got range "
            f"[{labels.min().item()}, {labels.max().item()}]"
        )
    z = _normalize_rows(features, "features")
    w = _normalize_rows(heads, "heads")
    return z, w, labels


def _entropy_rows(zn: torch.Tensor) -> torch.Tensor:
    """H(G(Z)) for unit rows through whichever of Z^T Z (d x d) and Z Z^T (n x n) is smaller."""
    n, d = zn.shape
    small = zn.T @ zn if d < n else zn @ zn.T
    return _entropy_of_spectrum(torch.linalg.eigvalsh(small), n)


def feature_entropy(features: torch.Tensor) -> torch.Tensor:
    """H(G(features)) as a 0-dim float64 tensor, from the d x d matrix Z^T Z when d < n (never n x n then);
    the same number as ``interplay``'s ``h_features``, without heads or labels. Differentiable."""
    return _entropy_rows(_normalize_rows(features, "features"))


def _entropy_heads(w: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """H(G(W_y)) from the C x C matrix D^1/2 W W^T D^1/2, D = class counts (same non-zero spectrum)."""
    counts = torch.bincount(labels, minlength=w.shape[0]).to(torch.float64).sqrt()
    small = counts[:, None] * (w @ w.T) * counts[None, :]
    return _entropy_of_spectrum(torch.linalg.eigvalsh(small), labels.shape[0])


def _head_basis(w: torch.Tensor) -> torch.Tensor:
    """Coordinates of the unit heads in an orthonormal basis of their span, shape (C, r)."""
    u, s, _ = torch.linalg.svd(w, full_matrices=False)
    r = int((s > s.max() * 1e-10).sum())
    return u[:, :r] * s[:r]


ROUTES = ("kron", "gram")


def joint_route(n: int, d: int, r: int) -> str:
    """Which matrix the exact joint entropy H(G(Z) * G(W_y)) is computed from.

    Both have the same non-zero spectrum: ``"kron"`` is the (d r x d r) Gram of the Khatri-Rao rows
    z_i (x) c_{y_i}, ``"gram"`` the n x n Hadamard product itself. The eigenvalue problem costs the cube of the
    dimension and dominates both routes (forming the kron matrix is one pass over the data, n d^2 + C (d r)^2),
    so the rule is: the smaller dimension wins, ``"kron"`` when d r < n. Ten classes (r <= 10) with d = 128
    gives 1,280 against n = 10,000; a hundred classes give d r = 12,800 > n, where the n x n matrix is
    smaller and is used for the joint term only (the two marginal entropies always come from d x d and
    C x C matrices), one n x n problem instead of the plain route's three.
    """
    return "kron" if d * r < n else "gram"


def _entropy_joint(
    zn: torch.Tensor, w: torch.Tensor, labels: torch.Tensor, route: str | None = None
) -> torch.Tensor:
    """H(G(Z) * G(W_y)) through ``route`` (default: ``joint_route``'s choice)."""
    n, d = zn.shape
    c = _head_basis(w)  # (C, r): G(W) = c c^T
    r = c.shape[1]
    if (route or joint_route(n, d, r)) == "gram":
        wy = c[labels]
        k = (zn @ zn.T) * (wy @ wy.T)
        return _entropy_of_spectrum(torch.linalg.eigvalsh(k), n)
    # sum_k kron(S_k, c_k c_k^T) with S_k = Z_k^T Z_k: one (C, d*d) x (C, r*r) product, then reordered.
    num_classes = w.shape[0]
    s = torch.stack([zn[labels == k].T @ zn[labels == k] for k in range(num_classes)])
    cc = c[:, :, None] * c[:, None, :]
    m = (s.reshape(num_classes, d * d).T @ cc.reshape(num_classes, r * r)).reshape(d, d, r, r)
    m = m.permute(0, 2, 1, 3).reshape(d * r, d * r)
    return _entropy_of_spectrum(torch.linalg.eigvalsh(m), n)


def batch_entropies(
    features: torch.Tensor, heads: torch.Tensor, labels: torch.Tensor, joint: bool = True
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Differentiable H(G(features)), H(G(heads[labels])) and, if ``joint``, H(G(features) * G(heads[labels])),
    as 0-dim float64 tensors: the building blocks of the information loss terms.

    Each entropy comes from the smallest matrix with its spectrum: d x d or n x n for the features, the C x C
    class matrix for the heads, and the n x n Hadamard product for the joint term (a training batch is smaller
    than d * C; the Khatri-Rao route would also differentiate through an SVD, whose gradient is unstable at
    repeated singular values)."""
    z, w, labels = _check_inputs(features, heads, labels)
    h_joint = None
    if joint:
        wy = w[labels]
        h_joint = _entropy_of_spectrum(torch.linalg.eigvalsh((z @ z.T) * (wy @ wy.T)), z.shape[0])
    return _entropy_rows(z), _entropy_heads(w, labels), h_joint


def _summary(h1: torch.Tensor, h2: torch.Tensor, hj: torch.Tensor) -> dict[str, float]:
    return {
        "mir": _mir_from(h1, h2, hj).item(),
        "hdr": _hdr_from(h1, h2).item(),
        "mi": (h1 + h2 - hj).item(),
        "h_features": h1.item(),
        "h_heads": h2.item(),
        "h_joint": hj.item(),
    }


def _exact(
    z: torch.Tensor, w: torch.Tensor, labels: torch.Tensor, route: str | None = None
) -> dict[str, float]:
    return _summary(_entropy_rows(z), _entropy_heads(w, labels), _entropy_joint(z, w, labels, route))


@torch.no_grad()
def interplay(
    features: torch.Tensor,
    heads: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int | None = None,
    route: str | None = None,
) -> dict[str, float]:
    """MIR, HDR, MI and the three entropies between G(features) and G(heads[labels]).

    ``batch_size=None`` gives the exact dataset-level values. An int gives the paper's batch approximation:
    the plain mean of each quantity over consecutive batches of that size (a trailing batch of fewer than
    two rows is dropped, since one sample has zero entropy). Ratios are averaged per batch, as the paper
    reports them, so the batch-mean MIR is not MI-mean / H-mean.

    ``route`` forces how the joint entropy is computed (``"kron"`` or ``"gram"``, see ``joint_route``); the
    default picks the faster one. Both are exact; forcing one is for tests and benchmarks.
    """
    if route not in (None, *ROUTES):
        raise ValueError(f"unknown route {route!r}; choose one of {ROUTES} or None (automatic)")
    z, w, labels = _check_inputs(features, heads, labels)
    if batch_size is None:
        return _exact(z, w, labels, route)
    if int(batch_size) != batch_size or batch_size < 2:
        raise ValueError(f"batch_size must be an integer >= 2 or None (exact), got {batch_size!r}")
    n = z.shape[0]
    rows = []
    for start in range(0, n, batch_size):
        stop = min(start + batch_size, n)
        if stop - start < 2:
            continue
        rows.append(_exact(z[start:stop], w, labels[start:stop]))
    if not rows:
        raise ValueError(f"need at least 2 rows for a batch estimate, got n={n}")
    return {key: float(sum(r[key] for r in rows) / len(rows)) for key in rows[0]}


def _entropy_hadamard_rows(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """H(G(Z1) * G(Z2)) for unit rows: the Gram of the row-wise Kronecker products z1_i (x) z2_i, through the
    d1*d2 covariance when that is smaller than n, else the n x n matrix."""
    n, d1 = z1.shape
    d2 = z2.shape[1]
    if d1 * d2 < n:
        f = (z1[:, :, None] * z2[:, None, :]).reshape(n, d1 * d2)
        return _entropy_of_spectrum(torch.linalg.eigvalsh(f.T @ f), n)
    return _entropy_of_spectrum(torch.linalg.eigvalsh((z1 @ z1.T) * (z2 @ z2.T)), n)


@torch.no_grad()
def paired_interplay(features_a: torch.Tensor, features_b: torch.Tensor) -> dict[str, float]:
    """MIR, HDR, MI and entropies between G(features_a) and G(features_b), rows paired (same samples), exact.

    Used to compare two models' representations of the same inputs (e.g. a pruned model and the original).
    ``h_features`` is H(G(features_a)) and ``h_heads`` is H(G(features_b)), keeping ``interplay``'s keys.
    """
    if features_a.dim() != 2 or features_b.dim() != 2 or features_a.shape[0] != features_b.shape[0]:
        raise ValueError(
            f"paired features must be 2-D with the same number of rows, got {tuple(features_a.shape)} and "
            f"{tuple(features_b.shape)}"
        )
    a, b = _normalize_rows(features_a, "features_a"), _normalize_rows(features_b, "features_b")
    return _summary(_entropy_rows(a), _entropy_rows(b), _entropy_hadamard_rows(a, b))
