"""The one training loop on a toy method: evaluation cadence, checkpoints, DONE, and resumption."""

from dataclasses import dataclass

import pytest
import torch

from paperlib import runs
from paperlib.train import loop


@dataclass(frozen=True)
class Cfg:
    n: int


class Counter:
    """A stateful object: the loop must checkpoint and restore it."""

    def __init__(self) -> None:
        self.total = 0.0

    def state_dict(self) -> dict:
        return {"total": self.total}

    def load_state_dict(self, state: dict) -> None:
        self.total = state["total"]


class Toy(loop.Method):
    """Adds a random draw per step; evaluates the running total every ``every`` steps from step 0."""

    def __init__(self, every: int, crash_at: int | None = None) -> None:
        self.every, self.crash_at = every, crash_at
        self.counter, self.g = Counter(), torch.Generator().manual_seed(0)
        self.evaluated: list[int] = []

    def state(self) -> dict:
        return {"counter": self.counter}

    def generators(self) -> tuple:
        return (self.g,)

    def evaluate_at(self, step: int) -> bool:
        return step % self.every == 0

    def evaluate(self, step: int) -> list:
        self.evaluated.append(step)
        return [(step, "test", "total", self.counter.total)]

    def step(self, step: int) -> list:
        if step == self.crash_at:
            raise KeyboardInterrupt("simulated crash")
        self.counter.total += float(torch.rand(1, generator=self.g))
        return [(step + 1, "train", "seen", float(step + 1))] if (step + 1) % 5 == 0 else []


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_RUNS", str(tmp_path))
    return tmp_path


def test_evaluates_at_cadence_and_at_the_end_and_marks_done(store):
    run = runs.Run("toy", Cfg(1))
    method = Toy(every=4)
    loop.fit(run, method, steps=10, ckpt_every=3)
    assert method.evaluated == [0, 4, 8, 10] and run.done
    rows = run.metrics()
    assert sorted(rows[rows.split == "train"].step) == [5, 10]
    assert run.load_checkpoint()["step"] == 10


def test_a_crashed_run_resumes_to_the_same_rows(store):
    straight = runs.Run("toy", Cfg(2))
    loop.fit(straight, Toy(every=4), steps=10, ckpt_every=3)
    crashed = runs.Run("toy", Cfg(3))
    with pytest.raises(KeyboardInterrupt):
        loop.fit(crashed, Toy(every=4, crash_at=7), steps=10, ckpt_every=3)
    assert crashed.load_checkpoint()["step"] == 6 and not crashed.done
    resumed = Toy(every=4)
    loop.fit(crashed, resumed, steps=10, ckpt_every=3)
    assert resumed.evaluated == [8, 10]  # steps 0 and 4 came from the checkpoint
    assert crashed.metrics().equals(straight.metrics())


def test_resuming_a_finished_checkpoint_does_not_evaluate_twice(store):
    run = runs.Run("toy", Cfg(4))
    loop.fit(run, Toy(every=4), steps=6, ckpt_every=3)
    (run.folder / "DONE").unlink()  # as if the process died between the last checkpoint and DONE
    again = Toy(every=4)
    loop.fit(run, again, steps=6, ckpt_every=3)
    assert again.evaluated == [] and run.done
    assert (run.metrics().step == 6).sum() == 1
