"""``python -m paperlib plan``: its run counts against the folders a real smoke run leaves in an empty store,
and its report for every profile."""

from __future__ import annotations

import pytest

from paperlib import plan, registry
from paperlib.__main__ import main
from paperlib.configs import PROFILES

from .helpers import cut_settings, write_fashion_mnist

# Steps, batches and evaluation sizes are cut (at the smoke sizes this took minutes); seeds, label counts and
# lambda candidates stay as the smoke profile has them, so the structure each rule restates is
# the one the module runs.
CUTS = {
    "steps": 2,
    "eval_every": 2,
    "ckpt_every": 2,
    "batch_size": 2,
    "uratio": 1,
    "eval_per_class": 5,
    "val_per_class": 5,
    "compare_per_class": 5,
    "metric_samples": 64,
    "omegas": (0.0, 1.0),
    "bn_batches": 1,
    "sparsities": (0.9,),
    "finetune_steps": 1,
    "spawn_steps": (0, 1),  # LMC's copies spawned after one of the two steps
}
RUNNABLE = [name for name, spec in registry.experiments_by_name().items() if spec.runnable]


def _cuts(name: str) -> dict:
    return cut_settings(registry.get(name).config("smoke"), CUTS)


@pytest.fixture(scope="module")
def fashion_mnist(tmp_path_factory):
    # 140 training images per class: the smoke profile's 100 per class plus its validation splits (20 for
    # Table 2, 100 for FreeMatch, whose 250 labels take 25 per class); 50 test images per class.
    return write_fashion_mnist(tmp_path_factory.mktemp("fmnist"), n_train=1400, n_test=500)


@pytest.mark.parametrize("name", RUNNABLE)
def test_plan_counts_the_runs_a_smoke_run_trains(name, fashion_mnist, tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_DATA", str(fashion_mnist))
    monkeypatch.setenv("PAPERLIB_RUNS", str(tmp_path))
    spec = registry.get(name)
    spec.shell_report("smoke", **_cuts(name))
    found = {(d.parent.parent.name, d.parent.name) for d in tmp_path.glob("*/*/metrics.csv")}
    planned = [job for job in plan.jobs(spec, "smoke", **_cuts(name)) if job.run]
    assert len(found) == len(planned), (
        f"{name}: the store holds {len(found)} runs, the plan counts {len(planned)}"
    )
    # A run with an information term may carry a placeholder lambda in the plan; every other one is exact.
    exact = {job.key for job in planned if not getattr(job.config, "extra_loss", "")}
    assert exact <= found


def test_study_rules_follow_the_protocol_counts():
    study = registry.get("freematch").config("paper")
    counts, seeds, lambdas = len(study.label_counts), len(study.seeds), len(study.lambdas)
    runs = [job for job in plan._freematch(study) if job.run]
    unique = {job.key for job in runs}
    # baselines and FreeMatch per count and seed; each term at the chosen lambda per count and seed, plus its
    # selection runs (every lambda at select_at and select_seed, a seed of their own)
    assert len(unique) == 2 * counts * seeds + 2 * (counts * seeds + lambdas)
    info = registry.get("supervised_info").config("paper")
    assert len(plan._supervised_info(info)) == len(info.seeds) + 2 * (len(info.lambdas) + len(info.seeds))


def test_trainer_experiments_count_their_sweep():
    for name, spec in registry.experiments_by_name().items():
        if spec.trainer is not None and name not in plan.RULES:
            for profile in PROFILES:
                assert len(plan.jobs(spec, profile)) == len(spec.sweep(profile)), (name, profile)


def test_step_times_scale_with_images_and_leave_host_work_on_the_cpu():
    entry = {"images": 32, "step_s": 1.0, "host_images": 64, "host_s": 0.2}
    times = {"steps": {"supervised wrn-28-2 cifar10": entry}}
    kind = plan.StepKind("supervised", "wrn-28-2", "cifar10", 64)
    cpu, gpu = plan.seconds_per_step(kind, times)
    assert cpu == pytest.approx(2.0) and gpu == pytest.approx(0.2 + 1.8 / plan.SPEEDUP["wrn-28-2"])
    assert plan.seconds_per_step(kind, times, cpu_only=True) == pytest.approx((2.0, 2.0))
    assert plan.seconds_per_step(plan.StepKind("supervised", "wrn-28-8", "cifar100", 64), times) is None


def test_committed_step_times_cover_every_kind_the_profiles_train():
    times = plan.load_step_times()
    for profile in PROFILES:
        assert not plan.tally(profile, times)["total"].unmeasured, profile


@pytest.mark.parametrize("profile", PROFILES)
def test_plan_command_names_every_experiment_and_totals(profile, capsys):
    assert main(["plan", "--profile", profile]) == 0
    out = capsys.readouterr().out
    tallies = plan.tally(profile, plan.load_step_times())
    for name, spec in registry.experiments_by_name().items():
        t = tallies[name]
        assert f"{spec.notebook:<8}{name:<17}{t.runs:>6}{t.shared:>8}{t.steps:>16,}" in out
    assert f"{tallies['total'].runs:>6}" in out and "no GPU was available" in out
    assert all(f"  {p:<6}" in out for p in PROFILES)
