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
