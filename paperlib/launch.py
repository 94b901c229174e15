"""Every pending run of a profile as a job, through submitit (``python -m paperlib launch``).

The paper profile is some two hundred independent runs of up to 2^20 steps: a cluster trains them side by side,
one job per run. ``launch`` lists the runs of the plan (``plan.RULES`` for the studies, the sweep for the
others), keeps one per store folder (a run two chapters share is submitted once), leaves out the runs the store
has DONE, the runs another process holds the lock of and the runs already queued, and submits the rest through
a submitit executor: ``slurm`` (a job array), ``local`` (processes on this machine, a few at a time) or
``debug`` (in this process, one after another). Each job trains its run through ``runs.run``, the path the
notebooks take (lock, resume from the run's checkpoint, verified DONE), so a filled store is read by
``make book`` without training. A job that is preempted or reaches its time limit is requeued by submitit's
checkpoint protocol (``RunJob.checkpoint``) and resumes from the run's last checkpoint.

The reported runs of Tables 1 and 2 train at the lambda their selection runs choose: they are submitted once
the selection runs are DONE (launch again then), until then they count as waiting.

Job folders (submitit's pickles and logs) go to ``<store>/.launch/<job id>/``, and ``.launch/jobs.jsonl`` keeps
which job trains which run, for ``--status``.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import pickle
import shlex
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import submitit
import torch
from submitit.helpers import Checkpointable

from . import plan, registry, runs
from .experiments import common
from .experiments import freematch as freematch_experiment
from .experiments import info_losses as il
from .progress import progress
from .storage import runs_root
from .train import freematch as freematch_train
from .train import supervised

EXECUTORS = ("slurm", "local", "debug")
LAUNCH_DIR = ".launch"  # inside the run store: job folders and the job index
JOB_NAME = "paperlib"


# --------------------------------------------------------------------------------------------------- the runs


@dataclass(frozen=True)
class Planned:
    """A run some experiments of the plan ask for: its store and config, and the experiments asking."""

    store: str
    config: Any
    experiments: tuple[str, ...]

    @property
    def handle(self) -> runs.Run:
        return runs.Run(self.store, self.config)

    @property
    def name(self) -> str:
        """``store/hash``: the run's folder relative to the store root."""
        return f"{self.store}/{runs.config_hash(self.store, self.config)}"


@dataclass
class Sweep:
    """The runs of a launch: those whose config is known, and those waiting for their selection runs."""

    runs: list[Planned] = field(default_factory=list)
    waiting: list[Planned] = field(default_factory=list)


def trainers() -> dict[str, Callable]:
    """The trainer of each store: what ``runs.run`` trains a run of that store with."""
    found = {s.store: s.trainer for s in registry.experiments_by_name().values() if s.trainer is not None}
    found[common.SUPERVISED_STORE] = supervised.train
    found[freematch_experiment.STORE] = freematch_train.train
    return found


def _kind(config: Any) -> str:
    """The information term of a run's ``extra_loss`` ('' without one)."""
    return getattr(config, "extra_loss", "").split(":")[0]


def _chosen_lambda(study: Any, selection: list[plan.Job]) -> float | None:
    """The lambda the selection runs choose (as ``info_losses`` does), None while one is not DONE."""
    handles = [runs.Run(j.store, j.config) for j in selection]
    if not handles or not all(h.done for h in handles):
        return None
    rows = [il.result_row(h, **{"lambda": float(h.config.extra_loss.split(":")[1])}) for h in handles]
    return il._select(rows)


def _with_choice(study: Any, found: list[plan.Job]) -> tuple[list[plan.Job], list[plan.Job]]:
    """A study's jobs with each term's reported runs at its chosen lambda (``plan.RULES`` puts the first
    candidate in their place), and the reported runs whose selection runs are not all DONE yet."""
    if not hasattr(study, "select_seed"):
        return found, []
    ready, waiting = [], []
    chosen: dict[str, float | None] = {}
    for job in found:
        kind = _kind(job.config)
        if not kind or job.config.seed == study.select_seed:
            ready.append(job)
            continue
        if kind not in chosen:
            selection = [j for j in found if _kind(j.config) == kind and j.config.seed == study.select_seed]
            chosen[kind] = _chosen_lambda(study, selection)
        lam = chosen[kind]
        if lam is None:
            waiting.append(job)
            continue
        config = dataclasses.replace(job.config, extra_loss=il.loss_spec(kind, lam, study.detach_head))
        ready.append(plan.Job.of(job.store, config))
    return ready, waiting


def sweep(names: Iterable[str], profile: str, overrides: dict[str, dict] | None = None) -> Sweep:
    """Every training run the experiments ``names`` make under ``profile``, each once (``overrides`` by
    experiment name)."""
    found: dict[str, Planned] = {}
    waiting: dict[str, Planned] = {}
    for name in names:
        spec = registry.get(name)
        for cfg in spec.sweep(profile, **(overrides or {}).get(name, {})):
            if name in plan.RULES:
                jobs = [j for j in plan.RULES[name](cfg) if j.run]
            elif spec.trainer is not None:
                jobs = [plan.Job.of(spec.store, cfg)]
            else:
                jobs = []
            ready, later = _with_choice(cfg, jobs)
            for target, group in ((found, ready), (waiting, later)):
                for job in group:
                    item = Planned(job.store, job.config, (name,))
                    old = target.get(item.name)
                    if old is None:
                        target[item.name] = item
                    elif name not in old.experiments:
                        target[item.name] = dataclasses.replace(old, experiments=(*old.experiments, name))
    return Sweep(list(found.values()), [w for k, w in waiting.items() if k not in found])


# ------------------------------------------------------------------------------------------------ the state


def locked(handle: runs.Run) -> bool:
    """Whether a process holds the run's lock now (it is training it)."""
    path = runs.lock_path(handle)
    if not path.exists():
        return False
    with open(path, "a") as fh:  # writable, as run_lock opens it: NFS emulates flock with write locks
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def _index_path() -> Path:
    return runs_root() / LAUNCH_DIR / "jobs.jsonl"


def submitted() -> dict[str, dict]:
    """The latest job submitted for each run (``store/hash``), from the job index."""
    path = _index_path()
    out: dict[str, dict] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                out[entry["run"]] = entry
    return out


def _record(entries: list[dict]) -> None:
    path = _index_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write("".join(json.dumps(e) + "\n" for e in entries))


def _job_entry(item: Planned, job: Any, executor: str) -> dict:
    paths = job.paths
    return {
        "run": item.name,
        "job": str(job.job_id),
        "executor": executor,
        "stdout": str(paths.stdout),
        "stderr": str(paths.stderr),
        "result": str(paths.result_pickle),
    }


def state(item: Planned, jobs: dict[str, dict]) -> str:
    """done, running (locked), failed (its job ended with an error, or SLURM ended it), queued (submitted to
    SLURM, not ended) or pending."""
    handle = item.handle
    if handle.done:
        return "done"
    if locked(handle):
        return "running"
    entry = jobs.get(item.name)
    if entry is None:
        return "pending"
    result = Path(entry["result"])
    if result.exists():
        with open(result, "rb") as fh:
            try:
                outcome = pickle.load(fh)[0]
            except Exception:  # a result written by another version: judge by the store alone
                outcome = ""
        return "failed" if outcome == "error" else "pending"
    if entry["executor"] == "slurm":
        return _slurm_state(entry)
    return "pending"


# SLURM job states (sacct) of a job that has not ended; any other state without a result means it ended early.
_ALIVE = ("PENDING", "REQUEUED", "RUNNING", "CONFIGURING", "COMPLETING", "RESIZING", "SUSPENDED", "PREEMPTED")


def _slurm_state(entry: dict) -> str:
    """A submitted SLURM job with no result yet and no lock held: queued while SLURM lists it as alive (or, with
    no ``sacct`` here, until its log appears), failed when SLURM says it ended (cancelled, node failure, out
    of memory), else pending."""
    if shutil.which("sacct") is None:
        return "pending" if Path(entry["stdout"]).exists() else "queued"
    job = submitit.SlurmJob(folder=job_folder(), job_id=entry["job"])
    found = job.state.upper()
    if found.startswith(_ALIVE) or found == "UNKNOWN":
        return "queued"
    return "failed"


def status(names: Iterable[str], profile: str, overrides: dict[str, dict] | None = None) -> str:
    """Per experiment: how many of its runs are done, running, failed, queued and pending; then every failed
    run with its job's log."""
    names = list(names)
    jobs = submitted()
    kinds = ("done", "running", "failed", "queued", "pending")
    lines = [f"{'experiment':<17}{'runs':>6}" + "".join(f"{k:>9}" for k in kinds) + f"{'waiting':>9}"]
    failed: dict[str, dict] = {}
    for name in names:
        found = sweep([name], profile, overrides)
        counts = dict.fromkeys(kinds, 0)
        for item in found.runs:
            s = state(item, jobs)
            counts[s] += 1
            if s == "failed":
                failed[item.name] = jobs[item.name]
        total = len(found.runs) + len(found.waiting)
        lines.append(
            f"{name:<17}{total:>6}" + "".join(f"{counts[k]:>9}" for k in kinds) + f"{len(found.waiting):>9}"
        )
    lines += [
        "",
        "running: a process holds the run's lock; queued: submitted to SLURM, not ended; waiting: a reported "
        "run of Table 1 or 2 whose lambda its selection runs have not chosen yet (launch again once they are "
        f"done). Store: {runs_root()}",
    ]
    for run, entry in failed.items():
        lines.append(f"failed: {run} (job {entry['job']}), log {entry['stderr']}")
    return "\n".join(lines)


def to_submit(found: Sweep) -> list[Planned]:
    """The runs of ``found`` that no job has done, is training or waits in the queue for."""
    jobs = submitted()
    return [item for item in found.runs if state(item, jobs) in ("pending", "failed")]


# ------------------------------------------------------------------------------------------------- the jobs


class RunJob(Checkpointable):
    """One job: the run of ``config`` in ``store``, trained through ``runs.run`` in the run store ``root``.

    Requeue (submitit's checkpoint protocol): on preemption or near its time limit a job gets a signal, and
    ``checkpoint`` (inherited) hands submitit this same job to requeue; the run's state is in its folder
    (``checkpoint.pt``, written every ``ckpt_every`` steps), so the requeued job resumes from there and ends
    with the numbers of an uninterrupted run. The lock is released as the process ends."""

    def __init__(self, store: str, config: Any, trainer: Callable, root: str, threads: int | None = None):
        self.store, self.config, self.trainer = store, config, trainer
        self.root, self.threads = root, threads

    def __call__(self) -> str:
        os.environ["PAPERLIB_RUNS"] = self.root  # the store the launch read, wherever the job runs
        os.environ.setdefault("PAPERLIB_QUIET", "1")  # a log file, not a terminal
        if self.threads:
            os.environ["OMP_NUM_THREADS"] = str(self.threads)  # for processes the run starts (data workers)
            torch.set_num_threads(self.threads)
        return str(runs.run(self.store, self.config, self.trainer).folder)


@dataclass
class Options:
    """How jobs are submitted. ``extra`` holds further sbatch options (``--constraint=a100`` ->
    ``{"constraint": "a100"}``)."""

    executor: str = "slurm"
    partition: str | None = None
    gpus_per_job: int | None = None
    cpus_per_job: int | None = None
    timeout_min: int = 24 * 60
    array_parallelism: int | None = None
    account: str | None = None
    qos: str | None = None
    max_requeues: int = 20
    extra: dict[str, str | bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ValueError(f"unknown executor {self.executor!r}; choose one of {', '.join(EXECUTORS)}")
        for name in ("gpus_per_job", "cpus_per_job", "array_parallelism"):
            value = getattr(self, name)
            if value is not None and value < (0 if name == "gpus_per_job" else 1):
                raise ValueError(f"--{name.replace('_', '-')} {value} is not allowed: give a positive number")
        if self.max_requeues < 0:
            raise ValueError(f"--max-requeues {self.max_requeues} is not allowed: give 0 or more")
        if self.timeout_min < 1:
            raise ValueError(f"--timeout-min {self.timeout_min} is not allowed: give minutes, at least 1")


def slurm_parameters(options: Options) -> dict[str, Any]:
    """The sbatch settings of a launch, by the names of submitit's SLURM executor."""
    params: dict[str, Any] = {
        "job_name": JOB_NAME,
        "time": options.timeout_min,
        "gpus_per_node": 1 if options.gpus_per_job is None else options.gpus_per_job,
        "array_parallelism": options.array_parallelism or 256,
    }
    for key in ("partition", "account", "qos"):
        if getattr(options, key):
            params[key] = getattr(options, key)
    if options.cpus_per_job:
        params["cpus_per_task"] = options.cpus_per_job
    if options.extra:
        params["additional_parameters"] = dict(options.extra)
    return params


def job_folder() -> Path:
    """Where submitit keeps each job's pickles and logs (``%j``: the job id)."""
    return runs_root() / LAUNCH_DIR / "%j"


def sbatch_script(count: int, options: Options, python: str | None = None) -> str:
    """The sbatch script a SLURM launch of ``count`` runs submits, as submitit writes it (for ``--dry-run``;
    needs no cluster)."""
    from submitit.slurm.slurm import _make_sbatch_string

    folder = job_folder()
    command = " ".join([python or shlex.quote(sys.executable), "-u -m submitit.core._submit", str(folder)])
    params = slurm_parameters(options)
    if count > 1:
        params["map_count"] = count
    return _make_sbatch_string(command=command, folder=folder, **params)


def executor(options: Options) -> submitit.Executor:
    """The submitit executor of ``options`` (SLURM's needs ``srun`` on this machine)."""
    folder = job_folder()
    if options.executor == "debug":
        return submitit.DebugExecutor(folder)
    if options.executor == "local":
        ex = submitit.LocalExecutor(folder, max_num_timeout=options.max_requeues)
        ex.update_parameters(timeout_min=options.timeout_min, gpus_per_node=local_gpus(options))
        return ex
    try:
        ex = submitit.SlurmExecutor(folder, max_num_timeout=options.max_requeues)
    except RuntimeError:
        raise RuntimeError(
            "no SLURM here (srun not found): run launch on the cluster's login node, or use --executor local"
        ) from None
    ex.update_parameters(**slurm_parameters(options))
    return ex


def local_gpus(options: Options) -> int:
    """GPUs per local job: as asked, else one when this machine has a GPU (the local executor hides the GPUs
    from a job that asks for none)."""
    if options.gpus_per_job is not None:
        return options.gpus_per_job
    return 1 if torch.cuda.is_available() else 0


def job_of(item: Planned, options: Options) -> RunJob:
    """The job training ``item`` into this store."""
    trainer = trainers().get(item.store)
    if trainer is None:
        raise ValueError(f"no trainer for runs of store {item.store!r}: add it to launch.trainers")
    return RunJob(item.store, item.config, trainer, str(runs_root()), options.cpus_per_job)


# ----------------------------------------------------------------------------------------------- submission


@dataclass
class Outcome:
    """What a launch did: the jobs submitted, and the runs whose job failed (with the log to read)."""

    jobs: list[dict] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def submit(items: list[Planned], options: Options) -> Outcome:
    """Submit a job per run: SLURM as one array (returns at once), debug in this process one after another,
    local as processes, ``array_parallelism`` at a time (1 unless set), waiting for them all."""
    if not items:
        return Outcome()
    if options.executor == "slurm":
        ex = executor(options)
        with ex.batch():
            handles = [ex.submit(job_of(item, options)) for item in items]
        entries = [_job_entry(item, job, "slurm") for item, job in zip(items, handles, strict=True)]
        _record(entries)
        return Outcome(entries)
    if options.executor == "debug":
        return _run_debug(items, options)
    return _run_local(items, options)


def _run_debug(items: list[Planned], options: Options) -> Outcome:
    ex, out = executor(options), Outcome()
    for item in progress(items, desc="runs (debug executor)"):
        job = ex.submit(job_of(item, options))
        error = job.exception()  # runs it here; unlike result(), no debugger on a failure
        if error is not None:
            raise error
        out.jobs.append(_job_entry(item, job, "debug"))
    return out


def _run_local(items: list[Planned], options: Options, poll_s: float = 0.2) -> Outcome:
    ex, out = executor(options), Outcome()
    width = options.array_parallelism or 1
    gpus = local_gpus(options)
    devices = torch.cuda.device_count() if gpus else 0
    free = list(range(devices))  # GPUs no running job holds
    todo, running = list(items), []
    bar = progress([], desc=f"runs (local executor, {width} at a time)", total=len(items))
    try:
        while todo or running:
            while todo and len(running) < width and (not devices or len(free) >= min(gpus, devices)):
                item = todo.pop(0)
                held: tuple[int, ...] = ()
                if devices:  # each job GPUs of its own, taken from those no running job holds
                    held, free[:] = tuple(free[: min(gpus, devices)]), free[min(gpus, devices) :]
                    ex.update_parameters(visible_gpus=held)
                job = ex.submit(job_of(item, options))
                entry = _job_entry(item, job, "local")
                _record([entry])
                out.jobs.append(entry)
                running.append((item, job, entry, held))
            time.sleep(poll_s)
            for item, job, entry, held in [r for r in running if r[1].done()]:
                running.remove((item, job, entry, held))
                free.extend(held)
                if not item.handle.done:
                    out.failed.append(f"{item.name} (job {entry['job']}), log {entry['stderr']}")
                bar.update(1)
    finally:
        bar.close()
        for _, job, _, _ in running:  # Ctrl-C or an error here: no job outlives the launch
            job.cancel()
    return out


def launch(
    names: list[str], profile: str, options: Options, overrides: dict[str, dict] | None = None
) -> tuple[Sweep, list[Planned], Outcome]:
    """Submit every run of ``names`` under ``profile`` that is not done, running or queued."""
    found = sweep(names, profile, overrides)
    items = to_submit(found)
    return found, items, submit(items, options)


def dry_run(
    names: list[str], profile: str, options: Options, overrides: dict[str, dict] | None = None
) -> str:
    """What ``launch`` would submit: the runs and, for SLURM, the sbatch script. Reads configs and the store
    only (no data set)."""
    found = sweep(names, profile, overrides)
    items = to_submit(found)
    lines = [
        f"{len(items)} run(s) to submit ({len(found.runs) - len(items)} of {len(found.runs)} done, running or "
        f"queued; {len(found.waiting)} waiting for their selection runs), executor {options.executor}, "
        f"store {runs_root()}:"
    ]
    for item in items:
        kind = plan.step_kind(item.config)
        lines.append(
            f"  {item.name}  {kind.name}  {plan.steps_of(item.config):,} steps  "
            f"seed {getattr(item.config, 'seed', '-')}  ({', '.join(item.experiments)})"
        )
    if options.executor == "slurm" and items:
        lines += ["", "sbatch script (one job array):", sbatch_script(len(items), options)]
    return "\n".join(lines)
