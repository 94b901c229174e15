"""What a profile trains, before anyone starts it (``python -m paperlib plan --profile paper``): per chapter and
experiment, the training runs, the training steps and an estimate of the time they take.

An experiment with a ``trainer`` trains one run per config of its sweep. The studies (LMC, pruning, Tables 1 and
2) train their inner runs themselves, so ``RULES`` restates, per experiment name, which runs each study config
makes its module train; ``tests/test_plan.py`` keeps every rule honest by running the smoke profile into an
empty store and counting the run folders. A run two experiments share (one config, one folder in the store,
e.g. label smoothing's eps = 0 run is the training-dynamics run) is trained once, and the totals count it once.

The times come from seconds per step measured on a CPU by ``benchmarks/steps.py`` (``benchmarks/
step_times.json``), scaled linearly with the images of a step. Hours on a GPU are that CPU time divided by an
assumed speed-up per model (``SPEEDUP``), except the augmentation, which this code runs on the CPU whatever
the device; no GPU was at hand to measure them, so the factors sit at the low end and the GPU hours are more
likely too high than too low.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import registry
from .configs import PROFILES
from .experiments import common, freematch, info_losses, lmc, pruning
from .experiments.spec import Experiment
from .runs import config_hash
from .train.freematch import FreeMatchConfig
from .train.grokking import GrokConfig
from .train.info_loss import KINDS
from .train.supervised import TrainConfig

STEP_TIMES = Path(__file__).resolve().parents[1] / "benchmarks" / "step_times.json"

# Assumed speed-up of one data-centre GPU (A100 class) over the 2-core CPU of step_times.json for the model part
# of a step (forward, backward, update). Low-end guesses: small models leave a GPU mostly idle. The grokking
# trainer keeps its model on the CPU (train/grokking.py moves nothing to a GPU), hence 1.
SPEEDUP = {
    "wrn-10-1": 10,
    "wrn-16-1": 10,
    "wrn-28-2": 30,
    "wrn-28-8": 60,
    "wrn-37-2": 40,
    "resnet18": 30,
    "transformer": 1,
}


@dataclass(frozen=True)
class Job:
    """Training an experiment asks for: ``steps`` steps of ``like`` (a run config), either as the run of
    ``config`` in ``store`` (``run``) or as extra steps outside a run (pruning's fine-tuning, which this code
    does on the CPU whatever the device: ``cpu_only``)."""

    store: str
    config: Any
    steps: int
    like: Any
    run: bool = True
    cpu_only: bool = False

    @classmethod
    def of(cls, store: str, config: Any) -> Job:
        return cls(store, config, steps_of(config), config)

    @property
    def key(self) -> tuple[str, str]:
        """What names its folder in the store, so equal runs of two experiments count once."""
        return self.store, config_hash(self.store, self.config)


def steps_of(config: Any) -> int:
    """The training steps of a run config."""
    recipe = getattr(config, "recipe", None)
    return recipe.steps if recipe is not None else config.steps


@dataclass(frozen=True)
class StepKind:
    """What a step's cost depends on: method, model, data and the images (sequences) it trains on."""

    method: str
    model: str
    data: str
    images: int

    @property
    def name(self) -> str:
        return f"{self.method} {self.model} {self.data}"


def step_kind(config: Any) -> StepKind:
    """The kind of step a run config takes (its images: labeled plus two views of each unlabeled one for
    FreeMatch, the training pairs for the full-batch grokking transformer)."""
    if isinstance(config, GrokConfig):
        return StepKind("grokking", "transformer", f"p={config.p}", round(config.train_frac * config.p**2))
    r = getattr(config, "recipe", None)
    if r is None and all(hasattr(config, k) for k in ("model", "dataset", "batch_size")):
        return StepKind("supervised", config.model, config.dataset, config.batch_size)  # e.g. own_network
    if isinstance(config, FreeMatchConfig):
        return StepKind("freematch", r.model, r.dataset, r.batch_size * (1 + 2 * config.uratio))
    if isinstance(config, TrainConfig):
        return StepKind("supervised", r.model, r.dataset, r.batch_size)
    raise TypeError(f"no step kind for {type(config).__name__}")


# ---------------------------------------------------------------------------------------- the studies' rules


def _lmc(study: Any) -> list[Job]:
    """``lmc.sweep``: the two end-point runs of every path (``lmc.studies``: learning rates, spawn steps, the
    negative control) and seed; runs that two paths share (the control's first network) are counted once."""
    out: dict[str, Job] = {}
    for lr, steps, k, pair in lmc.studies(study):
        for seed in study.seeds:
            base = common.with_recipe(dataclasses.replace(study.train, seed=seed), lr=lr, steps=steps)
            for cfg in lmc.endpoint_configs(base, pair, k):
                job = Job.of(common.SUPERVISED_STORE, cfg)
                out.setdefault(config_hash(common.SUPERVISED_STORE, cfg), job)
    return list(out.values())


def _pruning(study: Any) -> list[Job]:
    """``pruning.run``: the supervised run of every seed and of its independent network's seed (a seed of its
    own, ``pruning.independent_seed``), then ``finetune_steps`` steps per sparsity and
    seed (the measurements are not counted)."""
    seeds = dict.fromkeys([*study.seeds, *(pruning.independent_seed(study.seeds, s) for s in study.seeds)])
    out = [Job.of(common.SUPERVISED_STORE, dataclasses.replace(study.train, seed=s)) for s in seeds]
    extra = len(study.sparsities) * study.finetune_steps * len(study.seeds)
    return out + [Job(pruning.STORE, study, extra, study.train, run=False, cpu_only=True)]


# The chosen lambda of a term is known only once its selection runs have run; the rules below put the first
# candidate in its place. That changes no count: the reported runs use seeds of their own.


def _supervised_info(study: Any) -> list[Job]:
    """``supervised_info.run_study``: every seed without a term and with each term's chosen lambda (the whole
    training set), plus each lambda at ``select_seed`` with ``select_per_class`` images held out."""

    def one(seed: int, kind: str = "", lam: float = 0.0, held_out: int = 0) -> Job:
        loss = info_losses.loss_spec(kind, lam, study.detach_head)
        train = common.with_recipe(study.train, val_per_class=held_out)
        return Job.of(common.SUPERVISED_STORE, dataclasses.replace(train, seed=seed, extra_loss=loss))

    out = [one(s) for s in study.seeds]
    for kind in KINDS:
        out += [one(s, kind, study.lambdas[0]) for s in study.seeds]
        out += [one(study.select_seed, kind, lam, study.select_per_class) for lam in study.lambdas]
    return out


def _freematch(study: Any) -> list[Job]:
    """``freematch.run_study``: per label count and seed the supervised baseline, FreeMatch and FreeMatch with
    each term at the chosen lambda; per term, each lambda at ``select_at`` labels and ``select_seed``."""
    fm = study.freematch

    def one(labels: int, seed: int, kind: str = "", lam: float = 0.0) -> Job:
        loss = info_losses.loss_spec(kind, lam, study.detach_head)
        cfg = dataclasses.replace(fm, num_labels=labels, seed=seed, extra_loss=loss)
        return Job.of(freematch.STORE, cfg)

    out = []
    for labels in study.label_counts:
        for seed in study.seeds:
            out.append(Job.of(common.SUPERVISED_STORE, freematch.baseline_config(fm, labels, seed)))
            out.append(one(labels, seed))
            out += [one(labels, seed, kind, study.lambdas[0]) for kind in KINDS]
    out += [one(study.select_at, study.select_seed, kind, lam) for kind in KINDS for lam in study.lambdas]
    return out


RULES: dict[str, Callable[[Any], list[Job]]] = {
    "lmc": _lmc,
    "pruning": _pruning,
    "supervised_info": _supervised_info,
    "freematch": _freematch,
}


def jobs(spec: Experiment, profile: str, **overrides: Any) -> list[Job]:
    """Every training job of ``spec`` under ``profile``, each run once (in the order the module runs them)."""
    configs = spec.sweep(profile, **overrides)
    if spec.name in RULES:
        found = [job for cfg in configs for job in RULES[spec.name](cfg)]
    elif spec.trainer is not None:
        found = [Job.of(spec.store, cfg) for cfg in configs]
    elif spec.runnable:
        raise ValueError(f"experiment {spec.name!r} trains its runs itself: add a rule for it to plan.RULES")
    else:
        found = []  # trains nothing (nc_theory)
    unique: dict[tuple[str, str], Job] = {}
    for job in found:
        unique.setdefault(job.key, job)
    return list(unique.values())


# ---------------------------------------------------------------------------------------------------- timing


def load_step_times(path: Path = STEP_TIMES) -> dict:
    """The measured step times (``benchmarks/steps.py``); empty when the file is missing."""
    return json.loads(path.read_text()) if path.exists() else {"machine": "not measured", "steps": {}}


def seconds_per_step(kind: StepKind, times: dict, cpu_only: bool = False) -> tuple[float, float] | None:
    """(CPU seconds, estimated seconds on a GPU machine) per step of ``kind``, scaled linearly from the
    measured images; None without a measurement of its method, model and data. The host part (augmentation,
    normalization) and ``cpu_only`` steps are not sped up."""
    entry = times["steps"].get(kind.name)
    if entry is None:
        return None
    cpu = entry["step_s"] * kind.images / entry["images"]
    host = entry["host_s"] * kind.images / entry["host_images"]
    return cpu, cpu if cpu_only else host + max(cpu - host, 0.0) / SPEEDUP[kind.model]


@dataclass
class Tally:
    """Runs, steps and seconds of a group of jobs; ``unmeasured`` names the kinds without a step time."""

    runs: int = 0
    shared: int = 0
    steps: int = 0
    cpu_s: float = 0.0
    gpu_s: float = 0.0
    unmeasured: set[str] = dataclasses.field(default_factory=set)

    def add(self, job: Job, times: dict, shared: bool = False) -> None:
        self.runs += job.run
        self.shared += job.run and shared
        self.steps += job.steps
        kind = step_kind(job.like)
        per_step = seconds_per_step(kind, times, job.cpu_only)
        if per_step is None:
            self.unmeasured.add(kind.name)
            return
        self.cpu_s += per_step[0] * job.steps
        self.gpu_s += per_step[1] * job.steps


def tally(profile: str, times: dict, overrides: dict[str, dict] | None = None) -> dict[str, Tally]:
    """A ``Tally`` per experiment (its own runs, those shared with an earlier one marked) and ``"total"``
    (each run once); ``overrides`` by experiment name."""
    out, seen, total = {}, set(), Tally()
    for name, spec in registry.experiments_by_name().items():
        out[name] = Tally()
        for job in jobs(spec, profile, **(overrides or {}).get(name, {})):
            out[name].add(job, times, shared=job.key in seen)
            if job.key not in seen:
                total.add(job, times)
            seen.add(job.key)
    out["total"] = total
    return out


# ---------------------------------------------------------------------------------------------------- report


def _hours(seconds: float) -> str:
    h = seconds / 3600
    return f"{h:,.0f}" if h >= 10 else f"{h:.1f}" if h >= 0.1 else f"{h:.3f}"


def _kind_lines(found: list[Job], times: dict) -> list[str]:
    """One line per kind of step and length: how many runs (or fine-tunings), and the seconds per step."""
    groups: dict[tuple, int] = {}
    for job in found:
        key = (step_kind(job.like), job.steps, job.run, job.cpu_only)
        groups[key] = groups.get(key, 0) + 1
    lines = []
    for (kind, steps, run, cpu_only), n in groups.items():
        what = f"{n} run{'s' * (n > 1)}" if run else f"{n} x fine-tuning (on the CPU)"
        per_step = seconds_per_step(kind, times, cpu_only)
        cost = (
            f"{per_step[0]:.3g} s CPU, ~{per_step[1]:.2g} s GPU per step"
            if per_step
            else "step time not measured"
        )
        lines.append(f"      {what} x {steps:,} steps of {kind.name} ({kind.images} per step): {cost}")
    return lines


def report(profile: str, times: dict | None = None) -> str:
    """The plan of ``profile`` as the command line prints it, with every profile's totals at the end."""
    times = load_step_times() if times is None else times
    tallies = tally(profile, times)
    header = (
        f"{'chapter':<8}{'experiment':<17}{'runs':>6}{'shared':>8}{'steps':>16}{'CPU h':>12}{'GPU h':>10}"
    )
    lines = [
        f"Plan of the {profile} profile: runs trained, training steps and time, per chapter.",
        "",
        header,
    ]
    specs = registry.experiments_by_name()
    for name, spec in specs.items():
        t = tallies[name]
        lines.append(
            f"{spec.notebook:<8}{name:<17}{t.runs:>6}{t.shared:>8}{t.steps:>16,}"
            f"{_hours(t.cpu_s):>12}{_hours(t.gpu_s):>10}"
        )
        lines += _kind_lines(jobs(spec, profile), times) if t.steps else ["      trains nothing"]
    t = tallies["total"]
    lines += [
        f"{'total, each run once':<25}{t.runs:>6}{'':>8}{t.steps:>16,}{_hours(t.cpu_s):>12}{_hours(t.gpu_s):>10}"
        f"   ({t.gpu_s / 86400:,.1f} GPU days)",
        "",
        "Totals by profile (each run once):",
    ]
    for other in PROFILES:
        o = tally(other, times)["total"]
        lines.append(
            f"  {other:<6} {o.runs:>5} runs {o.steps:>14,} steps  {_hours(o.cpu_s):>8} CPU h  "
            f"{_hours(o.gpu_s):>8} GPU h"
        )
    unmeasured = sorted(set().union(*(tallies[n].unmeasured for n in tallies)))
    speedups = ", ".join(f"{m} {s}x" for m, s in SPEEDUP.items())
    lines += [
        "",
        "Assumptions:",
        f"- CPU seconds per step measured on {times['machine']} (benchmarks/step_times.json, "
        f"{times.get('date', 'no date')}; {times.get('conditions', '')}); a step's time scaled linearly with its "
        "images.",
        "- GPU time: no GPU was available to measure it. The model part of a step (forward, backward, update) is "
        f"divided by an assumed speed-up of one A100-class GPU over that CPU ({speedups}); the augmentation and "
        "normalization stay on the CPU in this code and are not divided, nor are the grokking transformer and "
        "pruning's fine-tuning, which this code trains on the CPU. The factors are low-end guesses, so the GPU hours "
        "are more likely too high than too low; several GPUs under torchrun divide them.",
        "- Not counted: evaluations (test-set metrics every eval_every steps), LMC's interpolation paths, "
        "pruning's measurements, checkpoint writes, and the optional Grokfast run of chapter 06.",
        "- runs: training runs the experiment asks for; shared: of those, runs an earlier experiment trains "
        "(same config, one folder in the store). A term's chosen lambda is known only after its candidates, "
        "which changes no count.",
    ]
    if unmeasured:
        lines.append(
            f"- No step time measured for: {', '.join(unmeasured)} (run python -m benchmarks.steps)."
        )
    return "\n".join(lines)
