"""``make bench``: measured speed and memory of the metrics, the training step and the notebooks.

Prints one Markdown report and writes it to ``benchmarks/RESULTS.md`` with the machine it ran on. Every time
is a median over repetitions measured in this one run, so ratios compare like with like. Sections:

1. exact ``interplay`` against the plain route (three n x n eigenvalue problems in float64);
2. peak memory and time of exact ``interplay`` at n = 100,000 (in a fresh process);
3. per-step overhead of the MI and HDR loss terms over cross-entropy (batch 64, cpu model);
4. training throughput with and without channels_last and ``torch.compile``, and whether each is exact;
5. wall time of every notebook: smoke measured now, cpu as last recorded by ``make book``.

``--quick`` shrinks every section (for trying the script); ``--only NAME`` runs one section.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from paperlib import book, metrics
from paperlib.models import build
from paperlib.train.info_loss import InfoLoss

HERE = Path(__file__).resolve().parent
TARGETS = {
    "speedup": 100.0,  # exact vs plain at n = 10k, d = 128, C = 10
    "agreement": 1e-9,
    "loss_overhead": 0.10,
    "memory_mb": 1024.0,
    "memory_s": 10.0,
    "cpu_book_min": 60.0,
}


def machine() -> str:
    cpu = "unknown CPU"
    info = Path("/proc/cpuinfo")
    if info.exists():
        names = [
            line.split(":", 1)[1].strip() for line in info.read_text().splitlines() if "model name" in line
        ]
        cpu = names[0] if names else cpu
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (
        f"{cpu}, {os.cpu_count()} cores ({torch.get_num_threads()} torch threads), {gpu}; "
        f"Python {platform.python_version()}, torch {torch.__version__}, {platform.platform()}"
    )


def median_seconds(fn: Callable[..., object], reps: int, *args) -> tuple[float, object]:
    """Median wall time of ``fn(*args)`` over ``reps`` calls, and the last result."""
    times, out = [], None
    for _ in range(reps):
        start = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ 1. metric routes


def synthetic(n: int, d: int, classes: int, seed: int = 0):
    """Features around class means (a trained network's shape) and heads near the means."""
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(classes, d, generator=g, dtype=torch.float64)
    labels = torch.randint(0, classes, (n,), generator=g)
    feats = means[labels] + 0.8 * torch.randn(n, d, generator=g, dtype=torch.float64)
    heads = means + 0.3 * torch.randn(classes, d, generator=g, dtype=torch.float64)
    return feats, heads, labels


def plain_route(feats, heads, labels) -> dict[str, float]:
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


# ------------------------------------------------------------------------------------------------ 2. memory


def memory_probe(n: int, d: int, classes: int) -> dict:
    """Run in a fresh process: the peak resident memory added by one exact ``interplay`` call. The kernel's
    peak counter is reset after the inputs exist (``/proc/self/clear_refs``), so only the call counts."""
    feats, heads, labels = synthetic(n, d, classes)
    feats = feats.float()  # a network's features arrive as float32
    status = Path("/proc/self/status")

    def kb(field: str) -> int:
        line = next(x for x in status.read_text().splitlines() if x.startswith(field))
        return int(line.split()[1])

    Path("/proc/self/clear_refs").write_text("5")
    before = kb("VmRSS:")
    start = time.perf_counter()
    out = metrics.interplay(feats, heads, labels)
    seconds = time.perf_counter() - start
    return {"peak_mb": (kb("VmHWM:") - before) / 1024, "seconds": seconds, "mir": out["mir"]}


def bench_memory(quick: bool) -> tuple[str, dict]:
    n = 20_000 if quick else 100_000
    args = [sys.executable, "-m", "benchmarks.run", "--memory-probe", str(n)]
    done = subprocess.run(args, cwd=HERE.parent, capture_output=True, text=True, check=True)
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    nxn_gb = 3 * n * n * 8 / 1e9
    text = table(
        ["n", "d", "C", "peak memory added", "time", "one n x n float64 Gram would need"],
        [[n, 128, 10, f"{probe['peak_mb']:.0f} MB", f"{probe['seconds']:.2f} s", f"{nxn_gb / 3:.0f} GB"]],
    )
    return text, probe


# --------------------------------------------------------------------------------- 3. loss-term overhead


def _batch(model_name: str, batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    channels, side = (1, 28) if model_name.startswith("wrn-1") else (3, 32)
    x = torch.randn(batch, channels, side, side, generator=g)
    y = torch.randint(0, 10, (batch,), generator=g)
    return x, y


def _step_fn(model, opt, x, y, term: InfoLoss | None):
    def step():
        logits, feats = model(x)
        loss = F.cross_entropy(logits, y)
        if term is not None:
            loss = loss + term(feats, model.head_weight, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def bench_loss_overhead(quick: bool) -> tuple[str, dict]:
    """Steps of the three losses interleaved round by round, so that drift in the machine's speed (which is
    larger than the effect on a shared 2-core machine) hits all three alike."""
    rounds = 15 if quick else 80
    x, y = _batch("wrn-10-1", 64)
    steps = {}
    for name, term in (
        ("cross-entropy", None),
        ("+ MI", InfoLoss("mi", 0.1)),
        ("+ HDR", InfoLoss("hdr", 0.1)),
    ):
        torch.manual_seed(0)
        model = build("wrn-10-1", 10, in_channels=1)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        steps[name] = _step_fn(model, opt, x, y, term)
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


# -------------------------------------------------------------------------------------------- 4. throughput


def bench_throughput(quick: bool) -> tuple[str, dict]:
    models = ("wrn-10-1",) if quick else ("wrn-10-1", "wrn-16-1", "wrn-28-2")
    variants = (
        ("eager", "channels_last")
        if quick
        else ("eager", "channels_last", "compile", "compile + channels_last")
    )
    rows, facts = [], {}
    for model_name in models:
        x, y = _batch(model_name, 64)
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
            step = _step_fn(runner, opt, xv, y, None)
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


# --------------------------------------------------------------------------------------------- 5. notebooks


def bench_notebooks(quick: bool) -> tuple[str, dict]:
    smoke = {}
    with tempfile.TemporaryDirectory() as store:
        os.environ["PAPERLIB_RUNS"] = store  # from an empty store, as a fresh clone
        with tempfile.TemporaryDirectory() as out:
            for nb in book.chapters()[: 2 if quick else None]:
                smoke[nb.name] = book.execute(nb, Path(out) / nb.name, "smoke")
        del os.environ["PAPERLIB_RUNS"]
    recorded = book.timings_file("cpu")
    cpu = json.loads(recorded.read_text()) if recorded.exists() else {}
    rows = []
    for nb in book.chapters():
        c = cpu.get(nb.name)
        cell = (
            f"{c['seconds']:.0f} ({c['date']}, {c.get('new_runs', '?')} runs trained)"
            if c
            else "not recorded"
        )
        rows.append([nb.name, f"{smoke[nb.name]:.0f}" if nb.name in smoke else "", cell])
    total_cpu = sum(v["seconds"] for v in cpu.values())
    rows.append(
        ["all", f"{sum(smoke.values()):.0f}", f"{total_cpu:.0f} = {total_cpu / 60:.1f} min" if cpu else ""]
    )
    note = (
        "cpu times are those of the last `make book` on this machine, with the number of runs each notebook had "
        "to train: a notebook whose runs were all in the store takes seconds. The README gives the times from "
        "an empty store."
    )
    return table(
        ["notebook", "smoke s (empty store, now)", "cpu s (last make book)"], rows
    ) + "\n\n" + note, {"cpu_total_min": total_cpu / 60}


# --------------------------------------------------------------------------------------------------- report


SECTIONS = {
    "routes": ("Exact interplay against the plain n x n route", bench_routes),
    "memory": ("Exact interplay at n = 100,000 (d = 128, C = 10)", bench_memory),
    "loss": ("Information-loss overhead per training step", bench_loss_overhead),
    "throughput": ("Training throughput", bench_throughput),
    "notebooks": ("Notebook wall times", bench_notebooks),
}


def verdicts(facts: dict) -> list[str]:
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
            f"- cpu book, sum of the last recorded notebook times: {total:.1f} min (target < 60 min from an empty "
            "store; see the notebook table for how many runs each had to train, and the README for the "
            "from-scratch times)"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, to try the script")
    parser.add_argument("--only", choices=list(SECTIONS), action="append", help="run only these sections")
    parser.add_argument("--memory-probe", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_probe:
        print(json.dumps(memory_probe(args.memory_probe, 128, 10)))
        return 0
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
    print(report)
    if not args.quick and not args.only:
        (HERE / "RESULTS.md").write_text(report)
        print(f"written: {HERE / 'RESULTS.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
