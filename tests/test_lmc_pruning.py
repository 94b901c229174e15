"""Linear mode connectivity and pruning: interpolation end points, masks, and the paired metric."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from paperlib import configs, registry
from paperlib import data as D
from paperlib.experiments import lmc, pruning
from paperlib.metrics import paired_interplay
from paperlib.train.supervised import Recipe, TrainConfig, make_model

from .test_metrics import ref_entropy, ref_gram

CFG = TrainConfig(recipe=Recipe(model="wrn-10-1", bn_momentum=0.1))


def _trained_like(seed):
    """A model whose weights and BN buffers all differ from a fresh one (no training needed)."""
    model = make_model(CFG.recipe, seed)
    with torch.no_grad():
        for buf in model.buffers():
            if buf.is_floating_point():
                buf.add_(torch.rand_like(buf))
    return model.eval()


def test_interpolation_end_points_reproduce_both_models():
    a, b = _trained_like(1), _trained_like(2)
    x = torch.randn(5, 1, 28, 28)
    mixed = make_model(CFG.recipe, 0).eval()
    for omega, ref in ((0.0, a), (1.0, b)):
        mixed.load_state_dict(lmc.mix(a.state_dict(), b.state_dict(), omega))
        assert torch.equal(mixed(x)[0], ref(x)[0]) and torch.equal(mixed(x)[1], ref(x)[1])
    mixed.load_state_dict(lmc.mix(a.state_dict(), b.state_dict(), 0.5))
    assert not torch.equal(mixed(x)[0], a(x)[0])


def test_barrier_of_a_dip():
    import pandas as pd

    t = pd.DataFrame({"omega": [0, 0.5, 1], "acc": [0.9, 0.5, 0.8], "variant": "interpolated BN"})
    assert lmc.barrier(t)["interpolated BN"] == pytest.approx(0.35)


def test_recomputed_bn_statistics_match_the_data():
    model = _trained_like(3)
    images = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    lmc.recompute_bn(model, images, "fashion_mnist", batch=64)
    first = model.blocks[0].bn1  # sees the stem's output directly
    stem = model.stem(D.normalize(images, "fashion_mnist"))
    assert torch.allclose(first.running_mean, stem.mean(dim=(0, 2, 3)), atol=1e-5)


@pytest.mark.parametrize("channels_last", [False, True])  # True: the cpu profile's models
@pytest.mark.parametrize("sparsity", [0.1, 0.5, 0.9])
def test_masks_reach_sparsity_and_survive_finetuning(sparsity, channels_last):
    model = make_model(dataclasses.replace(CFG.recipe, channels_last=channels_last), 0)
    pruning.prune_globally(model, sparsity)
    assert pruning.sparsity_of(model)["overall"] == pytest.approx(sparsity, abs=1e-3)
    g = torch.Generator().manual_seed(0)
    fake = D.Split(
        torch.randint(0, 256, (128, 1, 28, 28), dtype=torch.uint8, generator=g), torch.arange(128) % 10
    )
    zeros_before = {n: m.weight == 0 for n, m in pruning.prunable(model)}
    pruning.finetune(model, CFG, fake, steps=3, lr=0.1, seed=0)
    after = pruning.sparsity_of(model)
    assert after["overall"] == pytest.approx(sparsity, abs=1e-3)
    for name, m in pruning.prunable(model):
        assert (m.weight[zeros_before[name]] == 0).all()


@pytest.mark.parametrize("n,d1,d2", [(60, 3, 4), (30, 6, 8)])  # Kronecker route, then the n x n route
def test_paired_interplay_matches_reference(n, d1, d2):
    g = torch.Generator().manual_seed(n)
    a, b = torch.randn(n, d1, generator=g), torch.randn(n, d2, generator=g)
    got = paired_interplay(a, b)
    k1, k2 = ref_gram(a.numpy()), ref_gram(b.numpy())
    h1, h2, hj = ref_entropy(k1), ref_entropy(k2), ref_entropy(k1 * k2)
    assert got["mir"] == pytest.approx((h1 + h2 - hj) / min(h1, h2), abs=1e-10)
    assert got["hdr"] == pytest.approx(abs(h1 - h2) / max(h1, h2), abs=1e-10)
    same = paired_interplay(a, a)
    assert same["hdr"] == 0 and 0 < same["mir"] <= 1
    with pytest.raises(ValueError, match="same number of rows"):
        paired_interplay(a, b[:-1])


@pytest.mark.parametrize("experiment", ["lmc", "pruning"])
@pytest.mark.parametrize("profile", configs.PROFILES)
def test_configs_exist_for_every_profile(experiment, profile):
    cfg = registry.config(experiment, profile)
    assert cfg.train.recipe.dataset == ("cifar10" if profile == "paper" else "fashion_mnist")
    assert len(cfg.seeds) >= 2  # the verdicts need a seed-to-seed spread
    if experiment == "lmc":
        # the paper profile sweeps Fig 4's learning rates down to 3e-4; cpu leaves 3e-4 out (see lmc.SPEC)
        assert (3e-4 in cfg.lrs) == (profile != "cpu") and len(cfg.lrs) >= (4 if profile == "paper" else 2)
        assert cfg.omegas[0] == 0 and cfg.omegas[-1] == 1
    else:
        if profile != "paper":  # pruning prunes chapter 04's eps = 0 models of each seed
            assert cfg.train == registry.config("label_smoothing", profile).train
        assert np.isclose(max(cfg.sparsities), 0.9)


def _supervised(**changes):
    from paperlib.train.supervised import Supervised

    base = registry.config("lmc", "smoke").train
    cfg = dataclasses.replace(base, **changes)
    return Supervised(dataclasses.replace(cfg, recipe=dataclasses.replace(cfg.recipe, steps=6)))


def _weights(method) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in method.model.parameters()])


def test_spawned_copies_share_their_first_k_steps_and_then_part():
    """Two copies spawned at k = 3 (same seed, different data_seed) train identically for three steps and
    differently after; without a spawn step the data orders differ from the first step."""
    a, b = _supervised(data_seed=1, spawn_step=3), _supervised(data_seed=2, spawn_step=3)
    for step in range(3):
        a.step(step), b.step(step)
    assert torch.equal(_weights(a), _weights(b))
    a.step(3), b.step(3)
    assert not torch.equal(_weights(a), _weights(b))
    c, d = _supervised(data_seed=1), _supervised(data_seed=2)
    c.step(0), d.step(0)
    assert not torch.equal(_weights(c), _weights(d))


def test_spawn_step_must_leave_steps_to_train_apart():
    base = registry.config("lmc", "smoke").train
    with pytest.raises(ValueError, match="spawn_step .* must be below"):
        dataclasses.replace(base, spawn_step=base.recipe.steps)


def test_lmc_pairs_and_paths():
    base = registry.config("lmc", "smoke").train
    a, b = lmc.endpoint_configs(base, lmc.SAME, spawn_step=5)
    assert (a.seed, a.data_seed, a.spawn_step) == (b.seed, b.data_seed - 1, b.spawn_step) == (base.seed, 1, 5)
    c, d = lmc.endpoint_configs(base, lmc.DIFFERENT)
    assert c.data_seed == d.data_seed and d.seed == c.seed + lmc.CONTROL_OFFSET
    with pytest.raises(ValueError, match="pair must be"):
        lmc.endpoint_configs(base, "other")
    cfg = dataclasses.replace(
        registry.config("lmc", "smoke"),
        lrs=(0.1, 0.01),
        lr_steps=(60, 120),
        spawn_steps=(0, 20),
        control=True,
    )
    assert lmc.studies(cfg) == [
        (0.1, 60, 0, lmc.SAME),
        (0.01, 120, 0, lmc.SAME),
        (0.1, 60, 20, lmc.SAME),
        (0.1, 60, 0, lmc.DIFFERENT),
    ]
    with pytest.raises(ValueError, match="one per learning rate"):
        dataclasses.replace(cfg, lr_steps=(60,))


def test_distance_between_end_points():
    sa = {"w": torch.tensor([3.0, 0.0]), "n": torch.tensor(1)}
    sb = {"w": torch.tensor([0.0, 4.0]), "n": torch.tensor(2)}
    d, rel = lmc.distance(sa, sb)
    assert d == pytest.approx(5.0) and rel == pytest.approx(5.0 / 3.5)  # integer buffers are left out


def test_cpu_lmc_runs_the_pilots_choice():
    """The cpu profile's first learning rate is the configuration the pilot's rule chose from its stored table
    (benchmarks/lmc_pilot.csv, written by `python -m benchmarks.lmc_pilot`)."""
    from paperlib.experiments import lmc_pilot

    table = lmc_pilot.stored()
    chosen = lmc_pilot.choose(table)
    assert chosen is not None and set(table.seed) == set(lmc_pilot.PILOT_SEEDS)
    assert not set(lmc_pilot.PILOT_SEEDS) & set(registry.config("lmc", "cpu").seeds)  # not a reported seed
    picked = lmc_pilot.candidates()[chosen].recipe
    cpu = registry.config("lmc", "cpu")
    first = dataclasses.replace(
        cpu.train.recipe, lr=cpu.lrs[0], steps=(cpu.lr_steps or (None,))[0] or cpu.train.recipe.steps
    )
    assert first == picked
    # the rule: candidates in cost order, the first above the bar; the pilot stopped there
    s = lmc_pilot.summary(table)
    assert list(s.index)[-1] == chosen and (s.barrier.iloc[:-1] <= lmc.BROKEN).all()
    assert list(s.cost_gflop_steps) == sorted(s.cost_gflop_steps)


def test_pilot_rule_picks_the_cheapest_candidate_above_the_bar():
    from paperlib.experiments import lmc_pilot

    rows = [
        ("a", 1, 10.0, 0.05),
        ("a", 2, 10.0, 0.07),
        ("b", 1, 20.0, 0.2),
        ("b", 2, 20.0, 0.15),
        ("c", 1, 5.0, 0.3),
        ("c", 2, 5.0, 0.01),
    ]  # c is cheapest but its mean is 0.155 > 0.10
    t = pd.DataFrame(rows, columns=["candidate", "seed", "cost_gflop_steps", "barrier"]).assign(
        barrier_recomputed_bn=0.0, end_acc=0.9, relative_distance=0.5
    )
    assert lmc_pilot.choose(t) == "c"
    assert lmc_pilot.choose(t[t.candidate == "b"]) == "b"
    assert lmc_pilot.choose(t[t.candidate == "a"]) is None
