"""Section 5: wall time of every notebook: smoke measured now (from an empty store), cpu as last recorded by
``make book``."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import table
from paperlib import book


@contextmanager
def runs_store(path: str) -> Iterator[None]:
    """Point ``PAPERLIB_RUNS`` at ``path`` for the block, then put back the user's value (or its absence),
    even when the block raises, so a failed benchmark neither leaks the temporary store nor drops a store
    the user had chosen."""
    previous = os.environ.get("PAPERLIB_RUNS")
    os.environ["PAPERLIB_RUNS"] = path
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("PAPERLIB_RUNS", None)
        else:
            os.environ["PAPERLIB_RUNS"] = previous


def bench_notebooks(quick: bool) -> tuple[str, dict]:
    """Smoke times measured from an empty store (as a fresh clone) beside the cpu times ``make book`` left."""
    smoke = {}
    with tempfile.TemporaryDirectory() as store, runs_store(store):
        with tempfile.TemporaryDirectory() as out:
            for nb in book.chapters()[: 2 if quick else None]:
                smoke[nb.name] = book.execute(nb, Path(out) / nb.name, "smoke")
    recorded = book.timings_file("cpu")
    cpu = json.loads(recorded.read_text()) if recorded.exists() else {}
    rows, trained_total = [], 0.0
    for nb in book.chapters():
        c = cpu.get(nb.name)
        t = (c or {}).get("trained") or (c if c and c.get("new_runs") else None)
        if t:
            trained_total += t["seconds"]
            cell = f"{t['seconds']:.0f} ({t['date']}, {t['new_runs']} runs trained)"
        else:
            cell = "not recorded with training"
        if c and not c.get("new_runs"):
            cell += f"; last: {c['seconds']:.0f} s cache read ({c['date']})"
        rows.append([nb.name, f"{smoke[nb.name]:.0f}" if nb.name in smoke else "", cell])
    rows.append(
        [
            "all",
            f"{sum(smoke.values()):.0f}",
            f"{trained_total:.0f} = {trained_total / 60:.1f} min" if cpu else "",
        ]
    )
    note = (
        "cpu: each notebook's last recorded time that trained runs (how many in brackets); a time with no run "
        "trained is a cache read and is never summed. The sum adds notebooks timed in different builds, so it "
        "is not one build's time: the README gives `make book` from an empty store, measured as one command."
    )
    total_cpu = trained_total
    return table(
        ["notebook", "smoke s (empty store, now)", "cpu s (last time with training)"], rows
    ) + "\n\n" + note, {"cpu_total_min": total_cpu / 60}
