"""paperlib.data: lookup order and its error, the archive readers, subsets, splits and augmentations."""

import gzip
import pickle

import numpy as np
import pytest
import torch

from paperlib import data as D

from .helpers import write_cifar, write_fashion_mnist, write_idx, write_stl10


def test_fashion_mnist_from_paperlib_data(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_DATA", str(write_fashion_mnist(tmp_path / "fm")))
    train, test = D.load("fashion_mnist", "train"), D.load("fashion_mnist", "test")
    assert train.images.shape == (200, 1, 28, 28) and train.images.dtype == torch.uint8
    assert test.labels.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def _offline():
    raise OSError("no network")


def test_missing_fashion_mnist_names_all_three_remedies(tmp_path, monkeypatch):
    monkeypatch.delenv("PAPERLIB_DATA", raising=False)
    monkeypatch.setattr(D, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    monkeypatch.setattr(D, "_download_fashion_mnist", _offline)
    with pytest.raises(D.DataNotFound) as err:
        D.load("fashion_mnist", "train")
    message = str(err.value)
    assert "PAPERLIB_DATA" in message and "apt-get install dataset-fashion-mnist" in message
    assert "torchvision" in message and "no network" in message


# ------------------------------------------------------------------ a $PAPERLIB_DATA without the files


@pytest.fixture
def system_copy(tmp_path, monkeypatch):
    """A good "Debian" copy and no network: a test that loads from it has fallen through."""
    monkeypatch.setattr(D, "DEBIAN_FASHION_MNIST", write_fashion_mnist(tmp_path / "debian"))
    monkeypatch.setattr(D, "_download_fashion_mnist", _offline)


def test_empty_paperlib_data_is_an_error_not_a_fall_through(tmp_path, monkeypatch, system_copy):
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("PAPERLIB_DATA", str(tmp_path / "empty"))
    with pytest.raises(D.DataNotFound) as err:
        D.load("fashion_mnist", "test")
    message = str(err.value)
    assert f"PAPERLIB_DATA={tmp_path / 'empty'} " in message
    assert all(stem in message for pair in D._FMNIST_FILES.values() for stem in pair)
    assert "unset PAPERLIB_DATA" in message


def test_partial_paperlib_data_names_only_the_missing_files(tmp_path, monkeypatch, system_copy):
    folder = write_cifar(tmp_path / "data")  # CIFAR is there, Fashion-MNIST only in part
    write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 28)))
    monkeypatch.setenv("PAPERLIB_DATA", str(folder))
    with pytest.raises(D.DataNotFound) as err:
        D.load("fashion_mnist", "train")
    message = str(err.value)
    assert str(folder) in message and "unset PAPERLIB_DATA" in message
    missing = message.split("missing ")[1].split(" (")[0]
    assert missing == "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte"
    assert len(D.load("cifar10", "test")) == 20  # the CIFAR files in the same folder still load


def test_paperlib_data_in_torchvisions_layout_is_found(tmp_path, monkeypatch, system_copy):
    write_fashion_mnist(tmp_path / "data" / "FashionMNIST" / "raw", n_train=30)
    monkeypatch.setenv("PAPERLIB_DATA", str(tmp_path / "data"))
    assert len(D.load("fashion_mnist", "train")) == 30


# ---------------------------------------------------------------------------- malformed Fashion-MNIST files


def _cut(path, keep):
    path.write_bytes(path.read_bytes()[:keep])


def test_truncated_gzip_names_the_file_and_the_fix(tmp_path, monkeypatch):
    folder = write_fashion_mnist(tmp_path / "fm")
    bad = folder / "train-images-idx3-ubyte.gz"
    _cut(bad, bad.stat().st_size // 2)
    monkeypatch.setenv("PAPERLIB_DATA", str(folder))
    with pytest.raises(D.DataCorrupt) as err:  # not EOFError / BadGzipFile
        D.load("fashion_mnist", "train")
    message = str(err.value)
    assert str(bad) in message and "truncated or damaged gzip" in message
    assert "download it again" in message and "unset PAPERLIB_DATA" in message
    assert isinstance(err.value, ValueError)  # the command line reports it in one line


def test_damaged_file_in_debians_copy_says_reinstall(tmp_path, monkeypatch):
    monkeypatch.delenv("PAPERLIB_DATA", raising=False)
    folder = write_fashion_mnist(tmp_path / "debian")
    monkeypatch.setattr(D, "DEBIAN_FASHION_MNIST", folder)
    bad = folder / "t10k-labels-idx1-ubyte.gz"
    _cut(bad, 30)
    with pytest.raises(D.DataCorrupt) as err:
        D.load("fashion_mnist", "test")
    assert str(bad) in str(err.value)
    assert "apt-get install --reinstall dataset-fashion-mnist" in str(err.value)


def test_truncated_raw_idx_says_what_the_header_promised(tmp_path, monkeypatch):
    folder = write_fashion_mnist(tmp_path / "fm")
    gz = folder / "train-images-idx3-ubyte.gz"
    raw = folder / "train-images-idx3-ubyte"
    raw.write_bytes(gzip.decompress(gz.read_bytes())[:-1000])
    gz.unlink()
    monkeypatch.setenv("PAPERLIB_DATA", str(folder))
    with pytest.raises(D.DataCorrupt) as err:
        D.load("fashion_mnist", "train")
    message = str(err.value)
    assert str(raw) in message and "200 items of shape (28, 28)" in message
    assert f"holds {200 * 28 * 28 - 1000} bytes" in message and "truncated" in message
    assert "download it again" in message


@pytest.mark.parametrize(
    "content,words",
    [
        (b"", "empty or cut short"),
        (bytes([0, 0, 0x0D, 3]) + bytes(20), "wrong magic number 0x00000d03"),
        (bytes([0, 0, 8, 3, 0, 0]), "cut short inside its header"),
        (bytes([0, 0, 8, 1, 0, 0, 0, 2, 1, 2, 3]), "header says 2 items of shape () (2 bytes of data) but"),
    ],
    ids=["empty", "magic", "short-header", "trailing-bytes"],
)
def test_malformed_idx_is_named(tmp_path, content, words):
    path = tmp_path / "x-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(D.DataCorrupt) as err:
        D._read_idx(path)
    assert str(path) in str(err.value) and words in str(err.value) and "Fix:" in str(err.value)


def test_labels_shorter_than_images_name_both_files_and_counts(tmp_path, monkeypatch):
    folder = write_fashion_mnist(tmp_path / "fm")
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.arange(150) % 10)
    monkeypatch.setenv("PAPERLIB_DATA", str(folder))
    with pytest.raises(D.DataCorrupt) as err:
        D.load("fashion_mnist", "train")
    message = str(err.value)
    assert f"{folder / 'train-images-idx3-ubyte.gz'} holds 200 images" in message
    assert f"{folder / 'train-labels-idx1-ubyte.gz'} holds 150 labels" in message
    assert "delete both" in message


def test_swapped_files_and_labels_out_of_range_are_refused(tmp_path, monkeypatch):
    folder = write_fashion_mnist(tmp_path / "fm")
    monkeypatch.setenv("PAPERLIB_DATA", str(folder))
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(100, 10))
    with pytest.raises(D.DataCorrupt, match="labels from 10 to 10, outside 0..9"):
        D.load("fashion_mnist", "test")
    write_idx(folder / "t10k-images-idx3-ubyte.gz", np.arange(100) % 10)
    with pytest.raises(D.DataCorrupt, match="not 28 x 28 images"):
        D.load("fashion_mnist", "test")


@pytest.mark.parametrize("classes", [10, 100])
def test_cifar_reader_on_written_files(tmp_path, classes):
    root = write_cifar(tmp_path, classes=classes, per_file=20)
    name = "cifar10" if classes == 10 else "cifar100"
    train, test = D.load(name, "train", root), D.load(name, "test", root)
    assert train.images.shape == (100, 3, 32, 32) and test.images.shape == (20, 3, 32, 32)
    assert int(train.labels.max()) == classes - 1


def test_cifar_missing_files_say_which(tmp_path):
    with pytest.raises(D.DataNotFound, match="test_batch"):
        D.load("cifar10", "test", tmp_path)


def _rewrite_pickle(path, change):
    with open(path, "rb") as fh:
        rows = pickle.load(fh)
    change(rows)
    with open(path, "wb") as fh:
        pickle.dump(rows, fh)


def _drop_labels(rows):
    del rows[b"labels"]


def _short_rows(rows):
    rows[b"data"] = rows[b"data"][:, :3000]


def _fewer_labels(rows):
    rows[b"labels"] = rows[b"labels"][:-3]


@pytest.mark.parametrize(
    "damage,words",
    [
        (lambda path: _cut(path, 500), "not a readable pickle, truncated or damaged"),
        (lambda path: _rewrite_pickle(path, _drop_labels), "lacks the key(s) labels"),
        (lambda path: _rewrite_pickle(path, _short_rows), "shape (20, 3000); expected uint8 rows of 3072"),
        (
            lambda path: _rewrite_pickle(path, _fewer_labels),
            "holds 20 images ('data') but 17 labels ('labels')",
        ),
    ],
    ids=["truncated", "missing-key", "row-length", "fewer-labels"],
)
def test_corrupt_cifar_batch_is_named_with_the_fix(tmp_path, damage, words):
    root = write_cifar(tmp_path, classes=10, per_file=20)
    bad = root / "cifar-10-batches-py" / "data_batch_3"
    damage(bad)
    with pytest.raises(D.DataCorrupt) as err:
        D.load("cifar10", "train", root)
    message = str(err.value)
    assert str(bad) in message and words in message
    assert f"delete {bad.parent} and extract it again from cifar-10-python.tar.gz" in message


def test_cifar100_file_with_cifar10_keys_is_named(tmp_path):
    root = write_cifar(tmp_path, classes=100, per_file=4)
    _rewrite_pickle(
        root / "cifar-100-python" / "test", lambda rows: rows.update({b"labels": rows.pop(b"fine_labels")})
    )
    with pytest.raises(D.DataCorrupt, match="lacks the key.s. fine_labels .* .it has: data, labels."):
        D.load("cifar100", "test", root)


def test_stl10_reader_restores_row_major_images(tmp_path):
    root, images = write_stl10(tmp_path)
    train = D.load("stl10", "train", root)
    assert torch.equal(train.images, torch.from_numpy(images))
    assert train.labels.tolist() == list(np.arange(12) % 10)
    assert (D.load("stl10", "unlabeled", root).labels == -1).all()


def test_stl10_wrong_size_names_the_file_and_the_image_size(tmp_path):
    root, _ = write_stl10(tmp_path)
    bad = root / "stl10_binary" / "train_X.bin"
    _cut(bad, bad.stat().st_size - 100)
    with pytest.raises(D.DataCorrupt) as err:
        D.load("stl10", "train", root)
    message = str(err.value)
    assert str(bad) in message and f"holds {12 * 3 * 96 * 96 - 100} bytes" in message
    assert "3*96*96 = 27648" in message and "extract it again from stl10_binary.tar.gz" in message


def test_stl10_label_count_and_missing_labels(tmp_path):
    root, _ = write_stl10(tmp_path)
    labels = root / "stl10_binary" / "test_y.bin"
    _cut(labels, 10)
    with pytest.raises(D.DataCorrupt) as err:
        D.load("stl10", "test", root)
    assert f"{root / 'stl10_binary' / 'test_X.bin'} holds 12 images but {labels} holds 10 labels" in str(
        err.value
    )
    labels.unlink()
    with pytest.raises(D.DataNotFound, match="lacks \\['test_y.bin'\\]"):
        D.load("stl10", "test", root)
    np.zeros(12, dtype=np.uint8).tofile(labels)  # 0 would silently become -1, "unlabeled"
    with pytest.raises(D.DataCorrupt, match="outside 1..10"):
        D.load("stl10", "test", root)


def test_balanced_subset_and_split_are_seeded_and_disjoint():
    labels = torch.arange(1000) % 10
    a, b = D.balanced_subset(labels, 7, seed=3), D.balanced_subset(labels, 7, seed=3)
    assert torch.equal(a, b) and not torch.equal(a, D.balanced_subset(labels, 7, seed=4))
    assert torch.bincount(labels[a]).tolist() == [7] * 10
    lab, unl = D.labeled_unlabeled_split(labels, 40, seed=0)
    assert torch.bincount(labels[lab]).tolist() == [4] * 10
    assert len(set(lab.tolist()) & set(unl.tolist())) == 0 and len(lab) + len(unl) == 1000
    with pytest.raises(ValueError, match="multiple of the 10 classes"):
        D.labeled_unlabeled_split(labels, 45, seed=0)


def test_normalize_standardizes():
    images = torch.full((2, 1, 4, 4), 255, dtype=torch.uint8)
    out = D.normalize(images, "fashion_mnist")
    assert out.dtype == torch.float32
    assert torch.allclose(out, torch.full_like(out, (1 - 0.2860) / 0.3530))


def test_hold_out_is_balanced_disjoint_and_the_same_for_every_run():
    labels = torch.arange(300) % 10
    split = D.Split(torch.arange(300).view(300, 1, 1, 1), labels)  # image i holds i
    rest, val = D.hold_out(split, 5)
    again_rest, again_val = D.hold_out(split, 5)
    assert torch.equal(val.images, again_val.images) and torch.equal(rest.images, again_rest.images)
    assert torch.bincount(val.labels).tolist() == [5] * 10 and len(rest) == 250
    assert not set(val.images.flatten().tolist()) & set(rest.images.flatten().tolist())
