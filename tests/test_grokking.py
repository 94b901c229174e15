"""The grokking transformer, trainer and the pre-registered phase statistics."""

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from paperlib import runs
from paperlib.experiments import grokking as G
from paperlib.models.transformer import GrokTransformer
from paperlib.train.grokking import (
    GrokConfig,
    Grokking,
    eval_steps,
    mirror_groups,
    pairs,
    split_pairs,
    train,
)


def test_shapes_and_heads():
    model = GrokTransformer(13)
    tokens, labels = pairs(13, torch.arange(20))
    logits, feats = model(tokens)
    assert tokens.shape == (20, 3) and (tokens[:, 2] == 13).all()
    # As the reference: the unembedding maps to all p + 1 tokens; the heads for MIR/HDR are the p labels'.
    assert model.w_u.shape == (128, 14) and model.w_e.shape == (128, 14)
    assert logits.shape == (20, 14) and feats.shape == (20, 128) and model.head_weight.shape == (13, 128)
    assert torch.equal(model.head_weight, model.w_u[:, :13].T)
    assert torch.allclose(logits[:, :13], feats @ model.head_weight.T, atol=1e-5)
    assert torch.equal(labels, (tokens[:, 0] + tokens[:, 1]) % 13)


def test_init_scales_follow_the_reference():
    """Every weight ~ N(0, 1/d_model) (W_out included), the unembedding ~ N(0, 1/(p + 1)), biases zero."""
    torch.manual_seed(0)
    model = GrokTransformer(113)
    expected = {"w_u": 1 / 114**0.5} | {
        n: 1 / 128**0.5 for n in ("w_e", "w_pos", "w_k", "w_q", "w_v", "w_o", "w_in", "w_out")
    }
    for name, std in expected.items():
        w = getattr(model, name)
        tol = 0.15 if name == "w_pos" else 0.03  # W_pos has only 3 x 128 entries
        assert w.std().item() == pytest.approx(std, rel=tol), name
        assert abs(w.mean().item()) < 4 * std / w.numel() ** 0.5, name
    assert (model.b_in == 0).all() and (model.b_out == 0).all()
    assert {n for n, _ in model.named_parameters()} == set(expected) | {"b_in", "b_out"}
    # The reference's parameters in its order (W_E, W_pos, W_K, W_Q, W_V, W_O, W_in, b_in, W_out, b_out, W_U).
    qkv = [(4, 32, 128)] * 3
    reference = [(128, 114), (3, 128), *qkv, (128, 128), (512, 128), (512,), (128, 512), (128,), (128, 114)]
    assert [tuple(w.shape) for w in model.parameters()] == reference


def test_accuracy_reads_the_label_logits_and_loss_all_outputs(monkeypatch):
    method = Grokking(GrokConfig(p=7, train_frac=0.5, steps=1, metric_samples=10))
    plain = method.model.forward

    def loud(tokens, last_only=True):  # "=" on top everywhere, the true label second
        logits, feats = plain(tokens, last_only)
        bump = 50 * F.one_hot(torch.full_like(tokens[:, 0], 7), 8) + 25 * F.one_hot(
            tokens[:, :2].sum(1) % 7, 8
        )
        return logits + bump, feats

    monkeypatch.setattr(method.model, "forward", loud)
    rows = {(split, key): value for _, split, key, value in method.evaluate(0)}
    tokens, labels = method.data["test"]
    assert rows[("test", "acc")] == 1.0 and rows[("train", "acc")] == 1.0  # "=" is no class
    full = F.cross_entropy(loud(tokens)[0].double(), labels).item()
    assert full > 20 and rows[("test", "loss")] == pytest.approx(full)  # the loss sees all p + 1 outputs


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


@pytest.mark.parametrize("p,frac,seed", [(13, 0.3, 0), (59, 0.5, 1), (113, 0.3, 0)])
def test_mirror_groups_match_a_set_computation(p, frac, seed):
    """Against plain Python sets: mirrored = test pairs (a, b) with (b, a) trained on; unmirrored = the other
    off-diagonal test pairs; the diagonal (a, a), its own untrained mirror, in neither."""
    tr, te = split_pairs(p, frac, seed)
    trained = {(i // p, i % p) for i in tr.tolist()}
    tested = [(i // p, i % p) for i in te.tolist()]
    groups = mirror_groups(p, tr, te)
    expect_m = [(b, a) in trained for a, b in tested]
    expect_u = [(b, a) not in trained and a != b for a, b in tested]
    assert groups["mirrored"].tolist() == expect_m and groups["unmirrored"].tolist() == expect_u
    diagonal = sum(a == b for a, b in tested)
    assert sum(expect_m) + sum(expect_u) + diagonal == len(tested) and diagonal > 0
    assert not (groups["mirrored"] & groups["unmirrored"]).any()


def test_evaluation_logs_the_mirrored_split(monkeypatch):
    """A model that answers exactly the pairs whose mirror is a training pair and is wrong elsewhere (looked up
    in a set, not through ``mirror_groups``): mirrored accuracy 1, unmirrored 0, the counts of the set computation, and the split's
    losses bracket the overall test loss."""
    cfg = GrokConfig(p=11, train_frac=0.4, steps=1, metric_samples=20)
    method = Grokking(cfg)
    trained = {tuple(t[:2]) for t in method.data["train"][0].tolist()}
    plain = method.model.forward

    def mirrors(tokens, last_only=True):
        logits, feats = plain(tokens, last_only)
        known = torch.tensor([(b, a) in trained or (a, b) in trained for a, b in tokens[:, :2].tolist()])
        answer = (tokens[:, :2].sum(1) + (~known).long()) % 11  # right where known, one off elsewhere
        bump = 50 * F.one_hot(answer, 12)
        return logits + bump, feats

    monkeypatch.setattr(method.model, "forward", mirrors)
    rows = {(split, key): value for _, split, key, value in method.evaluate(0)}
    tested = [tuple(t[:2]) for t in method.data["test"][0].tolist()]
    n_m = sum((b, a) in trained for a, b in tested)
    n_u = sum((b, a) not in trained and a != b for a, b in tested)
    assert rows[("test", "n_mirrored")] == n_m and rows[("test", "n_unmirrored")] == n_u
    assert rows[("test", "acc_mirrored")] == 1.0 and rows[("test", "acc_unmirrored")] == 0.0
    assert rows[("test", "acc")] == pytest.approx(n_m / len(tested))
    assert rows[("test", "loss_mirrored")] < rows[("test", "loss")] < rows[("test", "loss_unmirrored")]
    assert ("train", "acc_mirrored") not in rows


def test_binomial_interval_is_wilsons():
    from scipy.stats import binomtest

    for k, n in ((81, 263), (0, 50), (50, 50), (3, 1700)):
        ref = binomtest(k, n).proportion_ci(0.95, "wilson")
        got = G.binomial_interval(k / n, n)
        assert (got.low, got.high) == pytest.approx((ref.low, ref.high), abs=1e-12)
    wide, ref = G.binomial_interval(81 / 263, 263, 0.975), binomtest(81, 263).proportion_ci(0.975, "wilson")
    assert (wide.low, wide.high) == pytest.approx((ref.low, ref.high), abs=1e-12) and "97.5 %" in wide.method
    assert not G.binomial_interval(None, 10).defined and not G.binomial_interval(0.5, 0).defined


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
    split = {f"{m}_{g}" for m in ("acc", "loss", "n") for g in ("mirrored", "unmirrored")}
    assert split <= set(frame[frame.split == "test"].metric) and not split & set(
        frame[frame.split == "train"].metric
    )
    fast = runs.run("grokking", GrokConfig(**{**cfg.__dict__, "grokfast": True}), train)
    assert (fast.folder / "metrics.csv").read_bytes() != tables[1]


def _table(steps, train_acc, test_acc, mir, hdr):
    rows = []
    for split, acc in (("train", train_acc), ("test", test_acc)):
        rows.append(
            pd.DataFrame(
                {
                    "step": steps,
                    "split": split,
                    "acc": acc,
                    "mir": mir,
                    "hdr": hdr,
                    "mir_batch": mir,
                    "hdr_batch": hdr,
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


def test_phases_and_two_phase_test_on_constructed_curves():
    steps = np.unique(np.geomspace(1, 10_000, 60).astype(int))
    train_acc = (steps >= 300).astype(float)
    test_acc = np.clip((steps - 3000) / 1000, 0.02, 1.0)
    # MIR up to step 500, down to its minimum at 6000 (after grokking, near 3950), then flat; HDR falls to step
    # 500, peaks at 4000 and drops after.
    mir = np.interp(np.log(steps), np.log([1, 500, 6000, 10_000]), [0.2, 0.6, 0.3, 0.32])
    hdr = np.interp(np.log(steps), np.log([1, 500, 4000, 10_000]), [0.6, 0.2, 0.5, 0.1])
    table = _table(steps, train_acc, test_acc, mir, hdr)
    ph = G.phases(table)
    assert ph["memorization"] == steps[train_acc == 1][0] and ph["grokking"] == steps[test_acc >= 0.95][0]
    assert ph["test_acc_at_memorization"] == pytest.approx(0.02)
    assert G.two_phase_test(table, ph["grokking"])["holds"]
    flat = _table(steps, train_acc, test_acc, np.full(len(steps), 0.4), np.full(len(steps), 0.4))
    result = G.two_phase_test(flat, ph["grokking"])
    assert not result["holds"] and not result["mir_rises"]
    # the exact columns decide only when asked; the batch mean is required otherwise
    flat_batch = table.assign(mir_batch=0.4, hdr_batch=0.4)
    assert not G.two_phase_test(flat_batch, ph["grokking"])["holds"]
    assert G.two_phase_test(flat_batch, ph["grokking"], batch=False)["holds"]
    with pytest.raises(KeyError, match="no mir_batch column"):
        G.two_phase_test(table.drop(columns="mir_batch"), ph["grokking"])


def test_two_phase_test_leaves_a_turning_point_at_the_last_step_undetermined():
    """MIR still falling when the run stops: its minimum is the last evaluated step, so "reaches its lowest"
    is not seen; the part resting on it is undetermined and the test does not hold."""
    steps = np.unique(np.geomspace(1, 10_000, 60).astype(int))
    mir = np.interp(np.log(steps), np.log([1, 500, 10_000]), [0.2, 0.6, 0.3])
    hdr = np.interp(np.log(steps), np.log([1, 500, 4000, 10_000]), [0.6, 0.2, 0.5, 0.1])
    table = _table(steps, (steps >= 300).astype(float), np.clip((steps - 3000) / 1000, 0.02, 1.0), mir, hdr)
    result = G.two_phase_test(table, 3950)
    assert result["mir_min"] == result["last_step"] == 10_000 and result["mir_lowest_after_grokking"]
    assert result["at_last_step"] == "mir_min" and result["undetermined"] == "mir_lowest_after_grokking"
    assert not result["holds"]
    # the same run with MIR turning (its minimum at 6,000, then a slight rise): decided
    mir = np.interp(np.log(steps), np.log([1, 500, 6000, 10_000]), [0.2, 0.6, 0.3, 0.32])
    turned = _table(steps, (steps >= 300).astype(float), np.clip((steps - 3000) / 1000, 0.02, 1.0), mir, hdr)
    assert G.two_phase_test(turned, 3950)["undetermined"] == "" and G.two_phase_test(turned, 3950)["holds"]


def test_mirror_table_reads_the_logged_split():
    steps = np.array([0, 100, 200, 300])
    table = _table(steps, [0.5, 1.0, 1.0, 1.0], [0.02, 0.3, 0.96, 0.99], 0.5, 0.5)
    test = table.split == "test"
    table.loc[test, "acc_mirrored"], table.loc[test, "acc_unmirrored"] = [0.02, 0.6, 0.97, 1.0], 0.01
    table.loc[test, "n_mirrored"], table.loc[test, "n_unmirrored"] = 400, 500
    table.loc[test, "loss"], table.loc[test, "loss_mirrored"], table.loc[test, "loss_unmirrored"] = (
        5.0,
        1.0,
        9.0,
    )
    out = G.mirror_table(table, 59).set_index(["moment", "pairs"])
    assert list(out.loc["memorization"].index) == ["all", "mirrored", "unmirrored"]
    row = out.loc[("memorization", "mirrored")]
    assert row.step == 100 and row.acc == 0.6 and row.n == 400 and row.acc_low < 0.6 < row.acc_high
    assert out.loc[("grokking", "unmirrored")].loss == 9.0 and out.loc[("last", "all")].step == 300
    assert out.log_p.iloc[0] == pytest.approx(np.log(59)) and out.bound.iloc[0] == pytest.approx(3 / 59)
    # a run stored before the split was logged: the columns are simply empty
    old = G.mirror_table(_table(steps, [0.5, 1.0, 1.0, 1.0], [0.02, 0.3, 0.96, 0.99], 0.5, 0.5), 59)
    assert old[old.pairs == "mirrored"].acc.isna().all()
