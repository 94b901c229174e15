"""The information loss terms of Sec 6.2 on a batch: ``-lambda MI(G(f), G(V))`` and
``+lambda |H(G(f)) - H(G(V))|``, where the rows of V are the classification heads of each sample's (pseudo-)
label, V = W_y. The entropies come from the smallest matrices with the same spectrum
(``metrics.batch_entropies``); the HDR term needs no joint matrix at all.

A term is named by a short spec that is stored in a run's config (and so in its hash): ``"mi:0.5"``,
``"hdr:1"``, with ``":detach"`` appended to stop the gradient at the heads (by default it reaches both the
features and the heads). Batches that leave nothing to measure give an exact, finite zero that still belongs to
the graph: no sample (no confident pseudo-label), one sample, or one class (G(V) is all ones, H = 0, MI = 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..metrics import batch_entropies, nudge_zero_rows

KINDS = ("mi", "hdr")


@dataclass(frozen=True)
class InfoLoss:
    """One information term: its kind (``mi`` or ``hdr``), weight lambda, and whether the heads are detached."""

    kind: str
    weight: float
    detach_head: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown information loss {self.kind!r}; choose one of {', '.join(KINDS)}")
        if not self.weight >= 0:
            raise ValueError(f"the weight of an information loss must be >= 0, got {self.weight}")

    @classmethod
    def parse(cls, spec: str) -> InfoLoss | None:
        """``"mi:0.5"`` / ``"hdr:1:detach"`` -> InfoLoss; ``""`` -> None (no extra term)."""
        if not spec:
            return None
        parts = spec.split(":")
        if len(parts) not in (2, 3) or (len(parts) == 3 and parts[2] != "detach"):
            raise ValueError(f"bad loss spec {spec!r}; write KIND:WEIGHT[:detach], e.g. 'mi:0.5' or 'hdr:1'")
        try:
            weight = float(parts[1])
        except ValueError:
            raise ValueError(f"bad weight in loss spec {spec!r}: {parts[1]!r} is not a number") from None
        return cls(parts[0], weight, detach_head=len(parts) == 3)

    def __call__(self, feats: torch.Tensor, heads: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The weighted term for features ``feats`` (n, d), the classification heads ``heads`` (C, d) and the
        (pseudo-)labels ``labels`` (n,), in feats' dtype."""
        return self.weight * info_term(
            self.kind, feats, heads.detach() if self.detach_head else heads, labels
        )


def info_term(kind: str, feats: torch.Tensor, heads: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Unweighted ``-MI`` (kind ``mi``) or ``|H(G(f)) - H(G(V))|`` (kind ``hdr``) of one batch, V = heads[labels]."""
    if kind not in KINDS:
        raise ValueError(f"unknown information loss {kind!r}; choose one of {', '.join(KINDS)}")
    if feats.dim() != 2 or heads.dim() != 2 or labels.shape != feats.shape[:1]:
        raise ValueError(
            f"need features (n, d), heads (C, d) and one label per feature row, got {tuple(feats.shape)}, "
            f"{tuple(heads.shape)} and {tuple(labels.shape)}; pass model.head_weight and the batch's labels"
        )
    if feats.shape[0] < 2:  # nothing to compare: MI and the entropies are all 0
        return (feats.sum() + heads.sum()) * 0.0
    h_f, h_v, h_j = batch_entropies(
        nudge_zero_rows(feats), nudge_zero_rows(heads), labels, joint=kind == "mi"
    )
    value = -(h_f + h_v - h_j) if kind == "mi" else (h_f - h_v).abs()
    return value.to(feats.dtype)
