"""Multi-process training under ``torchrun``: one process per GPU (NCCL) or per CPU worker (gloo).

The trainers stay single-process programs with four hooks: every process draws the same global batch (same
seeds, same augmentation draws) and trains on its own contiguous slice of it; DistributedDataParallel averages
the gradients, so with equal slices a step follows the global-batch mean gradient as in one process (BatchNorm
statistics are per process, as in USB). Evaluation features are computed on shards of the test set and
gathered, so the metrics see the whole set; only rank 0 writes to the run store. Outside torchrun (no
``WORLD_SIZE``) every function is the one-process identity.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def setup() -> None:
    """Join the process group when launched by torchrun with more than one process."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)


def rank_and_size() -> tuple[int, int]:
    """(rank, world size); (0, 1) in a single process."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """Whether this process writes files and prints reports (rank 0)."""
    return rank_and_size()[0] == 0


def device() -> torch.device:
    """This process's GPU when there is one, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


def local_slice(n: int) -> slice:
    """This process's contiguous part of a global batch of ``n``; the batch must split evenly, so that the
    averaged gradient equals the global mean."""
    rank, size = rank_and_size()
    if n % size:
        raise ValueError(
            f"a global batch of {n} does not split evenly over {size} processes; choose a batch size that is "
            f"a multiple of --nproc_per_node={size}"
        )
    part = n // size
    return slice(rank * part, (rank + 1) * part)


def wrap(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` in DistributedDataParallel when there are several processes, else unchanged. As in USB,
    unused parameters are allowed: the WideResNet's later groups' first blocks compute a bn1 they never use."""
    if rank_and_size()[1] == 1:
        return model
    ids = [device().index] if device().type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain model inside a DDP wrapper (for its heads and its state_dict)."""
    return getattr(model, "module", model)


def shard(n: int) -> range:
    """The indices of an evaluation set of ``n`` rows that this process computes (contiguous, sizes differ by
    at most one)."""
    rank, size = rank_and_size()
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (rank < extra))


def all_gather_cat(x: torch.Tensor) -> torch.Tensor:
    """Rows of ``x`` from every process (equal shapes), concatenated in rank order; ``x`` in one process."""
    size = rank_and_size()[1]
    if size == 1:
        return x
    parts = [torch.empty_like(x) for _ in range(size)]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def gather_rows(local: torch.Tensor, n: int) -> torch.Tensor:
    """Concatenate every process's ``shard(n)`` rows in rank order (on every process)."""
    size = rank_and_size()[1]
    if size == 1:
        return local
    base, extra = divmod(n, size)
    padded = torch.zeros((base + (extra > 0), *local.shape[1:]), dtype=local.dtype, device=local.device)
    padded[: local.shape[0]] = local
    parts = all_gather_cat(padded[None])
    return torch.cat([p[: base + (r < extra)] for r, p in enumerate(parts)])


def sync_buffers(module: torch.nn.Module) -> None:
    """Give every process rank 0's buffers (BatchNorm running statistics drift apart per process, and an
    evaluation split over processes must use one set)."""
    if rank_and_size()[1] > 1:
        for b in module.buffers():
            dist.broadcast(b, 0)


def barrier() -> None:
    """Wait for every process (e.g. until rank 0 has written a run's files)."""
    if rank_and_size()[1] > 1:
        dist.barrier()
