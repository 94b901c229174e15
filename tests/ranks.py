"""What the two-process tests run in each spawned process, kept apart from the test files so that a spawned
process imports only torch, torchmetrics and paperlib (not Lightning or transformers)."""

import socket

import torch
import torch.distributed as dist

import paperlib
from paperlib.streaming import StreamingInterplay

CASES = ((30, True), (900, False))  # (n, whether the union is still kept as rows) with d = 8, C = 5


def draw(n, d, classes, seed=0, rank=None):
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(classes, d, generator=g)
    labels = torch.randint(0, classes, (n,), generator=g)
    features = means[labels] + 1.5 * torch.randn(n, d, generator=g)
    heads = torch.randn(classes if rank is None else rank, d, generator=g)
    if rank is not None:  # heads of lower rank than the number of classes
        heads = torch.randn(classes, rank, generator=g) @ heads
    return features, heads, labels


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def streaming_rank(rank, world, port, out):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        for n, _ in CASES:
            features, heads, labels = draw(n, 8, 5)
            mine = slice(n // 3, n) if rank else slice(0, n // 3)  # uneven shares
            acc = StreamingInterplay(5)
            acc.update(features[mine], labels[mine])
            synced = acc.sync()
            out[rank, n] = (synced.compute(heads), acc.n, synced._rows is not None)
    finally:
        dist.destroy_process_group()


def torchmetrics_rank(rank, world, port, out):
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        features, heads, labels = draw(500, 8, 5)
        mine = slice(100, 500) if rank else slice(0, 100)
        metric = paperlib.InterplayMetric(heads)
        metric.update(features[mine], labels[mine])
        out[rank] = (
            {k: float(v) for k, v in metric.compute().items()},
            float(metric.counts.sum()),
        )  # torchmetrics syncs in compute
    finally:
        dist.destroy_process_group()
