"""Helpers shared by the benchmark sections: the machine line, timing, Markdown tables and the inputs.

Kept in one place so that every section times, prints and builds its inputs the same way, and the report's
numbers compare like with like.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F

from paperlib.rng import generator
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
    """One line naming the CPU, GPU and versions, so a report says what its numbers were measured on."""
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
    """A Markdown table, the form every section reports in."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def synthetic(n: int, d: int, classes: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Features around class means (a trained network's shape) and heads near the means."""
    g = generator(seed)
    means = torch.randn(classes, d, generator=g, dtype=torch.float64)
    labels = torch.randint(0, classes, (n,), generator=g)
    feats = means[labels] + 0.8 * torch.randn(n, d, generator=g, dtype=torch.float64)
    heads = means + 0.3 * torch.randn(classes, d, generator=g, dtype=torch.float64)
    return feats, heads, labels


def batch(model_name: str, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed random batch shaped for ``model_name`` (1 x 28 x 28 for WRN-1x, else 3 x 32 x 32)."""
    g = generator(seed)
    channels, side = (1, 28) if model_name.startswith("wrn-1") else (3, 32)
    x = torch.randn(size, channels, side, side, generator=g)
    y = torch.randint(0, 10, (size,), generator=g)
    return x, y


def step_fn(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    term: InfoLoss | None,
) -> Callable[[], float]:
    """One full training step (forward, loss, backward, update) as a closure, so it can be timed alone."""

    def step() -> float:
        logits, feats = model(x)
        loss = F.cross_entropy(logits, y)
        if term is not None:
            loss = loss + term(feats, model.head_weight, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def write_section(text: str, title: str, results: Path = HERE / "RESULTS.md") -> None:
    """Put the section ``title`` into ``results``, replacing an earlier copy of it (sections that
    ``python -m benchmarks.<section> --write`` measures alone)."""
    body = results.read_text() if results.exists() else "# Benchmarks\n"
    head, _, rest = body.partition(f"\n## {title}\n")
    tail = rest[rest.find("\n## ") :] if "\n## " in rest else "\n"
    results.write_text(f"{head.rstrip()}\n\n## {title}\n\n{text}\n{tail}")


@contextmanager
def empty_store(**env: str) -> Iterator[str]:
    """An empty temporary run store as ``$PAPERLIB_RUNS`` (and ``env`` set) for the block, so a timed run
    trains from nothing and never touches the developer's store; the environment is restored after."""
    keys = ("PAPERLIB_RUNS", *env)
    saved = {k: os.environ.get(k) for k in keys}
    with tempfile.TemporaryDirectory(prefix="paperlib-bench-") as store:
        os.environ.update(PAPERLIB_RUNS=store, **env)
        try:
            yield store
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def section_main(bench: Callable[[bool, int | None], tuple[str, dict]], argv: list[str] | None = None) -> int:
    """The command line of a section run alone (``python -m benchmarks.<section>``): ``--steps``, ``--quick``,
    and ``--write`` to keep it in RESULTS.md. ``bench(quick, steps)`` returns (text, facts); its module gives
    the title (``TITLE``), the description (its docstring) and the help of ``--steps`` and ``--quick``
    (``STEPS_HELP``, ``QUICK_HELP``)."""
    module = sys.modules[bench.__module__]
    parser = argparse.ArgumentParser(description=module.__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=None, help=module.STEPS_HELP)
    parser.add_argument("--quick", action="store_true", help=module.QUICK_HELP)
    parser.add_argument("--write", action="store_true", help="put the section into benchmarks/RESULTS.md")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    text, _ = bench(args.quick, args.steps)
    section = f"{text}\n\n(section took {time.perf_counter() - start:.0f} s)"
    print(f"## {module.TITLE}\n\n{section}")
    if args.write:
        write_section(section, module.TITLE)
        print(f"written: {HERE / 'RESULTS.md'}", file=sys.stderr)
    return 0
