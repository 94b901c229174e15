"""Experiment procedures built from the metrics, theory, models and trainers."""
