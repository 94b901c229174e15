"""Every training and measuring path keeps its model and batches on ``distributed.device()``, checked without a
GPU.

On a CPU-only machine every tensor is on the CPU, so asserting ``x.device == distributed.device()`` would pass
even for a path that forgot ``.to(device)``. Instead the tests simulate a second device: ``distributed.device()``
returns ``VIRTUAL`` (``cpu:0``, a device object that differs from plain ``cpu`` yet computes on the CPU), and a
``TorchFunctionMode`` marks every tensor that reached it: the results of ``.to(VIRTUAL)`` (so also
``module.to(VIRTUAL)``), of factory functions given ``device=VIRTUAL``, and of every operation with a marked
input; ``.device`` of a marked tensor reads ``VIRTUAL``, so code that follows its model's device follows the
simulation, and ``.cpu()`` / ``.to("cpu")`` return unmarked tensors, as a real move back would. A forward
pre-hook on every module then requires each of its parameters, buffers and tensor inputs to be marked, and an
operation that mixes a marked tensor with an unmarked one of more than zero dimensions (which raises on a
real GPU) is recorded, except indexing and ``copy_``, which a GPU allows. A path that leaves its model, a batch
or the labels of its loss on the CPU therefore fails here (``test_the_check_catches_a_forgotten_move``).
"""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch

from paperlib import distributed, runs
from paperlib.experiments import lmc, pruning
from paperlib.experiments import own_network as own
from paperlib.train import freematch as fm
from paperlib.train import grokking as gk
from paperlib.train import supervised as sv

from .helpers import write_cifar, write_fashion_mnist
from .virtual_device import Simulation


@pytest.fixture
def sim(tmp_path, monkeypatch):
    data = write_cifar(tmp_path / "data", classes=10, per_file=30)
    write_fashion_mnist(data)
    monkeypatch.setenv("PAPERLIB_DATA", str(data))
    monkeypatch.setenv("PAPERLIB_RUNS", str(tmp_path / "runs"))
    return Simulation(monkeypatch)


def _recipe(**changes) -> sv.Recipe:
    base = dict(model="wrn-10-1", bn_momentum=0.1, steps=4, batch_size=8, eval_every=2, ckpt_every=2)
    return sv.Recipe(**{**base, "eval_per_class": 3, **changes})


SUPERVISED = sv.TrainConfig(recipe=_recipe(val_per_class=2), extra_loss="mi:0.2")
CIFAR = sv.TrainConfig(recipe=_recipe(dataset="cifar10", channels_last=True), extra_loss="hdr:0.5", seed=1)
FREEMATCH = fm.FreeMatchConfig(
    recipe=_recipe(dataset="cifar10", batch_size=4, val_per_class=1),
    num_labels=20,
    uratio=2,
    ema_model=0.9,
    extra_loss="mi:0.1",
)
GROKKING = gk.GrokConfig(p=7, train_frac=0.5, steps=6, eval_every=3, ckpt_every=3, metric_samples=12)

PATHS = {
    "supervised with an information loss": lambda: runs.run("supervised", SUPERVISED, sv.train),
    "supervised cifar channels_last": lambda: runs.run("supervised", CIFAR, sv.train),
    "freematch with strong augmentation": lambda: runs.run("freematch", FREEMATCH, fm.train),
    "grokking": lambda: runs.run("grokking", GROKKING, gk.train),
    "pruning masks and fine-tuning": lambda: pruning.compute(
        pruning.PruneConfig(
            train=SUPERVISED, seeds=(0,), sparsities=(0.5,), finetune_steps=2, compare_per_class=3
        ),
        0,
    ),
    "lmc path with recomputed BN": lambda: lmc.path(
        *lmc.endpoints(dataclasses.replace(SUPERVISED, extra_loss=""), spawn_step=2),
        (0.0, 0.5),
        1,
        per_class=3,
    ),
    "own network with probe and Monitor": lambda: runs.run(
        own.STORE,
        own.OwnNetworkConfig(steps=3, batch_size=8, eval_every=2, ckpt_every=3, eval_per_class=2),
        own.train,
    ),
}


@pytest.mark.parametrize("path", PATHS)
def test_every_training_and_measuring_path_stays_on_the_device(sim, path):
    with sim:
        PATHS[path]()
    assert sim.asked, f"{path} never asked distributed.device() where to train"
    assert not sim.mode.problems, f"{path} left tensors on the CPU:\n" + "\n".join(
        dict.fromkeys(sim.mode.problems)
    )


def test_resumed_runs_restore_onto_the_device(sim):
    """A checkpoint (saved from the device, read back with map_location='cpu') lands on the device again."""
    real = sv.Supervised.step

    def crash_at_three(self, step):
        if step == 3:
            raise KeyboardInterrupt("simulated crash after the step-2 checkpoint")
        return real(self, step)

    with sim:
        sim_patch = pytest.MonkeyPatch()
        sim_patch.setattr(sv.Supervised, "step", crash_at_three)
        with pytest.raises(KeyboardInterrupt):
            runs.run("supervised", SUPERVISED, sv.train)
        sim_patch.undo()
        runs.run("supervised", SUPERVISED, sv.train)
    assert not sim.mode.problems, "\n".join(dict.fromkeys(sim.mode.problems))


def _forgetful_steps(forget: str) -> None:
    """Three SGD steps of a small network, leaving out one move to the device."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 3))
    if forget != "model":
        model = model.to(distributed.device())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        x, y = torch.randn(6, 4), torch.randint(0, 3, (6,))
        if forget != "batch":
            x = x.to(distributed.device())
        if forget != "labels":
            y = y.to(distributed.device())
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    copy.deepcopy(model)(x)  # an EMA-style copy stays where the model is


@pytest.mark.parametrize("forget", ["model", "batch", "labels", "nothing"])
def test_the_check_catches_a_forgotten_move(monkeypatch, forget):
    sim = Simulation(monkeypatch)
    with sim:
        _forgetful_steps(forget)
    assert bool(sim.mode.problems) == (forget != "nothing"), sim.mode.problems
