"""``InterplayCallback``: MIR and HDR at each evaluation of a Hugging Face ``transformers.Trainer``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from torch import nn
from transformers import TrainerCallback

from ..probe import _check_args, probe

__all__ = ["InterplayCallback"]


class InterplayCallback(TrainerCallback):
    """After each evaluation, ``paperlib.probe`` the model on the evaluation data and add the values to it.

    ``Trainer(..., callbacks=[InterplayCallback()])``: at every ``on_evaluate`` the callback runs ``probe``
    over the trainer's evaluation DataLoader (or ``data`` if given: any form ``probe`` takes) and writes
    ``<prefix>_<quantity>`` (``eval_mir``, ``eval_hdr``, ...) into the metrics that ``trainer.evaluate()``
    returns and into the same evaluation's entry of ``trainer.state.log_history``. The features stream
    through ``paperlib.StreamingInterplay`` on the model's device. ``head``, ``max_samples``, ``batch_size``
    and ``labels`` are passed to ``probe``; ``quantities`` picks what is recorded.

    Cost: one more forward pass over the evaluation data per evaluation (or over ``max_samples`` of it), and
    the eigenvalue problems of ``probe``. Integrations that report through ``on_log`` (TensorBoard, W&B) ran
    before the callback and do not see these values. In a multi-process run each process measures the rows
    of its own evaluation shard.
    """

    def __init__(
        self,
        data: Iterable | None = None,
        *,
        head: str | nn.Module | None = None,
        max_samples: int | None = None,
        batch_size: int | None = None,
        labels: str = "true",
        quantities: tuple[str, ...] = ("mir", "hdr", "mi", "h_features", "h_heads", "h_joint"),
    ) -> None:
        _check_args(max_samples, labels)
        self.data, self.head, self.max_samples, self.batch_size, self.labels = (
            data,
            head,
            max_samples,
            batch_size,
            labels,
        )
        self.quantities = quantities

    def on_evaluate(
        self, args, state, control, metrics=None, model=None, eval_dataloader=None, **kwargs: Any
    ):
        """Measure and record; the prefix is that of the trainer's own metrics (``eval`` by default)."""
        data = self.data if self.data is not None else eval_dataloader
        if model is None or data is None or metrics is None:
            return control
        result = probe(
            model,
            data,
            self.head,
            max_samples=self.max_samples,
            batch_size=self.batch_size,
            labels=self.labels,
        )
        prefix = next((k[: -len("_runtime")] for k in metrics if k.endswith("_runtime")), "eval")
        values = {f"{prefix}_{q}": float(getattr(result, q)) for q in self.quantities}
        metrics.update(values)
        last = state.log_history[-1] if state.log_history else None
        if last is not None and last.get("step") == state.global_step and f"{prefix}_runtime" in last:
            last.update(values)
        else:
            state.log_history.append({**values, "step": state.global_step})
        return control
