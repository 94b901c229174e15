"""Execute every chapter notebook with papermill under a profile and compile the Jupyter Book.

``build(profile)`` is what ``make book`` runs. A failing notebook stops the build with a ``BookError`` that
names the notebook and the cell, and leaves the chapters of the last good build in place; Sphinx warnings are
errors.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import claims
from .configs import check_profile
from .storage import REPO_ROOT, atomic_write_json, atomic_write_text, runs_root

NOTEBOOKS = REPO_ROOT / "notebooks"
BOOK = REPO_ROOT / "book"
_SOURCES = ("_config.yml", "_toc.yml", "intro.md", "references.md", "api.md", "references.bib", "_mathjax")


class BookError(RuntimeError):
    """A chapter or the HTML build failed; the message says which and where."""


def chapters() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def execute(notebook: Path, out: Path, profile: str) -> float:
    """Run one notebook under ``profile`` into ``out``; returns the wall time in seconds."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook),
            str(out),
            parameters={"profile": profile},
            cwd=str(NOTEBOOKS),
            progress_bar=False,
            kernel_name="python3",
        )
    except PapermillExecutionError as err:
        raise BookError(
            f"notebook {notebook.name} failed in cell {err.exec_count} (code cell index {err.cell_index}): "
            f"{err.ename}: {err.evalue}. The partly executed copy is {out}"
        ) from err
    return time.perf_counter() - start


def timings_file(profile: str) -> Path:
    """Where the book build keeps each notebook's last wall time (read by ``make bench``)."""
    return runs_root() / "timings" / f"book-{profile}.json"


def finished_runs() -> int:
    """How many finished runs and tables the store holds."""
    return sum(1 for _ in runs_root().glob("*/*/DONE"))


def record_time(profile: str, notebook: str, seconds: float, new_runs: int) -> None:
    """Remember a notebook's last wall time with the number of runs it had to train, and separately its last
    time that trained something (``trained``): a time with no run trained is a cache read, not what the
    notebook costs."""
    path = timings_file(profile)
    table = json.loads(path.read_text()) if path.exists() else {}
    entry = {"seconds": round(seconds, 1), "date": time.strftime("%Y-%m-%d %H:%M"), "new_runs": new_runs}
    previous = table.get(notebook, {})
    trained = entry if new_runs > 0 else previous.get("trained")
    table[notebook] = {**entry, **({"trained": trained} if trained else {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, table)


def timing_table(rows: list[tuple[str, float, int]]) -> str:
    """The table ``make book`` prints at the end: each notebook's wall time and the runs it trained."""
    lines = [f"  {'notebook':<28} {'seconds':>8}  runs trained"]
    lines += [f"  {name:<28} {sec:8.1f}  {runs}" for name, sec, runs in rows]
    total = sum(sec for _, sec, _ in rows)
    lines.append(f"  {'all':<28} {total:8.1f}  {sum(r for _, _, r in rows)}  ({total / 60:.1f} min)")
    return "\n".join(lines)


def execute_all(out_dir: Path, profile: str) -> None:
    """Execute every chapter into a fresh ``.chapters-new`` folder and put it in place of ``chapters`` only
    when all succeeded: a failing notebook leaves the last good chapters untouched (and says where its
    partial copy is)."""
    new, final = _staging(out_dir)
    done: list[tuple[str, float, int]] = []
    for nb in chapters():
        before = finished_runs()
        try:
            seconds = execute(nb, new / nb.name, profile)
        except BookError as err:
            kept = (
                "the chapters of the last good build are unchanged" if final.exists() else "no chapters yet"
            )
            raise BookError(f"{err} ({kept})") from err
        print(f"  {nb.name:<28} {seconds:6.1f} s  ({profile})", flush=True)
        done.append((nb.name, seconds, finished_runs() - before))
        record_time(profile, *done[-1])
    print(f"notebook times ({profile}):\n{timing_table(done)}", flush=True)
    _promote(out_dir)


def _staging(out_dir: Path) -> tuple[Path, Path]:
    """An empty ``.chapters-new`` to fill, and the ``chapters`` folder it will replace."""
    new, old = out_dir / ".chapters-new", out_dir / ".chapters-old"
    for folder in (new, old):
        shutil.rmtree(folder, ignore_errors=True)
    new.mkdir(parents=True)
    return new, out_dir / "chapters"


def _promote(out_dir: Path) -> None:
    """Put the filled ``.chapters-new`` in place of ``chapters`` with two renames, never leaving neither."""
    new, final, old = (out_dir / name for name in (".chapters-new", "chapters", ".chapters-old"))
    if final.exists():
        final.rename(old)
    new.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def use_executed(source: Path, out_dir: Path, profile: str) -> None:
    """Put notebooks already executed under ``profile`` (papermill's record says so) in place of the chapters,
    instead of running them again: the committed notebooks hold the smoke outputs that nbval re-executes and
    compares, so the test suite compiles those rather than executing every chapter a second time."""
    source = Path(source)
    found = {nb.name: source / nb.name for nb in chapters()}
    missing = [name for name, path in found.items() if not path.exists()]
    if missing:
        raise BookError(f"{source} lacks the executed chapters {', '.join(missing)}")
    for path in found.values():
        record = json.loads(path.read_text()).get("metadata", {}).get("papermill", {})
        ran = record.get("parameters", {}).get("profile")
        if ran != profile:
            raise BookError(
                f"{path} was executed under profile {ran!r}, not {profile!r}; execute it with "
                f"papermill -p profile {profile} (or build without executed notebooks)"
            )
        if record.get("exception"):
            raise BookError(f"{path} stopped with an error when it was executed; execute it again")
    new, _ = _staging(out_dir)
    for name, path in found.items():
        shutil.copy2(path, new / name)
    _promote(out_dir)


def build(profile: str = "cpu", out_dir: Path | None = None, executed: Path | None = None) -> Path:
    """Execute all chapters into ``out_dir/chapters`` (or take them from ``executed``, a folder of notebooks
    already executed under ``profile``), write the scorecard, build HTML; return index.html."""
    check_profile(profile)
    out_dir = Path(out_dir or BOOK).resolve()
    if out_dir != BOOK.resolve():
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in _SOURCES:
            src = BOOK / name
            if src.is_dir():
                shutil.copytree(src, out_dir / name, dirs_exist_ok=True)
            elif src.exists():
                shutil.copy2(src, out_dir / name)
    if not (out_dir / "_mathjax" / "tex-chtml.js").exists():
        raise BookError("MathJax is missing from book/_mathjax; run `make mathjax` (npm install mathjax@3)")
    os.environ.setdefault("PAPERLIB_QUIET", "1")  # progress bars are noise in a rendered page
    if executed is None:
        execute_all(out_dir, profile)
    else:
        use_executed(executed, out_dir, profile)
    atomic_write_text(out_dir / "scorecard.md", _scorecard_page(profile))
    atomic_write_text(out_dir / "found.md", _found_page(profile))
    cmd = [
        str(Path(sys.executable).with_name("jupyter-book")),
        "build",
        str(out_dir),
        "--warningiserror",
        "--keep-going",
        "--quiet",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=_book_env())
    if done.returncode != 0:
        raise BookError(f"jupyter-book build failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return out_dir / "_build" / "html" / "index.html"


def _book_env() -> dict[str, str]:
    """The environment of the Sphinx build: this checkout first on the path, so the API page documents the
    code the chapters ran, not some other installed copy of paperlib."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    return env


def _scorecard_page(profile: str) -> str:
    """The scorecard page: theorem checks, the paper's empirical claims and the study's own, each a table with
    its evidence, and one generated line per claim that does not hold on how its setting differs."""
    counts = claims.scorecard(profile).verdict.value_counts().to_dict()
    summary = ", ".join(f"{v} {k}" for k, v in counts.items())
    parts = [
        "# Scorecard\n\n"
        f"Every claim with its verdict in this build (profile **{profile}**: {summary}). A verdict comes from "
        "the decision rule written in its chapter before the run: `holds` when the effect is in the claimed "
        "direction and its 95 % interval excludes the null, `fails` when the interval excludes the claimed "
        "effect, `inconclusive` otherwise (*underpowered* when the paper's own effect is smaller than what the "
        "seeds run can detect). `estimate` and `interval` are the deciding quantity (the paper's batch-mean "
        "estimate where ratios are involved) and its 95 % interval (t over seeds, paired by seed, Fisher-z for "
        "correlations, or t over batches, as each chapter says); `null` is the value it is tested against. "
        f"Rebuild it from the shell with `python -m paperlib claims --profile {profile}` (`--json` for every "
        "field).\n"
    ]
    rows = claims.rows(profile)
    for key, title in claims.SECTIONS.items():
        ids = [r["id"] for r in rows if claims.section(r["id"]) == key]
        parts.append(f"\n## {title}\n\n" + claims.scorecard_markdown(profile, ids))
    gaps = [claims.setting_gap(r) for r in rows if r["verdict"] != "holds" and claims.section(r["id"]) != "T"]
    if gaps:
        parts.append("\n## Where a claim does not hold: this build's setting against the paper's\n\n")
        parts.append("\n".join(f"- {g}" for g in gaps) + "\n")
    return "".join(parts)


def _found_page(profile: str) -> str:
    """The intro's generated part: what this build found, from the scorecard."""
    return (
        f"This build ran the **{profile}** profile. Its verdicts, from the [scorecard](scorecard.md):\n\n"
        + claims.found(profile)
    )
