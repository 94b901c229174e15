"""Data sets as in-memory uint8 tensors, seeded subsets and splits (augmentations: ``paperlib.augment``).

Fashion-MNIST is small enough (55 MB as uint8) to keep whole in memory, so batches are sliced from a tensor and
augmented on the batch: on 2 cores this beats DataLoader workers, whose start-up and pickling cost more than
the augmentation itself. CIFAR-10/100 and STL-10 (paper profile) are read from the files of their official
archives with small readers of our own, which the tests exercise on files they write.
"""

from __future__ import annotations

import gzip
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .rng import generator

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "paperlib"

# Per-channel mean and std of the training images (in [0, 1]).
STATS = {
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "stl10": ((0.4467, 0.4398, 0.4066), (0.2603, 0.2566, 0.2713)),
}
NUM_CLASSES = {"fashion_mnist": 10, "cifar10": 10, "cifar100": 100, "stl10": 10}


class DataNotFound(FileNotFoundError):
    """A data set could not be found; the message lists the remedies."""


@dataclass(frozen=True)
class Split:
    """Images as uint8 (N, C, H, W), labels as int64 (N,); labels are -1 for unlabeled data."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return self.labels.shape[0]

    def subset(self, index: torch.Tensor) -> Split:
        return Split(self.images[index], self.labels[index])


# ---------------------------------------------------------------------------------------------------- readers


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


_FMNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find_idx(folder: Path, stem: str) -> Path | None:
    for sub in ("", "FashionMNIST/raw", "raw"):
        for suffix in ("", ".gz"):
            path = folder / sub / f"{stem}{suffix}"
            if path.exists():
                return path
    return None


def fashion_mnist_folder() -> Path:
    """Where Fashion-MNIST is: $PAPERLIB_DATA, Debian's package, or torchvision's download (in that order)."""
    tried = []
    candidates = []
    if os.environ.get("PAPERLIB_DATA"):
        candidates.append(Path(os.environ["PAPERLIB_DATA"]))
    candidates.append(DEBIAN_FASHION_MNIST)
    for folder in candidates:
        if all(_find_idx(folder, s) for pair in _FMNIST_FILES.values() for s in pair):
            return folder
        tried.append(str(folder))
    try:
        return _download_fashion_mnist()
    except Exception as err:  # no network, or the mirror refused
        tried.append(f"torchvision download into {CACHE} ({type(err).__name__}: {err})")
    raise DataNotFound(
        "Fashion-MNIST not found (tried: " + "; ".join(tried) + "). Remedies: "
        "(1) set PAPERLIB_DATA to a folder holding the four IDX files (train-images-idx3-ubyte[.gz], ...); "
        "(2) install Debian's package: apt-get install dataset-fashion-mnist; "
        "(3) allow torchvision to download it (internet access)."
    )


def _download_fashion_mnist() -> Path:
    from torchvision.datasets import FashionMNIST

    FashionMNIST(str(CACHE), train=True, download=True)
    FashionMNIST(str(CACHE), train=False, download=True)
    return CACHE


def _fashion_mnist(split: str) -> Split:
    folder = fashion_mnist_folder()
    img_stem, lab_stem = _FMNIST_FILES[split]
    images = _read_idx(_find_idx(folder, img_stem))
    labels = _read_idx(_find_idx(folder, lab_stem))
    return Split(torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)))


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as fh:
        return pickle.load(fh, encoding="bytes")


def _cifar(root: Path, name: str, split: str) -> Split:
    folder = root / ("cifar-10-batches-py" if name == "cifar10" else "cifar-100-python")
    if name == "cifar10":
        files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        key = b"labels"
    else:
        files, key = (["train"] if split == "train" else ["test"]), b"fine_labels"
    missing = [f for f in files if not (folder / f).exists()]
    if missing:
        raise DataNotFound(
            f"{name} not found: {folder} lacks {missing}. Put the extracted python archive under "
            f"$PAPERLIB_DATA (or pass root=...), e.g. from torchvision.datasets.{name.upper()}(root, download=True)"
        )
    parts = [_unpickle(folder / f) for f in files]
    images = np.concatenate([p[b"data"] for p in parts]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([np.asarray(p[key]) for p in parts]).astype(np.int64)
    return Split(torch.from_numpy(images.copy()), torch.from_numpy(labels))


def _stl10(root: Path, split: str) -> Split:
    folder = root / "stl10_binary"
    stem = {"train": "train", "test": "test", "unlabeled": "unlabeled"}[split]
    x_path = folder / f"{stem}_X.bin"
    if not x_path.exists():
        raise DataNotFound(
            f"stl10 not found: {x_path} is missing; extract stl10_binary.tar.gz under $PAPERLIB_DATA"
        )
    images = np.fromfile(x_path, dtype=np.uint8).reshape(-1, 3, 96, 96).transpose(0, 1, 3, 2)  # column-major
    if split == "unlabeled":
        labels = np.full(images.shape[0], -1, dtype=np.int64)
    else:
        labels = np.fromfile(folder / f"{stem}_y.bin", dtype=np.uint8).astype(np.int64) - 1
    return Split(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels))


def load(name: str, split: str, root: Path | None = None) -> Split:
    """One split (``train``, ``test``; ``unlabeled`` for STL-10) of a data set as in-memory uint8 tensors."""
    if name not in NUM_CLASSES:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(NUM_CLASSES)}")
    if split not in ("train", "test", "unlabeled") or (split == "unlabeled" and name != "stl10"):
        raise ValueError(f"unknown split {split!r} for {name}")
    if name == "fashion_mnist":
        return _fashion_mnist(split)
    root = Path(root or os.environ.get("PAPERLIB_DATA") or CACHE)
    return _stl10(root, split) if name == "stl10" else _cifar(root, name, split)


# ------------------------------------------------------------------------------------------- subsets, splits


def balanced_subset(labels: torch.Tensor, per_class: int, seed: int) -> torch.Tensor:
    """Indices of ``per_class`` samples of every class, drawn with a seeded generator, sorted."""
    g = generator(seed)
    picks = []
    for c in torch.unique(labels[labels >= 0]).tolist():
        idx = (labels == c).nonzero().squeeze(1)
        if idx.numel() < per_class:
            raise ValueError(f"class {c} has {idx.numel()} samples, fewer than the {per_class} asked for")
        picks.append(idx[torch.randperm(idx.numel(), generator=g)[:per_class]])
    return torch.cat(picks).sort().values


VALIDATION_SEED = 12345  # one validation split per data set, shared by every run that asks for one


def hold_out(split: Split, per_class: int) -> tuple[Split, Split]:
    """(rest, validation): ``per_class`` images of every class carved out of ``split`` with a fixed seed, so
    all runs that hold out the same number see the same validation images and never train on them."""
    val = balanced_subset(split.labels, per_class, VALIDATION_SEED)
    keep = torch.ones(len(split), dtype=torch.bool)
    keep[val] = False
    return split.subset(keep.nonzero().squeeze(1)), split.subset(val)


def labeled_unlabeled_split(
    labels: torch.Tensor, num_labels: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-balanced labeled indices (num_labels / C per class) and the rest as unlabeled indices."""
    classes = int(labels.max()) + 1
    if num_labels % classes:
        raise ValueError(
            f"num_labels={num_labels} must be a multiple of the {classes} classes (balanced split)"
        )
    labeled = balanced_subset(labels, num_labels // classes, seed)
    mask = torch.ones(labels.shape[0], dtype=torch.bool)
    mask[labeled] = False
    return labeled, mask.nonzero().squeeze(1)


# ---------------------------------------------------------------------------------------------- normalization


def normalize(images: torch.Tensor, name: str) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32, standardized with the data set's channel statistics."""
    mean, std = (torch.tensor(v, dtype=torch.float32).view(1, -1, 1, 1) for v in STATS[name])
    return (images.float() / 255.0 - mean) / std
