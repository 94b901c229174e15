"""The ecosystem adapters in their real loops: InterplayMetric with torchmetrics (one process, a
MetricCollection, two gloo processes) and in a Lightning Trainer; InterplayCallback in a transformers Trainer;
probe on a Hugging Face sequence classifier. Models are tiny and randomly initialised: nothing is downloaded."""

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers reads it: a test must never reach the hub
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import lightning as L  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402
from torchmetrics import MetricCollection  # noqa: E402
from torchmetrics.classification import MulticlassAccuracy  # noqa: E402
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments  # noqa: E402

import paperlib  # noqa: E402
from paperlib.metrics import interplay  # noqa: E402

from . import ranks  # noqa: E402
from .ranks import draw, free_port  # noqa: E402
from .test_streaming import KEYS, assert_same  # noqa: E402


def as_floats(values):
    return {k: float(v) for k, v in values.items()}


def test_metric_equals_interplay_and_follows_the_live_head():
    features, _, labels = draw(700, 8, 5)
    head = nn.Linear(8, 5)
    metric = paperlib.InterplayMetric(head)
    for start in range(0, 700, 64):
        metric.update(features[start : start + 64], labels[start : start + 64])
    assert_same(as_floats(metric.compute()), interplay(features, head.weight, labels))
    with torch.no_grad():
        head.weight.mul_(torch.linspace(0.5, 2, 8))  # a training step moves the head
    metric._computed = None  # torchmetrics caches compute() until the next update
    assert_same(as_floats(metric.compute()), interplay(features, head.weight, labels))
    fixed = paperlib.InterplayMetric(head.weight)
    fixed.update(features, labels)
    assert_same(as_floats(fixed.compute()), interplay(features, head.weight, labels))
    metric.reset()
    assert metric.counts.sum() == 0


def test_metric_errors():
    with pytest.raises(TypeError, match="nn.Linear or a \\(C, d\\) tensor"):
        paperlib.InterplayMetric(torch.randn(5))
    metric = paperlib.InterplayMetric(nn.Linear(8, 5))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 4\]"):
        metric.update(torch.randn(3, 8), torch.tensor([0, 1, 7]))
    with pytest.raises(ValueError, match="d=6 columns"):
        metric.update(torch.randn(3, 6), torch.tensor([0, 1, 2]))


def test_too_large_joint_names_the_n_by_n_route():
    features, heads, labels = draw(30, 8, 5)
    metric = paperlib.InterplayMetric(heads, max_joint=16)
    metric.update(features, labels)
    with pytest.raises(
        ValueError, match=r"40 x 40 eigenvalue problem.*n = 30 rows the n x n route is smaller"
    ):
        metric.compute()


def test_metric_in_a_metric_collection():
    features, _, labels = draw(300, 8, 5)
    head = nn.Linear(8, 5)
    with torch.no_grad():
        logits = head(features)
    collection = MetricCollection(
        {"acc": MulticlassAccuracy(num_classes=5, average="micro"), "info": paperlib.InterplayMetric(head)}
    )
    for start in range(0, 300, 50):
        part = slice(start, start + 50)
        collection.update(preds=logits[part], target=labels[part], features=features[part])
    result = collection.compute()
    assert set(result) == {"acc", *KEYS}
    assert_same(as_floats({k: result[k] for k in KEYS}), interplay(features, head.weight, labels))
    assert float(result["acc"]) == pytest.approx((logits.argmax(1) == labels).double().mean().item())


def test_torchmetrics_sync_across_two_gloo_processes():
    out = mp.Manager().dict()
    mp.spawn(ranks.torchmetrics_rank, args=(2, free_port(), out), nprocs=2, join=True)
    features, heads, labels = draw(500, 8, 5)
    want = interplay(features, heads, labels)
    for rank in (0, 1):
        assert_same(out[rank][0], want)
        assert out[rank][1] == (100, 400)[rank]  # after compute, each rank's own states are back


class Classifier(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 8), nn.Tanh())
        self.head = nn.Linear(8, 5)
        self.metrics = MetricCollection(
            {
                "acc": MulticlassAccuracy(num_classes=5, average="micro"),
                "info": paperlib.InterplayMetric(self.head),
            },
            prefix="val_",
        )

    def training_step(self, batch, _):
        x, y = batch
        return nn.functional.cross_entropy(self.head(self.body(x)), y)

    def validation_step(self, batch, _):
        x, y = batch
        features = self.body(x)
        self.metrics.update(preds=self.head(features), target=y, features=features)

    def on_validation_epoch_end(self):
        self.log_dict(self.metrics.compute())  # val_acc next to val_mir, val_hdr, ...
        self.metrics.reset()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_lightning_trainer_logs_the_metric_from_validation_steps_in_a_collection(tmp_path):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(256, 12, generator=g), torch.arange(256) % 5
    loader = DataLoader(TensorDataset(x, y), batch_size=32)
    model = Classifier()
    trainer = L.Trainer(
        accelerator="cpu",
        max_epochs=1,
        limit_train_batches=4,
        limit_val_batches=6,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, loader, loader)
    with torch.no_grad():
        want = interplay(model.body(x[:192]), model.head.weight, y[:192])  # 6 validation batches of 32
    logged = {k: float(trainer.callback_metrics[f"val_{k}"]) for k in KEYS}
    assert_same(logged, want, 1e-6)  # Lightning keeps logged values in float32
    with torch.no_grad():
        accuracy = (model.head(model.body(x[:192])).argmax(1) == y[:192]).double().mean().item()
    assert float(trainer.callback_metrics["val_acc"]) == pytest.approx(accuracy, abs=1e-6)


def tiny_bert(seed=0):
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=40,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=16,
        num_labels=3,
    )
    return BertForSequenceClassification(config)


def token_rows(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 40, (n, 10), generator=g)
    return [
        {
            "input_ids": ids[i],
            "attention_mask": torch.ones(10, dtype=torch.long),
            "labels": torch.tensor(i % 3),
        }
        for i in range(n)
    ]


def test_probe_on_a_hugging_face_sequence_classifier():
    model = tiny_bert()
    rows = token_rows(48)
    batches = [
        {key: torch.stack([r[key] for r in rows[i : i + 16]]) for key in rows[0]} for i in range(0, 48, 16)
    ]
    result = paperlib.probe(model, batches)
    assert result.head == "classifier" and (result.n, result.d, result.classes) == (48, 16, 3)
    model.eval()
    with torch.no_grad():
        pooled = torch.cat([model.bert(b["input_ids"], b["attention_mask"]).pooler_output for b in batches])
    labels = torch.cat([b["labels"] for b in batches])
    assert_same(result.as_dict(), interplay(pooled, model.classifier.weight, labels))


def test_transformers_trainer_records_mir_and_hdr_at_each_evaluation(tmp_path):
    model = tiny_bert()
    args = TrainingArguments(
        output_dir=str(tmp_path),
        max_steps=4,
        eval_strategy="steps",
        eval_steps=2,
        per_device_train_batch_size=8,
        per_device_eval_batch_size=8,
        learning_rate=1e-3,
        report_to="none",
        use_cpu=True,
        save_strategy="no",
        disable_tqdm=True,
        seed=0,
    )
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=token_rows(64),
        eval_dataset=token_rows(24, seed=1),
        callbacks=[paperlib.InterplayCallback()],
    )
    trainer.train()
    evaluations = [entry for entry in trainer.state.log_history if "eval_loss" in entry]
    assert [entry["step"] for entry in evaluations] == [2, 4]
    for entry in evaluations:
        assert {"eval_mir", "eval_hdr", "eval_h_joint"} <= set(entry)
    final = paperlib.probe(model, trainer.get_eval_dataloader())
    assert abs(evaluations[-1]["eval_mir"] - final.mir) <= 1e-10
    assert abs(evaluations[-1]["eval_hdr"] - final.hdr) <= 1e-10
    returned = trainer.evaluate()
    assert returned["eval_mir"] == pytest.approx(final.mir, abs=1e-10)
