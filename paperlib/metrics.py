"""Matrix entropy, matrix mutual information, MIR and HDR (Sec 3.2 of the paper).

Features are rows: ``z`` has shape (n, d). Everything is computed in float64 with natural logs. Every public
function takes torch tensors or numpy arrays (converted with ``torch.as_tensor``).

Two layers live here:

* differentiable building blocks on Gram matrices (``gram``, ``matrix_entropy``, ``mutual_information``,
  ``mir``, ``hdr``) that return 0-dim float64 tensors and can be used inside a loss; a zero denominator gives
  NaN there, and a matrix that is not symmetric PSD is refused;
* ``interplay``, the measurement the study reports: the paper's quantities between G(features) and
  G(heads[labels]), exact at dataset level or as the paper's batch mean. A ratio that is undefined (one
  sample, one head in use, all features parallel) is an error here, never a NaN read as a result; the batch
  mean skips such batches and counts them.

The exact route never forms an n x n matrix when a smaller one has the same non-zero spectrum:
the non-zero eigenvalues of Z Z^T equal those of Z^T Z, and the Hadamard product G(Z) * G(W_y) is the Gram of
the Khatri-Rao rows z_i (x) c_{y_i}, where c_k are the head coordinates in an orthonormal basis of the heads'
span (dimension r <= min(C, d)); its d r x d r Gram sum_k kron(S_k, c_k c_k^T) costs one pass over the data.
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
import torch

__all__ = [
    "UndefinedRatio",
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


class UndefinedRatio(ValueError):
    """MIR or HDR has no value for these inputs (an entropy is 0: one class, one sample, parallel rows)."""


_DIAG_TOL = 1e-6
_ZERO_ENTROPY = 1e-12
_EIG_FLOOR = 1e-15
_GRAM_TOL = 1e-8  # symmetry and PSD tolerance of a unit-diagonal float64 matrix (per entry, per sample)


def _tensor(x, name: str) -> torch.Tensor:
    """Tensors pass through and numpy arrays are converted (no copy), so both kinds of caller get numbers;
    anything else is refused here, before an attribute error deep inside could hide what went wrong."""
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.as_tensor(x)
    raise TypeError(
        f"{name} must be a torch.Tensor or a numpy array, got {type(x).__name__}; wrap it with torch.as_tensor"
    )


def _as_float64(x: torch.Tensor, name: str) -> torch.Tensor:
    x = _tensor(x, name)
    if x.is_complex():
        raise TypeError(f"{name} is complex ({x.dtype}); the metrics are defined for real features")
    x = x.to(torch.float64)
    if not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).nonzero()[:5].tolist()
        raise ValueError(
            f"{name} contains NaN or inf (first positions {bad}); clean the input before measuring"
        )
    return x


def _normalize_rows(z: torch.Tensor, name: str = "features") -> torch.Tensor:
    """Unit-norm rows; a zero row has no direction, so it is an error rather than a silent NaN.

    Each row is first multiplied by the power of two that brings its largest entry into [0.5, 1), which is
    exact in floating point: the norm can then neither overflow (rows of 1e200) nor underflow (rows of 1e-170),
    and rows of ordinary size give bit for bit the same unit rows as z / |z|.
    """
    z = _tensor(z, name)
    if z.dim() != 2:
        raise ValueError(f"{name} must be 2-D (n, d) with samples as rows, got shape {tuple(z.shape)}")
    if z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(z.shape)}); need at least one row and one column")
    z = _as_float64(z, name)
    peak = z.detach().abs().amax(dim=1, keepdim=True)
    zero = (peak.squeeze(1) == 0).nonzero().squeeze(1)
    if zero.numel():
        raise ValueError(
            f"{name} has {zero.numel()} zero row(s) (first: {zero[:10].tolist()}); a zero vector has no cosine "
            "similarity; drop those rows or add a tiny offset"
        )
    shift = -torch.frexp(peak)[1]  # peak * 2**shift lies in [0.5, 1)
    half = shift // 2  # two factors, since 2**shift alone overflows for subnormal rows
    one = torch.ones_like(peak)
    z = z * torch.ldexp(one, half) * torch.ldexp(one, shift - half)
    return z / z.norm(dim=1, keepdim=True)


def nudge_zero_rows(z: torch.Tensor) -> torch.Tensor:
    """``z`` with every all-zero row (a dead ReLU feature) moved by 1e-12 along (1, ..., 1), so it has a
    direction; other rows are unchanged. For training losses and early checkpoints, where a crash would cost
    more than the tiny bias; the measuring functions themselves refuse zero rows.

    Shape (n, d) in and out, same dtype; one pass over ``z``. TypeError for anything but a tensor or array."""
    z = _tensor(z, "z")
    return z + (z.abs().sum(1, keepdim=True) == 0) * 1e-12


def gram(z: torch.Tensor) -> torch.Tensor:
    """Cosine Gram matrix G(Z) of the rows of ``z`` (Definition 4.1): ``z`` (n, d) gives float64 (n, n).

    Costs n^2 d operations and n^2 floats of memory (the measuring functions below avoid forming it when a
    smaller matrix has the same spectrum). ValueError for a zero row (it has no direction), NaN or inf, or a
    ``z`` that is not 2-D."""
    zn = _normalize_rows(z)
    return zn @ zn.T


def _check_gram(k: torch.Tensor, name: str = "gram") -> tuple[torch.Tensor, float]:
    """``k`` in float64 after checking it is square, finite, unit-diagonal and symmetric, with the round-off
    tolerance of the precision it was built in; the PSD half of the check needs the eigenvalues, so
    ``_checked_eigvalsh`` does it."""
    k = _tensor(k, name)
    if k.dim() != 2 or k.shape[0] != k.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {tuple(k.shape)}; build it with gram(z)")
    if k.shape[0] == 0:
        raise ValueError(f"{name} is empty; need at least one sample")
    tol = _gram_tol(k.dtype)
    k = _as_float64(k, name)
    dev = (k.diagonal() - 1).abs().max().item()
    if dev > _DIAG_TOL:
        raise ValueError(
            f"{name} is not unit-diagonal (largest |K_ii - 1| = {dev:.3g}); matrix entropy is defined for "
            "normalized Grams: use gram(z), which normalizes the rows"
        )
    gap = (k - k.T).detach().abs()
    if gap.max().item() > tol:
        i, j = divmod(int(gap.argmax()), k.shape[0])
        raise ValueError(
            f"{name} is not symmetric (|K[{i},{j}] - K[{j},{i}]| = {gap[i, j].item():.3g} > {tol:.3g}); matrix "
            "entropy is defined for Gram matrices, which are symmetric: build it with gram(z)"
        )
    return k, tol


def _gram_tol(dtype: torch.dtype) -> float:
    """Round-off allowance per entry for a matrix built in ``dtype``: 1e-8 for float64, more for float32."""
    eps = torch.finfo(dtype).eps if dtype.is_floating_point else 0.0
    return max(_GRAM_TOL, 10 * eps)


def _checked_eigvalsh(k: torch.Tensor, tol: float, name: str) -> torch.Tensor:
    """Eigenvalues of the symmetric ``k``; an eigenvalue below -tol * n means ``k`` is no Gram matrix (its
    entropy would come out wrong, even negative), while smaller negatives are round-off the entropy clamps."""
    eigs = torch.linalg.eigvalsh(0.5 * (k + k.T))  # symmetric up to ``tol``: average away round-off only
    n = k.shape[0]
    low = eigs.detach().min().item()
    if low < -tol * n:
        raise ValueError(
            f"{name} is not positive semi-definite (smallest eigenvalue {low:.3g} < -{tol:g} * n = "
            f"{-tol * n:.3g}); matrix entropy is defined for Gram matrices of vectors: build it with gram(z)"
        )
    return eigs


def _entropy_of_spectrum(eigs: torch.Tensor, n: int) -> torch.Tensor:
    """-sum(l log l) for l = eig / n, with 0 log 0 = 0 and round-off negatives clamped to 0.

    The gradient at l = 0 is set to 0 (instead of -inf), which keeps gradients finite for rank-deficient
    inputs; structurally zero eigenvalues stay zero under any perturbation of the inputs, so this is exact.
    """
    lam = eigs.clamp(min=0) / n
    positive = lam > _EIG_FLOOR
    safe = torch.where(positive, lam, torch.ones_like(lam))
    return -(torch.where(positive, lam * torch.log(safe), torch.zeros_like(lam))).sum()


def _matrix_entropy(k: torch.Tensor, name: str) -> torch.Tensor:
    k, tol = _check_gram(k, name)
    return _entropy_of_spectrum(_checked_eigvalsh(k, tol, name), k.shape[0])


def matrix_entropy(k: torch.Tensor) -> torch.Tensor:
    """Von Neumann entropy ``H(K) = -tr(K/n log K/n)`` of a unit-diagonal PSD matrix (Definition 3.1).

    ``k`` is (n, n), e.g. ``gram(z)``; the result is a 0-dim float64 tensor in [0, log n], in nats, and is
    differentiable. Costs one symmetric eigendecomposition, O(n^3).

    A matrix that is not square, not unit-diagonal, or not symmetric or PSD beyond round-off (1e-8 per entry,
    -1e-8 * n for the smallest eigenvalue, in float64) is a ValueError: symmetrising or clamping it would
    return a number that is the entropy of some other matrix."""
    return _matrix_entropy(k, "gram")


def _check_pair(k1: torch.Tensor, k2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    k1, k2 = _tensor(k1, "k1"), _tensor(k2, "k2")
    if k1.shape != k2.shape:
        raise ValueError(
            f"the two Grams must have the same shape, got {tuple(k1.shape)} and {tuple(k2.shape)}"
        )
    return k1, k2


def _entropies(k1: torch.Tensor, k2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """H(K1), H(K2) and H(K1 * K2); the Hadamard product of two Grams is a Gram (Schur product theorem)."""
    k1, k2 = _check_pair(k1, k2)
    return _matrix_entropy(k1, "k1"), _matrix_entropy(k2, "k2"), _matrix_entropy(k1 * k2, "k1 * k2")


def mutual_information(k1: torch.Tensor, k2: torch.Tensor) -> torch.Tensor:
    """Matrix mutual information ``H(K1) + H(K2) - H(K1 * K2)`` (Definition 3.2), ``*`` the Hadamard product.

    ``k1`` and ``k2`` are Grams of the same n samples, both (n, n); the result is a differentiable 0-dim
    float64 tensor. Costs three n x n eigendecompositions. ValueError for Grams of different shapes or any
    matrix ``matrix_entropy`` refuses."""
    h1, h2, hj = _entropies(k1, k2)
    return h1 + h2 - hj


def _ratio(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den, NaN where den is zero (an entropy of 0 leaves the ratio undefined, not 0)."""
    ok = den > _ZERO_ENTROPY
    return torch.where(ok, num / torch.where(ok, den, torch.ones_like(den)), torch.full_like(num, math.nan))


def _mir_from(h1: torch.Tensor, h2: torch.Tensor, hj: torch.Tensor) -> torch.Tensor:
    return _ratio(h1 + h2 - hj, torch.minimum(h1, h2))


def _hdr_from(h1: torch.Tensor, h2: torch.Tensor) -> torch.Tensor:
    return _ratio((h1 - h2).abs(), torch.maximum(h1, h2))


def mir(k1: torch.Tensor, k2: torch.Tensor) -> torch.Tensor:
    """Matrix mutual-information ratio ``MI / min(H1, H2)`` (Definition 3.3) of two (n, n) Grams.

    A differentiable 0-dim float64 tensor, NaN if an entropy is 0 (for use inside a loss; ``interplay``
    raises there instead). Costs three n x n eigendecompositions; errors as ``mutual_information``."""
    return _mir_from(*_entropies(k1, k2))


def hdr(k1: torch.Tensor, k2: torch.Tensor) -> torch.Tensor:
    """Matrix entropy-difference ratio ``|H1 - H2| / max(H1, H2)`` (Definition 3.4) of two (n, n) Grams.

    A differentiable 0-dim float64 tensor, NaN if both entropies are 0. Costs two n x n eigendecompositions;
    errors as ``mutual_information``."""
    k1, k2 = _check_pair(k1, k2)
    return _hdr_from(_matrix_entropy(k1, "k1"), _matrix_entropy(k2, "k2"))


# ----------------------------------------------------------------------------------------------------------
# Dataset-level measurement


def _check_inputs(
    features: torch.Tensor, heads: torch.Tensor, labels: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Unit-row float64 features and heads and long labels, after checking shapes, values and label range."""
    features, heads = _tensor(features, "features"), _tensor(heads, "heads")
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
    the same number as ``interplay``'s ``h_features``, without heads or labels. Differentiable.

    ``features`` is (n, d). Costs n d min(n, d) operations and one min(n, d) eigendecomposition. ValueError
    for zero rows, NaN or inf, or input that is not 2-D."""
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
    """Which matrix the exact joint entropy ``H(G(Z) * G(W_y))`` is computed from: ``"kron"`` or ``"gram"``.

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
    repeated singular values).

    ``features`` (n, d), ``heads`` (C, d), ``labels`` (n,) integers in [0, C - 1]. Costs one min(n, d), one
    C x C and (with ``joint``) one n x n eigendecomposition. ValueError for mismatched shapes, labels out of
    range, zero rows, NaN or inf."""
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


def _undefined_reason(
    h1: torch.Tensor, h2: torch.Tensor, n: int, names: tuple[str, str], labels: torch.Tensor | None = None
) -> str | None:
    """Why MIR = MI / min(H1, H2) has no value here (an entropy is 0), or None when it is defined.

    HDR is then 1 or 0 / 0: a number with nothing behind it, so both ratios are refused together."""
    if n == 1:
        return "MIR and HDR are undefined for a single sample: every entropy of a 1 x 1 Gram is 0; measure at least two samples"
    reasons = []
    for h, name in zip((h1, h2), names, strict=True):
        if h.item() > _ZERO_ENTROPY:
            continue
        if name == "heads[labels]" and labels is not None:
            used = labels.unique()
            why = (
                f"all {n} labels are class {used.item()}, so every sample shares one head; measure with at least "
                "two classes"
                if used.numel() == 1
                else f"the {used.numel()} heads in use point in one direction; measure with heads that differ"
            )
        else:
            why = (
                f"all {n} rows of {name} point in one direction (G is all ones, e.g. identical or collapsed rows), "
                "so they carry no information to compare"
            )
        reasons.append(f"H(G({name})) = 0 because {why}")
    if not reasons:
        return None
    return "MIR is undefined: " + "; and ".join(reasons)


def _measure(
    z: torch.Tensor, w: torch.Tensor, labels: torch.Tensor, route: str | None = None
) -> tuple[dict[str, float] | None, str | None]:
    """The summary of one set of rows, or None and the reason when its ratios are undefined (the marginal
    entropies are cheap, so the joint one is only computed when it is needed)."""
    h1, h2 = _entropy_rows(z), _entropy_heads(w, labels)
    reason = _undefined_reason(h1, h2, z.shape[0], ("features", "heads[labels]"), labels)
    if reason:
        return None, reason
    return _summary(h1, h2, _entropy_joint(z, w, labels, route)), None


def _check_batch_size(batch_size: object) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, Integral):
        raise TypeError(
            f"batch_size must be an int >= 2 or None (exact), got {type(batch_size).__name__} {batch_size!r}"
        )
    if batch_size < 2:
        raise ValueError(f"batch_size must be an int >= 2 or None (exact), got {batch_size!r}")
    return int(batch_size)


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
    the plain mean of each quantity over consecutive batches of that size. Ratios are averaged per batch, as
    the paper reports them, so the batch-mean MIR is not MI-mean / H-mean.

    A ratio with a zero denominator (one sample, a single class in use, all feature rows parallel) is
    undefined, and a NaN in a results table reads like a measurement: the exact value raises a ValueError
    that says why. The batch mean leaves such batches out of every mean (a trailing single row among them),
    reports how many under ``skipped_batches``, and raises when no batch is left; ``batches`` counts the batches
    averaged and ``mir_sd`` / ``hdr_sd`` are the sample standard deviations of the per-batch ratios (for an
    interval of the batch mean).

    ``route`` forces how the joint entropy is computed (``"kron"`` or ``"gram"``, see ``joint_route``); the
    default picks the faster one. Both are exact; forcing one is for tests and benchmarks.

    Shapes: ``features`` (n, d), ``heads`` (C, d) with one row per class, ``labels`` (n,) integers in
    [0, C - 1]; tensors or numpy arrays, computed in float64 on their device. Returns a dict of floats with
    keys ``mir``, ``hdr``, ``mi``, ``h_features``, ``h_heads``, ``h_joint`` (entropies in nats), plus
    ``skipped_batches`` for the batch mean.

    Cost of the exact values: eigendecompositions of size min(n, d), C and min(n, d r) (r <= min(C, d) is the
    rank of the heads), with n d^2 + C (d r)^2 operations to form the last; for n = 10,000, d = 512 and C = 10
    that is one 5,120 x 5,120 problem. The batch mean costs about (n / batch_size) problems of size
    batch_size.

    Errors: ValueError for shapes that do not match, non-integer or out-of-range labels, zero rows, NaN or
    inf; ``UndefinedRatio`` (a ValueError) when a ratio has no value, as above; TypeError for inputs that
    are neither tensors nor numpy arrays, or a ``batch_size`` that is not an int."""
    if route not in (None, *ROUTES):
        raise ValueError(f"unknown route {route!r}; choose one of {ROUTES} or None (automatic)")
    if batch_size is not None:
        batch_size = _check_batch_size(batch_size)
    z, w, labels = _check_inputs(features, heads, labels)
    if batch_size is None:
        out, reason = _measure(z, w, labels, route)
        if out is None:
            raise UndefinedRatio(reason)
        return out
    n = z.shape[0]
    rows, skipped, first_reason = [], 0, None
    for start in range(0, n, batch_size):
        out, reason = _measure(z[start : start + batch_size], w, labels[start : start + batch_size])
        if out is None:
            skipped += 1
            first_reason = first_reason or f"batch {start // batch_size}: {reason}"
        else:
            rows.append(out)
    if not rows:
        raise UndefinedRatio(
            f"every one of the {skipped} batch(es) of {batch_size} rows has an undefined ratio ({first_reason}); "
            "shuffle the samples so that each batch mixes classes, or use batch_size=None"
        )
    return {**_batch_mean(rows), "skipped_batches": skipped}


def _batch_mean(rows: list[dict[str, float]]) -> dict[str, float]:
    """The mean of each quantity over batches, the sd of the ratios over batches, and the number of batches."""
    mean = {key: float(sum(r[key] for r in rows) / len(rows)) for key in rows[0]}
    spread = {f"{key}_sd": _sample_sd([r[key] for r in rows]) for key in ("mir", "hdr")}
    return {**mean, **spread, "batches": len(rows)}


def _sample_sd(values: list[float]) -> float:
    """Sample standard deviation over batches (NaN for one batch): the spread behind a batch mean's interval."""
    if len(values) < 2:
        return math.nan
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


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
def paired_interplay(
    features_a: torch.Tensor, features_b: torch.Tensor, batch_size: int | None = None
) -> dict[str, float]:
    """MIR, HDR, MI and entropies between G(features_a) and G(features_b), rows paired (same samples).

    Used to compare two models' representations of the same inputs (e.g. a pruned model and the original).
    ``h_features`` is H(G(features_a)) and ``h_heads`` is H(G(features_b)), keeping ``interplay``'s keys.
    ``batch_size=None`` is exact; an int is the mean over consecutive batches of that size, as ``interplay``
    (with ``mir_sd``, ``hdr_sd`` and ``batches``; a trailing batch of one row is left out). Undefined ratios
    (one sample, all rows of one side parallel) raise a ValueError, as in ``interplay``. Cost: one eigenvalue
    problem of size min(n, d_a * d_b) for the joint entropy.
    """
    features_a, features_b = _tensor(features_a, "features_a"), _tensor(features_b, "features_b")
    if features_a.dim() != 2 or features_b.dim() != 2 or features_a.shape[0] != features_b.shape[0]:
        raise ValueError(
            f"paired features must be 2-D with the same number of rows, got {tuple(features_a.shape)} and "
            f"{tuple(features_b.shape)}"
        )
    a, b = _normalize_rows(features_a, "features_a"), _normalize_rows(features_b, "features_b")
    if batch_size is None:
        return _paired(a, b)
    batch_size = _check_batch_size(batch_size)
    rows = [
        _paired(a[i : i + batch_size], b[i : i + batch_size])
        for i in range(0, len(a), batch_size)
        if len(a[i : i + batch_size]) > 1
    ]
    return _batch_mean(rows)


def _paired(a: torch.Tensor, b: torch.Tensor) -> dict[str, float]:
    h1, h2 = _entropy_rows(a), _entropy_rows(b)
    reason = _undefined_reason(h1, h2, a.shape[0], ("features_a", "features_b"))
    if reason:
        raise UndefinedRatio(reason)
    return _summary(h1, h2, _entropy_hadamard_rows(a, b))
