"""Section 3: per-step overhead of the MI and HDR loss terms over cross-entropy (batch 64, cpu model)."""

from __future__ import annotations

import statistics

import torch

from benchmarks.common import batch, median_seconds, step_fn, table
from paperlib.models import build
from paperlib.train.info_loss import InfoLoss


def bench_loss_overhead(quick: bool) -> tuple[str, dict]:
    """Steps of the three losses interleaved round by round, so that drift in the machine's speed (which is
    larger than the effect on a shared 2-core machine) hits all three alike."""
    rounds = 15 if quick else 80
    x, y = batch("wrn-10-1", 64)
    steps = {}
    for name, term in (
        ("cross-entropy", None),
        ("+ MI", InfoLoss("mi", 0.1)),
        ("+ HDR", InfoLoss("hdr", 0.1)),
    ):
        torch.manual_seed(0)
        model = build("wrn-10-1", 10, in_channels=1)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        steps[name] = step_fn(model, opt, x, y, term)
    times = {name: [] for name in steps}
    for r in range(rounds + 5):
        for name, step in steps.items():
            seconds, _ = median_seconds(step, 1)
            if r >= 5:  # the first rounds warm up
                times[name].append(seconds)
    base = statistics.median(times["cross-entropy"])
    rows, facts = [], {}
    for name, values in times.items():
        seconds = statistics.median(values)
        facts[name] = seconds / base - 1
        rows.append([name, f"{seconds * 1000:.1f}", f"{100 * (seconds / base - 1):+.1f} %"])
    return table(["loss (WRN-10-1, batch 64)", "ms per step", "overhead"], rows), facts
