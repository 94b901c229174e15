"""The LMC pilot (``paperlib.experiments.lmc_pilot``): run it, print its table and write ``lmc_pilot.csv``,
which chapter 03 shows. ``python -m benchmarks.lmc_pilot``; its runs go to the run store ($PAPERLIB_RUNS)."""

from __future__ import annotations

import time

from benchmarks.common import machine
from paperlib.experiments import lmc_pilot

OUT = lmc_pilot.STORED


def main() -> None:
    start = time.perf_counter()
    table = lmc_pilot.run()
    table.to_csv(OUT, index=False)
    print(lmc_pilot.summary(table).round(4).to_string())
    print(f"chosen: {lmc_pilot.choose(table)}; {time.perf_counter() - start:.0f} s on {machine()}")


if __name__ == "__main__":
    main()
