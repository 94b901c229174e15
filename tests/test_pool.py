"""The pool of worker processes: done runs are not retrained, pooled runs equal runs trained here with the same
thread count, a failure names its run and stops the other workers, PAPERLIB_WORKERS is checked, and the pool
is off under torchrun."""

import dataclasses
import os
import re
import time

import pytest
import torch

from paperlib import pool, runs
from paperlib.experiments import common
from paperlib.storage import runs_root
from paperlib.train.supervised import train

STORE = common.SUPERVISED_STORE
TINY = common.supervised("smoke", steps=4, eval_every=4, ckpt_every=4)


def tiny(seed: int):
    return dataclasses.replace(TINY, seed=seed)


def noting_train(cfg, run: runs.Run) -> None:
    """A stand-in trainer that logs its call in the store (visible across processes) and finishes at once."""
    with open(runs_root() / "calls.log", "a") as fh:
        fh.write(f"{cfg.seed}\n")
    run.folder.mkdir(parents=True, exist_ok=True)
    run.write_metrics([(0, "test", "seed", float(cfg.seed))])
    run.mark_done()


def failing_train(cfg, run: runs.Run) -> None:
    """Fails once the other worker is inside its run (``slow_train`` has made its folder)."""
    other = runs.Run(STORE, tiny(cfg.seed + 1)).folder
    for _ in range(300):
        if other.exists():
            break
        time.sleep(0.1)
    raise ValueError(f"no data for seed {cfg.seed}")


def dying_train(cfg, run: runs.Run) -> None:
    os._exit(3)  # a worker killed mid-run (out of memory, a crash in C code)


def slow_train(cfg, run: runs.Run) -> None:
    run.folder.mkdir(parents=True, exist_ok=True)
    time.sleep(60)  # stopped by the pool long before
    noting_train(cfg, run)


def calls() -> list[int]:
    log = runs_root() / "calls.log"
    return sorted(int(x) for x in log.read_text().split()) if log.exists() else []


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setenv(pool.ENV, "2")
    return tmp_path / "runs"


def test_done_runs_are_not_sent_to_workers(store):
    runs.run(STORE, tiny(0), noting_train)
    done_at = (runs.Run(STORE, tiny(0)).folder / "DONE").stat().st_mtime_ns
    got = pool.train_all([(STORE, tiny(s), noting_train) for s in (1, 0, 2, 1)])
    assert calls() == [0, 1, 2]  # seed 0 once (before), the repeated seed 1 once
    assert [r.config.seed for r in got] == [1, 0, 2, 1] and all(r.done for r in got)
    assert (got[1].folder / "DONE").stat().st_mtime_ns == done_at
    assert [r.metrics().value.item() for r in got] == [1.0, 0.0, 2.0, 1.0]


def test_pooled_runs_equal_runs_trained_here_with_the_same_threads(store, monkeypatch):
    # Numbers depend on the thread count (float sums split differently), so the reference uses a worker's.
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, pool.cores() // 2))
    try:
        monkeypatch.setenv("PAPERLIB_RUNS", str(store / "reference"))
        reference = [runs.run(STORE, tiny(s), train).metrics() for s in (1, 2)]
    finally:
        torch.set_num_threads(before)
    monkeypatch.setenv("PAPERLIB_RUNS", str(store / "pooled"))
    runs.run(STORE, tiny(0), noting_train)
    done_at = (runs.Run(STORE, tiny(0)).folder / "DONE").stat().st_mtime_ns
    got = pool.train_all([(STORE, tiny(s), train) for s in (0, 1, 2)])
    assert (got[0].folder / "DONE").stat().st_mtime_ns == done_at
    for run, ref in zip(got[1:], reference, strict=True):
        assert run.done and run.folder.parent.parent == store / "pooled"
        assert run.metrics().equals(ref)


def test_a_failure_names_its_run_and_stops_the_other_workers(store):
    start = time.perf_counter()
    failing = runs.Run(STORE, tiny(3)).folder
    message = f"training {failing} in a worker process failed: ValueError: no data for seed 3"
    with pytest.raises(ValueError, match=re.escape(message)):
        pool.train_all([(STORE, tiny(3), failing_train), (STORE, tiny(4), slow_train)])
    assert time.perf_counter() - start < 50  # the slow run was stopped, not waited for
    stopped = runs.Run(STORE, tiny(4))
    assert not failing.exists() and stopped.folder.exists() and not stopped.done
    assert not list(store.rglob("*.tmp"))
    assert pool.train_all([(STORE, tiny(4), noting_train)])[0].done  # and it can run again


def test_a_worker_that_dies_is_reported_with_its_run(store):
    dead = re.escape(str(runs.Run(STORE, tiny(11)).folder))
    with pytest.raises(pool.WorkerError, match=f"training {dead} ended \\(exit code 3\\)"):
        pool.train_all([(STORE, tiny(11), dying_train), (STORE, tiny(12), noting_train)])


def test_a_trainer_that_cannot_reach_a_worker_is_named(store):
    with pytest.raises(TypeError, match="module-level function"):
        pool.train_all([(STORE, tiny(s), lambda cfg, run: None) for s in (5, 6)])


def test_ctrl_c_stops_the_workers(store, monkeypatch):
    seen = []
    stop = pool._stop

    def interrupted(objects):
        raise KeyboardInterrupt

    def recording_stop(procs):
        seen.extend(procs)
        stop(seen)

    monkeypatch.setattr(pool, "wait", interrupted)
    monkeypatch.setattr(pool, "_stop", recording_stop)
    with pytest.raises(KeyboardInterrupt):
        pool.train_all([(STORE, tiny(s), noting_train) for s in (7, 8)])
    assert len(seen) == 2 and not any(p.is_alive() for p in seen)


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_a_bad_worker_count_is_refused(store, monkeypatch, value):
    monkeypatch.setenv(pool.ENV, value)
    with pytest.raises(ValueError, match=f"PAPERLIB_WORKERS='{value}' is not allowed: it must be a positive"):
        pool.workers()


def test_worker_count_from_the_environment_or_the_machine(store, monkeypatch):
    monkeypatch.setenv(pool.ENV, "3")
    assert pool.workers() == 3
    monkeypatch.delenv(pool.ENV)
    expected = 1 if torch.cuda.is_available() else min(pool.cores(), pool.DEFAULT_WORKERS)
    assert pool.workers() == expected


def test_the_pool_is_off_under_torchrun(store, monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert pool.workers() == 1
    monkeypatch.setattr(pool, "_train_in_workers", None)  # calling it would fail
    got = pool.train_all([(STORE, tiny(s), noting_train) for s in (9, 10)])
    assert calls() == [9, 10] and all(r.done for r in got)
