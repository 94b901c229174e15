"""The one object an experiment module declares: what it runs under each profile, where its runs go, how the
shell reports it and which claims it decides."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import configs, runs

SEEDS = configs.tuple_of(configs.NONNEGATIVE_INT)  # a list of seeds, e.g. [0,1,2]


def single(cfg: Any, profile: str, overrides: dict) -> list:
    """The default sweep: the profile's config alone."""
    return [cfg]


@dataclass(frozen=True)
class Experiment:
    """An experiment of the study.

    ``profiles`` maps each profile to a function building its config (a frozen dataclass); ``sweep`` turns
    that config into the list of configs the profile runs (several data sets, smoothing levels, ...);
    ``report(profile, **overrides)`` runs the sweep (from the store where done) and returns the shell's
    paragraph (by default one line per run); ``claims`` maps each claim id the experiment decides to the
    claim in a line.
    """

    name: str
    title: str
    notebook: str  # two digits: notebooks/<notebook>_*.ipynb
    profiles: dict[str, Callable[[], Any]]
    store: str = ""  # run-store folder of its runs or tables ("" when it trains nothing)
    # trainer(config, run) for the configs its sweep yields; None when the sweep yields studies (LMC paths,
    # pruning tables, Tables 1-2) whose inner runs the module trains itself, and ``report`` runs them.
    trainer: Callable | None = None
    sweep_fn: Callable[[Any, str, dict], list] = single
    report: Callable[..., str] | None = None
    claims: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = set(configs.PROFILES) - set(self.profiles)
        if missing:
            raise ValueError(f"experiment {self.name!r} has no settings for profile(s) {sorted(missing)}")

    def config(self, profile: str, **overrides: Any) -> Any:
        """The frozen settings under ``profile`` with ``overrides`` applied (see ``configs.override``)."""
        configs.check_profile(profile)
        return configs.override(self.profiles[profile](), self.name, **overrides)

    def sweep(self, profile: str, **overrides: Any) -> list:
        """Every config the experiment runs under ``profile``."""
        return self.sweep_fn(self.config(profile, **overrides), profile, overrides)

    def runs(self, profile: str, **overrides: Any) -> list[runs.Run]:
        """Every run of the sweep, from the store where done, else trained (or resumed) by ``trainer`` here, one
        after another (``python -m paperlib launch`` trains a store's runs side by side beforehand)."""
        if self.trainer is None:
            raise ValueError(f"experiment {self.name!r} trains nothing")
        return [runs.run(self.store, cfg, self.trainer) for cfg in self.sweep(profile, **overrides)]

    def shell_report(self, profile: str, **overrides: Any) -> str:
        """What ``python -m paperlib run`` prints: ``report``, or one line per run of the sweep."""
        if self.report is not None:
            return self.report(profile, **overrides)
        return "\n".join(describe(r) for r in self.runs(profile, **overrides))

    def scale(self, profile: str, **overrides: Any) -> dict[str, Any]:
        """What a verdict of this experiment rests on under ``profile``: data, model, steps, seeds (and the
        grokking task's p and train_frac), gathered from every config of the sweep."""
        found: dict[str, list] = {}
        for cfg in self.sweep(profile, **overrides):
            for key, value in _scale_fields(cfg).items():
                if value not in found.setdefault(key, []):
                    found[key].append(value)
        out: dict[str, Any] = {"profile": profile, "data": "synthetic"}
        out.update({k: v[0] if len(v) == 1 else v for k, v in found.items()})
        if "seed" in out:
            seed = out.pop("seed")
            out.setdefault("seeds", seed if isinstance(seed, list) else [seed])
        if "dataset" in out:
            out["data"] = out.pop("dataset")
        elif "p" in out:
            out["data"] = "modular addition"
        return out

    @property
    def runnable(self) -> bool:
        """Whether the shell can run it (it trains or reports something)."""
        return self.report is not None or self.trainer is not None


_SCALE_KEYS = ("dataset", "model", "steps", "seeds", "seed", "p", "train_frac", "label_counts")


def _scale_fields(cfg: Any) -> dict[str, Any]:
    """The scale fields of a config, outer fields first (a study's ``seeds`` wins over its runs' ``seed``)."""
    out: dict[str, Any] = {}
    nested = []
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            nested.append(value)
        elif f.name in _SCALE_KEYS:
            out[f.name] = list(value) if isinstance(value, tuple) else value
    for inner in nested:
        for key, value in _scale_fields(inner).items():
            out.setdefault(key, value)
    if "seeds" in out:
        out.pop("seed", None)
    return out


def describe(run: runs.Run) -> str:
    """One line on a finished run for the shell: its folder and its last accuracies and ratios."""
    rows = run.metrics()
    last_rows = rows[(rows.step == rows.step.max()) & (rows.metric.isin(["acc", "mir", "hdr"]))]
    values = "  ".join(f"{r.split} {r.metric} {r.value:.4f}" for r in last_rows.itertuples())
    return f"{run.folder}  step {int(rows.step.max())}  {values}"
