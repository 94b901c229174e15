"""paperlib.probe on torchvision classifiers, the project's WideResNet, dict batches and models built to
confuse it: the head it finds, the numbers against paperlib.metrics, and the errors it gives."""

import dataclasses
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import paperlib
from paperlib import models
from paperlib.metrics import interplay
from paperlib.probe import IGNORE_INDEX, Probe


def images(n=40, channels=3, size=32, classes=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, channels, size, size, generator=g), torch.arange(n) % classes


class Net(nn.Module):
    """A small MLP whose head input is easy to compute by hand: ``body(x)``."""

    def __init__(self, d_in=12, d=8, classes=5, bias=True):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(d_in, 16), nn.Tanh(), nn.Linear(16, d), nn.Tanh())
        self.classifier = nn.Linear(d, classes, bias=bias)

    def forward(self, x):
        return self.classifier(self.body(x))


def tabular(n=60, d_in=12, classes=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d_in, generator=g), torch.arange(n) % classes


def no_hooks(model):
    return all(not m._forward_pre_hooks and not m._forward_hooks for m in model.modules())


@pytest.mark.parametrize(
    "build, head",
    [
        (lambda: torchvision.models.resnet18(weights=None, num_classes=10), "fc"),
        (lambda: torchvision.models.vgg11(weights=None, num_classes=10), "classifier.6"),
        (lambda: torchvision.models.efficientnet_b0(weights=None, num_classes=10), "classifier.1"),
        (
            lambda: torchvision.models.VisionTransformer(
                image_size=32,
                patch_size=8,
                num_layers=1,
                num_heads=2,
                hidden_dim=32,
                mlp_dim=64,
                num_classes=10,
            ),
            "heads.head",
        ),
    ],
    ids=["resnet18", "vgg11", "efficientnet_b0", "vit"],
)
def test_torchvision_classifiers_unchanged(build, head):
    torch.manual_seed(0)
    model = build()
    nn.init.normal_(model.get_submodule(head).weight)  # the ViT's head starts at zero
    x, y = images()
    found = paperlib.probe(model, (x, y))
    assert found.head == head
    module = model.get_submodule(head)
    assert (found.n, found.d, found.classes) == (40, module.in_features, 10)
    given = paperlib.probe(model, (x, y), head=head)
    assert given == found
    assert 0 <= found.mir <= 1 and 0 <= found.hdr <= 1
    assert model.training and no_hooks(model)


def test_wide_resnet_returning_a_tuple():
    model = models.build("wrn-10-1", 10, in_channels=1)
    x, y = images(channels=1, size=28)
    result = paperlib.probe(model, (x, y))
    assert result.head == "head"
    model.eval()
    with torch.no_grad():
        logits, feats = model(x)
    model.train()
    exact = interplay(feats, model.head.weight, y)
    for key, value in exact.items():
        assert getattr(result, key) == pytest.approx(value, rel=1e-9, abs=1e-12)
    predicted = paperlib.probe(model, (x, y), labels="predicted")
    assert predicted.mir == pytest.approx(
        interplay(feats, model.head.weight, logits.argmax(1))["mir"], rel=1e-9
    )
    assert predicted.accuracy == pytest.approx((logits.argmax(1) == y).double().mean().item())


def test_exact_equals_metrics_and_batch_mean_matches_its_batch_mean():
    model = Net()
    x, y = tabular()
    loader = DataLoader(TensorDataset(x, y), batch_size=32)
    with torch.no_grad():
        feats = model.body(x)
    exact = paperlib.probe(model, loader)
    for key, value in interplay(feats, model.classifier.weight, y).items():
        assert getattr(exact, key) == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert (exact.n, exact.d, exact.classes, exact.head) == (60, 8, 5, "classifier")
    assert (exact.batch_size, exact.labels, exact.skipped_batches) == (None, "true", 0)
    mean = paperlib.probe(model, loader, batch_size=20)
    reference = interplay(feats, model.classifier.weight, y, batch_size=20)
    assert mean.mir == pytest.approx(reference["mir"], rel=1e-12)
    assert mean.hdr == pytest.approx(reference["hdr"], rel=1e-12)
    assert mean.mir != pytest.approx(exact.mir, rel=1e-3)
    assert mean.batch_size == 20


def test_head_bias_is_ignored_in_the_heads_but_used_for_predictions():
    model = Net()
    with torch.no_grad():
        model.classifier.bias.copy_(torch.tensor([0.0, 0.3, -0.2, 0.5, 0.1]))
    x, y = tabular()
    with torch.no_grad():
        feats = model.body(x)
        pred = F.linear(feats, model.classifier.weight, model.classifier.bias).argmax(1)
    assert paperlib.probe(model, (x, y)).mir == pytest.approx(
        interplay(feats, model.classifier.weight, y)["mir"]
    )
    predicted = paperlib.probe(model, (x, y), labels="predicted")
    assert predicted.mir == pytest.approx(interplay(feats, model.classifier.weight, pred)["mir"])
    assert predicted.accuracy == pytest.approx((pred == y).double().mean().item())


class TwoHeads(nn.Module):
    def __init__(self, as_tuple):
        super().__init__()
        self.as_tuple = as_tuple
        self.body = nn.Linear(12, 8)
        self.head_a, self.head_b = nn.Linear(8, 5), nn.Linear(8, 5)

    def forward(self, x):
        z = torch.tanh(self.body(x))
        a, b = self.head_a(z), self.head_b(z)
        return (a, b) if self.as_tuple else a + b


@pytest.mark.parametrize("as_tuple", [True, False])
def test_two_candidate_heads_are_an_error_naming_both(as_tuple):
    model = TwoHeads(as_tuple)
    x, y = tabular()
    with pytest.raises(
        ValueError, match=r"2 nn.Linear modules could be.*'head_a' \(8 -> 5\), 'head_b' \(8 -> 5\)"
    ):
        paperlib.probe(model, (x, y))
    assert no_hooks(model) and model.training
    assert paperlib.probe(model, (x, y), head="head_b").head == "head_b"


def test_zero_head_rows_are_an_error_naming_the_head():
    model = torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=1, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10
    )
    with pytest.raises(
        ValueError, match=r"head 'heads.head' has 10 all-zero weight row\(s\).*initialize the head"
    ):
        paperlib.probe(model, images(n=20))


def test_head_errors_say_what_to_do():
    model, (x, y) = Net(), tabular()
    with pytest.raises(ValueError, match=r"no submodule 'fc'.*'classifier' \(8 -> 5\)"):
        paperlib.probe(model, (x, y), head="fc")
    with pytest.raises(ValueError, match=r"'body' is a Sequential, not an nn.Linear"):
        paperlib.probe(model, (x, y), head="body")
    with pytest.raises(ValueError, match="not a submodule of the model"):
        paperlib.probe(model, (x, y), head=nn.Linear(8, 5))
    conv = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())
    with pytest.raises(ValueError, match="no nn.Linear module"):
        paperlib.probe(conv, images(n=4, size=5))


def test_no_candidate_lists_the_linears():
    # The output is a softmax (a new tensor) 3 wide, but the labels reach 4: no Linear fits.
    model = nn.Sequential(nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 3), nn.Softmax(-1))
    x, y = tabular()
    with pytest.raises(ValueError, match=r"found no classifier head.*'0' \(12 -> 8\), '2' \(8 -> 3\)"):
        paperlib.probe(model, (x, y))


def test_head_found_by_width_when_the_output_is_a_new_tensor():
    model = nn.Sequential(nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 5), nn.LogSoftmax(-1))
    assert paperlib.probe(model, tabular()).head == "2"


@pytest.mark.parametrize(
    "kwargs, data, match",
    [
        (dict(labels="soft"), None, "labels must be 'true'.*or 'predicted'"),
        (dict(max_samples=0), None, "max_samples must be a positive int"),
        (dict(batch_size=1), None, "batch_size must be an int >= 2"),
        (
            {},
            (torch.randn(6, 12), torch.tensor([0, 1, 2, 3, 4, 5])),
            r"labels must be class indices in \[0, 4\]",
        ),
        ({}, (torch.randn(6, 12), torch.tensor([0, 1, -2, 3, 4, 0])), r"got range \[-2, 4\]"),
        ({}, (torch.randn(6, 12), torch.rand(6)), "integer class indices"),
        ({}, (torch.randn(6, 12), torch.arange(5)), "6 rows but labels have 5"),
        ({}, [], "data is empty"),
        (
            {},
            DataLoader(TensorDataset(torch.randn(0, 12), torch.zeros(0, dtype=torch.long))),
            "data is empty",
        ),
        ({}, [{"x": torch.randn(6, 12)}], "without a 'labels' key"),
    ],
)
def test_bad_arguments_are_clear_value_errors(kwargs, data, match):
    model = Net()
    with pytest.raises(ValueError, match=match):
        paperlib.probe(model, tabular() if data is None else data, **kwargs)
    assert model.training and no_hooks(model)


def test_data_of_an_unknown_form_is_a_type_error():
    with pytest.raises(TypeError, match="DataLoader"):
        paperlib.probe(Net(), torch.randn(6, 12))


class Fails(Net):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("boom")
        return super().forward(x)


@pytest.mark.parametrize("head", [None, "classifier"])
def test_hooks_removed_and_modes_restored_after_an_error(head):
    model = Fails()
    model.body[1].eval()  # a mixed model: each module's own flag must come back, not a global train()
    x, y = tabular()
    with pytest.raises(RuntimeError, match="boom"):
        paperlib.probe(model, DataLoader(TensorDataset(x, y), batch_size=10), head=head)
    assert no_hooks(model)
    assert [m.training for m in model.modules()] == [True, True, True, False, True, True, True]


def test_mode_restored_for_a_model_in_eval():
    model = Net().eval()
    paperlib.probe(model, tabular())
    assert not any(m.training for m in model.modules())


class DictModel(nn.Module):
    """A Hugging Face-shaped model: keyword inputs, a dict output with ``logits``."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(12, 8)
        self.classifier = nn.Linear(8, 5)

    def forward(self, pixel_values, scale=None):
        logits = self.classifier(torch.tanh(self.encoder(pixel_values * scale)))
        return {"loss": logits.sum(), "logits": logits}


def test_dict_batches_pass_the_rest_as_keywords():
    model = DictModel()
    x, y = tabular()
    batches = [
        {"pixel_values": x[i : i + 16], "scale": torch.tensor(2.0), "labels": y[i : i + 16]}
        for i in (0, 16, 32)
    ]
    result = paperlib.probe(model, batches)
    with torch.no_grad():
        feats = torch.tanh(model.encoder(x[:48] * 2))
    assert result.head == "classifier" and result.n == 48
    assert result.mir == pytest.approx(interplay(feats, model.classifier.weight, y[:48])["mir"])


def test_max_samples_and_ignored_labels():
    model = Net()
    x, y = tabular()
    with torch.no_grad():
        feats = model.body(x)
    capped = paperlib.probe(model, DataLoader(TensorDataset(x, y), batch_size=16), max_samples=25)
    assert capped.n == 25
    assert capped.mir == pytest.approx(interplay(feats[:25], model.classifier.weight, y[:25])["mir"])
    masked = y.clone()
    masked[::3] = IGNORE_INDEX
    kept = masked != IGNORE_INDEX
    result = paperlib.probe(model, (x, masked))
    assert result.n == int(kept.sum())
    assert result.mir == pytest.approx(interplay(feats[kept], model.classifier.weight, y[kept])["mir"])


def test_per_token_head_takes_per_token_labels():
    model = nn.Sequential(nn.Linear(12, 8), nn.Tanh(), nn.Linear(8, 5))
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(6, 4, 12, generator=g), torch.randint(0, 5, (6, 4), generator=g)
    result = paperlib.probe(model, (x, y), head="2")
    with torch.no_grad():
        feats = torch.tanh(model[0](x)).reshape(-1, 8)
    assert result.n == 24
    assert result.mir == pytest.approx(interplay(feats, model[2].weight, y.reshape(-1))["mir"])
    with pytest.raises(ValueError, match="saw 24 rows in batch 0.*but the batch has 6 labels"):
        paperlib.probe(model, (x, y[:, 0]), head="2")


def test_probe_is_a_frozen_record():
    result = paperlib.probe(Net(), tabular())
    assert isinstance(result, Probe)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.mir = 0.0
    assert list(result.as_dict())[:3] == ["mir", "hdr", "mi"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device besides the CPU")
def test_inputs_follow_the_model_to_its_device():
    model = Net().cuda()
    x, y = tabular()
    on_gpu = paperlib.probe(model, (x, y))
    on_cpu = paperlib.probe(model.cpu(), (x, y))
    assert on_gpu.mir == pytest.approx(on_cpu.mir, rel=1e-4)
    with pytest.raises(RuntimeError):
        paperlib.probe(model, (x, y), device="cuda")  # model on the CPU, inputs sent to the GPU


def test_head_given_as_a_module():
    model = Net()
    assert paperlib.probe(model, tabular(), head=model.classifier) == paperlib.probe(model, tabular())


def test_explicit_cpu_device():
    model, data = Net(), tabular()
    assert paperlib.probe(model, data, device="cpu") == paperlib.probe(model, data)


def test_import_stays_light():
    import subprocess
    import sys

    code = (
        "import sys, paperlib; heavy = [m for m in ('pandas', 'matplotlib', 'papermill', 'seaborn', 'scipy', "
        "'torchvision', 'paperlib.experiments', 'paperlib.book') if m in sys.modules]; print(heavy)"
    )
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("n, labels", [(60, "true"), (600, "true"), (600, "predicted")])
def test_streamed_probe_equals_interplay_on_all_rows(n, labels):
    """Few rows are kept and measured as interplay measures them; many are folded into per-class sums
    (d * C = 40 rows here): both give interplay's values on every row to 1e-10."""
    model = Net()
    x, y = tabular(n)
    with torch.no_grad():
        feats, logits = model.body(x), model(x)
    target = y if labels == "true" else logits.argmax(1)
    result = paperlib.probe(model, DataLoader(TensorDataset(x, y), batch_size=32), labels=labels)
    for key, value in interplay(feats, model.classifier.weight, target).items():
        assert abs(getattr(result, key) - value) <= 1e-10, key
    assert result.accuracy == (logits.argmax(1) == y).double().mean().item() and result.n == n
