"""Every experiment of the paper profile starts.

Each experiment runs its paper configuration (CIFAR-10 / WRN-28-2, CIFAR-100 / WRN-28-8, STL-10 / WRN-37-2,
the grokking transformer at p = 113) through the same call as ``python -m paperlib run NAME --profile paper``,
on tiny files written here in the official archive formats, with every run cut to two steps. The models keep
their paper size; only the steps, the batches, the evaluation sets and the number of seeds / candidates are
cut. A GPU user learns here, in minutes on a CPU, that a paper path is broken, instead of after the first
evaluation of a multi-day run. The chapters that repeat the training-dynamics settings start on CIFAR-10
alone unless the tests run with ``-m slow`` (see ``ONE_SETTING``).
"""

from __future__ import annotations

import dataclasses
import json
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from paperlib import plan, registry

from .helpers import cut_settings, write_fashion_mnist
from .virtual_device import Simulation

STEPS = 2
# Settings cut by leaf name wherever an experiment's config has them (and only where the cut makes the run
# smaller): two steps, the smallest batches BatchNorm trains on, one image per class for evaluation and
# validation, one seed and one lambda candidate, the shortest fine-tuning and interpolation path.
CUTS: dict[str, Any] = {
    "steps": STEPS,
    "eval_every": STEPS,
    "ckpt_every": STEPS,
    "batch_size": 2,
    "uratio": 1,
    "eval_per_class": 1,
    "val_per_class": 1,
    "metric_samples": 256,
    "finetune_steps": 1,
    "compare_per_class": 1,
    "bn_batches": 1,
    "omegas": (0.0, 1.0),
    "sparsities": (0.9,),
    "seeds": (0,),
    "lambdas": (0.1,),
}
# One smoothing level instead of five: the levels share one code path (the sweep is counted in test_plan.py).
# One learning rate instead of Fig 4's four in LMC: they share one code path, and each adds two end-point runs
# per setting (WRN-28-2 and WRN-28-8) on the CPU; the test took 126 s with all four. The four are pinned in
# test_lmc_sweeps_fig_4s_learning_rates.
EXTRA: dict[str, dict[str, Any]] = {"label_smoothing": {"label_smoothing": 0.1}, "lmc": {"lrs": (0.03,)}}
# Several minutes on 2 CPU cores: WRN-28-8 runs whose evaluations alone forward 100 to 300 CIFAR-100 images.
SLOW = {"freematch", "supervised_info"}
# The chapters built on the training-dynamics settings (``dynamics.settings``) start on CIFAR-10 / WRN-28-2
# only: their CIFAR-100 / WRN-28-8 half forwards 100 test images through WRN-28-8 about ten times (a chapter's
# start took 66 to 82 s beside another test worker, against about 1 s on CIFAR-10 alone). The dynamics start
# trains both settings through the same code, test_supervised_chapters_sweep_both_paper_settings pins their
# sweeps, and `-m slow` starts them in full.
ONE_SETTING = {"label_smoothing", "lmc", "pruning"}

# Images per class in the written files: enough for the largest labeled set of the paper profile (CIFAR-10
# 250 labels and CIFAR-100 2,500 labels: 25 per class; STL-10 1,000 labels: 100 per class), plus one
# validation image per class and a few left for the unlabeled pool.
TRAIN_PER_CLASS = {"cifar10": 30, "cifar100": 27, "stl10": 102}
TEST_PER_CLASS = 1
STL_UNLABELED = 10


def _cifar_rows(rng: np.random.Generator, per_class: int, classes: int, key: bytes) -> dict:
    labels = np.arange(per_class * classes) % classes
    rows = {b"data": rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8), key: labels.tolist()}
    if key == b"fine_labels":
        rows[b"coarse_labels"] = (labels // 5).tolist()
    return rows


def _pickle(path: Path, rows: dict) -> None:
    with open(path, "wb") as fh:
        pickle.dump(rows, fh)


def write_paper_data(root: Path) -> Path:
    """cifar-10-batches-py/, cifar-100-python/ and stl10_binary/ as the official archives extract them."""
    rng = np.random.default_rng(0)
    c10 = root / "cifar-10-batches-py"
    c10.mkdir(parents=True)
    train = _cifar_rows(rng, TRAIN_PER_CLASS["cifar10"], 10, b"labels")
    for i, part in enumerate(np.array_split(np.arange(len(train[b"labels"])), 5), start=1):
        rows = {b"data": train[b"data"][part], b"labels": [train[b"labels"][j] for j in part]}
        _pickle(c10 / f"data_batch_{i}", rows)
    _pickle(c10 / "test_batch", _cifar_rows(rng, TEST_PER_CLASS, 10, b"labels"))
    c100 = root / "cifar-100-python"
    c100.mkdir()
    _pickle(c100 / "train", _cifar_rows(rng, TRAIN_PER_CLASS["cifar100"], 100, b"fine_labels"))
    _pickle(c100 / "test", _cifar_rows(rng, TEST_PER_CLASS, 100, b"fine_labels"))
    stl = root / "stl10_binary"
    stl.mkdir()
    for split, n in (("train", 10 * TRAIN_PER_CLASS["stl10"]), ("test", 10 * TEST_PER_CLASS)):
        images = rng.integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)
        images.transpose(0, 1, 3, 2).tofile(stl / f"{split}_X.bin")  # STL-10 stores images column-major
        (np.arange(n) % 10 + 1).astype(np.uint8).tofile(stl / f"{split}_y.bin")  # labels 1..10
    rng.integers(0, 256, (STL_UNLABELED, 3, 96, 96), dtype=np.uint8).tofile(stl / "unlabeled_X.bin")
    return root


@pytest.fixture(scope="module")
def paper_data(tmp_path_factory) -> Path:
    folder = write_paper_data(tmp_path_factory.mktemp("paper-data"))
    write_fashion_mnist(folder)  # chapter 08's paper profile stays on Fashion-MNIST (it is about the API)
    return folder


def two_step_overrides(name: str, every_setting: bool = False) -> dict[str, Any]:
    """The paper profile of experiment ``name`` cut to two steps (``CUTS`` and its ``EXTRA`` cuts), on the
    CIFAR-10 setting alone for the ``ONE_SETTING`` chapters unless ``every_setting``."""
    one = {"dataset": "cifar10"} if name in ONE_SETTING and not every_setting else {}
    return {**cut_settings(registry.get(name).config("paper"), CUTS), **EXTRA.get(name, {}), **one}


def _settings(tree: Any) -> set[tuple[str, str]]:
    """Every (data set, model) pair named anywhere in a config, as a dataclass or as its stored JSON."""
    if dataclasses.is_dataclass(tree) and not isinstance(tree, type):
        tree = dataclasses.asdict(tree)
    if isinstance(tree, dict):
        found = {(tree["dataset"], tree["model"])} if {"dataset", "model"} <= set(tree) else set()
        return found.union(*(_settings(v) for v in tree.values()))
    if isinstance(tree, list | tuple):
        return set().union(*(_settings(v) for v in tree))
    return set()


def _trained(store: Path) -> list[Path]:
    """The finished training runs (folders with ``DONE`` and ``metrics.csv``) anywhere in the store."""
    return sorted(done.parent for done in store.glob("*/*/DONE") if (done.parent / "metrics.csv").exists())


def test_cuts_only_shrink_and_reach_nested_settings():
    overrides = two_step_overrides("freematch")
    assert overrides["freematch.recipe.steps"] == STEPS and overrides["freematch.uratio"] == 1
    assert overrides["seeds"] == (0,) and "freematch.seed" not in overrides
    assert "recipe.val_per_class" not in two_step_overrides("dynamics")


def test_lmc_sweeps_fig_4s_learning_rates():
    cfg = registry.config("lmc", "paper")
    assert cfg.lrs == (0.03, 0.01, 3e-3, 3e-4) and len(cfg.seeds) == 3


@pytest.mark.parametrize("name", sorted(ONE_SETTING))
def test_supervised_chapters_sweep_both_paper_settings(name):
    both = {("cifar10", "wrn-28-2"), ("cifar100", "wrn-28-8")}
    assert _settings(registry.sweep(name, "paper")) == both
    assert _settings(registry.sweep(name, "paper", **two_step_overrides(name, every_setting=True))) == both
    assert _settings(registry.sweep(name, "paper", **two_step_overrides(name))) == {("cifar10", "wrn-28-2")}


def _start_params():
    for n in registry.experiments_by_name():
        yield pytest.param(n, False, id=n, marks=[pytest.mark.slow] if n in SLOW else [])
        if n in ONE_SETTING:
            yield pytest.param(n, True, id=f"{n}-every-setting", marks=pytest.mark.slow)


@pytest.mark.parametrize(("name", "every_setting"), list(_start_params()))
def test_paper_profile_starts(name, every_setting, paper_data, tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_DATA", str(paper_data))
    monkeypatch.setenv("PAPERLIB_RUNS", str(tmp_path / "runs"))
    spec = registry.get(name)
    overrides = two_step_overrides(name, every_setting)
    sweep = spec.sweep("paper", **overrides)
    assert sweep, f"{name}: the paper profile's sweep is empty"
    if not spec.runnable:
        return  # nothing to train (nc_theory draws synthetic data); building its paper config is the check
    # Fail here, not after hours, when a cut misses an inner run (a study that builds its runs another way).
    long = [job.config for job in plan.jobs(spec, "paper", **overrides) if job.steps > STEPS]
    assert not long, f"{name}: the cuts leave runs longer than {STEPS} steps: {long}"
    assert spec.shell_report("paper", **overrides).strip()
    trained = _trained(tmp_path / "runs")
    assert trained, f"{name}: the paper profile trained no run"
    stored = set()
    for folder in trained:
        rows = pd.read_csv(folder / "metrics.csv")
        assert rows.step.max() == STEPS, f"{folder}: ran to step {rows.step.max()}, not {STEPS}"
        stored |= _settings(json.loads((folder / "config.json").read_text()))
    missing = _settings(sweep) - stored
    assert not missing, f"{name}: no run trained the paper setting(s) {sorted(missing)}"


# On the simulated device (tests/virtual_device.py): every chapter's paper path at full model size keeps its
# models, batches and labels on distributed.device(), which a CPU-only start cannot show. By default only the
# chapters with paths of their own beyond the trainers (grokking, LMC's interpolation and BatchNorm
# recomputation, pruning's fine-tuning: 4 to 11 s each here, measured while other jobs ran); the rest, whose
# trainers tests/test_device.py covers at small size, with `-m slow` (the dynamics start alone took 57 s).
DEVICE_FAST = {"grokking", "lmc", "pruning"}


def _device_params():
    for n, spec in registry.experiments_by_name().items():
        if spec.runnable:
            yield pytest.param(n, id=n, marks=[] if n in DEVICE_FAST else [pytest.mark.slow])


@pytest.mark.parametrize("name", list(_device_params()))
def test_paper_profile_starts_on_the_device(name, paper_data, tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_DATA", str(paper_data))
    monkeypatch.setenv("PAPERLIB_RUNS", str(tmp_path / "runs"))
    sim = Simulation(monkeypatch)
    with sim:
        registry.get(name).shell_report("paper", **two_step_overrides(name))
    assert sim.asked, f"{name}: the paper path never asked distributed.device() where to train"
    assert not sim.mode.problems, f"{name} left tensors on the CPU:\n" + "\n".join(
        dict.fromkeys(sim.mode.problems)
    )
