"""Section 6: independent runs side by side (``paperlib.pool``): one process using every core against one
process per core with one thread each, on the cpu model (WRN-10-1 on Fashion-MNIST, batch 64).

Two measurements: the training steps alone (every process builds its run, warms up, then all start together;
throughput is steps per second summed over the processes), and two whole runs through ``pool.train_all``
(process start, data loading and the two evaluations included) with one worker and with one per core.
``python -m benchmarks.pool [--steps N] [--write]`` runs this section alone; ``--write`` puts it into
``benchmarks/RESULTS.md`` (replacing an earlier copy). Timings taken while other jobs run are meaningless:
the section prints the load average it started under.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import queue
import sys
import time
from pathlib import Path

import torch

from benchmarks.common import empty_store, section_main, table
from paperlib import pool
from paperlib.experiments import common
from paperlib.train.supervised import Supervised, train

TITLE = "Independent runs side by side"
STEPS_HELP = "steps per process (default 200)"
QUICK_HELP = "20 steps, to try the script"
WARMUP = 5


def _time_steps(steps: int, threads: int, seed: int, start: mp.Barrier, out: mp.Queue) -> None:
    """In a fresh process: build a cpu run, warm up, wait for the others, then time ``steps`` steps."""
    torch.set_num_threads(threads)
    method = Supervised(dataclasses.replace(common.supervised("cpu", steps=steps + WARMUP), seed=seed))
    for k in range(WARMUP):
        method.step(k)
    start.wait()
    begin = time.perf_counter()
    for k in range(WARMUP, WARMUP + steps):
        method.step(k)
    out.put(time.perf_counter() - begin)


def step_throughput(processes: int, threads: int, steps: int) -> float:
    """Training steps per second summed over ``processes`` spawned processes of ``threads`` threads each."""
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(processes), ctx.Queue()
    procs = [
        ctx.Process(target=_time_steps, args=(steps, threads, seed, start, out)) for seed in range(processes)
    ]
    for p in procs:
        p.start()
    seconds: list[float] = []
    while len(seconds) < processes:
        try:
            seconds.append(out.get(timeout=1))
        except queue.Empty:
            if any(p.exitcode not in (None, 0) for p in procs):
                for p in procs:
                    p.terminate()
                raise RuntimeError("a timing process failed (its traceback is above)") from None
    for p in procs:
        p.join()
    return sum(steps / s for s in seconds)


def two_runs_seconds(workers: int, steps: int) -> float:
    """Wall time of ``pool.train_all`` on two cpu runs of ``steps`` steps (evaluated at 0 and at the end) in
    an empty temporary store, with ``workers`` workers."""
    cfg = common.supervised("cpu", steps=steps, eval_every=steps, ckpt_every=steps)
    cfgs = [dataclasses.replace(cfg, seed=s) for s in (0, 1)]
    with empty_store(**{pool.ENV: str(workers)}):
        begin = time.perf_counter()
        pool.train_all([(common.SUPERVISED_STORE, cfg, train) for cfg in cfgs])
        return time.perf_counter() - begin


def bench_pool(quick: bool, steps: int | None = None) -> tuple[str, dict]:
    """Steps per second of one process with every core against one process per core, and the wall time of two
    whole runs both ways."""
    steps = steps or (20 if quick else 200)
    cores = pool.cores()
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "unknown"
    layouts = [(1, cores)] + ([(cores, 1)] if cores > 1 else [])
    facts: dict = {"load": load, "cores": cores, "steps": steps}
    rows = []
    for processes, threads in layouts:
        rate = step_throughput(processes, threads, steps)
        wall = two_runs_seconds(processes, steps)
        facts[(processes, threads)] = {"steps_s": rate, "two_runs_s": wall}
        rows.append([f"{processes} x {threads}", f"{rate:.1f}", f"{wall:.1f}"])
    header = [
        "processes x threads",
        f"training steps / s, summed ({steps} steps each)",
        f"two runs of {steps} steps through train_all, s",
    ]
    note = (
        f"\n\n{cores} cores; 1-minute load average {load} when the section started. Two runs at once give each "
        "run fewer threads, which changes its numbers (float sums are split differently), so a run trained in "
        "the pool is reproducible at equal worker counts, not across them."
    )
    return table(header, rows) + note, facts


if __name__ == "__main__":  # this section alone; --write keeps it in RESULTS.md
    sys.exit(section_main(bench_pool))
