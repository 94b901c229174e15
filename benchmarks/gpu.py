"""One prepared run for a lent GPU: the CUDA tests, every paper-profile start on the device, step times of every
kind the plan counts (float32, plus channels_last and bf16 autocast), and exact ``interplay`` at the paper's
sizes; written so that one call spends the device time once.

``python -m benchmarks.gpu --out DIR`` runs three phases within ``--budget`` seconds (8 minutes by default:
35 % for the steps, 20 % for interplay, the rest for the tests) and writes ``gpu_times.json`` (what ``plan``
reads) and ``gpu_results.md`` (a section for ``benchmarks/RESULTS.md``, the device named) after every
measurement, so a run cut short still returns what it measured. A measurement or phase that fails is recorded
with its error and the next one runs. On a lent device, from the repository root (its python3 holds torch and
everything these phases import; nbval and the book's packages are not needed):

    PYTHONUNBUFFERED=1 PYTHONPATH=. timeout 570 python3 -m benchmarks.gpu --out $OUT

1. ``steps``: one step config per kind (``benchmarks.steps.kinds``: the paper's supervised WRN-28-2 at 64,
   FreeMatch at 64 + 2 x 448, WRN-28-8 on CIFAR-100, WRN-37-2 on STL-10, the grokking transformer, ...) on random
   images of the data set's shape; two warm-up steps, then the median of ``--reps`` timed steps, synchronized.
   Variants: channels_last weights and bf16 autocast, timed the same way (reported; ``plan`` uses float32).
2. ``interplay``: exact ``interplay`` at n = 50,000, d = 128 and 512, C = 10 and 100, from float64 and float32
   features on the device, cheapest first, until the phase's budget is spent.
3. ``tests``: the CUDA test with the probe, Monitor and augmentation tests, and ``tests/test_paper_profile.py``
   with the slow cases, on the device (``distributed.device()`` is the GPU there), through pytest with the
   project's addopts dropped.

``python -m benchmarks.gpu --merge DIR`` then takes a device run's two files into ``benchmarks/`` and its section
into ``benchmarks/RESULTS.md`` (replacing an earlier GPU section; ``make bench`` keeps it when it rewrites the
file).

``--quick`` runs phases 1 and 2 on whatever device there is at toy sizes (the smallest models, batches of two,
n = 2,000), so ``tests/test_gpu_bench.py`` proves the script on a CPU before a device is spent on it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import date
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import HERE
from benchmarks.steps import kinds, method, random_data, with_batch
from paperlib import costs, distributed, plan
from paperlib.metrics import interplay
from paperlib.train.grokking import GrokConfig

PHASES = ("steps", "interplay", "tests")  # what plan needs first, should the run be cut short
SHARE = {"steps": 0.35, "interplay": 0.2}  # of --budget; the tests get what is left
QUICK_MODELS = {"wrn-10-1", "transformer"}
SIZES = [(50_000, d, c, dtype) for dtype in ("float32", "float64") for d in (128, 512) for c in (10, 100)]
QUICK_SIZES = [(2_000, 16, 10, "float32"), (2_000, 16, 10, "float64")]


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def median_s(fn: Callable[[], object], warmup: int, reps: int) -> float:
    """Median seconds of ``fn`` after ``warmup`` calls, the device synchronized around each."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def free_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def device_name() -> str:
    dev = distributed.device()
    return torch.cuda.get_device_name(dev) if dev.type == "cuda" else f"{dev.type} (no GPU)"


# -------------------------------------------------------------------------------------------------- phases


def run_tests(seconds: float, quick: bool) -> dict:
    """The CUDA tests and the paper-profile starts under pytest, within ``seconds``."""
    if quick:
        return {"skipped": "--quick (the tests run in the test suite itself)"}
    cmd = [sys.executable, "-m", "pytest", "-o", "addopts=", "-p", "no:cacheprovider", "-q", "-rfEs"]
    out = {}
    start = time.perf_counter()
    for name, args in (
        # the CUDA test (inputs follow a model on the GPU) lives among the probe's; all of them are quick
        ("cuda", ["tests/test_probe.py", "tests/test_monitor.py", "tests/test_augment.py"]),
        ("paper_profile", ["tests/test_paper_profile.py", "-m", "slow or not slow", "-n", "4"]),
    ):
        left = seconds - (time.perf_counter() - start)
        if left < 10:
            out[name] = {"rc": None, "tail": "not run: the budget was spent"}
            continue
        try:
            done = subprocess.run(cmd + args, capture_output=True, text=True, timeout=max(left, 1))
            out[name] = {"rc": done.returncode, "tail": done.stdout[-3000:] + done.stderr[-1000:]}
        except subprocess.TimeoutExpired:
            out[name] = {"rc": None, "tail": f"stopped after {left:.0f} s (the phase's budget)"}
    return out


def step_configs(quick: bool) -> dict[str, Any]:
    """One config per kind of step; at toy sizes with ``quick``."""
    found = kinds()
    if not quick:  # the whole training set of random images, one test image per class (as benchmarks.steps)
        return {
            k: cfg
            if isinstance(cfg, GrokConfig) or not hasattr(cfg, "recipe")
            else with_batch(cfg, cfg.recipe.batch_size)
            for k, cfg in found.items()
        }
    out = {}
    for cfg in found.values():
        kind = plan.step_kind(cfg)
        if kind.model not in QUICK_MODELS:
            continue
        if isinstance(cfg, GrokConfig):
            small = dataclasses.replace(cfg, p=11)
        else:
            small = with_batch(cfg, 2)
            small = dataclasses.replace(small, uratio=1) if hasattr(small, "uratio") else small
        out[plan.step_kind(small).name] = small
    return out


def variants(cfg: Any) -> dict[str, tuple[Any, Any]]:
    """(config, context) per variant: float32 as trained, channels_last weights, bf16 autocast."""
    dev = distributed.device().type
    out = {"float32": (cfg, nullcontext)}
    if hasattr(cfg, "recipe"):
        out["channels_last"] = (
            dataclasses.replace(cfg, recipe=dataclasses.replace(cfg.recipe, channels_last=True)),
            nullcontext,
        )
    out["bf16_autocast"] = (cfg, lambda: torch.autocast(dev, dtype=torch.bfloat16))
    return out


def time_steps(seconds: float, quick: bool, reps: int, out: dict, save: Callable[[], None]) -> None:
    """Median seconds per step of every kind and variant into ``out``, within ``seconds`` (largest models
    last), saving after each."""
    configs = step_configs(quick)
    order = sorted(
        configs,
        key=lambda k: costs.work(k, configs[k])["flops_per_image"] * plan.step_kind(configs[k]).images,
    )
    start = time.perf_counter()
    with random_data():
        for name in order:
            for variant, (cfg, context) in variants(configs[name]).items():
                if time.perf_counter() - start > seconds:
                    out.setdefault(name, {})[variant] = {"error": "not timed: the phase's budget was spent"}
                    continue
                try:
                    m, counter = method(cfg), iter(range(10**9))

                    def step(m=m, counter=counter, context=context) -> None:
                        with context():
                            m.step(next(counter))

                    seconds_per_step = median_s(step, warmup=1 if quick else 2, reps=1 if quick else reps)
                    entry = {"images": plan.step_kind(cfg).images, "step_s": round(seconds_per_step, 6)}
                except Exception as err:  # out of memory, an unsupported variant: record it and go on
                    entry = {"error": f"{type(err).__name__}: {str(err)[:200]}"}
                finally:
                    free_memory()
                out.setdefault(name, {})[variant] = entry
                save()
                print(f"  {name} [{variant}]: {entry}", file=sys.stderr, flush=True)


def time_interplay(seconds: float, quick: bool, reps: int, rows: list, save: Callable[[], None]) -> None:
    """Seconds of exact ``interplay`` at each size into ``rows``, cheapest first, within ``seconds``, saving
    after each."""
    dev, start = distributed.device(), time.perf_counter()
    for n, d, c, dtype in sorted(QUICK_SIZES if quick else SIZES, key=lambda s: (s[1] * s[2], s[3])):
        row: dict[str, Any] = {"n": n, "d": d, "C": c, "dtype": dtype}
        if time.perf_counter() - start > seconds:
            rows.append({**row, "error": "not timed: the phase's budget was spent"})
            continue
        try:
            g = torch.Generator().manual_seed(0)
            feats = torch.randn(n, d, generator=g, dtype=getattr(torch, dtype)).to(dev)
            heads = torch.randn(c, d, generator=g, dtype=getattr(torch, dtype)).to(dev)
            labels = torch.randint(0, c, (n,), generator=g).to(dev)
            result: dict = {}

            def call(feats=feats, heads=heads, labels=labels, result=result) -> None:
                result.update(interplay(feats, heads, labels))

            row["seconds"] = round(median_s(call, warmup=1, reps=1 if quick else reps), 4)
            row["mir"] = float(result["mir"])
        except Exception as err:
            row["error"] = f"{type(err).__name__}: {str(err)[:200]}"
        finally:
            free_memory()
        rows.append(row)
        save()
        print(f"  interplay {row}", file=sys.stderr, flush=True)


# -------------------------------------------------------------------------------------------------- report


def markdown(record: dict) -> str:
    """The section for ``benchmarks/RESULTS.md``."""
    lines = [
        f"## GPU: step times and exact interplay on {record['device']}",
        "",
        f"`python -m benchmarks.gpu{' --quick' if record['quick'] else ''}`, {record['date']}, torch "
        f"{record['torch']}. Seconds per training step (median of the timed steps, synchronized; random images "
        "of the data set's shape); `plan` reads the float32 column from `gpu_times.json`.",
        "",
        "| step kind | images | float32 s | channels_last s | bf16 autocast s |",
        "|---|---|---|---|---|",
    ]
    for name, by_variant in record["variants"].items():
        cells = []
        for v in ("float32", "channels_last", "bf16_autocast"):
            e = by_variant.get(v)
            cells.append("-" if e is None else e.get("step_s", e.get("error", "?")))
        images = by_variant.get("float32", {}).get("images", "")
        lines.append(f"| {name} | {images} | {' | '.join(str(c) for c in cells)} |")
    lines += ["", "| n | d | C | dtype | exact interplay s |", "|---|---|---|---|---|"]
    for row in record["interplay"]:
        lines.append(
            f"| {row['n']:,} | {row['d']} | {row['C']} | {row['dtype']} | {row.get('seconds', row.get('error'))} |"
        )
    for name, result in record["tests"].items():
        if isinstance(result, dict) and "rc" in result:
            summary = result["tail"].strip().splitlines()[-1:] or [""]
            lines.append(f"\n- tests `{name}`: exit {result['rc']}: {summary[0]}")
        else:
            lines.append(f"\n- tests `{name}`: {result}")
    return "\n".join(lines) + "\n"


def write(record: dict, out: Path) -> None:
    """``gpu_times.json`` (float32 steps where ``plan`` looks for them, the rest beside) and the Markdown."""
    record["steps"] = {
        name: v["float32"] for name, v in record["variants"].items() if "step_s" in v.get("float32", {})
    }
    (out / "gpu_times.json").write_text(json.dumps(record, indent=2) + "\n")
    (out / "gpu_results.md").write_text(markdown(record))


GPU_SECTION = "## GPU:"


def with_gpu_section(results: str, section: str) -> str:
    """``results`` (RESULTS.md's text) with its GPU section, if any, replaced by ``section`` at the end."""
    head, found, rest = results.partition(GPU_SECTION)
    if found:
        after = rest.find("\n## ")
        head += rest[after + 1 :] if after >= 0 else ""
    return head.rstrip("\n") + "\n\n" + section


def merge(folder: Path, into: Path = HERE) -> None:
    """Take a device run's ``gpu_times.json`` and ``gpu_results.md`` from ``folder`` into ``into`` (benchmarks/)
    and its section into ``RESULTS.md`` there."""
    missing = [n for n in ("gpu_times.json", "gpu_results.md") if not (folder / n).exists()]
    if missing:
        raise SystemExit(
            f"{folder} lacks {', '.join(missing)}: pass the --out folder of a benchmarks.gpu run"
        )
    if json.loads((folder / "gpu_times.json").read_text()).get("quick"):
        raise SystemExit(
            f"{folder} holds a --quick run (toy models and batches of two): plan would scale its steps as "
            "if measured; merge a full run"
        )
    section = (folder / "gpu_results.md").read_text()
    for name in ("gpu_times.json", "gpu_results.md"):
        (into / name).write_text((folder / name).read_text())
    results = into / "RESULTS.md"
    results.write_text(with_gpu_section(results.read_text() if results.exists() else "", section))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for gpu_times.json and gpu_results.md")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for all phases together")
    parser.add_argument("--reps", type=int, default=5, help="timed steps (interplay calls) per measurement")
    parser.add_argument("--quick", action="store_true", help="toy sizes on any device (a test runs this)")
    parser.add_argument("--phases", default=",".join(PHASES), help=f"comma-separated, of {', '.join(PHASES)}")
    parser.add_argument(
        "--merge", type=Path, help="take a device run's files from this folder into benchmarks/"
    )
    args = parser.parse_args(argv)
    if args.merge:
        merge(args.merge)
        print(f"merged {args.merge} into {HERE}")
        return 0
    out = args.out or (Path(tempfile.mkdtemp(prefix="gpu-quick-")) if args.quick else HERE)
    out.mkdir(parents=True, exist_ok=True)
    phases = [p for p in args.phases.split(",") if p]
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        parser.error(f"unknown phase(s) {', '.join(unknown)}; choose from {', '.join(PHASES)}")
    record: dict[str, Any] = {
        "device": device_name(),
        "date": date.today().isoformat(),
        "torch": torch.__version__,
        "quick": args.quick,
        "tests": {},
        "variants": {},
        "interplay": [],
    }
    torch.backends.cudnn.benchmark = True  # as a long run would

    def save() -> None:
        write(record, out)

    work = {
        "tests": lambda s: record.update(tests=run_tests(s, args.quick)),
        "steps": lambda s: time_steps(s, args.quick, args.reps, record["variants"], save),
        "interplay": lambda s: time_interplay(s, args.quick, args.reps, record["interplay"], save),
    }
    began = time.perf_counter()
    for phase in phases:
        print(f"{phase} ...", file=sys.stderr, flush=True)
        try:
            left = args.budget - (time.perf_counter() - began)
            work[phase](min(args.budget * SHARE.get(phase, 1.0), left))
        except Exception as err:  # one broken phase must not cost the others' device time
            record.setdefault("errors", {})[phase] = f"{type(err).__name__}: {err}"
        save()
    print(f"wrote {out / 'gpu_times.json'} and {out / 'gpu_results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
