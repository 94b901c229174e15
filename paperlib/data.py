"""Data sets as in-memory uint8 tensors, seeded subsets and splits (augmentations: ``paperlib.augment``).

Fashion-MNIST is small enough (55 MB as uint8) to keep whole in memory, so batches are sliced from a tensor and
augmented on the batch: on 2 cores this beats DataLoader workers, whose start-up and pickling cost more than
the augmentation itself. CIFAR-10/100 and STL-10 (paper profile) are read from the files of their official
archives with small readers of our own, which the tests exercise on files they write.

A malformed file (cut short, wrong format, images and labels that disagree) raises ``DataCorrupt`` naming the
file, what is wrong with it and how to get a good copy, rather than a reshape error or silently short data: a
download cut short is the usual cause, and the fix depends on where the file came from.
"""

from __future__ import annotations

import fcntl
import gzip
import math
import os
import pickle
import zlib
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


class DataCorrupt(ValueError):
    """A data file is malformed; the message names the file, what is wrong with it and how to get a good copy.

    A ``ValueError``, so the command line reports it as one line instead of a traceback."""


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


_REFETCH = "Fix: delete it and extract or download it again from the official archive."


def _read_idx(path: Path, fix: str = _REFETCH) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not, checking its size against its header, since a
    download cut short otherwise surfaces as an EOFError or a reshape error that names no file."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as fh:
                data = fh.read()
        else:
            data = path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise DataCorrupt(
            f"{path} is a truncated or damaged gzip file ({type(err).__name__}: {err}). {fix}"
        ) from err
    if len(data) < 4:
        raise DataCorrupt(
            f"{path} is empty or cut short: {len(data)} bytes, less than an IDX magic number. {fix}"
        )
    if data[:3] != b"\x00\x00\x08" or data[3] == 0:
        raise DataCorrupt(
            f"{path} is not an unsigned-byte IDX file: wrong magic number 0x{data[:4].hex()} "
            f"(expected 0x000008NN, NN the number of dimensions). {fix}"
        )
    ndim = data[3]
    offset = 4 + 4 * ndim
    if len(data) < offset:
        raise DataCorrupt(
            f"{path} is cut short inside its header: {len(data)} bytes, a {ndim}-dimensional IDX header takes {offset}. {fix}"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected, held = math.prod(shape), len(data) - offset
    if held != expected:
        cause = "the file is truncated" if held < expected else "more than one array, or not an IDX file"
        raise DataCorrupt(
            f"{path}: the header says {shape[0]} items of shape {shape[1:]} ({expected} bytes of data) but the "
            f"file holds {held} bytes: {cause}. {fix}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


_FMNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_FMNIST_SUBFOLDERS = ("", "FashionMNIST/raw", "raw")  # flat, torchvision's layout, torchvision's raw folder


def _find_idx(folder: Path, stem: str) -> Path | None:
    for sub in _FMNIST_SUBFOLDERS:
        for suffix in ("", ".gz"):
            path = folder / sub / f"{stem}{suffix}"
            if path.exists():
                return path
    return None


def _missing_fashion_mnist(folder: Path) -> list[str]:
    return [stem for pair in _FMNIST_FILES.values() for stem in pair if _find_idx(folder, stem) is None]


def fashion_mnist_folder() -> Path:
    """Where Fashion-MNIST is: $PAPERLIB_DATA, Debian's package, or torchvision's download (in that order).

    A $PAPERLIB_DATA that lacks the files is an error, not a reason to look further: whoever set it meant
    those files, and silently training on another copy would hide the mistake."""
    if os.environ.get("PAPERLIB_DATA"):
        folder = Path(os.environ["PAPERLIB_DATA"])
        missing = _missing_fashion_mnist(folder)
        if missing:
            state = "" if folder.is_dir() else " (no such folder)"
            raise DataNotFound(
                f"PAPERLIB_DATA={folder}{state} does not hold Fashion-MNIST: missing {', '.join(missing)} "
                f"(each looked for as NAME or NAME.gz in the folder, in FashionMNIST/raw/ and in raw/ under it). "
                f"Fix: put the four IDX files there, or unset PAPERLIB_DATA to fall back to Debian's package "
                f"({DEBIAN_FASHION_MNIST}) or torchvision's download."
            )
        return folder
    tried = []
    if not _missing_fashion_mnist(DEBIAN_FASHION_MNIST):
        return DEBIAN_FASHION_MNIST
    tried.append(str(DEBIAN_FASHION_MNIST))
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
    """torchvision's download, one process at a time: notebooks executed side by side (pytest-xdist) would
    otherwise write the same files at once and read each other's halves."""
    from torchvision.datasets import FashionMNIST

    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".download.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            FashionMNIST(str(CACHE), train=True, download=True)
            FashionMNIST(str(CACHE), train=False, download=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return CACHE


def _fashion_mnist_fix(path: Path, what: str = "it") -> str:
    """How to replace a bad Fashion-MNIST file (``what``: "it", "both"), by where it came from."""
    if path.is_relative_to(DEBIAN_FASHION_MNIST):
        return "Fix: reinstall Debian's package: apt-get install --reinstall dataset-fashion-mnist"
    if path.is_relative_to(CACHE):
        return f"Fix: delete {CACHE / 'FashionMNIST'} and load again; torchvision downloads it anew."
    return (
        f"Fix: delete {what} and extract or download {what} again (https://github.com/zalandoresearch/fashion-mnist), "
        "or unset PAPERLIB_DATA to fall back to Debian's package or torchvision's download."
    )


def _check_labels(labels: np.ndarray, low: int, high: int, path: Path, fix: str) -> None:
    """Labels outside the classes would fail much later, inside the loss, far from the file."""
    if labels.size and (labels.min() < low or labels.max() > high):
        raise DataCorrupt(
            f"{path} holds labels from {labels.min()} to {labels.max()}, outside {low}..{high}. {fix}"
        )


def _fashion_mnist(split: str) -> Split:
    folder = fashion_mnist_folder()
    img_path, lab_path = (_find_idx(folder, stem) for stem in _FMNIST_FILES[split])
    fix = _fashion_mnist_fix(img_path)
    images = _read_idx(img_path, fix)
    labels = _read_idx(lab_path, _fashion_mnist_fix(lab_path))
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataCorrupt(f"{img_path} holds items of shape {images.shape[1:]}, not 28 x 28 images. {fix}")
    if labels.ndim != 1:
        raise DataCorrupt(f"{lab_path} holds items of shape {labels.shape[1:]}, not single labels. {fix}")
    if len(images) != len(labels):
        raise DataCorrupt(
            f"{img_path} holds {len(images)} images but {lab_path} holds {len(labels)} labels; "
            f"both must come from the same copy. {_fashion_mnist_fix(img_path, 'both')}"
        )
    _check_labels(labels, 0, 9, lab_path, _fashion_mnist_fix(lab_path))
    return Split(torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)))


def _unpickle(path: Path, fix: str) -> dict:
    with open(path, "rb") as fh:
        try:
            rows = pickle.load(fh, encoding="bytes")
        # A damaged pickle fails in many ways (EOFError, UnpicklingError, KeyError, ...): all mean the same.
        except Exception as err:
            raise DataCorrupt(
                f"{path} is not a readable pickle, truncated or damaged ({type(err).__name__}: {err}). {fix}"
            ) from err
    if not isinstance(rows, dict):
        raise DataCorrupt(f"{path} holds a pickled {type(rows).__name__}, not a CIFAR batch (a dict). {fix}")
    return rows


def _cifar_batch(path: Path, key: bytes, classes: int, fix: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 3072) and labels (N,) of one CIFAR batch file, checked so a bad file is named."""
    rows = _unpickle(path, fix)
    absent = [k.decode() for k in (b"data", key) if k not in rows]
    if absent:
        found = ", ".join(k.decode() if isinstance(k, bytes) else repr(k) for k in rows)
        raise DataCorrupt(
            f"{path} lacks the key(s) {', '.join(absent)} of a CIFAR batch (it has: {found}). {fix}"
        )
    images = np.asarray(rows[b"data"])
    if images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != 3 * 32 * 32:
        raise DataCorrupt(
            f"{path}: 'data' holds {images.dtype} of shape {images.shape}; expected uint8 rows of "
            f"3072 = 3*32*32 values. {fix}"
        )
    labels = np.asarray(rows[key])
    if labels.ndim != 1 or len(labels) != len(images):
        raise DataCorrupt(
            f"{path} holds {len(images)} images ('data') but {labels.size} labels ('{key.decode()}'). {fix}"
        )
    _check_labels(labels, 0, classes - 1, path, fix)
    return images, labels


def _cifar(root: Path, name: str, split: str, where: str) -> Split:
    folder = root / ("cifar-10-batches-py" if name == "cifar10" else "cifar-100-python")
    if name == "cifar10":
        files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        key = b"labels"
    else:
        files, key = (["train"] if split == "train" else ["test"]), b"fine_labels"
    missing = [f for f in files if not (folder / f).exists()]
    if missing:
        raise DataNotFound(
            f"{name} not found: {folder} ({where}) lacks {missing}. Put the extracted python archive under "
            f"$PAPERLIB_DATA (or pass root=...), e.g. from torchvision.datasets.{name.upper()}(root, download=True)"
        )
    archive = "cifar-10-python.tar.gz" if name == "cifar10" else "cifar-100-python.tar.gz"
    fix = (
        f"Fix: delete {folder} and extract it again from {archive} (https://www.cs.toronto.edu/~kriz/cifar.html), "
        f"e.g. with torchvision.datasets.{name.upper()}(root, download=True)."
    )
    parts = [_cifar_batch(folder / f, key, NUM_CLASSES[name], fix) for f in files]
    images = np.concatenate([p[0] for p in parts]).reshape(-1, 3, 32, 32)
    labels = np.concatenate([p[1] for p in parts]).astype(np.int64)
    return Split(torch.from_numpy(images.copy()), torch.from_numpy(labels))


_STL_IMAGE_BYTES = 3 * 96 * 96


def _stl10(root: Path, split: str, where: str) -> Split:
    folder = root / "stl10_binary"
    x_path, y_path = folder / f"{split}_X.bin", folder / f"{split}_y.bin"
    needed = [x_path] if split == "unlabeled" else [x_path, y_path]
    missing = [p.name for p in needed if not p.exists()]
    if missing:
        raise DataNotFound(
            f"stl10 not found: {folder} ({where}) lacks {missing}; extract stl10_binary.tar.gz under "
            f"$PAPERLIB_DATA (or pass root=...), e.g. with torchvision.datasets.STL10(root, download=True)"
        )
    fix = (
        f"Fix: delete {folder} and extract it again from stl10_binary.tar.gz "
        f"(https://cs.stanford.edu/~acoates/stl10/), e.g. with torchvision.datasets.STL10(root, download=True)."
    )
    size = x_path.stat().st_size
    if size == 0 or size % _STL_IMAGE_BYTES:
        raise DataCorrupt(
            f"{x_path} holds {size} bytes, not a whole number of images of 3*96*96 = {_STL_IMAGE_BYTES} bytes: "
            f"the file is truncated or damaged. {fix}"
        )
    images = np.fromfile(x_path, dtype=np.uint8).reshape(-1, 3, 96, 96).transpose(0, 1, 3, 2)  # column-major
    if split == "unlabeled":
        labels = np.full(images.shape[0], -1, dtype=np.int64)
    else:
        raw = np.fromfile(y_path, dtype=np.uint8)
        if len(raw) != len(images):
            raise DataCorrupt(
                f"{x_path} holds {len(images)} images but {y_path} holds {len(raw)} labels; "
                f"both must come from the same archive. {fix}"
            )
        _check_labels(raw, 1, 10, y_path, fix)  # a 0 would become -1, "unlabeled", without a word
        labels = raw.astype(np.int64) - 1
    return Split(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels))


def load(name: str, split: str, root: Path | None = None) -> Split:
    """One split (``train``, ``test``; ``unlabeled`` for STL-10) of a data set as in-memory uint8 tensors."""
    if name not in NUM_CLASSES:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(NUM_CLASSES)}")
    if split not in ("train", "test", "unlabeled") or (split == "unlabeled" and name != "stl10"):
        raise ValueError(f"unknown split {split!r} for {name}")
    if name == "fashion_mnist":
        return _fashion_mnist(split)
    if root:
        root, where = Path(root), "root passed in"
    elif os.environ.get("PAPERLIB_DATA"):
        root, where = Path(os.environ["PAPERLIB_DATA"]), f"$PAPERLIB_DATA; unset it to look in {CACHE}"
    else:
        root, where = CACHE, "PAPERLIB_DATA is unset"
    return _stl10(root, split, where) if name == "stl10" else _cifar(root, name, split, where)


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
    """uint8 (N, C, H, W) -> float32, standardized with the data set's channel statistics (on the images'
    device)."""
    mean, std = (
        torch.tensor(v, dtype=torch.float32, device=images.device).view(1, -1, 1, 1) for v in STATS[name]
    )
    return (images.float() / 255.0 - mean) / std
