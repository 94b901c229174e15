"""The run store: a config's hash names its folder; finished runs are returned without training; interrupted
runs resume from their last checkpoint and end with the same numbers as an uninterrupted run.

Layout of ``<runs>/<experiment>/<hash>/``: ``config.json``, ``metrics.csv`` (tidy rows step, split, metric,
value), ``checkpoint.pt`` (model, optimizer, scheduler, every RNG state, the step, the rows so far) and
``DONE``, written last with the checksums of the result files. Every file is written atomically. A finished
run is verified before it is returned (a damaged ``metrics.csv`` is restored from the checkpoint's rows), a
lock makes concurrent processes on one config train it once, and checkpoints are read with
``torch.load(weights_only=True)``, which refuses arbitrary pickled objects.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from . import distributed
from .storage import atomic_write_bytes, atomic_write_json, atomic_write_text, runs_root

ROW_COLUMNS = ["step", "split", "metric", "value"]


def config_dict(config: Any) -> dict:
    """A dataclass config as a plain JSON-able dict (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


# A field added to a config after runs were stored carries ``metadata={NEW_FIELD: True}``: it enters the hash
# only when set to something other than its default, so the runs stored before it existed keep their folders.
NEW_FIELD = "hashed_when_set"


def _hashed(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: _hashed(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if not (f.metadata.get(NEW_FIELD) and getattr(obj, f.name) == f.default)
        }
    if isinstance(obj, list | tuple):
        return [_hashed(v) for v in obj]
    return obj


def config_hash(experiment: str, config: Any) -> str:
    """Twelve hex digits of the SHA-256 of the experiment name and the sorted config (see ``NEW_FIELD``)."""
    blob = json.dumps({"experiment": experiment, "config": _hashed(config)}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Run:
    """One run's folder in the store."""

    experiment: str
    config: Any

    @property
    def folder(self) -> Path:
        return runs_root() / self.experiment / config_hash(self.experiment, self.config)

    @property
    def done(self) -> bool:
        return (self.folder / "DONE").exists()

    def metrics(self) -> pd.DataFrame:
        """The tidy metric rows written so far."""
        path = self.folder / "metrics.csv"
        return pd.read_csv(path) if path.exists() else pd.DataFrame(columns=ROW_COLUMNS)

    def load_checkpoint(self) -> dict | None:
        """The checkpoint's contents, None when there is none; an unreadable one is a ``StoreError``."""
        path = self.folder / "checkpoint.pt"
        if not path.exists():
            return None
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # truncated, empty or foreign bytes: torch raises several kinds
            raise StoreError(
                f"{path} is unreadable ({type(err).__name__}: {str(err)[:80]}); remove the run folder "
                f"(rm -r {self.folder}) and run again"
            ) from None

    def save_checkpoint(self, state: dict, rows: list[tuple]) -> None:
        """Checkpoint first, then the metrics it covers. The checkpoint carries the rows too, so a crash between
        the two writes loses nothing: a resume continues from the checkpoint's rows and rewrites metrics.csv."""
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(
            self.folder / "config.json", {"experiment": self.experiment, **config_dict(self.config)}
        )
        buf = io.BytesIO()
        torch.save({**state, "rows": [list(r) for r in rows]}, buf)
        atomic_write_bytes(self.folder / "checkpoint.pt", buf.getvalue())
        self.write_metrics(rows)

    def write_metrics(self, rows: list[tuple]) -> None:
        frame = pd.DataFrame([tuple(r) for r in rows], columns=ROW_COLUMNS)
        atomic_write_text(self.folder / "metrics.csv", frame.to_csv(index=False, float_format="%.10g"))

    def mark_done(self) -> None:
        """Write ``DONE`` with the checksum of each result file, so a later reader can verify them."""
        sums = {name: _sha256(self.folder / name) for name in RESULT_FILES if (self.folder / name).exists()}
        atomic_write_json(self.folder / "DONE", {"sha256": sums})

    def verify(self) -> None:
        """Check a finished run's result files against the checksums in ``DONE``. A damaged or missing
        ``metrics.csv`` is rewritten from the checkpoint's rows when they match the checksum; anything else
        is a ``StoreError`` naming the folder and the remedy."""
        recorded = _recorded_sums(self.folder / "DONE")
        for name, expected in recorded.items():
            path = self.folder / name
            if path.exists() and _sha256(path) == expected:
                continue
            if name == "metrics.csv" and self._repair_metrics(expected):
                print(f"note: repaired {path} from its checkpoint", file=sys.stderr)
                continue
            raise StoreError(
                f"{path} is {'missing' if not path.exists() else 'damaged'} and cannot be restored; remove "
                f"the run folder (rm -r {self.folder}) and run again"
            )

    def _repair_metrics(self, expected: str) -> bool:
        ckpt = self.load_checkpoint()
        if ckpt is None:
            return False
        self.write_metrics([tuple(r) for r in ckpt["rows"]])
        return _sha256(self.folder / "metrics.csv") == expected


def save_training(run: Run, step: int, rows: list[tuple], modules: dict, generators: tuple = ()) -> None:
    """Checkpoint a training loop: the ``state_dict`` of every module / optimizer / scheduler / sampler in
    ``modules``, the global torch RNG and ``generators``, the step and the rows."""
    state = {name: obj.state_dict() for name, obj in modules.items()}
    state.update(
        step=step, rng={"torch": torch.get_rng_state(), "generators": [g.get_state() for g in generators]}
    )
    run.save_checkpoint(state, rows)


def resume_training(run: Run, modules: dict, generators: tuple = ()) -> tuple[int, list[tuple]]:
    """Restore what ``save_training`` saved into ``modules`` and ``generators``; returns (step, rows), or
    (0, []) when the run has no checkpoint yet."""
    ckpt = run.load_checkpoint()
    if ckpt is None:
        return 0, []
    for name, obj in modules.items():
        obj.load_state_dict(ckpt[name])
    torch.set_rng_state(ckpt["rng"]["torch"])
    for g, s in zip(generators, ckpt["rng"]["generators"], strict=True):
        g.set_state(s)
    return ckpt["step"], [tuple(r) for r in ckpt["rows"]]


def run(experiment: str, config: Any, trainer) -> Run:
    """The finished run of ``config``: from the store if it is done (verified), else trained (or resumed)
    now. A second process asking for the same run waits for the first and then reads its result."""
    handle = Run(experiment, config)
    with run_lock(handle):
        if handle.done:
            handle.verify()
        else:
            trainer(config, handle)
    return handle


def cached_table(experiment: str, config: Any, compute) -> pd.DataFrame:
    """A derived table (e.g. an interpolation path) computed once per config and kept in the store as CSV;
    one that fails verification is computed again."""
    handle = Run(experiment, config)
    path = handle.folder / "table.csv"
    with run_lock(handle):
        if handle.done:
            try:
                handle.verify()
                return pd.read_csv(path)
            except StoreError as err:
                print(f"note: {err}; computing the table again", file=sys.stderr)
        table = compute()
        handle.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(handle.folder / "config.json", {"experiment": experiment, **config_dict(config)})
        atomic_write_text(path, table.to_csv(index=False, float_format="%.10g"))
        handle.mark_done()
    return table


def lock_path(handle: Run) -> Path:
    """The run's lock file, beside its folder (``launch`` reads it to tell a run being trained)."""
    return handle.folder.with_name(f".{handle.folder.name}.lock")


@contextmanager
def run_lock(handle: Run) -> Iterator[None]:
    """An exclusive lock on a run (a lock file beside its folder): another process on the same config waits.
    The operating system releases it when its holder exits, however it exits, so a killed run leaves no
    stale lock. Under torchrun only rank 0 locks (the other ranks train with it)."""
    if not distributed.is_main():
        yield
        return
    path = lock_path(handle)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"waiting for another process working on {handle.folder}", file=sys.stderr, flush=True)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class StoreError(RuntimeError):
    """A stored run that cannot be trusted or read; the message names the file and the remedy."""


RESULT_FILES = ("metrics.csv", "table.csv")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _recorded_sums(done: Path) -> dict[str, str]:
    """The checksums a ``DONE`` file records (none for an empty ``DONE`` written by older versions)."""
    text = done.read_text()
    if not text.strip():
        return {}
    try:
        return dict(json.loads(text)["sha256"])
    except (ValueError, KeyError, TypeError):
        raise StoreError(
            f"{done} is damaged; remove the run folder (rm -r {done.parent}) and run again"
        ) from None
