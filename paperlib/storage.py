"""Where results live and how they are written: the store root and atomic file writes.

A half-written file must never be mistaken for a result, so every write goes to a temporary file in the same
folder and is moved into place with ``os.replace`` (atomic on POSIX).
"""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def in_checkout(root: Path = REPO_ROOT) -> bool:
    """Whether ``root`` (the folder holding the package) is this project's source checkout: it has the
    pyproject.toml that names paperlib. An installed copy sits in site-packages, which has none."""
    try:
        project = tomllib.loads((root / "pyproject.toml").read_text()).get("project", {})
    except (OSError, tomllib.TOMLDecodeError):
        return False
    return project.get("name") == "paperlib"


def runs_root() -> Path:
    """The run store: ``$PAPERLIB_RUNS`` if set, else ``runs/`` at the repository root in a source checkout,
    else ``runs/`` in the current directory (an installed package must not write into site-packages)."""
    if os.environ.get("PAPERLIB_RUNS"):
        return Path(os.environ["PAPERLIB_RUNS"])
    return (REPO_ROOT if in_checkout(REPO_ROOT) else Path.cwd()) / "runs"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the complete new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be read by others
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")
