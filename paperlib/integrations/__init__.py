"""Adapters to the interfaces PyTorch users already wire into their loops.

``metric.InterplayMetric`` is a torchmetrics ``Metric`` (so also a Lightning metric), ``hf.InterplayCallback`` a
Hugging Face ``transformers`` ``TrainerCallback``. Each module imports its package at the top, so importing this
package costs nothing and ``paperlib.InterplayMetric`` / ``paperlib.InterplayCallback`` load one on first use.
"""
