"""paperlib.Monitor: its cadence, its tidy frame, a writer, a fixed subset, and no effect on training."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import paperlib


def model_and_data(n=120, seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(12, 16), nn.BatchNorm1d(16), nn.Tanh(), nn.Linear(16, 5))
    g = torch.Generator().manual_seed(seed + 1)
    return model, torch.randn(n, 12, generator=g), torch.arange(n) % 5


class FakeWriter:
    def __init__(self):
        self.scalars = []

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))


def test_records_every_k_calls_into_a_tidy_frame():
    model, x, y = model_and_data()
    monitor = paperlib.Monitor((x, y), every=2, max_samples=50)
    results = [monitor.step(model) for _ in range(5)]
    assert [r is not None for r in results] == [True, False, True, False, True]
    frame = monitor.frame
    assert list(frame.columns) == ["step", "metric", "value"]
    assert sorted(frame.step.unique()) == [0, 2, 4]
    assert set(frame.metric) == set(paperlib.Monitor.METRICS) and len(frame) == 3 * len(
        paperlib.Monitor.METRICS
    )
    first = frame[frame.step == 0].set_index("metric").value
    assert first["mir"] == results[0].mir and first["accuracy"] == results[0].accuracy
    assert monitor.last.n == 50 and monitor.head == "3"


def test_explicit_steps_and_callback_use():
    model, x, y = model_and_data()
    monitor = paperlib.Monitor((x, y), every=10)
    assert monitor(model, 7) is None
    assert monitor(model, 20) is not None
    assert monitor.step(model, step=30).n == 120
    assert list(monitor.frame.step.unique()) == [20, 30]


def test_writer_gets_every_metric_as_a_scalar():
    model, x, y = model_and_data()
    writer = FakeWriter()
    monitor = paperlib.Monitor((x, y), every=5, writer=writer, tag="probe")
    monitor.step(model, 5)
    assert [(tag, step) for tag, _, step in writer.scalars] == [(f"probe/{m}", 5) for m in monitor.METRICS]
    assert writer.scalars[0][1] == monitor.last.mir


def test_subset_is_fixed_even_when_the_loader_shuffles():
    model, x, y = model_and_data()
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    monitor = paperlib.Monitor(loader, every=1, max_samples=40)
    a, b = monitor.step(model), monitor.step(model)
    assert a.n == b.n == 40 and a.mir == b.mir and a.hdr == b.hdr


def train(monitor=None, steps=6):
    model, x, y = model_and_data()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(steps):
        model.train()
        loss = nn.functional.cross_entropy(model(x[:32]), y[:32])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if monitor is not None:
            monitor.step(model, step)
    return model


def test_monitoring_does_not_change_training():
    _, x, y = model_and_data()
    watched = train(paperlib.Monitor((x, y), every=2))
    plain = train()
    assert watched.training
    for (name, a), b in zip(watched.state_dict().items(), plain.state_dict().values(), strict=True):
        assert torch.equal(a, b), name  # BatchNorm running statistics included


def test_bad_arguments():
    _, x, y = model_and_data()
    with pytest.raises(ValueError, match="every must be a positive int"):
        paperlib.Monitor((x, y), every=0)
    with pytest.raises(TypeError, match="add_scalar"):
        paperlib.Monitor((x, y), writer=object())
    with pytest.raises(ValueError, match="labels must be"):
        paperlib.Monitor((x, y), labels="soft")
    with pytest.raises(ValueError, match="data is empty"):
        paperlib.Monitor([])


@pytest.mark.parametrize("batch_size", [None, 16])
def test_records_equal_interplay_on_the_whole_subset(batch_size):
    """Streamed through paperlib.StreamingInterplay (600 rows > d * C = 80, so summed per class) or the batch
    mean's one batch at a time, a record equals interplay on every row of the subset."""
    from paperlib.metrics import interplay

    model, x, y = model_and_data(n=600)
    monitor = paperlib.Monitor(
        DataLoader(TensorDataset(x, y), batch_size=50), max_samples=None, batch_size=batch_size
    )
    result = monitor.step(model)
    model.eval()
    with torch.no_grad():
        feats = model[:3](x)
    want = interplay(feats, model[3].weight, y, batch_size=batch_size)
    for key in ("mir", "hdr", "mi", "h_features", "h_heads", "h_joint"):
        assert abs(getattr(result, key) - want[key]) <= 1e-10, key
    assert monitor.records[0] == (0, "mir", result.mir)
