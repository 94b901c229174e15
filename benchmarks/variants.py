"""Section 7: channels_last and ``torch.compile`` over whole cpu-profile runs, not three steps.

A variant may become the cpu default only if (1) two runs of the same config on the same machine end
bit-identical, (2) its final accuracy and ratios agree with eager within the seed-to-seed spread of eager, and
(3) it is faster as a whole run (evaluations included). The run is chapter 04's eps = 0 run at seed 0 (WRN-10-1
on Fashion-MNIST, 1,200 steps, two evaluations); eager also trains seeds 1 and 2 for the spread. Every run
trains through ``fit`` into its own temporary store, so the code path is the book's.

``python -m benchmarks.variants [--steps N] [--write]`` runs this section alone; ``--write`` puts it into
``benchmarks/RESULTS.md``. Timings taken while other jobs run are meaningless: the section prints the load
average it started under.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time
from pathlib import Path

import torch

from benchmarks.common import empty_store, section_main, table
from paperlib import runs
from paperlib.experiments import common, label_smoothing
from paperlib.train.loop import fit
from paperlib.train.supervised import Supervised, TrainConfig

TITLE = "channels_last and torch.compile over whole runs"
STEPS_HELP = "steps per run (default: the cpu config's)"
QUICK_HELP = "60 steps, to try the script"
VARIANTS = ("eager", "channels_last", "compile")
COMPARED = ("acc", "mir_batch", "hdr_batch", "mir", "hdr")


def _trainer(variant: str):
    """A run-store trainer that trains like ``supervised.train`` with ``variant`` applied to the model."""

    def train(cfg: TrainConfig, run: runs.Run) -> None:
        method = Supervised(cfg)
        if "compile" in variant:
            method.net = torch.compile(method.model)
        fit(run, method, cfg.recipe.steps, cfg.recipe.ckpt_every)

    return train


def one_run(cfg: TrainConfig, variant: str) -> dict:
    """Train ``cfg`` with ``variant`` in an empty temporary store: wall time, final metrics, final weights.
    channels_last is the recipe's own setting (the code path the cpu profile takes); compile wraps the model."""
    cfg = common.with_recipe(cfg, channels_last="channels_last" in variant)
    with empty_store():
        begin = time.perf_counter()
        run = runs.run(common.SUPERVISED_STORE, cfg, _trainer(variant))
        seconds = time.perf_counter() - begin
        final = common.curves(run).iloc[-1]
        weights = run.load_checkpoint()["model"]
    return {"s": seconds, **{k: float(final[k]) for k in COMPARED}, "weights": weights}


def identical(a: dict, b: dict) -> bool:
    """Whether two runs ended with the same weights and buffers, bit for bit, and the same metrics."""
    same_weights = all(torch.equal(a["weights"][k], b["weights"][k]) for k in a["weights"])
    return same_weights and all(a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]) for k in COMPARED)


def bench_variants(quick: bool, steps: int | None = None) -> tuple[str, dict]:
    """Each variant twice at seed 0 (eager also at seeds 1 and 2): time, determinism, agreement with eager."""
    base = label_smoothing.SPEC.config("cpu").train
    if steps or quick:
        n = steps or 60
        base = common.with_recipe(base, steps=n, eval_every=n, ckpt_every=n)
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "unknown"
    results: dict[str, list[dict]] = {}
    for variant in VARIANTS:
        results[variant] = [one_run(base, variant) for _ in range(2)]
    seeds = [results["eager"][0]] + [one_run(dataclasses.replace(base, seed=s), "eager") for s in (1, 2)]
    spread = {k: statistics.stdev(r[k] for r in seeds) for k in COMPARED}
    eager = results["eager"][0]
    rows, facts = [], {"load": load, "steps": base.recipe.steps, "spread": spread}
    for variant in VARIANTS:
        first, second = results[variant]
        deterministic = identical(first, second)
        # agreement: within two seed standard deviations of eager's seed-0 run on every compared quantity
        agrees = all(abs(first[k] - eager[k]) <= 2 * spread[k] for k in COMPARED)
        seconds = statistics.median([first["s"], second["s"]])
        facts[variant] = {"s": seconds, "deterministic": deterministic, "agrees": agrees, **first}
        rows.append(
            [variant, f"{seconds:.1f}", "yes" if deterministic else "no"]
            + [f"{first[k]:.4f}" for k in COMPARED]
            + ["yes" if agrees else "no"]
        )
    rows.append(["eager, sd over seeds 0-2", "", ""] + [f"{spread[k]:.4f}" for k in COMPARED] + [""])
    header = ["variant", "run s", "two runs identical"] + list(COMPARED) + ["within 2 sd of eager"]
    eager_s = facts["eager"]["s"]
    adoptable = [
        v
        for v in VARIANTS[1:]
        if facts[v]["deterministic"] and facts[v]["agrees"] and facts[v]["s"] < eager_s
    ]
    facts["adoptable"] = adoptable
    note = (
        f"\n\nOne run: chapter 04's eps = 0 config at seed 0 ({base.recipe.model}, {base.recipe.steps} steps, "
        f"evaluations included), trained twice per variant; 1-minute load average {load} when the section "
        "started. A variant qualifies as the cpu default if both its runs are bit-identical, every quantity is "
        "within two seed standard deviations of eager, and it is faster: "
        + (", ".join(adoptable) if adoptable else "none qualifies")
        + "."
    )
    return table(header, rows) + note, facts


if __name__ == "__main__":  # this section alone; --write keeps it in RESULTS.md
    sys.exit(section_main(bench_variants))
