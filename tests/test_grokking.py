"""The grokking transformer, trainer and the pre-registered phase statistics."""

import numpy as np
import pandas as pd
import pytest
import torch

from paperlib import runs
from paperlib.experiments import grokking as G
from paperlib.models.transformer import GrokTransformer
from paperlib.train.grokking import GrokConfig, eval_steps, pairs, split_pairs, train


def test_shapes_and_heads():
    model = GrokTransformer(13)
    tokens, labels = pairs(13, torch.arange(20))
    logits, feats = model(tokens)
    assert tokens.shape == (20, 3) and (tokens[:, 2] == 13).all()
    assert logits.shape == (20, 13) and feats.shape == (20, 128) and model.head_weight.shape == (13, 128)
    assert torch.allclose(logits, feats @ model.head_weight.T, atol=1e-5)
    assert torch.equal(labels, (tokens[:, 0] + tokens[:, 1]) % 13)


def test_last_position_computation_equals_full_sequence():
    torch.manual_seed(0)
    model = GrokTransformer(17).double()
    tokens, labels = pairs(17, torch.arange(17 * 17))
    grads = []
    for last_only in (True, False):
        model.zero_grad()
        logits, feats = model(tokens, last_only=last_only)
        torch.nn.functional.cross_entropy(logits, labels).backward()
        grads.append(([p.grad.clone() for p in model.parameters()], logits.detach(), feats.detach()))
    (g1, l1, f1), (g2, l2, f2) = grads
    assert torch.allclose(l1, l2, atol=1e-12) and torch.allclose(f1, f2, atol=1e-12)
    for a, b in zip(g1, g2, strict=True):
        assert torch.allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("p,frac", [(13, 0.3), (59, 0.5), (113, 0.3)])
def test_split_fraction_and_disjoint(p, frac):
    tr, te = split_pairs(p, frac, seed=1)
    assert len(tr) == round(frac * p * p) and len(tr) + len(te) == p * p
    assert len(set(tr.tolist()) & set(te.tolist())) == 0
    assert torch.equal(tr, split_pairs(p, frac, seed=1)[0]) and not torch.equal(
        tr, split_pairs(p, frac, seed=2)[0]
    )


def test_eval_steps_cover_log_axis_and_end():
    steps = eval_steps(1000, 100)
    assert {0, 1, 2, 100, 1000} <= steps and 50 not in steps


def test_short_run_is_deterministic_and_resumes(tmp_path, monkeypatch):
    cfg = GrokConfig(p=11, train_frac=0.5, steps=30, eval_every=10, ckpt_every=10, metric_samples=40)
    tables = []
    for store in ("a", "b"):
        monkeypatch.setenv("PAPERLIB_RUNS", str(tmp_path / store))
        tables.append((runs.run("grokking", cfg, train).folder / "metrics.csv").read_bytes())
    assert tables[0] == tables[1]
    frame = pd.read_csv(tmp_path / "a" / "grokking" / runs.config_hash("grokking", cfg) / "metrics.csv")
    assert set(frame.split) == {"train", "test"} and {"acc", "loss", "mir", "hdr"} <= set(frame.metric)
    fast = runs.run("grokking", GrokConfig(**{**cfg.__dict__, "grokfast": True}), train)
    assert (fast.folder / "metrics.csv").read_bytes() != tables[1]


def _table(steps, train_acc, test_acc, mir, hdr):
    rows = []
    for split, acc in (("train", train_acc), ("test", test_acc)):
        rows.append(pd.DataFrame({"step": steps, "split": split, "acc": acc, "mir": mir, "hdr": hdr}))
    return pd.concat(rows, ignore_index=True)


def test_phases_and_two_phase_test_on_constructed_curves():
    steps = np.unique(np.geomspace(1, 10_000, 60).astype(int))
    train_acc = (steps >= 300).astype(float)
    test_acc = np.clip((steps - 3000) / 1000, 0.02, 1.0)
    # MIR up to step 500, down to a minimum at 4000, flat after; HDR the mirror image, dropping after 4000.
    mir = np.interp(np.log(steps), np.log([1, 500, 4000, 10_000]), [0.2, 0.6, 0.3, 0.32])
    hdr = np.interp(np.log(steps), np.log([1, 500, 4000, 10_000]), [0.6, 0.2, 0.5, 0.1])
    table = _table(steps, train_acc, test_acc, mir, hdr)
    ph = G.phases(table)
    assert ph["memorization"] == steps[train_acc == 1][0] and ph["grokking"] == steps[test_acc >= 0.95][0]
    assert ph["test_acc_at_memorization"] == pytest.approx(0.02)
    assert G.two_phase_test(table, ph["grokking"])["holds"]
    flat = _table(steps, train_acc, test_acc, np.full(len(steps), 0.4), np.full(len(steps), 0.4))
    result = G.two_phase_test(flat, ph["grokking"])
    assert not result["holds"] and not result["mir_rises"]
