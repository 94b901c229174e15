"""``make bench``: measured speed and memory of the metrics, the training step and the notebooks.

Prints one Markdown report and writes it to ``benchmarks/RESULTS.md`` with the machine it ran on. Every time
is a median over repetitions measured in this one run, so ratios compare like with like. Sections, one module
each (shared helpers in ``common.py``):

1. ``routes``: exact ``interplay`` against the plain route (three n x n eigenvalue problems in float64);
2. ``memory``: peak memory and time of exact ``interplay`` at n = 100,000 (in a fresh process);
3. ``loss_overhead``: per-step overhead of the MI and HDR loss terms over cross-entropy (batch 64, cpu model);
4. ``throughput``: training throughput with and without channels_last and ``torch.compile``, and whether each
   is exact;
5. ``notebooks``: wall time of every notebook: smoke measured now, cpu as last recorded by ``make book``;
6. ``launch``: a smoke sweep through submitit's local executor (``paperlib.launch``), one job at a time and
   one per core, against plain ``run`` commands;
7. ``variants``: channels_last and ``torch.compile`` over whole cpu runs (determinism, agreement with eager
   within seed noise, time): how the cpu profile's channels_last was chosen;
8. ``streaming``: ``paperlib.StreamingInterplay`` on 1,000,000 rows (time, memory beyond one batch), against
   ``interplay`` at n = 100,000, and two gloo processes against one (``python -m benchmarks.streaming`` alone).

``--quick`` shrinks every section (for trying the script); ``--only NAME`` runs one section.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from benchmarks.common import HERE, TARGETS, machine
from benchmarks.launch import TITLE as LAUNCH_TITLE
from benchmarks.launch import bench_launch
from benchmarks.loss_overhead import bench_loss_overhead
from benchmarks.memory import bench_memory
from benchmarks.notebooks import bench_notebooks
from benchmarks.routes import bench_routes
from benchmarks.streaming import TITLE as STREAMING_TITLE
from benchmarks.streaming import bench_streaming
from benchmarks.streaming import verdict as streaming_verdict
from benchmarks.throughput import bench_throughput
from benchmarks.variants import TITLE as VARIANTS_TITLE
from benchmarks.variants import bench_variants

SECTIONS = {
    "routes": ("Exact interplay against the plain n x n route", bench_routes),
    "memory": ("Exact interplay at n = 100,000 (d = 128, C = 10)", bench_memory),
    "loss": ("Information-loss overhead per training step", bench_loss_overhead),
    "throughput": ("Training throughput", bench_throughput),
    "notebooks": ("Notebook wall times", bench_notebooks),
    "launch": (LAUNCH_TITLE, bench_launch),
    "variants": (VARIANTS_TITLE, bench_variants),
    "streaming": (STREAMING_TITLE, bench_streaming),
}


def verdicts(facts: dict) -> list[str]:
    """One line per target the sections measured, saying whether it was met, for the report's head."""
    out = []
    routes = facts.get("routes", {})
    if (10_000, 128, 10) in routes:
        r = routes[(10_000, 128, 10)]
        ok = r["ratio"] >= TARGETS["speedup"] and r["diff"] <= TARGETS["agreement"]
        out.append(
            f"- exact vs plain at n = 10k, d = 128, C = 10: {r['ratio']:.0f}x faster, largest difference "
            f"{r['diff']:.1e} (target >= 100x and <= 1e-9): {'met' if ok else 'missed'}"
        )
    if "memory" in facts:
        m = facts["memory"]
        ok = m["peak_mb"] <= TARGETS["memory_mb"] and m["seconds"] <= TARGETS["memory_s"]
        out.append(
            f"- n = 100k: {m['peak_mb']:.0f} MB and {m['seconds']:.1f} s (target < 1 GB, < 10 s): "
            f"{'met' if ok else 'missed'}"
        )
    if "loss" in facts:
        worst = max(facts["loss"].values())
        ok = worst <= TARGETS["loss_overhead"]
        out.append(
            f"- information-loss overhead: at most {100 * worst:.1f} % (target <= 10 %): {'met' if ok else 'missed'}"
        )
    if "notebooks" in facts and facts["notebooks"]["cpu_total_min"]:
        total = facts["notebooks"]["cpu_total_min"]
        out.append(
            f"- cpu book, sum of each notebook's last time that trained runs (cache reads excluded): {total:.1f} "
            "min; not one build's time (target: < 60 min for `make book` from an empty store, measured as one "
            "command in the README)"
        )
    if "streaming" in facts:
        out += streaming_verdict(facts["streaming"])
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sections, print the report, and keep it in RESULTS.md when every section ran in full."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the script")
    parser.add_argument("--only", choices=list(SECTIONS), action="append", help="run only these sections")
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)
    parts, facts = [], {}
    for key in args.only or list(SECTIONS):
        title, fn = SECTIONS[key]
        print(f"running: {title} ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        text, facts[key] = fn(args.quick)
        parts.append(f"## {title}\n\n{text}\n\n(section took {time.perf_counter() - start:.0f} s)")
    head = (
        "# Benchmarks\n\n"
        f"Measured by `make bench` on {time.strftime('%Y-%m-%d')}{' with --quick' if args.quick else ''}.\n\n"
        f"Machine: {machine()}.\n\n"
        "Times are medians over repetitions within this run.\n\n## Targets\n\n" + "\n".join(verdicts(facts))
    )
    report = head + "\n\n" + "\n\n".join(parts) + "\n"
    # Sections measured elsewhere, kept across reruns: a lent device's run (benchmarks/gpu.py) and the mutation
    # score (make mutants; its analysis of the survivors is written by hand in mutants.md).
    for kept in ("gpu_results.md", "mutants.md"):
        if (HERE / kept).exists():
            report += "\n" + (HERE / kept).read_text()
    print(report)
    if not args.quick and not args.only:
        (HERE / "RESULTS.md").write_text(report)
        print(f"written: {HERE / 'RESULTS.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
