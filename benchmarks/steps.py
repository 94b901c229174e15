"""Seconds per training step of every kind of run the profiles train, for ``python -m paperlib plan``.

``python -m benchmarks.steps`` builds each kind's training method from a config the plan lists (the real
``Supervised``, ``FreeMatch`` and ``Grokking`` steps, on random images of the data set's shape, since a step's
cost does not depend on the pixels), takes one warm-up step, times ``--reps`` more and writes the fastest to
``benchmarks/step_times.json`` with the machine and its load average named (the fastest, because other jobs on
the machine only ever slow a step down; on a busy machine the times are still too high). A step whose
predicted time exceeds ``--budget`` seconds (FreeMatch on WRN-28-8: 960 images) is timed on fewer labeled
images and scaled linearly by the plan; the file records the images each time was measured on. ``host_s`` is
the batch preparation alone (augmentation and normalization), timed at the step's own size; it runs on the
training device now, so ``plan`` counts it as part of the step.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import torch

from benchmarks.common import HERE, machine
from paperlib import costs, plan, registry
from paperlib import data as D
from paperlib.augment import strong_augment, weak_augment
from paperlib.configs import PROFILES
from paperlib.experiments.own_network import OwnNetwork, OwnNetworkConfig
from paperlib.rng import generator
from paperlib.train.freematch import FreeMatch, FreeMatchConfig
from paperlib.train.grokking import GrokConfig, Grokking
from paperlib.train.supervised import Supervised, TrainConfig

OUT = HERE / "step_times.json"
SIDE = costs.IMAGE_SIDE
PER_CLASS = 20  # random training images per class: enough for every batch a probe draws


@contextmanager
def random_data() -> Iterator[None]:
    """``paperlib.data.load`` answering with random images of each data set's shape (balanced labels)."""

    def load(name: str, split: str, root: Any = None) -> D.Split:
        classes, side = D.NUM_CLASSES[name], SIDE[name]
        n = classes * (PER_CLASS if split != "test" else 1)
        g = generator(len(name))
        images = torch.randint(0, 256, (n, len(D.STATS[name][0]), side, side), generator=g, dtype=torch.uint8)
        labels = torch.full((n,), -1) if split == "unlabeled" else torch.arange(n) % classes
        return D.Split(images, labels)

    real = D.load
    D.load = load
    try:
        yield
    finally:
        D.load = real


def kinds() -> dict[str, Any]:
    """One config per kind of step across every profile (the one with the most images per step)."""
    out: dict[str, Any] = {}
    for profile in PROFILES:
        for spec in registry.experiments_by_name().values():
            for job in plan.jobs(spec, profile):
                kind = plan.step_kind(job.like)
                if kind.name not in out or kind.images > plan.step_kind(out[kind.name]).images:
                    out[kind.name] = job.like
    return out


def with_batch(cfg: Any, batch: int) -> Any:
    """``cfg`` with ``batch`` labeled images per step, no validation split and one test image per class."""
    recipe = dataclasses.replace(cfg.recipe, batch_size=batch, val_per_class=0, eval_per_class=1)
    if isinstance(cfg, FreeMatchConfig):
        return dataclasses.replace(cfg, recipe=recipe, num_labels=D.NUM_CLASSES[recipe.dataset])
    return dataclasses.replace(cfg, recipe=recipe, train_per_class=None)


def host_work(cfg: Any) -> Callable[[], None]:
    """The CPU-side data work of one step of ``cfg`` (as in the methods' ``step``)."""
    g = generator(0)
    if isinstance(cfg, GrokConfig | OwnNetworkConfig):
        return lambda: None  # full-batch tokens; own_network normalizes a batch in its step
    r = cfg.recipe
    shape = (len(D.STATS[r.dataset][0]), SIDE[r.dataset], SIDE[r.dataset])
    x = torch.randint(0, 256, (r.batch_size, *shape), dtype=torch.uint8)
    if isinstance(cfg, TrainConfig):
        return lambda: D.normalize(weak_augment(x, g) if cfg.augment else x, r.dataset)
    u = torch.randint(0, 256, (r.batch_size * cfg.uratio, *shape), dtype=torch.uint8)

    def freematch_views() -> None:
        views = [
            weak_augment(x, g, pad=cfg.pad),
            weak_augment(u, g, pad=cfg.pad),
            strong_augment(u, g, pad=cfg.pad),
        ]
        D.normalize(torch.cat(views), r.dataset)

    return freematch_views


def method(cfg: Any) -> Any:
    if isinstance(cfg, GrokConfig):
        return Grokking(cfg)
    if isinstance(cfg, OwnNetworkConfig):
        return OwnNetwork(dataclasses.replace(cfg, eval_per_class=1))  # the timing data are tiny
    return FreeMatch(cfg) if isinstance(cfg, FreeMatchConfig) else Supervised(cfg)


def fastest_host(cfg: Any, reps: int) -> float:
    """Fastest seconds of the host-side data work of one step of ``cfg``."""
    work, times = host_work(cfg), []
    for _ in range(reps):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def fastest_step(cfg: Any, reps: int) -> float:
    """Fastest seconds of a training step of ``cfg`` after one warm-up step."""
    m = method(cfg)
    m.step(0)
    times = []
    for i in range(1, reps + 1):
        start = time.perf_counter()
        m.step(i)
        times.append(time.perf_counter() - start)
    return min(times)


def measure(cfg: Any, reps: int, budget: float) -> dict:
    """Step and host seconds of ``cfg``. The step at its own batch when a probe on a small batch predicts at
    most ``budget`` seconds, else at the largest batch that fits the budget; the host work always at its own
    batch (a few seconds at most, and not linear in the images: each augmentation has a fixed cost per call).
    The host work goes first: right after a large step the thread pool still holds the cores."""
    full = plan.step_kind(cfg).images
    host = {"host_images": full, "host_s": fastest_host(cfg, reps + 2)}
    if isinstance(cfg, GrokConfig | OwnNetworkConfig):
        return {"images": full, "step_s": fastest_step(cfg, reps), **host}
    batch = cfg.recipe.batch_size
    probe_batch = min(batch, 4)
    probe = with_batch(cfg, probe_batch)
    per_image = fastest_step(probe, 2) / plan.step_kind(probe).images
    fits = max(probe_batch, min(batch, int(budget / per_image / (full / batch))))
    sized = with_batch(cfg, fits)
    return {"images": plan.step_kind(sized).images, "step_s": fastest_step(sized, reps), **host}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="timed steps per kind, after one warm-up step")
    parser.add_argument("--budget", type=float, default=20.0, help="most seconds a timed step may take")
    parser.add_argument("--only", action="append", help="measure only these kinds (keep the others' times)")
    # One thread by default: on a shared machine two threads wait on each other at every operation (here, under
    # load, a smoke FreeMatch run took 43 s with two and 11 s with one), and one thread's time bounds two's.
    parser.add_argument("--threads", type=int, default=1, help="torch threads while timing")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)  # as the grokking trainer does
    load_before = os.getloadavg()[0]
    old = plan.load_step_times(OUT)
    steps = dict(old["steps"]) if args.only else {}
    with random_data():
        for name, cfg in kinds().items():
            if args.only and name not in args.only:
                continue
            print(f"timing {name} ...", file=sys.stderr, flush=True)
            steps[name] = measure(cfg, args.reps, args.budget)
            print(f"  {steps[name]}", file=sys.stderr, flush=True)
    record = {
        "machine": machine(),
        "date": date.today().isoformat(),
        "conditions": (f"{old['conditions']}; " if args.only and old.get("conditions") else "")
        + (f"{', '.join(args.only)} measured alone (--only): " if args.only else "")
        + f"load average {load_before:.1f} before and {os.getloadavg()[0]:.1f} after measuring on {os.cpu_count()} cores",
        "steps": {
            k: {f: round(v, 6) if isinstance(v, float) else v for f, v in e.items()} for k, e in steps.items()
        },
    }
    OUT.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
