"""``python -m paperlib launch`` without a cluster: the smoke sweep of two experiments through submitit's debug
and local executors equals plain runs byte for byte, a second launch submits nothing, a preempted job is
requeued and a killed one resumes to the same bytes, the SLURM job array is checked on the sbatch script
submitit hands to ``sbatch`` (a stand-in on PATH that keeps the script), and ``--status`` / ``--dry-run``
report from the store."""

import os
import signal
import stat
import time
from pathlib import Path

import pytest

from paperlib import launch, plan, registry, runs
from paperlib.__main__ import main

# Two cheap experiments, shortened: dynamics (1 supervised run) and own_network (2 ResNet-18 runs).
SMOKE = {
    "dynamics": {"steps": 20, "eval_every": 10, "ckpt_every": 10},
    "own_network": {"steps": 8, "eval_every": 4, "ckpt_every": 4},
}


def _use_store(monkeypatch, folder: Path) -> Path:
    monkeypatch.setenv("PAPERLIB_RUNS", str(folder))
    return folder


def _metrics(found: launch.Sweep) -> dict[str, bytes]:
    return {item.name: (item.handle.folder / "metrics.csv").read_bytes() for item in found.runs}


def _plain(monkeypatch, folder: Path, overrides: dict) -> dict[str, bytes]:
    """Each experiment's runs trained here, as ``make book`` and the notebooks train them."""
    _use_store(monkeypatch, folder)
    for name, ov in overrides.items():
        registry.get(name).runs("smoke", **ov)
    return _metrics(launch.sweep(list(overrides), "smoke", overrides))


def test_debug_and_local_executors_equal_plain_runs_and_a_second_launch_submits_nothing(
    tmp_path, monkeypatch
):
    plain = _plain(monkeypatch, tmp_path / "plain", SMOKE)
    assert len(plain) == 3
    for executor, width in (("debug", None), ("local", 2)):
        _use_store(monkeypatch, tmp_path / executor)
        options = launch.Options(executor=executor, array_parallelism=width)
        found, items, outcome = launch.launch(list(SMOKE), "smoke", options, SMOKE)
        assert len(items) == 3 and not outcome.failed, outcome.failed
        assert _metrics(found) == plain, executor
        again = launch.launch(list(SMOKE), "smoke", options, SMOKE)
        assert again[1] == [] and again[2].jobs == []
    # the local jobs ran in processes of their own, each leaving submitit's result and logs
    entries = launch.submitted()
    assert {e["executor"] for e in entries.values()} == {"local"} and len(entries) == 3
    assert all(Path(e["result"]).exists() and int(e["job"]) != os.getpid() for e in entries.values())


def _wait(predicate, what: str, timeout: float = 240.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _step(handle: runs.Run) -> int:
    try:
        ckpt = handle.load_checkpoint()
    except runs.StoreError:  # caught between two writes: read again
        return -1
    return -1 if ckpt is None else ckpt["step"]


def _task(job) -> int:
    """The process a local job's controller runs the job in (what SLURM signals on a cluster)."""
    children = Path(f"/proc/{job.job_id}/task/{job.job_id}/children")
    pids = children.read_text().split() if children.exists() else []
    return int(pids[0]) if pids else 0


def test_a_preempted_job_is_requeued_and_a_killed_one_resumes_to_the_same_bytes(tmp_path, monkeypatch):
    """USR2 (what SLURM sends before a time limit or on preemption) makes submitit call ``RunJob.checkpoint``
    and requeue the job, which resumes from the run's checkpoint; a job killed mid-run (SIGKILL) leaves a run
    that the next launch finishes. Both end with the bytes of an uninterrupted run."""
    overrides = {"dynamics": {"steps": 60, "eval_every": 10, "ckpt_every": 10}}
    plain = _plain(monkeypatch, tmp_path / "plain", overrides)
    _use_store(monkeypatch, tmp_path / "jobs")
    (item,) = launch.sweep(["dynamics"], "smoke", overrides).runs
    options = launch.Options(executor="local")
    job = launch.executor(options).submit(launch.job_of(item, options))
    try:
        _wait(lambda: _step(item.handle) >= 10, "the first checkpoint")
        first, task = _step(item.handle), _task(job)
        os.kill(task, signal.SIGUSR2)
        _wait(lambda: _task(job) not in (0, task), "the requeued job")
        _wait(lambda: _step(item.handle) > first, "the requeued job to checkpoint again")
        assert not item.handle.done
        os.kill(_task(job), signal.SIGKILL)
        _wait(job.done, "the killed job to end", 60)
    finally:
        if not job.done():  # a failed wait: leave no process behind
            if _task(job):
                os.kill(_task(job), signal.SIGKILL)
            job.cancel()
    assert not item.handle.done and _step(item.handle) < 60
    log = Path(job.paths.stdout).read_text() + Path(job.paths.stderr).read_text()
    assert "Caught signal SIGUSR2" in log and "Requeued job" in log
    found, items, outcome = launch.launch(["dynamics"], "smoke", options, overrides)
    assert items == [item] and not outcome.failed
    assert _metrics(found) == plain


def test_status_counts_done_running_failed_and_pending_and_names_the_failed_log(
    tmp_path, monkeypatch, capsys
):
    _use_store(monkeypatch, tmp_path / "store")
    monkeypatch.setenv("PAPERLIB_DATA", str(tmp_path / "no-data"))  # every run fails to find its images
    ov = SMOKE["own_network"]
    items = launch.sweep(["own_network"], "smoke", {"own_network": ov}).runs
    found, submitted, outcome = launch.launch(
        ["own_network"], "smoke", launch.Options(executor="local"), {"own_network": ov}
    )
    assert len(outcome.failed) == 2 and all("log " in f for f in outcome.failed)
    args = ["launch", "own_network", "--profile", "smoke", "--status"] + [
        f"--set={k}={v}" for k, v in ov.items()
    ]
    with runs.run_lock(items[0].handle):  # another process training it
        assert main(args) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("own_network"))
    assert row.split() == ["own_network", "2", "0", "1", "1", "0", "0", "0"]
    log = launch.submitted()[items[1].name]["stderr"]
    assert f"failed: {items[1].name}" in out and log in out
    assert "does not hold Fashion-MNIST" in Path(log).read_text()


def _fake_slurm(bin_dir: Path, scripts: Path) -> None:
    """``srun`` and ``sbatch`` stand-ins: sbatch keeps the script it is given and answers as SLURM does."""
    bin_dir.mkdir()
    scripts.mkdir()
    for name, body in (
        ("srun", "exit 0"),
        ("sbatch", f'cp "$1" "{scripts}/$(date +%s%N).sh"\necho "Submitted batch job 4242"'),
    ):
        path = bin_dir / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_slurm_submits_one_throttled_array_of_unique_runs_and_a_second_launch_submits_nothing(
    tmp_path, monkeypatch, capsys
):
    store = _use_store(monkeypatch, tmp_path / "store")
    _fake_slurm(tmp_path / "bin", tmp_path / "scripts")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    names = [n for n, s in registry.experiments_by_name().items() if s.runnable]
    argv = ["launch", "all", "--profile", "smoke", "--executor", "slurm", "--partition", "gpu"]
    argv += ["--gpus-per-job", "2", "--cpus-per-job", "4", "--timeout-min", "30", "--array-parallelism", "5"]
    assert main([*argv, "--constraint=a100", "--exclusive"]) == 0
    (script,) = (tmp_path / "scripts").iterdir()
    text = script.read_text()
    found = launch.sweep(names, "smoke")
    n = len(found.runs)
    per_experiment = sum(len(launch.sweep([name], "smoke").runs) for name in names)
    assert n == len({i.name for i in found.runs}) < per_experiment  # shared runs submitted once
    for line in (
        f"#SBATCH --array=0-{n - 1}%5",
        "#SBATCH --gpus-per-node=2",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --time=30",
        "#SBATCH --partition=gpu",
        "#SBATCH --constraint=a100",
        "#SBATCH --exclusive",
        "#SBATCH --signal=USR2@90",
    ):
        assert line in text.splitlines(), line
    assert f"-u -m submitit.core._submit {store / '.launch' / '%j'}" in text
    options = launch.Options(
        partition="gpu", gpus_per_job=2, cpus_per_job=4, timeout_min=30, array_parallelism=5
    )
    options.extra = {"constraint": "a100", "exclusive": True}
    assert launch.sbatch_script(n, options) == text  # what --dry-run prints
    jobs = launch.submitted()
    assert sorted(e["job"] for e in jobs.values()) == sorted(f"4242_{k}" for k in range(n))
    capsys.readouterr()
    assert main(argv) == 0  # queued, none started (no sacct here; no log yet): nothing new
    assert "0 run(s) submitted" in capsys.readouterr().out
    assert len(list((tmp_path / "scripts").iterdir())) == 1
    # With sacct: the first job was cancelled before it started, the rest still wait.
    table = f"JobID|State|NodeList\\n4242_0|CANCELLED by 1|None\\n4242_[1-{n - 1}]|PENDING|None"
    (tmp_path / "bin" / "sacct").write_text(f'#!/bin/sh\nprintf "{table}\\n"\n')
    (tmp_path / "bin" / "sacct").chmod(0o755)
    first = next(i for i in found.runs if jobs[i.name]["job"] == "4242_0")
    assert launch.state(first, jobs) == "failed"
    assert [launch.state(i, jobs) for i in found.runs].count("queued") == n - 1
    assert launch.to_submit(found) == [first]


def test_dry_run_prints_the_paper_jobs_without_the_data(tmp_path, monkeypatch, capsys):
    _use_store(monkeypatch, tmp_path / "store")
    monkeypatch.setenv("PAPERLIB_DATA", str(tmp_path / "no-data"))
    assert main(["launch", "all", "--profile", "paper", "--executor", "slurm", "--dry-run"]) == 0
    out = capsys.readouterr().out
    names = [n for n, s in registry.experiments_by_name().items() if s.runnable]
    found = launch.sweep(names, "paper")
    assert len(found.runs) + len(found.waiting) == plan.tally("paper", plan.load_step_times())["total"].runs
    n = len(found.runs)
    assert f"#SBATCH --array=0-{n - 1}%{min(n, 256)}" in out  # submitit throttles at most n
    assert (
        sum(line.startswith("  supervised/") or line.startswith("  freematch/") for line in out.splitlines())
        > 0
    )
    assert all(item.name in out for item in found.runs)
    assert not (tmp_path / "store" / ".launch").exists()  # nothing written


def test_bad_options_get_one_line_errors(capsys):
    assert main(["launch", "dynamics", "--executor", "local", "--array-parallelism", "0", "--dry-run"]) == 2
    assert "--array-parallelism 0 is not allowed" in capsys.readouterr().err
    assert main(["launch", "all", "--set", "steps=3", "--dry-run"]) == 2
    assert "--set needs one experiment" in capsys.readouterr().err
    assert main(["launch", "dynamics", "--profile", "smoke", "--set", "steps=-3", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "recipe.steps = -3" in err[0]
    assert main(["launch", "dynamics", "--executor", "slurm", "stray"]) == 2  # not an sbatch option
    assert "sbatch options are given as --name=value" in capsys.readouterr().err
    # sbatch options (or a mistyped flag) would be ignored by the local executor while its runs train
    assert main(["launch", "dynamics", "--executor", "local", "--dryrun"]) == 2
    assert "--dryrun: options launch does not know go to sbatch" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["plan", "--constraint=a100"])


def _fake_done(item: launch.Planned, val_acc: float) -> None:
    """A finished run in the store without training: one evaluation row per split and DONE."""
    handle = item.handle
    handle.folder.mkdir(parents=True)
    handle.write_metrics([(1, "val", "acc", val_acc), (1, "test", "acc", 0.5)])
    handle.mark_done()


def test_reported_runs_wait_for_their_selection_runs_then_take_the_chosen_lambda(tmp_path, monkeypatch):
    """Table 2's reported runs at a term's lambda are submitted once its selection runs are done, at the lambda
    they choose: the configs ``supervised_info.run_study`` then reads from the store without training."""
    from paperlib.experiments import supervised_info

    _use_store(monkeypatch, tmp_path / "store")
    monkeypatch.setenv("PAPERLIB_DATA", str(tmp_path / "no-data"))  # any run it would train fails
    (study,) = registry.get("supervised_info").sweep("smoke")
    before = launch.sweep(["supervised_info"], "smoke")
    assert len(before.waiting) == 2 * len(study.seeds)  # MI and HDR at every reported seed
    best = study.lambdas[-1]  # make the selection runs choose the last candidate
    for item in before.runs:
        if item.config.seed == study.select_seed:
            _fake_done(item, 0.9 if item.config.extra_loss.split(":")[1] == f"{best:g}" else 0.1)
    after = launch.sweep(["supervised_info"], "smoke")
    assert after.waiting == []
    chosen = [i for i in after.runs if i.config.extra_loss and i.config.seed != study.select_seed]
    assert len(chosen) == len(before.waiting)
    assert {i.config.extra_loss.split(":")[1] for i in chosen} == {f"{best:g}"}
    for item in after.runs:
        if not item.handle.done:
            _fake_done(item, 0.5)
    table = supervised_info.run_study(study)  # reads every run it asks for: none is missing
    assert set(table[table.role == "chosen"]["lambda"]) == {0.0, best}
