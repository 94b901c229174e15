"""Tiny data sets in the official file formats, written by the tests themselves, and small shared test
helpers."""

import gzip
import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def write_fashion_mnist(folder: Path, n_train: int = 200, n_test: int = 100, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for stem, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{stem}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(folder / f"{stem}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return folder


def write_cifar(root: Path, classes: int = 10, per_file: int = 20, seed: int = 0) -> Path:
    """cifar-10-batches-py (five training batches + test) or cifar-100-python (train + test)."""
    rng = np.random.default_rng(seed)

    def dump(path, n, key):
        rows = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), key: list(np.arange(n) % classes)}
        with open(path, "wb") as fh:
            pickle.dump(rows, fh)

    if classes == 10:
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(1, 6):
            dump(folder / f"data_batch_{i}", per_file, b"labels")
        dump(folder / "test_batch", per_file, b"labels")
    else:
        folder = root / "cifar-100-python"
        folder.mkdir(parents=True, exist_ok=True)
        dump(folder / "train", per_file * 5, b"fine_labels")
        dump(folder / "test", per_file, b"fine_labels")
    return root


def write_stl10(root: Path, n: int = 12, seed: int = 0) -> tuple[Path, np.ndarray]:
    """stl10_binary with column-major images; returns the images as (N, 3, 96, 96) row-major."""
    rng = np.random.default_rng(seed)
    folder = root / "stl10_binary"
    folder.mkdir(parents=True, exist_ok=True)
    images = rng.integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)
    for stem in ("train", "test", "unlabeled"):
        images.transpose(0, 1, 3, 2).tofile(folder / f"{stem}_X.bin")
        if stem != "unlabeled":
            (np.arange(n) % 10 + 1).astype(np.uint8).tofile(folder / f"{stem}_y.bin")
    return root, images


def write_learnable_fashion_mnist(folder: Path, n_train: int = 640, n_test: int = 200, seed: int = 0) -> Path:
    """Fashion-MNIST files whose classes a small net learns in a few dozen steps: class k is a bright 7 x 7
    square at its own place on a 4 x 4 grid, on noise."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for stem, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = rng.integers(0, 90, (n, 28, 28))
        for i, k in enumerate(labels):
            r, c = divmod(int(k), 4)
            images[i, 7 * r : 7 * r + 7, 7 * c : 7 * c + 7] = 255
        write_idx(folder / f"{stem}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{stem}-labels-idx1-ubyte.gz", labels)
    return folder


def _value(cfg, path: str):
    for part in path.split("."):
        cfg = getattr(cfg, part)
    return cfg


def _smaller(cut, value) -> bool:
    if isinstance(cut, tuple):  # shorter, or as long with no item larger (LMC's spawn steps)
        same = (
            len(cut) == len(value)
            and cut != tuple(value)
            and all(c <= v for c, v in zip(cut, value, strict=True))
        )
        return len(cut) < len(value) or same
    return value is None or cut < value


def cut_settings(cfg, cuts: dict) -> dict:
    """``cuts`` (setting leaf name -> value) by full dotted path, for every setting of ``cfg`` whose leaf name
    is cut and whose value the cut makes smaller (a validation split of 0 stays 0, a list keeps its length
    unless the cut is shorter or, as long, has no larger item). Full paths reach every nested copy of a setting in a study config."""
    from paperlib.configs import paths

    out = {}
    for path in paths(cfg):
        leaf = path.rsplit(".", 1)[-1]
        if leaf in cuts and _smaller(cuts[leaf], _value(cfg, path)):
            out[path] = cuts[leaf]
    return out


def claims_json(profile: str = "smoke") -> list[dict]:
    """The rows ``python -m paperlib claims --profile P --json`` prints, run as a user would (a subprocess)."""
    out = subprocess.run(
        [sys.executable, "-m", "paperlib", "claims", "--profile", profile, "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)
