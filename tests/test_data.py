"""paperlib.data: lookup order and its error, the archive readers, subsets, splits and augmentations."""

import numpy as np
import pytest
import torch

from paperlib import data as D

from .helpers import write_cifar, write_fashion_mnist, write_stl10


def test_fashion_mnist_from_paperlib_data(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_DATA", str(write_fashion_mnist(tmp_path / "fm")))
    train, test = D.load("fashion_mnist", "train"), D.load("fashion_mnist", "test")
    assert train.images.shape == (200, 1, 28, 28) and train.images.dtype == torch.uint8
    assert test.labels.tolist()[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]


def test_missing_fashion_mnist_names_all_three_remedies(tmp_path, monkeypatch):
    monkeypatch.setenv("PAPERLIB_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(D, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")

    def offline():
        raise OSError("no network")

    monkeypatch.setattr(D, "_download_fashion_mnist", offline)
    with pytest.raises(D.DataNotFound) as err:
        D.load("fashion_mnist", "train")
    message = str(err.value)
    assert "PAPERLIB_DATA" in message and "apt-get install dataset-fashion-mnist" in message
    assert "torchvision" in message and "no network" in message


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


def test_stl10_reader_restores_row_major_images(tmp_path):
    root, images = write_stl10(tmp_path)
    train = D.load("stl10", "train", root)
    assert torch.equal(train.images, torch.from_numpy(images))
    assert train.labels.tolist() == list(np.arange(12) % 10)
    assert (D.load("stl10", "unlabeled", root).labels == -1).all()


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
