"""The shipped build of a profile: its executed chapters, verdict records and provenance, committed with the
repository so that the book and the scorecard show results on a fresh clone without training.

Layout of ``book/<profile>-build/`` (only ``python -m paperlib reproduce`` writes it)::

    chapters/<notebook>.ipynb   the executed chapters, outputs and figures included
    verdicts/<id>.json          the verdict records the notebooks wrote (``claims.record``)
    provenance.json             commit, date, machine, threads, each chapter's time, runs and config hashes
    scorecard.png               the scorecard's forest plot (shown by the README)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .storage import REPO_ROOT

SHIPPED_PROFILES = ("cpu",)  # profiles whose build ships; the others are executed when the book is built
CHAPTERS, VERDICTS, PROVENANCE, FIGURE = "chapters", "verdicts", "provenance.json", "scorecard.png"


class ShippedError(RuntimeError):
    """The shipped build is missing, incomplete or stale; the message says to run ``make reproduce``."""


def default_folder(profile: str) -> Path:
    """Where the build of ``profile`` ships: ``book/<profile>-build``."""
    return REPO_ROOT / "book" / f"{profile}-build"


def folder_of(profile: str, folder: Path | None = None) -> Path | None:
    """The shipped build to read for ``profile``: ``folder`` when given, else the default one of a shipped
    profile, else None (the profile's chapters are executed, not shipped)."""
    if folder is not None:
        return Path(folder)
    return default_folder(profile) if profile in SHIPPED_PROFILES else None


def shown(path: Path) -> str:
    """A path relative to the checkout where it lies inside it (for one-line messages)."""
    path = Path(path).resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def require(profile: str, folder: Path | None = None) -> Path:
    """The shipped build of ``profile`` (see ``folder_of``), checked complete; else a one-line
    ``ShippedError`` that says how to make it."""
    found = folder_of(profile, folder)
    if found is None:
        raise ShippedError(
            f"profile {profile!r} has no shipped build; build it with `make book PROFILE={profile}`"
        )
    missing = [name for name in (CHAPTERS, VERDICTS, PROVENANCE) if not (found / name).exists()]
    if missing:
        raise ShippedError(
            f"no shipped {profile} build in {shown(found)} (missing {', '.join(missing)}): run `make reproduce` "
            f"to execute the {profile} chapters from an empty run store and ship them"
        )
    return found


def provenance(folder: Path) -> dict:
    """The provenance record of a shipped build."""
    return json.loads((Path(folder) / PROVENANCE).read_text())


def stale(profile: str, folder: Path | None = None, current: dict | None = None) -> list[str]:
    """One line per shipped chapter whose config fingerprint differs from the current code's (``current``:
    ``provenance.fingerprints(profile)``, computed when not given), each naming the chapter and the remedy."""
    if current is None:
        from .provenance import fingerprints

        current = fingerprints(profile)
    found = require(profile, folder)
    chapters = provenance(found).get("chapters", {})
    lines = []
    for name in sorted(set(chapters) | {f for f in _notebook_names() if f[:2] in current}):
        then, now = chapters.get(name, {}).get("configs"), current.get(name[:2], {})
        if then != now:
            what = (
                "is not in the shipped build"
                if then is None
                else f"ran with other configs ({_delta(then, now)})"
            )
            lines.append(
                f"chapter {name} {what}: the shipped {profile} build in {shown(found)} is stale; run `make reproduce`"
            )
    return lines


def _notebook_names() -> list[str]:
    return sorted(p.name for p in (REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _delta(then: dict, now: dict) -> str:
    """'lmc: 1 new, 1 gone' for the experiments whose config hashes changed."""
    parts = []
    for name in sorted(set(then) | set(now)):
        old, new = set(then.get(name, [])), set(now.get(name, []))
        if old != new:
            parts.append(f"{name}: {len(new - old)} new, {len(old - new)} gone")
    return "; ".join(parts)


def replace(folder: Path, new: Path) -> None:
    """Put the complete build ``new`` in place of ``folder`` with two renames, never leaving neither."""
    folder, new = Path(folder), Path(new)
    old = folder.with_name(f".{folder.name}-old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    new.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
