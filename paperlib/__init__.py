"""paperlib: the metrics, theory and experiments of the study, and a probe for any classifier.

``paperlib.probe(model, data)`` measures MIR and HDR between a model's features and its classifier heads;
``paperlib.Monitor`` records them during training. Only torch and numpy are imported here: the book,
plotting and experiment modules load when they are imported themselves.
"""

from .monitor import Monitor
from .probe import Probe, probe

__all__ = ["Monitor", "Probe", "probe"]
