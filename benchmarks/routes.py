"""Section 1: exact ``interplay`` against the plain route (three n x n eigenvalue problems in float64)."""

from __future__ import annotations

import torch

from benchmarks.common import median_seconds, synthetic, table
from paperlib import metrics


def plain_route(feats: torch.Tensor, heads: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """The textbook computation: three n x n Grams, three n x n eigenvalue problems."""
    k1, k2 = metrics.gram(feats), metrics.gram(heads[labels])
    h1, h2, hj = (metrics.matrix_entropy(k) for k in (k1, k2, k1 * k2))
    mi = h1 + h2 - hj
    return {
        "mir": (mi / torch.minimum(h1, h2)).item(),
        "hdr": ((h1 - h2).abs() / torch.maximum(h1, h2)).item(),
        "mi": mi.item(),
        "h_features": h1.item(),
        "h_heads": h2.item(),
        "h_joint": hj.item(),
    }


def bench_routes(quick: bool) -> tuple[str, dict]:
    """Speed-up and largest difference of the exact route over the plain one, across n, d and C."""
    ns = (1000, 2000) if quick else (1000, 4000, 10_000)
    dims = (64, 128) if quick else (64, 128, 512)
    rows, facts = [], {}
    for n in ns:
        for d in dims:
            for classes in (10, 100):
                feats, heads, labels = synthetic(n, d, classes)
                r = min(classes, d)
                route = metrics.joint_route(n, d, r)
                exact_s, exact = median_seconds(metrics.interplay, 5, feats, heads, labels)
                # The plain route's cost is three n x n eigenvalue problems whatever d and C are; at n = 10k
                # it is timed for d = 128 only (the target), once (about a minute per problem on 2 cores).
                if n >= 10_000 and d != 128:
                    rows.append([n, d, classes, route, f"{exact_s:.3f}", "not run", "", ""])
                    continue
                reps = 1 if n >= 10_000 else 3
                plain_s, plain = median_seconds(plain_route, reps, feats, heads, labels)
                diff = max(abs(exact[k] - plain[k]) for k in plain)
                rows.append(
                    [
                        n,
                        d,
                        classes,
                        route,
                        f"{exact_s:.3f}",
                        f"{plain_s:.2f}",
                        f"{plain_s / exact_s:.0f}x",
                        f"{diff:.1e}",
                    ]
                )
                facts[(n, d, classes)] = {"ratio": plain_s / exact_s, "diff": diff, "exact_s": exact_s}
    text = table(
        ["n", "d", "C", "joint route", "exact s", "plain n x n s", "speed-up", "largest difference"], rows
    )
    return text, facts
