"""Independent runs trained side by side by a few worker processes, each with its share of the cores.

A WideResNet step at batch 64 keeps two CPU cores only partly busy, so a sweep of independent runs finishes
sooner as one process per core than as one run after another on all cores (``benchmarks/pool.py`` measures
it). Workers train through the run store (``runs.run``), so the per-run lock still allows one writer per run
folder and an interrupted worker leaves a run that resumes like any other. Workers are started with ``spawn``
(a forked copy of a process holding torch's thread pools can deadlock) and inherit the environment, hence
``PAPERLIB_RUNS``, ``PAPERLIB_DATA`` and ``PAPERLIB_QUIET``.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

import torch

from . import distributed, runs
from .progress import progress

Job = tuple[str, Any, Callable]  # (store, config, trainer), as runs.run takes them

ENV = "PAPERLIB_WORKERS"
# Without PAPERLIB_WORKERS: one run at a time, in this process. A run's numbers depend on its thread count
# (float sums are split differently), and a lone pending run trains in this process with every thread while
# pooled runs get a share: so with a pool, what a config's run reports would depend on what else happened to
# be pending. One worker keeps every run a function of its config and the machine; the pool is opt-in.
DEFAULT_WORKERS = 1


def cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _under_torchrun() -> bool:
    return distributed.rank_and_size()[1] > 1 or int(os.environ.get("WORLD_SIZE", "1") or "1") > 1


def workers() -> int:
    """How many runs to train at once: ``$PAPERLIB_WORKERS`` when set, else ``min(cores, DEFAULT_WORKERS)``
    (1, see there) on a CPU and 1 with a GPU; always 1 under torchrun, whose processes already share one
    run."""
    raw = os.environ.get(ENV, "").strip()
    chosen = 0
    if raw:
        try:
            chosen = int(raw)
        except ValueError:
            chosen = 0
        if chosen < 1:
            raise ValueError(
                f"{ENV}={raw!r} is not allowed: it must be a positive integer (the number of runs trained at "
                f"once; 1 trains in this process), or unset for the default"
            )
    if _under_torchrun():
        return 1
    if chosen:
        return chosen
    return 1 if torch.cuda.is_available() else min(cores(), DEFAULT_WORKERS)


def train_all(jobs: Sequence[Job]) -> list[runs.Run]:
    """The finished run of every job, in job order. Runs already done are read from the store; the others are
    trained by ``workers()`` processes (in this process when that is 1 or only one run is pending)."""
    jobs = list(jobs)
    pending: dict = {}  # run folder -> its first job (equal configs are trained once)
    for store, config, trainer in jobs:
        handle = runs.Run(store, config)
        if not handle.done:
            pending.setdefault(handle.folder, (store, config, trainer))
    n = min(workers(), len(pending))
    if n > 1:
        _train_in_workers(list(pending.values()), n)
    return [runs.run(store, config, trainer) for store, config, trainer in jobs]


class WorkerError(RuntimeError):
    """A worker that died mid-run, or a worker's failure whose exception cannot be rebuilt here as its type."""


def _train_in_workers(jobs: list[Job], n: int) -> None:
    """Train ``jobs`` in ``n`` spawned processes, each asking for the next job when it finishes one. The first
    failure stops every worker and is raised here; so is Ctrl-C."""
    ctx = mp.get_context("spawn")
    threads = max(1, cores() // n)
    procs: dict[Connection, Any] = {}
    try:
        for _ in range(n):
            here, there = ctx.Pipe()
            proc = ctx.Process(target=_worker, args=(there, threads), daemon=True, name="paperlib-pool")
            proc.start()
            there.close()
            procs[here] = proc
        for _ in progress(_finished(jobs, procs), desc=f"runs ({n} workers)", total=len(jobs)):
            pass
        for proc in procs.values():  # each was sent None and is exiting
            proc.join(30)
    finally:
        _stop(procs.values())
        for conn in procs:
            conn.close()


def _finished(jobs: list[Job], procs: dict[Connection, Any]) -> Iterator[int]:
    """Hand out jobs to idle workers and yield the index of each finished one."""
    todo = list(enumerate(jobs))
    busy: dict[Connection, int] = {}

    def hand_out(conn: Connection) -> None:
        if not todo:
            conn.send(None)  # no more work: the worker exits
            return
        i, job = todo.pop(0)
        try:
            conn.send(job)
        except (pickle.PicklingError, AttributeError, TypeError) as err:
            raise TypeError(
                f"cannot send the job of {_folder(job)} to a worker process ({err}); its trainer must be a "
                f"module-level function and its config a plain dataclass"
            ) from None
        busy[conn] = i

    for conn in procs:
        hand_out(conn)
    while busy:
        ready = wait([*busy, *(procs[c].sentinel for c in busy)])
        for conn in list(busy):
            job = jobs[busy[conn]]
            if conn.poll():
                try:
                    failure = conn.recv()
                except EOFError:  # it died after its last message
                    _raise_death(job, procs[conn])
                if failure is not None:
                    _raise_failure(job, failure)
                yield busy.pop(conn)
                hand_out(conn)
            elif procs[conn].sentinel in ready:
                _raise_death(job, procs[conn])


def _folder(job: Job) -> str:
    return str(runs.Run(job[0], job[1]).folder)


def _raise_death(job: Job, proc: Any) -> None:
    proc.join(1)
    raise WorkerError(
        f"the worker process training {_folder(job)} ended (exit code {proc.exitcode}) before finishing it; "
        f"run again to resume it from its last checkpoint"
    )


def _raise_failure(job: Job, failure: tuple) -> None:
    """Raise a worker's exception here, as its own type when it can be rebuilt, with the run folder named."""
    name, message, tb, blob = failure
    text = f"training {_folder(job)} in a worker process failed: {message}"
    original = None
    if blob is not None:
        try:
            original = pickle.loads(blob)
        except Exception:  # a type this process cannot rebuild
            original = None
    if original is not None:
        original.add_note(f"worker traceback:\n{tb}")
        try:
            again = type(original)(text)
        except Exception:  # a constructor that wants more than a message
            again = WorkerError(f"{text} ({name})")
        raise again from original
    raise WorkerError(f"{text} ({name})\n\nworker traceback:\n{tb}")


def _stop(procs: Any) -> None:
    """End every worker still running: after a failure or Ctrl-C each gets SIGTERM (their run stays resumable:
    every store write is atomic and DONE comes last), then SIGKILL if they do not end within 10 s."""
    procs = list(procs)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()
    for proc in procs:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
            proc.join()


def _on_sigterm(signum: int, frame: Any) -> None:
    sys.exit(128 + signum)  # unwinds, so a write in progress removes its temporary file


def _worker(conn: Connection, threads: int) -> None:
    """A worker's life: train the jobs it is sent until it is sent None (or its parent is gone)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it stops the workers
    signal.signal(signal.SIGTERM, _on_sigterm)
    os.environ["PAPERLIB_QUIET"] = "1"  # one bar, the parent's
    torch.set_num_threads(threads)
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        try:
            runs.run(*job)
        except Exception as err:
            try:
                blob = pickle.dumps(err)
            except Exception:
                blob = None
            conn.send((type(err).__name__, f"{type(err).__name__}: {err}", traceback.format_exc(), blob))
        else:
            conn.send(None)
