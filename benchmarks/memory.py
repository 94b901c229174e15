"""Section 2: peak memory and time of exact ``interplay`` at n = 100,000, measured in a fresh process.

``python -m benchmarks.memory N`` is that fresh process: it prints the probe's result as one JSON line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.common import HERE, synthetic, table
from paperlib import metrics


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
    """The probe in a subprocess, so the peak counter sees no memory this process has already touched."""
    n = 20_000 if quick else 100_000
    args = [sys.executable, "-m", "benchmarks.memory", str(n)]
    done = subprocess.run(args, cwd=HERE.parent, capture_output=True, text=True, check=True)
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    nxn_gb = 3 * n * n * 8 / 1e9
    text = table(
        ["n", "d", "C", "peak memory added", "time", "one n x n float64 Gram would need"],
        [[n, 128, 10, f"{probe['peak_mb']:.0f} MB", f"{probe['seconds']:.2f} s", f"{nxn_gb / 3:.0f} GB"]],
    )
    return text, probe


if __name__ == "__main__":
    print(json.dumps(memory_probe(int(sys.argv[1]), 128, 10)))
