"""``python -m paperlib plan``: its run counts against the folders a real smoke run leaves in an empty store,
and its report for every profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from benchmarks import flops as flops_bench
from paperlib import costs, plan, registry
from paperlib import data as D
from paperlib.__main__ import main
from paperlib.configs import PROFILES
from paperlib.train.supervised import make_model

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


def test_cpu_times_scale_with_images_and_gpu_times_come_from_counted_work_or_a_measurement():
    like = registry.config("dynamics", "paper")
    kind = plan.step_kind(like)  # supervised wrn-28-2 cifar10, 64 images
    times = {"steps": {kind.name: {"images": 32, "step_s": 1.0}}}
    cpu, gpu, measured = plan.seconds_per_step(kind, like, times, {})
    work = costs.work(kind.name, like)
    flops_s = work["flops_per_image"] * 64 / costs.GPU.sustained_flops
    assert cpu == pytest.approx(2.0) and not measured
    assert gpu == pytest.approx(max(flops_s, work["ops"] * costs.GPU.launch_s))
    gpu_times = {"steps": {kind.name: {"images": 128, "step_s": 0.01}}}
    assert plan.seconds_per_step(kind, like, times, gpu_times)[1:] == (pytest.approx(0.005), True)
    other = plan.StepKind("supervised", "wrn-28-8", "cifar100", 64)
    assert plan.seconds_per_step(other, like, times, {})[0] is None


def _hand_count(like, images: int) -> float:
    """Forward FLOPs of every convolution and linear layer (2 x multiply-adds), from their shapes on the CPU."""
    total = 0.0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            kh, kw = module.kernel_size
            total += 2 * output.numel() * module.in_channels // module.groups * kh * kw
        elif isinstance(module, torch.nn.Linear):
            total += 2 * output.numel() * module.in_features

    model = make_model(like.recipe, 0)
    handles = [m.register_forward_hook(hook) for m in model.modules()]
    side = costs.IMAGE_SIDE[like.recipe.dataset]
    model(torch.zeros(images, len(D.STATS[like.recipe.dataset][0]), side, side))
    for h in handles:
        h.remove()
    return total


def test_counted_flops_are_forward_and_backward_of_every_convolution_and_product():
    """Backward costs twice the forward (gradients of inputs and of weights), except the input gradient of the
    first convolution, which nothing needs; the meta device counts what a real forward on the CPU shows."""
    like = registry.config("dynamics", "smoke")  # WRN-10-1 on Fashion-MNIST
    forward = _hand_count(like, 2) / 2
    first = next(m for m in make_model(like.recipe, 0).modules() if isinstance(m, torch.nn.Conv2d))
    first_flops = 2 * 28 * 28 * first.out_channels * first.in_channels * 9
    assert costs.count(like)["flops_per_image"] == pytest.approx(3 * forward - first_flops, rel=1e-12)


def test_committed_flop_counts_equal_a_fresh_count_for_every_kind():
    stored = json.loads(costs.FLOPS.read_text())["kinds"]
    assert stored == flops_bench.counts(), "benchmarks/flops.json is stale: run python -m benchmarks.flops"


def test_readme_states_the_paper_plan_it_prints():
    """The README's paper-profile paragraph gives the runs and GPU hours that ``plan --profile paper`` prints."""
    t = plan.tally("paper", plan.load_step_times())["total"]
    text = " ".join((Path(__file__).resolve().parents[1] / "README.md").read_text().split())
    assert f"trains {t.runs} runs" in text
    assert f"{t.gpu_s / 3600:,.0f} GPU hours" in text and costs.GPU.name in text


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
    assert f"{tallies['total'].runs:>6}" in out and "FlopCounterMode" in out and costs.GPU.why in out
    assert all(f"  {p:<6}" in out for p in PROFILES)
