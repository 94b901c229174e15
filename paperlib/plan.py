"""What a profile trains, before anyone starts it (``python -m paperlib plan --profile paper``): per chapter and
experiment, the training runs, the training steps and an estimate of the time they take.

An experiment with a ``trainer`` trains one run per config of its sweep. The studies (LMC, pruning, Tables 1 and
2) train their inner runs themselves, so ``RULES`` restates, per experiment name, which runs each study config
makes its module train; ``tests/test_plan.py`` keeps every rule honest by running the smoke profile into an
empty store and counting the run folders. A run two experiments share (one config, one folder in the store,
e.g. label smoothing's eps = 0 run is the training-dynamics run) is trained once, and the totals count it once.

CPU hours come from seconds per step measured on a CPU by ``benchmarks/steps.py`` (``benchmarks/
step_times.json``), scaled linearly with the images of a step. GPU hours are for one GPU of the class
``costs.GPU``: measured seconds per step where ``benchmarks/gpu_times.json`` holds a step of that kind measured
on that class (``benchmarks/gpu.py``), else an estimate from the step's counted floating-point operations and
dispatched operations (``costs``) under a stated sustained throughput. Every training path runs on
``distributed.device()`` (grokking, pruning's fine-tuning and the augmentation included), so all of a step
counts on the GPU.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import costs, registry
from .configs import PROFILES
from .experiments import common, freematch, info_losses, lmc, pruning
from .experiments.spec import Experiment
from .runs import config_hash
from .train.freematch import FreeMatchConfig
from .train.grokking import GrokConfig
from .train.info_loss import KINDS
from .train.supervised import TrainConfig

STEP_TIMES = Path(__file__).resolve().parents[1] / "benchmarks" / "step_times.json"


@dataclass(frozen=True)
class Job:
    """Training an experiment asks for: ``steps`` steps of ``like`` (a run config), either as the run of
    ``config`` in ``store`` (``run``) or as extra steps outside a run (pruning's fine-tuning)."""

    store: str
    config: Any
    steps: int
    like: Any
    run: bool = True

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
    return out + [Job(pruning.STORE, study, extra, study.train, run=False)]


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


def seconds_per_step(
    kind: StepKind, like: Any, times: dict, gpu_times: dict
) -> tuple[float | None, float, bool]:
    """(CPU seconds or None where that kind was not measured, GPU seconds, whether the GPU seconds were
    measured) per step of ``kind``; measured times scale linearly with the images."""
    entry = times["steps"].get(kind.name)
    cpu = None if entry is None else entry["step_s"] * kind.images / entry["images"]
    return (cpu, *costs.gpu_seconds(kind.name, like, kind.images, gpu_times))


@dataclass
class Tally:
    """Runs, steps and seconds of a group of jobs; ``unmeasured`` names the kinds without a CPU step time,
    ``gpu_measured`` those whose GPU time was measured rather than estimated."""

    runs: int = 0
    shared: int = 0
    steps: int = 0
    cpu_s: float = 0.0
    gpu_s: float = 0.0
    unmeasured: set[str] = dataclasses.field(default_factory=set)
    gpu_measured: set[str] = dataclasses.field(default_factory=set)

    def add(self, job: Job, times: dict, gpu_times: dict, shared: bool = False) -> None:
        self.runs += job.run
        self.shared += job.run and shared
        self.steps += job.steps
        kind = step_kind(job.like)
        cpu, gpu, measured = seconds_per_step(kind, job.like, times, gpu_times)
        self.gpu_s += gpu * job.steps
        if measured:
            self.gpu_measured.add(kind.name)
        if cpu is None:
            self.unmeasured.add(kind.name)
        else:
            self.cpu_s += cpu * job.steps


def tally(
    profile: str, times: dict, overrides: dict[str, dict] | None = None, gpu_times: dict | None = None
) -> dict[str, Tally]:
    """A ``Tally`` per experiment (its own runs, those shared with an earlier one marked) and ``"total"``
    (each run once); ``overrides`` by experiment name; ``gpu_times``: measured GPU steps (``costs.measured``,
    read from its file when None)."""
    gpu_times = costs.measured() if gpu_times is None else gpu_times
    out, seen, total = {}, set(), Tally()
    for name, spec in registry.experiments_by_name().items():
        out[name] = Tally()
        for job in jobs(spec, profile, **(overrides or {}).get(name, {})):
            out[name].add(job, times, gpu_times, shared=job.key in seen)
            if job.key not in seen:
                total.add(job, times, gpu_times)
            seen.add(job.key)
    out["total"] = total
    return out


# ---------------------------------------------------------------------------------------------------- report


def _hours(seconds: float) -> str:
    h = seconds / 3600
    return f"{h:,.0f}" if h >= 10 else f"{h:.1f}" if h >= 0.1 else f"{h:.3f}"


def _kind_lines(found: list[Job], times: dict, gpu_times: dict) -> list[str]:
    """One line per kind of step and length: how many runs (or fine-tunings), the seconds per step on the CPU
    and on the GPU class, and what the GPU figure rests on."""
    groups: dict[tuple, list[Job]] = {}
    for job in found:
        groups.setdefault((step_kind(job.like), job.steps, job.run), []).append(job)
    lines = []
    for (kind, steps, run), group in groups.items():
        n = len(group)
        what = f"{n} run{'s' * (n > 1)}" if run else f"{n} x fine-tuning"
        cpu, gpu, measured = seconds_per_step(kind, group[0].like, times, gpu_times)
        work = costs.work(kind.name, group[0].like)
        basis = (
            "measured"
            if measured
            else f"{work['flops_per_image'] * kind.images:.2g} FLOP, {work['ops']:.0f} ops counted"
        )
        cpu_text = f"{cpu:.3g} s CPU" if cpu is not None else "CPU step time not measured"
        lines.append(
            f"      {what} x {steps:,} steps of {kind.name} ({kind.images} per step): {cpu_text}, "
            f"~{gpu:.2g} s GPU per step ({basis})"
        )
    return lines


def report(profile: str, times: dict | None = None, gpu_times: dict | None = None) -> str:
    """The plan of ``profile`` as the command line prints it, with every profile's totals at the end and the
    assumptions behind the hours."""
    times = load_step_times() if times is None else times
    gpu_times = costs.measured() if gpu_times is None else gpu_times
    tallies = tally(profile, times, gpu_times=gpu_times)
    header = (
        f"{'chapter':<8}{'experiment':<17}{'runs':>6}{'shared':>8}{'steps':>16}{'CPU h':>12}{'GPU h':>10}"
    )
    lines = [
        f"Plan of the {profile} profile: runs trained, training steps and time, per chapter "
        f"(GPU: one {costs.GPU.name}).",
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
        lines += _kind_lines(jobs(spec, profile), times, gpu_times) if t.steps else ["      trains nothing"]
    t = tallies["total"]
    lines += [
        f"{'total, each run once':<25}{t.runs:>6}{'':>8}{t.steps:>16,}{_hours(t.cpu_s):>12}{_hours(t.gpu_s):>10}"
        f"   ({t.gpu_s / 86400:,.1f} GPU days)",
        "",
        "Totals by profile (each run once):",
    ]
    for other in PROFILES:
        o = tally(other, times, gpu_times=gpu_times)["total"]
        lines.append(
            f"  {other:<6} {o.runs:>5} runs {o.steps:>14,} steps  {_hours(o.cpu_s):>8} CPU h  "
            f"{_hours(o.gpu_s):>8} GPU h"
        )
    unmeasured = sorted(set().union(*(tallies[n].unmeasured for n in tallies)))
    gpu_measured = sorted(t.gpu_measured)
    g = costs.GPU
    gpu_source = (
        f"measured on {gpu_times['device']} ({costs.GPU_TIMES.name}, {gpu_times.get('date', 'no date')}) for "
        f"{', '.join(gpu_measured)}; every other kind estimated as follows."
        if gpu_measured
        else f"no {g.match} has measured these steps yet ({costs.GPU_TIMES.name} holds none; "
        "python -m benchmarks.gpu measures them on a lent device), so every GPU figure is an estimate."
    )
    lines += [
        "",
        "Assumptions:",
        f"- CPU seconds per step measured on {times['machine']} (benchmarks/step_times.json, "
        f"{times.get('date', 'no date')}; {times.get('conditions', '')}); a step's time scaled linearly with its "
        "images.",
        f"- GPU: one {g.name}; {gpu_source}",
        "- GPU estimate: a step's floating-point operations are counted with torch.utils.flop_counter."
        "FlopCounterMode on the meta device (forward and backward over the step's images, and the optimizer's "
        "update; matrix products and convolutions, not BatchNorm, activations or the loss), as are the operations "
        f"it dispatches (views excluded; {costs.FLOPS.name}). Seconds = max(FLOPs / "
        f"{g.sustained_flops / 1e12:.0f} TFLOP/s sustained, operations x {g.launch_s * 1e6:.0f} us per launch): "
        f"{g.why}. Every path trains on the device, augmentation (drawn on the CPU, applied on the device) and "
        "pruning's fine-tuning included; the augmentation's dispatched operations are counted, its arithmetic is not. Several GPUs under "
        "torchrun divide the hours.",
        "- Not counted: evaluations (test-set metrics every eval_every steps), LMC's interpolation paths, "
        "pruning's measurements, checkpoint writes, and the optional Grokfast run of chapter 06.",
        "- runs: training runs the experiment asks for; shared: of those, runs an earlier experiment trains "
        "(same config, one folder in the store). A term's chosen lambda is known only after its candidates, "
        "which changes no count.",
    ]
    if unmeasured:
        lines.append(
            f"- No CPU step time measured for: {', '.join(unmeasured)} (run python -m benchmarks.steps)."
        )
    return "\n".join(lines)
