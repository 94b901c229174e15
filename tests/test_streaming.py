"""paperlib.StreamingInterplay against paperlib.metrics.interplay on all rows: any batching, any order, merged,
summed across two gloo processes; and its errors."""

import pytest
import torch
import torch.multiprocessing as mp

import paperlib
from paperlib.metrics import UndefinedRatio, interplay
from paperlib.streaming import BatchMean, StreamingInterplay

from . import ranks
from .ranks import draw, free_port

KEYS = ("mir", "hdr", "mi", "h_features", "h_heads", "h_joint")


def assert_same(got, want, tol=1e-10):
    for key in KEYS:
        assert abs(got[key] - want[key]) <= tol * max(1.0, abs(want[key])), (key, got[key], want[key])


def stream(features, labels, classes, sizes, order=None):
    acc = StreamingInterplay(classes)
    idx = torch.arange(len(labels)) if order is None else order
    start = 0
    for size in sizes:
        if start >= len(labels):
            break
        part = idx[start : start + size]
        acc.update(features[part], labels[part])
        start += size
    assert start >= len(labels)
    return acc


@pytest.mark.parametrize(
    "n, d, classes, rank, kept",
    [
        (40, 16, 5, None, True),  # n x n routes, rows kept
        (300, 8, 4, None, False),  # d x d and kron from the sums
        (30, 8, 4, 2, True),  # kron from the kept rows (d * rank < n <= d * C)
        (500, 6, 10, 3, False),  # heads of rank 3 < C: sums, kron of size d * 3
        (2000, 32, 10, None, False),
    ],
)
def test_equals_interplay_in_any_batching_and_order(n, d, classes, rank, kept):
    features, heads, labels = draw(n, d, classes, rank=rank)
    want = interplay(features, heads, labels)
    for sizes, seed in (([n], None), ([7] * (n // 7 + 1), None), ([1, 2, 64] * n, 3)):
        order = None if seed is None else torch.randperm(n, generator=torch.Generator().manual_seed(seed))
        acc = stream(features, labels, classes, sizes, order)
        assert (acc._rows is not None) == kept and acc.n == n
        assert_same(acc.compute(heads), want)
    as_numpy = StreamingInterplay(classes)
    as_numpy.update(features.numpy(), labels.numpy())
    assert_same(as_numpy.compute(heads.numpy()), want)


def test_memory_does_not_grow_with_the_rows():
    features, heads, labels = draw(6000, 8, 3)
    acc = StreamingInterplay(3)
    for start in range(0, 6000, 500):
        acc.update(features[start : start + 500], labels[start : start + 500])
        if start >= 500:
            assert acc._rows is None and acc.moments.shape == (3, 8, 8)
    assert acc.moments.dtype == torch.float64 and acc.row_limit == 24
    assert acc.counts.tolist() == torch.bincount(labels, minlength=3).double().tolist()
    assert_same(acc.compute(heads), interplay(features, heads, labels))


@pytest.mark.parametrize("split", [30, 200])  # both keep rows; the second's union is folded into sums
def test_merge_and_reset(split):
    features, heads, labels = draw(400, 4, 5)
    a = stream(features[:split], labels[:split], 5, [split])
    b = stream(features[split:], labels[split:], 5, [400 - split])
    before = b.compute(heads)
    assert a.merge(b) is a and a.n == 400
    assert_same(a.compute(heads), interplay(features, heads, labels))
    assert b.compute(heads) == before  # the merged one is left as it was
    empty = StreamingInterplay(5).merge(b)
    assert_same(empty.compute(heads), before)
    a.reset()
    assert a.n == 0 and a.d is None
    with pytest.raises(ValueError, match="no feature row has been added"):
        a.compute(heads)
    with pytest.raises(ValueError, match="same num_classes"):
        a.merge(StreamingInterplay(3))


def test_float32_features_sum_in_float64():
    features, heads, labels = draw(500, 6, 4)
    acc = stream(features.float(), labels, 4, [100] * 5)
    assert acc.moments.dtype == torch.float64
    assert_same(acc.compute(heads.float()), interplay(features.float(), heads.float(), labels))


@pytest.mark.parametrize("n", [30, 500])
def test_undefined_ratios_raise_as_interplay_does(n):
    features, heads, _ = draw(n, 6, 4)
    one_class = torch.full((n,), 2)
    with pytest.raises(UndefinedRatio, match=f"all {n} labels are class 2"):
        interplay(features, heads, one_class)
    with pytest.raises(UndefinedRatio, match=f"all {n} labels are class 2"):
        stream(features, one_class, 4, [17] * n).compute(heads)


def test_input_errors_are_clear():
    acc = StreamingInterplay(3)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\].*got range \[0, 3\]"):
        acc.update(torch.randn(4, 5), torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="labels must be integers"):
        acc.update(torch.randn(4, 5), torch.rand(4))
    with pytest.raises(ValueError, match="must be 2-D"):
        acc.update(torch.randn(4), torch.arange(4) % 3)
    acc.update(torch.randn(4, 5), torch.arange(4) % 3)
    with pytest.raises(ValueError, match="d=6 columns but earlier batches"):
        acc.update(torch.randn(4, 6), torch.arange(4) % 3)
    zero = torch.randn(4, 5)
    zero[2] = 0
    with pytest.raises(ValueError, match=r"1 zero row\(s\) \(first: \[6\]\)"):  # counted in the whole stream
        acc.update(zero, torch.arange(4) % 3)
    with pytest.raises(ValueError, match=r"contains NaN"):
        acc.update(torch.full((2, 5), float("nan")), torch.arange(2))
    with pytest.raises(ValueError, match=r"heads must have shape \(3, 5\)"):
        acc.compute(torch.randn(4, 5))
    with pytest.raises(ValueError, match="num_classes must be an int >= 2"):
        StreamingInterplay(1)
    assert acc.n == 4  # refused batches added nothing


def test_too_large_joint_is_refused_before_allocating():
    features, heads, labels = draw(400, 8, 4)
    acc = StreamingInterplay(4, max_joint=16)
    acc.update(features, labels)
    with pytest.raises(
        ValueError, match=r"32 x 32 eigenvalue problem \(kron route: n = 400, d = 8, rank\(heads\) = 4"
    ):
        acc.compute(heads)
    small = StreamingInterplay(4, max_joint=16)
    small.update(features[:20], labels[:20])  # rows kept: the n x n route, 20 > 16
    with pytest.raises(ValueError, match=r"20 x 20 eigenvalue problem \(gram route"):
        small.compute(heads)
    acc.max_joint = None
    assert_same(acc.compute(heads), interplay(features, heads, labels))


@pytest.mark.parametrize("batch", [2, 16, 33])
def test_batch_mean_over_pieces_equals_interplays_batch_mean(batch):
    features, heads, labels = draw(203, 6, 4)
    mean = BatchMean(heads, batch)
    for start in range(0, 203, 10):
        mean.update(features[start : start + 10], labels[start : start + 10])
    got, want = mean.compute(), interplay(features, heads, labels, batch_size=batch)
    assert_same(got, want, 1e-12)
    assert got["skipped_batches"] == want["skipped_batches"] and got["batches"] == want["batches"]


def test_exported_from_the_package():
    assert paperlib.StreamingInterplay is StreamingInterplay


# -- two processes -----------------------------------------------------------------------------------------


def test_two_gloo_processes_give_the_one_process_value():
    out = mp.Manager().dict()
    mp.spawn(ranks.streaming_rank, args=(2, free_port(), out), nprocs=2, join=True)
    for n, kept in ranks.CASES:
        features, heads, labels = draw(n, 8, 5)
        want = interplay(features, heads, labels)
        assert [out[r, n][1] for r in (0, 1)] == [n // 3, n - n // 3]  # each rank added only its own rows
        for rank in (0, 1):
            assert out[rank, n][2] == kept
            assert_same(out[rank, n][0], want)


def test_sync_outside_distributed_is_a_copy():
    features, heads, labels = draw(50, 4, 3)
    acc = stream(features, labels, 3, [50])
    copy = acc.sync()
    assert copy is not acc and copy.compute(heads) == acc.compute(heads)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_unit_rows_are_bit_for_bit_those_of_interplay(dtype):
    """The fast normalisation of narrow inputs (z / |z| in float64) gives exactly metrics' unit rows."""
    from paperlib.metrics import _normalize_rows
    from paperlib.streaming import prepare_batch

    g = torch.Generator().manual_seed(0)
    x = (torch.randn(500, 33, generator=g) * torch.logspace(-3, 3, 500)[:, None]).to(dtype)
    z, _ = prepare_batch(x, torch.arange(500) % 4, 4)
    assert torch.equal(z, _normalize_rows(x))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device besides the CPU")
def test_sums_stay_on_the_features_device():
    features, heads, labels = draw(3000, 16, 5)
    acc = stream(features.cuda(), labels, 5, [512] * 6)
    assert acc.moments.device.type == "cuda" and acc.counts.device.type == "cuda"
    assert_same(acc.compute(heads.cuda()), interplay(features, heads, labels))
