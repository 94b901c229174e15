"""Section 4: training throughput with and without channels_last and ``torch.compile``, and whether each is
exact (bit-identical to eager after three steps)."""

from __future__ import annotations

import time

import torch

from benchmarks.common import batch, median_seconds, step_fn, table
from paperlib.models import build


def bench_throughput(quick: bool) -> tuple[str, dict]:
    """Images per second of each variant, with its warm-up cost and its drift from eager."""
    models = ("wrn-10-1",) if quick else ("wrn-10-1", "wrn-16-1", "wrn-28-2")
    variants = (
        ("eager", "channels_last")
        if quick
        else ("eager", "channels_last", "compile", "compile + channels_last")
    )
    rows, facts = [], {}
    for model_name in models:
        x, y = batch(model_name, 64)
        reference = None
        for variant in variants:
            torch.manual_seed(0)
            model = build(model_name, 10, in_channels=x.shape[1])
            xv = x
            if "channels_last" in variant:
                model = model.to(memory_format=torch.channels_last)
                xv = x.contiguous(memory_format=torch.channels_last)
            opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            runner = torch.compile(model) if "compile" in variant else model
            step = step_fn(runner, opt, xv, y, None)
            start = time.perf_counter()
            losses = [step() for _ in range(3)]  # warm-up (and compilation) on fixed batches
            warm = time.perf_counter() - start
            params = torch.cat([p.detach().flatten() for p in model.parameters()])
            if reference is None:
                reference = (losses, params)
            exact = losses == reference[0] and torch.equal(params, reference[1])
            drift = (params - reference[1]).abs().max().item()
            reps = 3 if (quick or model_name == "wrn-28-2") else 15
            seconds, _ = median_seconds(step, reps)
            facts[(model_name, variant)] = {"img_s": 64 / seconds, "exact": exact}
            rows.append(
                [
                    model_name,
                    variant,
                    f"{64 / seconds:.0f}",
                    f"{warm:.1f}",
                    "yes" if exact else f"no ({drift:.1e})",
                ]
            )
    header = ["model", "variant", "images / s (batch 64)", "first 3 steps s", "bit-identical after 3 steps"]
    return table(header, rows), facts
