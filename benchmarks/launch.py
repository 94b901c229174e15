"""Section 6: a smoke sweep trained side by side through submitit's local executor (``python -m paperlib
launch --executor local``) against the same runs trained one after another by plain ``run`` commands.

Whole commands are timed, each into an empty temporary store (process start, data loading, evaluations and, for
the executor, one process per job included): the plain way is one ``run`` command per experiment, the local
executor one ``launch`` of the experiments together, one job at a time and then one job per core. Every
command runs with one torch thread (``OMP_NUM_THREADS=1``), so the jobs' ``metrics.csv`` must equal the plain
runs' byte for byte; the table says whether they do. ``python -m benchmarks.launch [--steps N] [--write]``
runs this section alone (``--steps`` shortens the dynamics run); timings taken while other jobs run are
meaningless, so the section prints the load average it started under.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import empty_store, section_main, table

TITLE = "A smoke sweep through submitit's local executor"
STEPS_HELP = "steps of the dynamics run (default: the smoke profile's 150)"
QUICK_HELP = "a 20-step dynamics run, to try the script"
EXPERIMENTS = ("dynamics", "own_network")


def _command(args: list[str], steps: int | None) -> list[str]:
    extra = ["--set", f"steps={steps}"] if steps and args[0] == "run" and args[1] == "dynamics" else []
    return [sys.executable, "-m", "paperlib", *args, "--profile", "smoke", *extra]


def _timed(commands: list[list[str]]) -> tuple[float, dict[str, bytes]]:
    """Wall time of ``commands`` one after another in an empty store, and the metrics.csv of every run."""
    with empty_store(OMP_NUM_THREADS="1", PAPERLIB_QUIET="1") as store:
        begin = time.perf_counter()
        for cmd in commands:
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=dict(os.environ))
        seconds = time.perf_counter() - begin
        found = {str(p.relative_to(store)): p.read_bytes() for p in Path(store).glob("*/*/metrics.csv")}
    return seconds, found


def bench_launch(quick: bool, steps: int | None = None) -> tuple[str, dict]:
    """Seconds of the plain commands and of the local executor, one job at a time and one per core."""
    steps = 20 if quick and steps is None else steps
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "unknown"
    plain_s, plain = _timed([_command(["run", name], steps) for name in EXPERIMENTS])
    overrides = ["--set", f"steps={steps}"] if steps else []
    rows = [["plain `run`, one experiment after another", f"{plain_s:.1f}", "(reference)"]]
    facts: dict = {"load": load, "cores": cores, "plain_s": plain_s}
    for width in sorted({1, cores}):
        if overrides:  # --set takes one experiment: launch them one after another
            cmds = [
                [*_command(["launch", n], None), "--executor", "local", "--array-parallelism", str(width)]
                + (overrides if n == "dynamics" else [])
                for n in EXPERIMENTS
            ]
        else:
            cmds = [
                [*_command(["launch", *EXPERIMENTS], None), "--executor", "local"]
                + ["--array-parallelism", str(width)]
            ]
        seconds, found = _timed(cmds)
        facts[f"local_{width}_s"] = seconds
        same = "yes" if found == plain else "NO"
        rows.append([f"`launch --executor local`, {width} job(s) at a time", f"{seconds:.1f}", same])
    header = ["how", f"s, {len(plain)} runs of {', '.join(EXPERIMENTS)} (smoke)", "metrics.csv equal"]
    note = (
        f"\n\n{cores} cores, one torch thread per process; 1-minute load average {load} when the section "
        "started. Each local job is a Python process of its own (submitit's controller and the job), whose "
        "start is paid once per run."
    )
    return table(header, rows) + note, facts


if __name__ == "__main__":  # this section alone; --write keeps it in RESULTS.md
    sys.exit(section_main(bench_launch))
