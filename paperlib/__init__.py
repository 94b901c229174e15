"""paperlib: the metrics, theory and experiments of the study, and a probe for any classifier.

``paperlib.probe(model, data)`` measures MIR and HDR between a model's features and its classifier heads;
``paperlib.Monitor`` records them during training; ``paperlib.StreamingInterplay`` accumulates the exact values
batch by batch. Only torch and numpy are imported here: the book, plotting and experiment modules load when
they are imported themselves, and the ecosystem adapters (``paperlib.InterplayMetric`` for torchmetrics and
Lightning, ``paperlib.InterplayCallback`` for a Hugging Face ``Trainer``) import their package when first used.
"""

from .monitor import Monitor
from .probe import Probe, probe
from .streaming import StreamingInterplay

__all__ = ["InterplayCallback", "InterplayMetric", "Monitor", "Probe", "StreamingInterplay", "probe"]

_LAZY = {"InterplayMetric": "paperlib.integrations.metric", "InterplayCallback": "paperlib.integrations.hf"}


def __getattr__(name: str):
    """Load an adapter (and the package it adapts to) only when it is asked for."""
    if name in _LAZY:
        import importlib

        package = "torchmetrics" if name == "InterplayMetric" else "transformers"
        try:
            return getattr(importlib.import_module(_LAZY[name]), name)
        except ModuleNotFoundError as error:
            if error.name != package:
                raise
            raise ImportError(f"paperlib.{name} needs {package}: pip install {package}") from error
    raise AttributeError(f"module 'paperlib' has no attribute {name!r}")
