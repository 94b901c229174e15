"""The exact dataset-level measurement, accumulated batch by batch: memory independent of the number of rows.

``interplay`` needs every feature row at once. The three entropies need much less (see ``paperlib.metrics``):
H(G(Z)) only the d x d sum of z_i z_i^T over unit rows, H(G(W_y)) only the class counts and the heads, and the
joint term only the per-class second moments S_c = sum over class c of z_i z_i^T, through the (d r x d r)
matrix sum_c kron(S_c, c_c c_c^T). ``StreamingInterplay`` keeps those sums (float64, on the features' device),
so its memory is O(C d^2) whatever n is, and sums from several processes or accumulators simply add.

While few rows have arrived (n <= d * min(C, d), below which the n x n route of ``interplay`` can be the
smaller one) it keeps the unit rows themselves instead and measures them exactly as ``interplay`` does; past
that it folds them into the sums and drops them. Either way ``compute`` returns what ``interplay`` returns on
all the rows, to round-off.
"""

from __future__ import annotations

import copy
from numbers import Integral

import torch

from .metrics import (
    UndefinedRatio,
    _batch_mean,
    _check_inputs,
    _entropy_of_spectrum,
    _head_basis,
    _measure,
    _normalize_rows,
    _summary,
    _tensor,
    _undefined_reason,
    joint_route,
)

__all__ = ["StreamingInterplay", "BatchMean", "MAX_JOINT", "prepare_batch", "add_moments", "measure_moments"]

MAX_JOINT = 20_480
"""The largest joint eigenvalue problem ``compute`` forms by default: a 20,480 x 20,480 float64 matrix takes
3.4 GB (d = 2,048 with 10 classes, or d = 512 with 40)."""


def _check_classes(num_classes: object) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, Integral) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2 (one head per class), got {num_classes!r}")
    return int(num_classes)


def prepare_batch(
    features: torch.Tensor, labels: torch.Tensor, num_classes: int, d: int | None = None, offset: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Unit float64 rows and long labels (on the features' device) after ``interplay``'s input checks.

    ``d`` is the width earlier batches had (None for the first); ``offset`` is the number of rows before this
    batch, so that a zero row is reported by its position in the whole stream."""
    features = _tensor(features, "features")
    if features.dim() != 2:
        raise ValueError(f"features must be 2-D (n, d), got shape {tuple(features.shape)}")
    if d is not None and features.shape[1] != d:
        raise ValueError(
            f"features have d={features.shape[1]} columns but earlier batches (or the heads) have {d}; every "
            "batch must come from the same layer"
        )
    if features.shape[0] == 0 and torch.as_tensor(labels).shape == (0,):  # an empty batch adds nothing
        return features.to(torch.float64), torch.zeros(0, dtype=torch.long, device=features.device)
    # interplay's own label checks (one per row, integers, in range), run with a one-column stand-in for the
    # features, which costs n numbers instead of a second pass over the n x d batch
    stand_in = torch.ones(features.shape[0], 1, dtype=torch.float64)
    _, _, labels = _check_inputs(stand_in, torch.ones(num_classes, 1, dtype=torch.float64), labels)
    labels = labels.to(features.device)
    if features.dtype in _NARROW:
        # Below float64 precision, squares can neither overflow nor underflow in float64, so z / |z| is already
        # bit for bit what _normalize_rows gives (its power-of-two scaling is exact): three passes, not a dozen.
        z = features.detach().to(torch.float64)
        norms = z.norm(dim=1, keepdim=True)
        if bool(torch.isfinite(norms).all()):
            _refuse_zero_rows((norms.squeeze(1) == 0).nonzero().squeeze(1), offset)
            return z / norms, labels
    _refuse_zero_rows((features.detach() == 0).all(dim=1).nonzero().squeeze(1), offset)
    return _normalize_rows(features, "features"), labels


_NARROW = (torch.float32, torch.float16, torch.bfloat16)


def _refuse_zero_rows(zero: torch.Tensor, offset: int) -> None:
    if zero.numel():
        first = (zero[:10] + offset).tolist()
        raise ValueError(
            f"features has {zero.numel()} zero row(s) (first: {first}); a zero vector has no cosine "
            "similarity; drop those rows or add a tiny offset"
        )


def add_moments(moments: torch.Tensor, counts: torch.Tensor, z: torch.Tensor, labels: torch.Tensor) -> None:
    """Add the batch's per-class second moments z_i z_i^T into ``moments`` (C, d, d) and its class counts into
    ``counts`` (C,), in place: one (rows of class c)^T (rows of class c) product per class present."""
    per = torch.bincount(labels, minlength=moments.shape[0])
    counts += per.to(counts.dtype)
    ordered = z[torch.argsort(labels, stable=True)]
    start = 0
    for c, k in enumerate(per.tolist()):
        if k:
            part = ordered[start : start + k]
            moments[c].addmm_(part.T, part)
            start += k


def _joint_too_large(dim: int, n: int, d: int, r: int, max_joint: int | None, route: str) -> str | None:
    if max_joint is None or dim <= max_joint:
        return None
    gb = dim * dim * 8 / 1e9
    other = (
        f"; with n = {n:,} rows the n x n route is smaller: collect the features and call "
        "paperlib.metrics.interplay(features, heads, labels)"
        if route == "kron" and n < dim
        else ""
    )
    return (
        f"the joint entropy needs a {dim:,} x {dim:,} eigenvalue problem ({route} route: n = {n:,}, d = {d}, "
        f"rank(heads) = {r}; {gb:.1f} GB in float64), above max_joint = {max_joint:,}{other}; or pass "
        f"max_joint={dim} if the memory is there"
    )


def _heads_entropy(w: torch.Tensor, counts: torch.Tensor, n: int) -> torch.Tensor:
    """H(G(W_y)) from the C x C matrix D^1/2 W W^T D^1/2, D the class counts (as ``interplay`` forms it)."""
    root = counts.to(torch.float64).sqrt()
    return _entropy_of_spectrum(torch.linalg.eigvalsh(root[:, None] * (w @ w.T) * root[None, :]), n)


def measure_moments(
    moments: torch.Tensor, counts: torch.Tensor, w: torch.Tensor, max_joint: int | None = MAX_JOINT
) -> dict[str, float]:
    """``interplay``'s summary from the per-class sums: H(G(Z)) from sum_c S_c (d x d), H(G(W_y)) from the
    counts, the joint entropy from the (d r x d r) matrix sum_c kron(S_c, c_c c_c^T). ``w`` are unit heads."""
    n = int(counts.sum().item())
    if n == 0:
        raise ValueError("nothing to measure: no feature row has been added (call update first)")
    num_classes, d = moments.shape[0], moments.shape[-1]
    h1 = _entropy_of_spectrum(torch.linalg.eigvalsh(moments.sum(0)), n)
    h2 = _heads_entropy(w, counts, n)
    used = (counts > 0).nonzero().squeeze(1)  # the classes present: what ``labels.unique()`` would give
    reason = _undefined_reason(h1, h2, n, ("features", "heads[labels]"), used)
    if reason:
        raise UndefinedRatio(reason)
    c = _head_basis(w)
    r = c.shape[1]
    too_large = _joint_too_large(d * r, n, d, r, max_joint, "kron")
    if too_large:
        raise ValueError(too_large)
    cc = c[:, :, None] * c[:, None, :]
    m = (moments.reshape(num_classes, d * d).T @ cc.reshape(num_classes, r * r)).reshape(d, d, r, r)
    m = m.permute(0, 2, 1, 3).reshape(d * r, d * r)
    return _summary(h1, h2, _entropy_of_spectrum(torch.linalg.eigvalsh(m), n))


def unit_heads(heads: torch.Tensor, num_classes: int, d: int, device: torch.device | None) -> torch.Tensor:
    """The heads as unit float64 rows on ``device``, after checking their shape against the stream's."""
    heads = _tensor(heads, "heads").detach()
    if heads.dim() != 2 or heads.shape[0] != num_classes or heads.shape[1] != d:
        raise ValueError(
            f"heads must have shape ({num_classes}, {d}): one row per class in the features' space, got "
            f"{tuple(heads.shape)}"
        )
    return _normalize_rows(heads.to(device) if device is not None else heads, "heads")


class StreamingInterplay:
    """``interplay``'s exact dataset-level values, accumulated one batch at a time.

    ``acc = StreamingInterplay(num_classes)``; ``acc.update(features, labels)`` for each batch; then
    ``acc.compute(heads)`` returns the dict ``interplay(all_features, heads, all_labels)`` returns (same keys,
    equal to round-off, in any batch order). ``merge`` adds another accumulator, ``reset`` empties it, and
    ``sync()`` under ``torch.distributed`` returns an accumulator of every process's rows (a collective: call
    it on every rank); ``compute`` itself never communicates. The batch mean of the paper stays
    ``interplay(..., batch_size=b)``.

    Memory: float64 sums on the features' device, C d^2 numbers (plus, while n <= d * min(C, d), the unit rows
    themselves, at most as many numbers), whatever n is. Each update costs about 2 b d^2 operations for a batch
    of b rows; ``compute`` solves eigenvalue problems of sizes d, C and min(n, d r) (r = rank of the heads).

    ``max_joint`` caps the size of that last problem: beyond it ``compute`` raises a ValueError that gives the
    sizes, before allocating anything (pass None for no cap).

    Errors as ``interplay``'s: ValueError for shapes that do not match, labels that are not integers in
    [0, num_classes - 1], zero rows, NaN or inf; ``UndefinedRatio`` when a ratio has no value.
    """

    def __init__(self, num_classes: int, *, max_joint: int | None = MAX_JOINT) -> None:
        self.num_classes = _check_classes(num_classes)
        if max_joint is not None and (isinstance(max_joint, bool) or not isinstance(max_joint, Integral)):
            raise ValueError(f"max_joint must be an int or None (no cap), got {max_joint!r}")
        self.max_joint = max_joint
        self.reset()

    def reset(self) -> None:
        """Forget every row: back to the state of a new accumulator."""
        self.n = 0
        self.d: int | None = None
        self.device: torch.device | None = None
        self._rows: list[torch.Tensor] | None = []  # None once the rows are folded into the sums
        self._labels: list[torch.Tensor] = []
        self.moments: torch.Tensor | None = None  # (C, d, d) float64, per-class sums of z z^T
        self.counts: torch.Tensor | None = None  # (C,) float64

    @property
    def row_limit(self) -> int:
        """Rows kept as they are; past this many the n x n route is never the smaller one, so they are summed."""
        return (self.d or 0) * min(self.num_classes, self.d or 0)

    def update(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Add a batch: ``features`` (b, d) tensor or array, ``labels`` (b,) integers in [0, num_classes - 1]."""
        if self.device is not None:
            features = _tensor(features, "features").to(self.device)
        z, y = prepare_batch(features, labels, self.num_classes, self.d, self.n)
        if self.d is None:
            self.d, self.device = z.shape[1], z.device
        if z.shape[0] == 0:
            return
        self.n += z.shape[0]
        if self._rows is not None:
            self._rows.append(z)
            self._labels.append(y)
            if self.n > self.row_limit:
                self._fold()
        else:
            add_moments(self.moments, self.counts, z, y)

    def _fold(self) -> None:
        """Move the kept rows into the per-class sums and drop them."""
        if self._rows is None:
            return
        self.moments = torch.zeros(self.num_classes, self.d, self.d, dtype=torch.float64, device=self.device)
        self.counts = torch.zeros(self.num_classes, dtype=torch.float64, device=self.device)
        for z, y in zip(self._rows, self._labels, strict=True):
            add_moments(self.moments, self.counts, z, y)
        self._rows, self._labels = None, []

    def merge(self, other: StreamingInterplay) -> StreamingInterplay:
        """Add ``other``'s rows to this accumulator (``other`` is left as it was); returns ``self``."""
        if not isinstance(other, StreamingInterplay) or other.num_classes != self.num_classes:
            raise ValueError(
                f"can only merge a StreamingInterplay with the same num_classes ({self.num_classes}), got "
                f"{getattr(other, 'num_classes', type(other).__name__)}"
            )
        if other.n == 0:
            return self
        if self.d is not None and other.d != self.d:
            raise ValueError(
                f"cannot merge features of width {other.d} into an accumulator of width {self.d}"
            )
        if self.d is None:
            self.d, self.device = other.d, other.device
        self.n += other.n
        if self._rows is not None and other._rows is not None and self.n <= self.row_limit:
            self._rows += [z.to(self.device) for z in other._rows]
            self._labels += [y.to(self.device) for y in other._labels]
            return self
        self._fold()
        theirs = copy.deepcopy(other)
        theirs._fold()
        self.moments += theirs.moments.to(self.device)
        self.counts += theirs.counts.to(self.device)
        return self

    def compute(self, heads: torch.Tensor) -> dict[str, float]:
        """``interplay(all_features, heads, all_labels)``: keys ``mir``, ``hdr``, ``mi``, ``h_features``,
        ``h_heads``, ``h_joint``. ``heads`` (num_classes, d), tensor or array."""
        if self.n == 0:
            raise ValueError("nothing to measure: no feature row has been added (call update first)")
        w = unit_heads(heads, self.num_classes, self.d, self.device)
        if self._rows is None:
            return measure_moments(self.moments, self.counts, w, self.max_joint)
        z, y = torch.cat(self._rows), torch.cat(self._labels)
        self._rows, self._labels = [z], [y]
        r = _head_basis(w).shape[1]
        route = joint_route(self.n, self.d, r)
        too_large = _joint_too_large(
            self.n if route == "gram" else self.d * r, self.n, self.d, r, self.max_joint, route
        )
        if too_large:
            raise ValueError(too_large)
        out, reason = _measure(z, w, y, route)
        if out is None:
            raise UndefinedRatio(reason)
        return out

    def sync(self, group: object = None) -> StreamingInterplay:
        """A new accumulator holding the rows of every process in ``group`` (default: all), this one unchanged.

        A collective: every rank must call it. Outside ``torch.distributed`` (or with one process) it is a copy.
        Sums are all-reduced; while every rank still keeps rows and their total is below ``row_limit``, the
        rows are gathered instead, so small evaluations keep the n x n route."""
        import torch.distributed as dist

        out = copy.deepcopy(self)
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size(group) == 1:
            return out
        device = self.device or _collective_device(dist, group)
        info = torch.tensor([self.n, self.d or 0, int(self._rows is not None)], device=device)
        infos = torch.stack(_all_gather(dist, info, group)).tolist()
        widths = {d for _, d, _ in infos if d}
        if not widths:
            return out
        if len(widths) > 1:
            raise ValueError(
                f"the processes' features have different widths {sorted(widths)}; they cannot be summed"
            )
        out.d, out.device = widths.pop(), device
        out.n = sum(n for n, _, _ in infos)
        if all(keeps for _, _, keeps in infos) and out.n <= out.row_limit:
            z = (
                torch.cat(out._rows)
                if out._rows
                else torch.zeros(0, out.d, dtype=torch.float64, device=device)
            )
            y = torch.cat(out._labels) if out._labels else torch.zeros(0, dtype=torch.long, device=device)
            most = max(n for n, _, _ in infos)
            zs = _all_gather(dist, torch.cat([z, z.new_zeros(most - len(z), out.d)]), group)
            ys = _all_gather(dist, torch.cat([y, y.new_zeros(most - len(y))]), group)
            out._rows = [part[:n] for part, (n, _, _) in zip(zs, infos, strict=True)]
            out._labels = [part[:n] for part, (n, _, _) in zip(ys, infos, strict=True)]
            return out
        out._fold()
        dist.all_reduce(out.moments, group=group)
        dist.all_reduce(out.counts, group=group)
        return out


def _collective_device(dist, group: object) -> torch.device:
    """Where a process with no rows puts its share of a collective: the GPU for NCCL, else the CPU."""
    if dist.get_backend(group) == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _all_gather(dist, tensor: torch.Tensor, group: object) -> list[torch.Tensor]:
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size(group))]
    dist.all_gather(parts, tensor.contiguous(), group=group)
    return parts


class BatchMean:
    """The paper's batch mean, ``interplay(..., batch_size=b)``, over rows that arrive in pieces of any size:
    consecutive batches of ``batch_size`` rows of the stream (the last one shorter), each measured when it is
    complete, so at most one batch of rows is held. ``heads`` are fixed when it is made."""

    def __init__(self, heads: torch.Tensor, batch_size: int) -> None:
        self.w = _normalize_rows(_tensor(heads, "heads").detach(), "heads")
        self.batch_size = batch_size
        self._z: list[torch.Tensor] = []
        self._y: list[torch.Tensor] = []
        self._held = 0
        self.rows: list[dict[str, float]] = []
        self.skipped = 0
        self._first_reason: str | None = None

    def update(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Add rows; every batch of ``batch_size`` completed by them is measured now."""
        z, y = prepare_batch(features, labels, self.w.shape[0], self.w.shape[1])
        self._z.append(z)
        self._y.append(y)
        self._held += z.shape[0]
        while self._held >= self.batch_size:
            self._measure_held(self.batch_size)

    def _measure_held(self, size: int) -> None:
        z, y = torch.cat(self._z), torch.cat(self._y)
        out, reason = _measure(z[:size], self.w.to(z.device), y[:size])
        if out is None:
            self.skipped += 1
            index = len(self.rows) + self.skipped - 1
            self._first_reason = self._first_reason or f"batch {index}: {reason}"
        else:
            self.rows.append(out)
        self._z, self._y, self._held = [z[size:]], [y[size:]], z.shape[0] - size

    def compute(self) -> dict[str, float]:
        """The means over batches (the last, shorter batch included), as ``interplay`` gives them."""
        if self._held:
            self._measure_held(self._held)
        if not self.rows:
            raise UndefinedRatio(
                f"every one of the {self.skipped} batch(es) of {self.batch_size} rows has an undefined ratio "
                f"({self._first_reason}); shuffle the samples so that each batch mixes classes, or use "
                "batch_size=None"
            )
        return {**_batch_mean(self.rows), "skipped_batches": self.skipped}
