"""The supervised experiments (training dynamics, label smoothing): run their sweeps through the store and
read the results back as tables."""

from __future__ import annotations

import pandas as pd

from .. import configs, runs
from ..train.supervised import train

STORE = "supervised"  # all supervised runs share one store folder, so equal configs are trained once


def run_all(experiment: str, profile: str, **overrides) -> list[runs.Run]:
    """Every run of ``experiment`` under ``profile``, trained or resumed where not done yet."""
    return [runs.run(STORE, cfg, train) for cfg in configs.sweep(experiment, profile, **overrides)]


def curves(run: runs.Run) -> pd.DataFrame:
    """One row per evaluation step, one column per metric, plus the run's dataset, model and smoothing."""
    wide = run.metrics().pivot_table(index="step", columns="metric", values="value").reset_index()
    wide.columns.name = None
    for key in ("dataset", "model", "label_smoothing", "seed"):
        wide[key] = getattr(run.config, key)
    return wide


def finals(all_runs: list[runs.Run]) -> pd.DataFrame:
    """The last evaluation of every run, one row each."""
    return pd.DataFrame([curves(r).iloc[-1] for r in all_runs]).reset_index(drop=True)
