"""The one training loop: resume, step, evaluate, checkpoint, mark done; each method supplies only its step
and its evaluation.

A ``Method`` owns its model, optimizer, data streams and generators. ``fit`` restores them from the run's
checkpoint (so an interrupted run continues with the same numbers), evaluates at the steps the method asks
for and always at the end, checkpoints every ``ckpt_every`` steps, then writes the final checkpoint and
``DONE``. Under torchrun every process runs the loop; only rank 0 writes, and all wait for it at the end.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from .. import distributed
from ..progress import progress
from ..runs import Run, resume_training, save_training

Row = tuple[int, str, str, float]


class Method(ABC):
    """One training method: what the loop checkpoints, how one step goes and what an evaluation logs."""

    desc: str = "training"  # progress-bar label

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """Everything with ``state_dict`` / ``load_state_dict`` that a resumed run needs, by name."""

    def generators(self) -> tuple:
        """The seeded ``torch.Generator`` objects whose states are checkpointed."""
        return ()

    @abstractmethod
    def evaluate_at(self, step: int) -> bool:
        """Whether to evaluate before taking step ``step`` (the loop adds the final step itself)."""

    @abstractmethod
    def evaluate(self, step: int) -> list[Row]:
        """Tidy rows (step, split, metric, value) measured on the current weights."""

    @abstractmethod
    def step(self, step: int) -> list[Row]:
        """Take optimization step ``step`` (0-based); return any rows it logs (usually none)."""


class _Progress:
    """The loop's own resumable state: the last evaluated step, so a run resumed after its final
    checkpoint does not evaluate twice."""

    def __init__(self) -> None:
        self.evaluated = -1

    def state_dict(self) -> dict:
        return {"evaluated": self.evaluated}

    def load_state_dict(self, state: dict) -> None:
        self.evaluated = int(state["evaluated"])


def fit(run: Run, method: Method, steps: int, ckpt_every: int) -> None:
    """Train ``method`` for ``steps`` steps into ``run``'s folder, resuming from its checkpoint if any."""
    done = _Progress()
    modules = {**method.state(), "loop": done}
    gens = method.generators()
    step, rows = resume_training(run, modules, gens)

    def evaluate(at: int) -> None:
        rows.extend(method.evaluate(at))
        done.evaluated = at

    def checkpoint() -> None:
        if distributed.is_main():
            save_training(run, step, rows, modules, gens)

    for _ in progress(range(step, steps), desc=f"{method.desc} {run.folder.name}", total=steps - step):
        if method.evaluate_at(step):
            evaluate(step)
        rows.extend(method.step(step))
        step += 1
        if step % ckpt_every == 0 and step < steps:
            checkpoint()
    if done.evaluated != steps:
        evaluate(steps)
    checkpoint()
    if distributed.is_main():
        run.mark_done()
    distributed.barrier()
