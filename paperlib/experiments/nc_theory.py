"""Numerical checks of Section 4: Theorem 4.2, Corollary 4.3, the [0, 1] range, Lemma 4.5 / Theorem 4.6,
the path to collapse and the batch-mean bias (X1) on synthetic data.

Each function returns a tidy ``pandas.DataFrame``; the notebook turns them into figures and verdicts.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import torch

from ..metrics import gram, hdr, interplay, mir
from ..progress import progress
from ..rng import generator
from ..theory import collapsed_features, lemma45_bound, nc_mir_bound, regression_error, simplex_etf


def collapse_values(classes: Iterable[int], per_class: int, seed: int = 0) -> pd.DataFrame:
    """MIR/HDR at exact collapse for each C, heads vs class means (Thm 4.2) and samples vs heads (Cor 4.3)."""
    rows = []
    for c in progress(list(classes), desc="C"):
        heads = simplex_etf(c, dim=c, seed=seed + c)
        # NC3: class means are a positive multiple of the heads (scale is irrelevant to cosine Grams).
        means = 2.5 * heads
        gw, gm = gram(heads), gram(means)
        feats, labels = collapsed_features(heads, per_class, scale=3.0)
        samples = interplay(feats, heads, labels)
        rows.append(
            dict(
                C=c,
                formula=nc_mir_bound(c),
                mir_heads=mir(gw, gm).item(),
                hdr_heads=hdr(gw, gm).item(),
                mir_samples=samples["mir"],
                hdr_samples=samples["hdr"],
            )
        )
    return pd.DataFrame(rows)


def _random_pair(kind: str, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Two Grams of the same size drawn from one of several families, random or structured."""
    n = int(torch.randint(3, 65, (1,), generator=g))
    d = int(torch.randint(1, 33, (1,), generator=g))
    c = int(torch.randint(3, 11, (1,), generator=g))
    randn = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
    if kind == "gaussian":
        return gram(randn(n, d)), gram(randn(n, d))
    if kind == "features_vs_heads":
        y = torch.randint(0, c, (n,), generator=g)
        return gram(randn(n, d)), gram(randn(c, d)[y])
    if kind == "noisy_copy":
        z = randn(n, d)
        return gram(z), gram(z + float(torch.rand(1, generator=g)) * randn(n, d))
    if kind == "identical":
        k = gram(randn(n, d))
        return k, k.clone()
    if kind == "low_rank_vs_full":
        return gram(randn(n, 1) @ randn(1, d) + 1e-3 * randn(n, d)), gram(randn(n, n))
    if kind == "positive_cone":
        return gram(randn(n, d).abs()), gram(randn(n, d).abs())
    if kind == "etf_vs_random":
        y = torch.randint(0, c, (n,), generator=g)
        return gram(simplex_etf(c, seed=int(torch.randint(0, 10**6, (1,), generator=g)))[y]), gram(
            randn(n, c)
        )
    if kind == "orthogonal_vs_gaussian":
        return torch.eye(n, dtype=torch.float64), gram(randn(n, d))
    raise ValueError(f"unknown pair kind {kind!r}")


PAIR_KINDS = (
    "gaussian",
    "features_vs_heads",
    "noisy_copy",
    "identical",
    "low_rank_vs_full",
    "positive_cone",
    "etf_vs_random",
    "orthogonal_vs_gaussian",
)


def range_draws(per_kind: int, seed: int = 0) -> pd.DataFrame:
    """MIR and HDR over ``per_kind`` random draws of every pair family (claim T3)."""
    g = generator(seed)
    rows = []
    for kind in progress(PAIR_KINDS, desc="families"):
        for _ in range(per_kind):
            k1, k2 = _random_pair(kind, g)
            rows.append(dict(kind=kind, n=k1.shape[0], mir=mir(k1, k2).item(), hdr=hdr(k1, k2).item()))
    return pd.DataFrame(rows)


def _low_rank(n: int, d: int, r: int, g: torch.Generator) -> torch.Tensor:
    a = torch.randn(n, r, generator=g, dtype=torch.float64)
    return a @ torch.randn(r, d, generator=g, dtype=torch.float64)


def regression_bound_draws(num: int, seed: int = 0) -> pd.DataFrame:
    """Lemma 4.5 (error >= bound) and Theorem 4.6 (bound <= (r1-r2-1)/r1 <= 1 - r2/r1) on random draws.

    Z1 has unit rows (Theorem 4.6's assumption); Z2 is either unrelated to Z1 or a noisy low-rank view of it,
    which brings the regression error close to the bound.
    """
    g = generator(seed)
    rows = []
    for i in progress(range(num), desc="draws"):
        n = int(torch.randint(40, 200, (1,), generator=g))
        d1 = int(torch.randint(8, 33, (1,), generator=g))
        r1 = int(torch.randint(3, d1 + 1, (1,), generator=g))
        r2 = int(torch.randint(1, r1, (1,), generator=g))
        z1 = _low_rank(n, d1, r1, g)
        z1 = z1 / z1.norm(dim=1, keepdim=True)
        if i % 2:
            proj = torch.randn(d1, r2, generator=g, dtype=torch.float64)
            z2 = z1 @ proj @ torch.randn(r2, 16, generator=g, dtype=torch.float64)
        else:
            z2 = _low_rank(n, 16, r2, g)
        rank1 = int(torch.linalg.matrix_rank(z1))
        rank2 = int(torch.linalg.matrix_rank(z2))
        if rank1 <= rank2:
            continue
        bound = lemma45_bound(z1, rank2)
        rows.append(
            dict(
                n=n,
                rank_z1=rank1,
                rank_z2=rank2,
                error=regression_error(z1, z2),
                lemma45=bound,
                thm46_mid=(rank1 - rank2 - 1) / rank1,
                thm46_right=1 - rank2 / rank1,
            )
        )
    return pd.DataFrame(rows)


def entropy_vs_rank(
    ranks: Iterable[int], n: int = 256, d: int = 64, reps: int = 3, seed: int = 0
) -> pd.DataFrame:
    """exp(H(G(Z))) for random Z of known rank, isotropic and with a decaying spectrum (Sec 4.2)."""
    g = generator(seed)
    rows = []
    for r in progress(list(ranks), desc="rank"):
        for spectrum in ("flat", "decaying"):
            for _ in range(reps):
                a = torch.randn(n, r, generator=g, dtype=torch.float64)
                if spectrum == "decaying":
                    a = a * torch.logspace(0, -1, r, dtype=torch.float64)
                z = a @ torch.linalg.qr(torch.randn(d, r, generator=g, dtype=torch.float64))[0].T
                h = interplay(z, z[:1], torch.zeros(n, dtype=torch.long))["h_features"]
                rows.append(dict(rank=r, spectrum=spectrum, exp_entropy=float(np.exp(h))))
    return pd.DataFrame(rows)


def collapse_path(num_classes: int, per_class: int, dim: int, steps: int = 21, seed: int = 0) -> pd.DataFrame:
    """Features and heads moved linearly from random to the simplex-ETF collapse; MIR/HDR along the way."""
    g = generator(seed)
    etf = simplex_etf(num_classes, dim=dim, seed=seed)
    target, labels = collapsed_features(etf, per_class)
    start_z = torch.randn(target.shape, generator=g, dtype=torch.float64) / np.sqrt(dim)
    start_w = torch.randn(etf.shape, generator=g, dtype=torch.float64) / np.sqrt(dim)
    rows = []
    for t in progress(np.linspace(0, 1, steps), desc="path"):
        z = (1 - t) * start_z + t * target
        w = (1 - t) * start_w + t * etf
        rows.append(dict(t=float(t), **interplay(z, w, labels)))
    return pd.DataFrame(rows)


def batch_bias(
    n: int, num_classes: int, dim: int, noise: float, batch_sizes: Iterable[int], seed: int = 0
) -> pd.DataFrame:
    """Exact dataset-level MIR/HDR against the batch mean on a noisy collapsed set in random order (X1)."""
    g = generator(seed)
    heads = simplex_etf(num_classes, dim=dim, seed=seed)
    labels = torch.randint(0, num_classes, (n,), generator=g)
    feats = heads[labels] + noise * torch.randn(n, dim, generator=g, dtype=torch.float64)
    exact = interplay(feats, heads, labels)
    rows = []
    for b in progress(list(batch_sizes), desc="batch size"):
        est = interplay(feats, heads, labels, batch_size=b)
        for key in ("mir", "hdr"):
            rows.append(dict(batch_size=b, metric=key, batch_mean=est[key], exact=exact[key]))
    out = pd.DataFrame(rows)
    out["bias"] = out["batch_mean"] - out["exact"]
    return out
