"""The training engine: models, label smoothing, determinism, the run store's cache and kill -9 resume."""

import dataclasses
import math
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import torch.nn.functional as F

from paperlib import configs, registry, runs
from paperlib.experiments.common import with_recipe
from paperlib.models import build
from paperlib.train.supervised import (
    Recipe,
    TrainConfig,
    cosine_factor,
    make_model,
    smoothed_targets,
    train,
)

from .helpers import write_cifar, write_fashion_mnist

TINY = TrainConfig(
    recipe=Recipe(model="wrn-10-1", bn_momentum=0.1, steps=12, batch_size=16, eval_every=4, ckpt_every=4)
)


@pytest.fixture
def fm_data(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_DATA", str(write_fashion_mnist(tmp_path / "data")))
    return tmp_path


# Parameter counts and state layout against USB's: tests/test_models_usb.py.


def test_models_return_logits_features_and_heads():
    model = build("wrn-10-1", 10, in_channels=1)
    logits, feats = model(torch.randn(3, 1, 28, 28))
    assert logits.shape == (3, 10) and feats.shape == (3, model.num_features)
    assert model.head_weight.shape == (10, model.num_features)
    assert torch.allclose(logits, feats @ model.head_weight.T + model.head.bias, atol=1e-5)


def test_label_smoothing_matches_its_formula():
    g = torch.Generator().manual_seed(0)
    logits, labels = torch.randn(8, 5, generator=g), torch.randint(0, 5, (8,), generator=g)
    eps = 0.2
    logp = logits.log_softmax(1)
    by_hand = -((1 - eps) * logp.gather(1, labels[:, None]).squeeze(1) + eps / 5 * logp.sum(1)).mean()
    ours = F.cross_entropy(logits, smoothed_targets(labels, 5, eps))
    assert ours.item() == pytest.approx(by_hand.item(), abs=1e-6)
    assert ours.item() == pytest.approx(F.cross_entropy(logits, labels, label_smoothing=eps).item(), abs=1e-6)


def test_cosine_schedule_endpoints():
    assert cosine_factor(0, 100) == 1.0
    assert cosine_factor(100, 100) == pytest.approx(math.cos(7 * math.pi / 16))


def test_short_run_is_deterministic(fm_data, monkeypatch):
    tables = []
    for store in ("a", "b"):
        monkeypatch.setenv("PAPERLIB_RUNS", str(fm_data / store))
        done = runs.run("supervised", TINY, train)
        tables.append((done.folder / "metrics.csv").read_bytes())
    assert tables[0] == tables[1]
    frame = done.metrics()
    assert sorted(frame.step.unique()) == [0, 4, 8, 12]
    assert {"acc", "loss", "mir", "hdr", "mir_batch", "nc1", "nc2_equiangular", "nc3", "nc4"} <= set(
        frame.metric
    )


def test_channels_last_recipe_is_deterministic_close_to_eager_and_hashed_only_when_on(fm_data, monkeypatch):
    """The cpu profile's channels_last: the model is built in that order, two runs agree bit for bit, and the
    numbers stay near eager's (different kernels round differently, so not equal)."""
    fast = with_recipe(TINY, channels_last=True)
    # a 3 x 3 convolution with several input channels (the stem's one channel and 1 x 1 shortcuts look the same
    # in either order)
    conv = next(p for p in make_model(fast.recipe, 0).parameters() if p.ndim == 4 and min(p.shape[1:]) > 1)
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert runs.config_hash("supervised", fast) != runs.config_hash("supervised", TINY)
    assert registry.config("dynamics", "cpu").recipe.channels_last
    assert not registry.config("dynamics", "smoke").recipe.channels_last
    finals = []
    for store, cfg in (("a", fast), ("b", fast), ("c", TINY)):
        monkeypatch.setenv("PAPERLIB_RUNS", str(fm_data / store))
        frame = runs.run("supervised", cfg, train).metrics()
        finals.append(frame[frame.step == 12].set_index("metric").value)
    assert finals[0].equals(finals[1])
    for key in ("acc", "mir", "hdr"):
        assert finals[0][key] == pytest.approx(finals[2][key], abs=0.05)


def test_cache_hit_does_not_train(fm_data, monkeypatch):
    monkeypatch.setenv("PAPERLIB_RUNS", str(fm_data / "store"))
    first = runs.run("supervised", TINY, train)

    def must_not_train(*_):
        raise AssertionError("a finished run was trained again")

    again = runs.run("supervised", TINY, must_not_train)
    assert again.folder == first.folder and again.done
    other = runs.Run("supervised", with_recipe(TINY, lr=0.01))
    assert other.folder != first.folder and not other.done


def _cli(store, data, *sets):
    env = {**os.environ, "PAPERLIB_RUNS": str(store), "PAPERLIB_DATA": str(data), "PAPERLIB_QUIET": "1"}
    args = [sys.executable, "-m", "paperlib", "run", "dynamics", "--profile", "smoke"]
    for s in sets:
        args += ["--set", s]
    return args, env


def test_resume_after_kill_9_gives_identical_metrics(fm_data):
    sets = ("train_per_class=null", "eval_per_class=null", "steps=120", "eval_every=20", "ckpt_every=20")
    args, env = _cli(fm_data / "killed", fm_data / "data", *sets)
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    folder = runs.Run(
        "supervised", registry.config("dynamics", "smoke", **configs.parse_overrides(list(sets)))
    )
    deadline = time.time() + 120
    ckpt = fm_data / "killed" / "supervised" / folder.folder.name / "checkpoint.pt"
    while not ckpt.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # somewhere past the first checkpoint, mid-run
    assert proc.poll() is None, (
        f"the run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    )
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (ckpt.parent / "DONE").exists()
    assert subprocess.run(args, env=env, capture_output=True).returncode == 0  # resumes
    clean_args, clean_env = _cli(fm_data / "clean", fm_data / "data", *sets)
    assert subprocess.run(clean_args, env=clean_env, capture_output=True).returncode == 0
    resumed = (ckpt.parent / "metrics.csv").read_bytes()
    clean = (fm_data / "clean" / "supervised" / folder.folder.name / "metrics.csv").read_bytes()
    assert resumed == clean


def test_cli_rejects_unknown_setting(fm_data):
    args, env = _cli(fm_data / "x", fm_data / "data", "stepz=3")
    done = subprocess.run(args, env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "unknown setting(s) ['stepz']" in done.stderr


def test_paper_configuration_runs_two_steps_on_cifar_files(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_DATA", str(write_cifar(tmp_path / "data", classes=10, per_file=20)))
    monkeypatch.setenv("PAPERLIB_RUNS", str(tmp_path / "runs"))
    paper = registry.sweep("dynamics", "paper")
    recipes = [c.recipe for c in paper]
    assert [(r.dataset, r.model) for r in recipes] == [("cifar10", "wrn-28-2"), ("cifar100", "wrn-28-8")]
    assert recipes[0].steps == 2**20 and recipes[0].lr == 0.03 and recipes[0].batch_size == 64
    cfg = with_recipe(paper[0], steps=2, eval_every=2, ckpt_every=2)
    done = runs.run("supervised", cfg, train)
    assert done.done and sorted(done.metrics().step.unique()) == [0, 2]


def test_label_smoothing_sweeps_levels_and_seeds_and_pruning_reuses_its_runs():
    cfg = registry.config("label_smoothing", "cpu")
    sweep = registry.sweep("label_smoothing", "cpu")
    assert len(sweep) == len(cfg.levels) * len(cfg.seeds) and len(cfg.seeds) >= 3
    assert {(c.label_smoothing, c.seed) for c in sweep} == {(e, s) for e in cfg.levels for s in cfg.seeds}
    plain = [c for c in sweep if c.label_smoothing == 0.0]
    pruned = registry.config("pruning", "cpu")
    for seed in pruned.seeds:  # the models chapter 05 prunes are chapter 04's eps = 0 runs
        model = dataclasses.replace(pruned.train, seed=seed)
        assert any(runs.config_hash("supervised", c) == runs.config_hash("supervised", model) for c in plain)


def test_a_field_added_later_keeps_stored_hashes_until_it_is_set():
    """A field marked ``NEW_FIELD`` enters the hash only when set, so runs stored before it keep folders."""

    @dataclasses.dataclass(frozen=True)
    class Before:
        steps: int = 3

    @dataclasses.dataclass(frozen=True)
    class After:
        steps: int = 3
        extra: int = dataclasses.field(default=0, metadata={runs.NEW_FIELD: True})

    assert runs.config_hash("x", After()) == runs.config_hash("x", Before())
    assert runs.config_hash("x", After(extra=5)) != runs.config_hash("x", Before())


def test_overrides_by_short_or_dotted_name_and_clear_errors():
    cfg = registry.config("lmc", "smoke", steps=7, **{"train.seed": 3})
    assert cfg.train.recipe.steps == 7 and cfg.train.seed == 3
    assert registry.config("lmc", "smoke", **{"train.recipe.lr": 0.5}).train.recipe.lr == 0.5
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['stepz'\]"):
        registry.config("dynamics", "smoke", stepz=3)
    with pytest.raises(ValueError, match="ambiguous"):
        configs.override(
            dataclasses.make_dataclass("Two", [("a", TrainConfig), ("b", TrainConfig)])(TINY, TINY), steps=3
        )
    assert configs.parse_overrides(["seeds=[0,1]", "model=wrn-10-1"]) == {
        "seeds": (0, 1),
        "model": "wrn-10-1",
    }
    with pytest.raises(ValueError, match="key=value"):
        configs.parse_overrides(["steps"])
