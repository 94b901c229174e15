"""Rebuild a shipped build from nothing: execute every chapter of the profile from an empty run store,
compare the new verdicts and rounded numbers with the shipped ones, and put the new build in their place.

This is what ``make reproduce`` runs, and the only writer of ``book/<profile>-build`` (``paperlib.shipped``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from . import book, claims, pages, provenance, shipped, tidy
from .storage import atomic_write_json


@contextmanager
def _store(path: Path):
    """Point ``$PAPERLIB_RUNS`` (read by this process and inherited by every notebook kernel) at ``path``."""
    before = os.environ.get("PAPERLIB_RUNS")
    os.environ["PAPERLIB_RUNS"] = str(path)
    try:
        yield path
    finally:
        if before is None:
            os.environ.pop("PAPERLIB_RUNS", None)
        else:
            os.environ["PAPERLIB_RUNS"] = before


def _empty_store(store: Path | None) -> tuple[Path, bool]:
    """The run store to start from (a new temporary folder unless ``store``, which must be empty) and
    whether this command made it (and so removes it at the end)."""
    if store is None:
        return Path(tempfile.mkdtemp(prefix="paperlib-reproduce-")), True
    store = Path(store)
    if store.exists() and any(store.iterdir()):
        raise shipped.ShippedError(f"{store} is not empty: reproduce starts from an empty run store")
    store.mkdir(parents=True, exist_ok=True)
    return store, False


def reproduce(profile: str = "cpu", folder: Path | None = None, store: Path | None = None) -> list[str]:
    """Execute every chapter of ``profile`` from the empty run store ``store`` (default: a temporary one,
    removed afterwards), write the new build beside ``folder`` (default: the profile's shipped build), print
    what differs from the build it replaces, and replace it. Returns the differences ([] when identical)."""
    start = time.perf_counter()
    target = shipped.folder_of(profile, folder)
    if target is None:
        raise shipped.ShippedError(
            f"profile {profile!r} ships no build; name the folder to write (--shipped DIR)"
        )
    target = target.resolve()
    new = target.with_name(f".{target.name}-new")
    shutil.rmtree(new, ignore_errors=True)
    (new / shipped.CHAPTERS).mkdir(parents=True)
    root, made = _empty_store(store)
    print(f"reproducing the {profile} build from the empty run store {root}", flush=True)
    try:
        with _store(root):
            done = book.execute_chapters(
                new / shipped.CHAPTERS, profile, f"{shipped.shown(target)} is unchanged"
            )
            shutil.copytree(root / "claims" / profile, new / shipped.VERDICTS)
        for nb in sorted((new / shipped.CHAPTERS).glob("*.ipynb")):
            tidy.tidy(nb, shrink=True)
        chapters = {name: {"seconds": round(s, 1), "runs_trained": r} for name, s, r in done}
        seconds = round(time.perf_counter() - start, 1)
        prov = provenance.describe(profile, chapters, total_seconds=seconds, store="an empty run store")
        atomic_write_json(new / shipped.PROVENANCE, prov)
        rows = claims.rows(profile, new / shipped.VERDICTS)
        pages.write_forest(rows, new / shipped.FIGURE)
    finally:
        if made:
            shutil.rmtree(root, ignore_errors=True)
    diffs = _compare(profile, target, rows)
    shipped.replace(target, new)
    print(f"shipped the {profile} build in {shipped.shown(target)} ({_size(target) / 1e6:.1f} MB)")
    print(f"reproduce took {_minutes(time.perf_counter() - start)} in all (chapters: {_minutes(seconds)})")
    return diffs


def _compare(profile: str, target: Path, rows: list[dict]) -> list[str]:
    """Print and return how the new rows differ from those of the build in ``target``."""
    if not (target / shipped.VERDICTS).exists():
        print(f"no earlier {profile} build in {shipped.shown(target)} to compare with")
        return []
    diffs = claims.differences(claims.rows(profile, target / shipped.VERDICTS), rows)
    if diffs:
        print(f"{len(diffs)} difference(s) from the shipped build (verdicts and numbers to 3 digits):")
        print("\n".join(f"  {line}" for line in diffs))
    else:
        print("verdicts and numbers (to 3 significant digits): identical to the shipped build")
    return diffs


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"
