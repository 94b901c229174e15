"""Section 8: ``paperlib.StreamingInterplay`` at a million rows: time, memory beyond one batch, against
``interplay`` at n = 100,000, and two gloo processes against one.

``python -m benchmarks.streaming`` runs this section alone (``--quick`` for small sizes, ``--write`` to put
it into RESULTS.md). Each measurement of memory runs in a fresh process (``--probe``), whose kernel peak counter
is reset once the first batch exists, so the figure is what the accumulator adds beyond one batch of input.
The rows are drawn batch by batch from seeded generators (class means plus noise, float32 as a network's
features arrive), so no process ever holds all n rows.
"""

from __future__ import annotations

import itertools
import json
import math
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch

from benchmarks.common import HERE, section_main, table
from paperlib.metrics import interplay
from paperlib.streaming import StreamingInterplay

TITLE = "Streaming exact accumulator (StreamingInterplay)"
STEPS_HELP = "rows of the large stream (default 1,000,000)"
QUICK_HELP = "100,000 rows and n = 20,000 against interplay, to try the script"
D, CLASSES, BATCH = 128, 10, 4096
TARGETS = {"seconds": 10.0, "memory_mb": 100.0}
KEYS = ("mir", "hdr", "mi", "h_features", "h_heads", "h_joint")


def heads(d: int = D, classes: int = CLASSES, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(classes, d, generator=g)
    return means + 0.3 * torch.randn(classes, d, generator=g)


def batches(
    n: int, d: int = D, classes: int = CLASSES, size: int = BATCH, rank: int = 0, world: int = 1
) -> Iterator:
    """Batch i of the stream (features float32, labels) from its own seeded generator, so any process can
    draw any batch; ``rank`` of ``world`` takes every world-th batch."""
    means = torch.randn(classes, d, generator=torch.Generator().manual_seed(0))
    for i in range(rank, math.ceil(n / size), world):
        g = torch.Generator().manual_seed(1_000 + i)
        rows = min(size, n - i * size)
        labels = torch.randint(0, classes, (rows,), generator=g)
        yield means[labels] + 0.8 * torch.randn(rows, d, generator=g), labels


def _kb(field: str) -> int:
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith(field))
    return int(line.split()[1])


def _reset_peak() -> int:
    """Reset the kernel's peak resident-memory counter; returns the resident memory now, in kB."""
    Path("/proc/self/clear_refs").write_text("5")
    return _kb("VmRSS:")


def stream_probe(n: int) -> dict:
    """In a fresh process: stream n rows through a StreamingInterplay; time and peak memory beyond one batch."""
    w = heads()
    stream = batches(n)
    first = next(stream)
    acc = StreamingInterplay(CLASSES)
    before = _reset_peak()
    start = time.perf_counter()
    updates = 0.0
    for part in itertools.chain([first], stream):
        tick = time.perf_counter()
        acc.update(*part)
        updates += time.perf_counter() - tick
    tick = time.perf_counter()
    out = acc.compute(w)
    computed = time.perf_counter() - tick
    return {
        "n": n,
        "seconds": updates + computed,
        "update_seconds": updates,
        "wall_seconds": time.perf_counter() - start,
        "peak_mb": (_kb("VmHWM:") - before) / 1024,
        **{k: out[k] for k in KEYS},
    }


def against_probe(n: int) -> dict:
    """In a fresh process: n rows (all in memory, for ``interplay``) measured by both; each one's time and
    peak memory beyond the inputs, and their largest difference."""
    parts = list(batches(n))
    feats, labels = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    w = heads()
    before = _reset_peak()
    start = time.perf_counter()
    acc = StreamingInterplay(CLASSES)
    for i in range(0, n, BATCH):
        acc.update(feats[i : i + BATCH], labels[i : i + BATCH])
    got = acc.compute(w)
    stream_s, stream_mb = time.perf_counter() - start, (_kb("VmHWM:") - before) / 1024
    del acc
    before = _reset_peak()
    start = time.perf_counter()
    want = interplay(feats, w, labels)
    whole_s, whole_mb = time.perf_counter() - start, (_kb("VmHWM:") - before) / 1024
    diff = max(abs(got[k] - want[k]) for k in KEYS)
    return {
        "n": n,
        "stream_s": stream_s,
        "stream_mb": stream_mb,
        "whole_s": whole_s,
        "whole_mb": whole_mb,
        "diff": diff,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, world: int, port: int, n: int, out: dict) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        start = time.perf_counter()
        acc = StreamingInterplay(CLASSES)
        for part in batches(n, rank=rank, world=world):
            acc.update(*part)
        result = acc.sync().compute(heads())
        out[rank] = {"seconds": time.perf_counter() - start, "rows": acc.n, **{k: result[k] for k in KEYS}}
    finally:
        dist.destroy_process_group()


def two_processes(n: int) -> dict:
    """Two gloo processes each streaming every other batch, synchronised, against one process on all."""
    import torch.multiprocessing as mp

    out = mp.Manager().dict()
    start = time.perf_counter()
    mp.spawn(_rank, args=(2, _free_port(), n, out), nprocs=2, join=True)
    wall = time.perf_counter() - start
    acc = StreamingInterplay(CLASSES)
    for part in batches(n):
        acc.update(*part)
    one = acc.compute(heads())
    diff = max(abs(out[r][k] - one[k]) for r in (0, 1) for k in KEYS)
    return {"n": n, "wall_s": wall, "rows": [out[0]["rows"], out[1]["rows"]], "diff": diff, "mir": one["mir"]}


def _fresh(kind: str, n: int) -> dict:
    args = [sys.executable, "-m", "benchmarks.streaming", "--probe", kind, str(n)]
    done = subprocess.run(args, cwd=HERE.parent, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_streaming(quick: bool, steps: int | None = None) -> tuple[str, dict]:
    """The three measurements as Markdown tables, and their facts for the report's targets."""
    n = steps or (100_000 if quick else 1_000_000)
    small = 20_000 if quick else 100_000
    big = _fresh("stream", n)
    versus = _fresh("against", small)
    pair = two_processes(small if quick else n)
    text = "\n\n".join(
        [
            table(
                [
                    "n",
                    "d",
                    "C",
                    "batch",
                    "updates + compute",
                    "of which updates",
                    "wall, drawing the rows included",
                    "peak memory beyond one batch",
                ],
                [
                    [
                        f"{n:,}",
                        D,
                        CLASSES,
                        BATCH,
                        f"{big['seconds']:.2f} s",
                        f"{big['update_seconds']:.2f} s",
                        f"{big['wall_seconds']:.2f} s",
                        f"{big['peak_mb']:.0f} MB",
                    ]
                ],
            ),
            table(
                [
                    "n",
                    "streamed: time",
                    "streamed: peak beyond inputs",
                    "interplay: time",
                    "interplay: peak beyond inputs",
                    "largest difference",
                ],
                [
                    [
                        f"{versus['n']:,}",
                        f"{versus['stream_s']:.2f} s",
                        f"{versus['stream_mb']:.0f} MB",
                        f"{versus['whole_s']:.2f} s",
                        f"{versus['whole_mb']:.0f} MB",
                        f"{versus['diff']:.1e}",
                    ]
                ],
            ),
            table(
                [
                    "n",
                    "processes",
                    "rows per process",
                    "wall time (spawn included)",
                    "largest difference from one process",
                ],
                [
                    [
                        f"{pair['n']:,}",
                        2,
                        " / ".join(f"{r:,}" for r in pair["rows"]),
                        f"{pair['wall_s']:.1f} s",
                        f"{pair['diff']:.1e}",
                    ]
                ],
            ),
        ]
    )
    return text, {"stream": big, "against": versus, "two": pair}


def verdict(facts: dict) -> list[str]:
    """The report-head lines for this section's targets."""
    big = facts["stream"]
    ok = big["seconds"] <= TARGETS["seconds"] and big["peak_mb"] <= TARGETS["memory_mb"]
    return [
        f"- streaming n = {big['n']:,}, d = {D}, C = {CLASSES}, batches of {BATCH:,}: {big['seconds']:.1f} s and "
        f"{big['peak_mb']:.0f} MB beyond one batch (target < 10 s, < 100 MB): {'met' if ok else 'missed'}; "
        f"two gloo processes differ from one by {facts['two']['diff']:.1e}, the stream from interplay at "
        f"n = {facts['against']['n']:,} by {facts['against']['diff']:.1e}"
    ]


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--probe":
        probe = {"stream": stream_probe, "against": against_probe}[sys.argv[2]]
        print(json.dumps(probe(int(sys.argv[3]))))
    else:
        sys.exit(section_main(bench_streaming))
