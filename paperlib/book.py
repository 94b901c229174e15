"""Compile the Jupyter Book: from the shipped build of a profile (cpu), or by executing every chapter
notebook with papermill (smoke, paper, or any profile asked to execute).

``build(profile)`` is what ``make book`` runs. Rendering a shipped build trains nothing (Jupyter Book's
execution is off; papermill is not called). A failing notebook stops an executing build with a ``BookError``
that names the notebook and the cell, and leaves the chapters of the last good build in place; Sphinx warnings
are errors.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import pages, provenance, shipped, tidy
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


def execute_chapters(dest: Path, profile: str, kept: str = "") -> list[tuple[str, float, int]]:
    """Execute every chapter into the folder ``dest``; returns each notebook's name, wall time and runs
    trained (also recorded in ``timings_file``). A failure is a ``BookError`` ending with ``kept`` (what the
    caller left untouched)."""
    done: list[tuple[str, float, int]] = []
    for nb in chapters():
        before = finished_runs()
        try:
            seconds = execute(nb, dest / nb.name, profile)
        except BookError as err:
            raise BookError(f"{err}{f' ({kept})' if kept else ''}") from err
        print(f"  {nb.name:<28} {seconds:6.1f} s  ({profile})", flush=True)
        done.append((nb.name, seconds, finished_runs() - before))
        record_time(profile, *done[-1])
    print(f"notebook times ({profile}):\n{timing_table(done)}", flush=True)
    return done


def execute_all(out_dir: Path, profile: str) -> list[tuple[str, float, int]]:
    """Execute every chapter into a fresh ``.chapters-new`` folder and put it in place of ``chapters`` only
    when all succeeded: a failing notebook leaves the last good chapters untouched (and says where its
    partial copy is)."""
    new, final = _staging(out_dir)
    kept = "the chapters of the last good build are unchanged" if final.exists() else "no chapters yet"
    done = execute_chapters(new, profile, kept)
    _promote(out_dir)
    return done


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


def build(
    profile: str = "cpu",
    out_dir: Path | None = None,
    executed: Path | None = None,
    shipped_dir: Path | None = None,
    execute: bool = False,
) -> Path:
    """Build the HTML book of ``profile`` into ``out_dir`` (default book/) and return its index.html.

    The chapters come from the shipped build (``shipped_dir``, else the profile's default one, cpu), from
    ``executed`` (a folder of notebooks already executed under ``profile``), or, with ``execute`` or for a
    profile that ships no build, from executing every notebook. The scorecard, found and About pages are
    written from the verdicts and provenance of the same source."""
    check_profile(profile)
    source = None if executed is not None or execute else shipped.folder_of(profile, shipped_dir)
    if source is not None:
        source = shipped.require(profile, source)  # before anything is copied: one line if it is missing
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
    verdicts, prov, origin = _chapters_from(source, executed, out_dir, profile)
    for nb in sorted((out_dir / "chapters").glob("*.ipynb")):
        tidy.tidy(nb)
    write_pages(out_dir, profile, verdicts, prov, origin)
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


def _chapters_from(
    source: Path | None, executed: Path | None, out_dir: Path, profile: str
) -> tuple[Path | None, dict, str]:
    """Put the chapters in place from the shipped build ``source``, the folder ``executed``, or by executing
    them; returns the verdict folder to read (None: the run store's), the provenance and a sentence on where
    the chapters come from."""
    if source is not None:
        try:
            use_executed(source / shipped.CHAPTERS, out_dir, profile)
        except BookError as err:
            raise BookError(
                f"{err}: the shipped build does not match the notebooks; run `make reproduce`"
            ) from err
        for line in _stale_lines(profile, source):
            print(f"warning: {line}", file=sys.stderr)
        origin = (
            f"This book shows the **{profile}** build shipped in `{shipped.shown(source)}/`, written by "
            f"`python -m paperlib reproduce --profile {profile}` (`make reproduce` for cpu), which executed every "
            "chapter from an empty run store. Rendering it (`make book`) trains nothing: Jupyter Book's "
            "execution is off, and no notebook runs."
        )
        return source / shipped.VERDICTS, shipped.provenance(source), origin
    if executed is not None:
        use_executed(executed, out_dir, profile)
        timed = {p.name: _papermill_seconds(p) for p in sorted((out_dir / "chapters").glob("*.ipynb"))}
        prov = provenance.describe(
            profile, {n: {"seconds": s, "runs_trained": None} for n, s in timed.items()}
        )
        origin = (
            f"This book compiles the **{profile}** chapters executed earlier in `{shipped.shown(executed)}/`; "
            "their wall times are papermill's records. Its verdicts are those of the run store."
        )
        return None, prov, origin
    done = execute_all(out_dir, profile)
    chapters_run = {n: {"seconds": round(s, 1), "runs_trained": r} for n, s, r in done}
    prov = provenance.describe(profile, chapters_run, total_seconds=round(sum(s for _, s, _ in done), 1))
    origin = (
        f"This book executed every **{profile}** chapter when it was built (`make book PROFILE={profile}`), "
        f"reading finished runs from the run store `{shipped.shown(runs_root())}` and training the others."
    )
    return None, prov, origin


def _stale_lines(profile: str, source: Path) -> list[str]:
    try:
        return shipped.stale(profile, source)
    except (ValueError, RuntimeError) as err:  # a config that no longer builds: say so, render anyway
        return [f"could not compute the current {profile} configs ({err}); run `make reproduce`"]


def _papermill_seconds(path: Path) -> float | None:
    duration = json.loads(path.read_text()).get("metadata", {}).get("papermill", {}).get("duration")
    return round(duration, 1) if duration is not None else None


def write_pages(out_dir: Path, profile: str, verdicts: Path | None, prov: dict, origin: str) -> None:
    """The generated pages of a build: scorecard (with its forest plot), found and About this build."""
    from . import claims

    rows = claims.rows(profile, verdicts)
    names = [p.name for p in sorted((out_dir / "chapters").glob("*.ipynb"))]
    pages.write_forest(rows, out_dir / pages.FOREST)
    atomic_write_text(out_dir / "scorecard.md", pages.scorecard_page(profile, rows, names))
    atomic_write_text(out_dir / "found.md", pages.found_page(profile, verdicts))
    atomic_write_text(out_dir / "about.md", pages.about_page(prov, origin))
