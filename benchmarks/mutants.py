"""``make mutants``: the mutation score of the core modules, per file, with mutmut (config in pyproject.toml).

mutmut plants one small bug at a time (a flipped comparison, a changed constant, a dropped argument) in a copy
of paperlib under ``mutants/`` and runs the unit tests that call the mutated function; a mutant the tests do
not notice "survives". Groups run one after another, each timed, one test process at a time: ``metrics.py``,
``intervals.py``, ``verdicts.py``, ``theory.py`` and the ``check_*`` functions of each experiment module.
Results are cached in ``mutants/`` (a second run re-tests only what changed). Prints one Markdown table:
killed / all per file (a mutant that times out counts as killed, as mutmut counts it).

``python -m benchmarks.mutants [GROUP ...]`` runs the named groups only (``theory``, ``checks:lmc``, ...).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTMUT = Path(sys.executable).with_name("mutmut")
CHECK_MODULES = (
    "own_network",
    "label_smoothing",
    "supervised_info",
    "freematch",
    "dynamics",
    "pruning",
    "nc_theory",
    "grokking",
    "lmc",
)
# group name -> the mutant names it runs (mutmut's fnmatch patterns)
GROUPS = {
    "theory": "paperlib.theory.*",
    "verdicts": "paperlib.verdicts.*",
    "intervals": "paperlib.intervals.*",
    "metrics": "paperlib.metrics.*",
    **{f"checks:{m}": f"paperlib.experiments.{m}.x_check_*" for m in CHECK_MODULES},
}
KILLED = {"killed", "timeout"}


def file_of(mutant: str) -> str | None:
    """The scored file a mutant name belongs to ('paperlib/verdicts.py', 'check_* in lmc.py'), else None."""
    name = re.sub(r"__mutmut_\d+$", "", mutant)
    parts = name.split(".")
    if parts[1] in ("theory", "verdicts", "intervals", "metrics"):
        return f"paperlib/{parts[1]}.py"
    if parts[1] == "experiments" and parts[3].startswith("x_check_"):
        return f"check_* in experiments/{parts[2]}.py"
    return None


def scores(listing: str) -> dict[str, Counter]:
    """Status counts per scored file from ``mutmut results --all true`` (lines 'name: status')."""
    out: dict[str, Counter] = defaultdict(Counter)
    for line in listing.splitlines():
        name, sep, status = line.strip().partition(": ")
        where = file_of(name) if sep else None
        if where is not None:
            out[where][status.strip()] += 1
    return dict(out)


def survivors(listing: str) -> list[str]:
    """The names of the surviving mutants of the scored files."""
    return [
        name
        for name, _, status in (line.strip().partition(": ") for line in listing.splitlines())
        if status.strip() == "survived" and file_of(name) is not None
    ]


def report(counts: dict[str, Counter], seconds: dict[str, float]) -> str:
    """The Markdown table: killed / checked per file, and the groups' run times."""
    lines = ["| file | killed / checked | % | survived | not checked |", "|---|---|---|---|---|"]
    for where in sorted(counts):
        c = counts[where]
        killed = sum(c[s] for s in KILLED)
        checked = sum(v for s, v in c.items() if s != "not checked")
        pct = f"{100 * killed / checked:.1f}" if checked else "-"
        lines.append(f"| {where} | {killed} / {checked} | {pct} | {c['survived']} | {c['not checked']} |")
    times = ", ".join(f"{g} {s / 60:.1f} min" for g, s in seconds.items())
    return "\n".join(lines) + (f"\n\nRun times: {times}." if times else "")


def main(argv: list[str] | None = None) -> int:
    names = (argv if argv is not None else sys.argv[1:]) or list(GROUPS)
    unknown = [n for n in names if n not in GROUPS]
    if unknown:
        print(f"unknown group(s) {unknown}; choose from {', '.join(GROUPS)}", file=sys.stderr)
        return 2
    seconds = {}
    for name in names:
        start = time.perf_counter()
        done = subprocess.run([str(MUTMUT), "run", GROUPS[name], "--max-children", "1"], cwd=ROOT)
        seconds[name] = time.perf_counter() - start
        print(f"group {name}: {seconds[name]:.0f} s", file=sys.stderr, flush=True)
        if done.returncode != 0:
            print(f"mutmut failed on group {name} (exit {done.returncode})", file=sys.stderr)
            return done.returncode
    listing = subprocess.run(
        [str(MUTMUT), "results", "--all", "true"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    print(report(scores(listing), seconds))
    left = survivors(listing)
    if left:
        print(f"\n{len(left)} survivors (`mutmut show NAME` prints each):\n" + "\n".join(left))
    return 0


if __name__ == "__main__":
    sys.exit(main())
