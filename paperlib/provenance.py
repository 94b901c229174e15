"""What produced a build: the commit, the machine and its threads, the profile's settings, and each chapter's
config fingerprints, all computed from the code and the machine without training anything.

A fingerprint is the run-store hash (``runs.config_hash``) of every config a chapter's experiments sweep under
the profile: a shipped chapter whose fingerprint differs from the current code's was computed from other
settings and must be rebuilt (``paperlib.shipped.stale``).
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from typing import Any

from . import registry
from .runs import config_dict, config_hash
from .storage import REPO_ROOT

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY")


def fingerprints(profile: str) -> dict[str, dict[str, list[str]]]:
    """Per notebook number ('03'), per experiment, the sorted config hashes of its sweep under ``profile``; a
    sweep that cannot be built is recorded as its error, which matches no build's hashes."""
    out: dict[str, dict[str, list[str]]] = {}
    for spec in registry.experiments_by_name().values():
        store = spec.store or spec.name
        try:
            hashes = sorted({config_hash(store, cfg) for cfg in spec.sweep(profile)})
        except ValueError as err:  # a setting refused by its rule (configs.SettingError)
            hashes = [f"no configs: {err}"]
        out.setdefault(spec.notebook, {})[spec.name] = hashes
    return out


def settings(profile: str) -> dict[str, dict]:
    """Every experiment's settings under ``profile`` (its config before the sweep), as plain JSON."""
    out: dict[str, dict] = {}
    for name, spec in registry.experiments_by_name().items():
        try:
            out[name] = config_dict(spec.config(profile))
        except ValueError as err:
            out[name] = {"error": str(err)}
    return out


def machine() -> dict[str, Any]:
    """The machine and thread settings a build ran with: a run's low bits depend on the thread count."""
    import torch

    return {
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "environment": {k: os.environ.get(k, "unset") for k in _THREAD_VARS},
    }


def commit() -> dict[str, Any]:
    """The commit of the code, and the tracked files under paperlib/ and notebooks/ changed since it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True)
        return done.stdout.rstrip() if done.returncode == 0 else ""  # keep porcelain's leading column

    changed = git("status", "--porcelain", "--untracked-files=no", "--", "paperlib", "notebooks")
    return {
        "commit": git("rev-parse", "HEAD").strip() or "unknown",
        "commit_date": git("log", "-1", "--format=%cI").strip(),
        "changed_files": [line[3:] for line in changed.splitlines()],
    }


def describe(profile: str, chapters: dict[str, dict], **extra: Any) -> dict[str, Any]:
    """A build's provenance: ``chapters`` maps each notebook file to its wall time and runs trained; each
    gains its config fingerprint. ``extra`` (total seconds, the store it started from) is kept as given."""
    prints = fingerprints(profile)
    return {
        "profile": profile,
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        **commit(),
        "machine": machine(),
        "chapters": {
            name: {**entry, "configs": prints.get(name[:2], {})} for name, entry in chapters.items()
        },
        "settings": settings(profile),
        **extra,
    }
