import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps

from paperlib import augment as A


def _images(n=4, c=3, side=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, side, side), dtype=torch.uint8, generator=g)


def test_weak_augment_is_a_seeded_shifted_crop():
    images = torch.arange(2 * 28 * 28, dtype=torch.float32).reshape(2, 1, 28, 28).to(torch.uint8)
    a = A.weak_augment(images, torch.Generator().manual_seed(0))
    b = A.weak_augment(images, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == images.shape and a.dtype == torch.uint8
    plain = A.weak_augment(images, torch.Generator().manual_seed(0), flip=False, pad=0)
    assert torch.equal(plain, images)  # no padding and no flip: the identity


def test_strong_augment_is_seeded_and_changes_images():
    images = _images()
    a = A.strong_augment(images, torch.Generator().manual_seed(0))
    b = A.strong_augment(images, torch.Generator().manual_seed(0))
    c = A.strong_augment(images, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == images.shape and a.dtype == torch.uint8
    assert not torch.equal(a, images) and not torch.equal(a, c)


def test_rand_augment_uses_every_operation(monkeypatch):
    """With enough images every operation of the pool is drawn, on as many images as a replay of the
    generator's draws assigns it (3 rounds of one pick and one magnitude per image); none may fail on
    grayscale or RGB."""
    calls: dict[str, int] = {}

    def counted(name, op):
        def run(x, v):
            calls[name] = calls.get(name, 0) + len(x)
            return op(x, v)

        return run

    for name, (op, lo, hi) in list(A.OPS.items()):
        monkeypatch.setitem(A.OPS, name, (counted(name, op), lo, hi))
    for channels in (1, 3):
        calls.clear()
        out = A.rand_augment(_images(n=200, c=channels, side=28), torch.Generator().manual_seed(0))
        assert out.shape == (200, channels, 28, 28)
        replay, expected = torch.Generator().manual_seed(0), torch.zeros(len(A.OPS), dtype=torch.long)
        for _ in range(3):
            expected += torch.bincount(torch.randint(0, len(A.OPS), (200,), generator=replay), minlength=14)
            torch.rand(200, generator=replay)
        assert sorted(calls) == sorted(A.OPS), f"never drawn: {sorted(set(A.OPS) - set(calls))}"
        assert [calls[name] for name in A.OPS] == expected.tolist()


def _pil(x: torch.Tensor) -> Image.Image:
    return Image.fromarray(x.permute(1, 2, 0).numpy())


def _back(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)


@pytest.mark.parametrize(
    "name, pil_op, value",
    [
        ("equalize", lambda im, v: ImageOps.equalize(im), 0.0),
        ("autocontrast", lambda im, v: ImageOps.autocontrast(im), 0.0),
        ("solarize", lambda im, v: ImageOps.solarize(im, v), 100.0),
        ("posterize", lambda im, v: ImageOps.posterize(im, int(v)), 5.0),
        ("brightness", lambda im, v: ImageEnhance.Brightness(im).enhance(v), 0.6),
        ("color", lambda im, v: ImageEnhance.Color(im).enhance(v), 0.3),
    ],
)
def test_photometric_operations_match_pil(name, pil_op, value):
    """Batched operations give PIL's result to within rounding (one grey level)."""
    x = _images(n=3, side=16)
    op = A.OPS[name][0]
    ours = op(x.float(), torch.full((3,), value)).round()
    for i in range(3):
        ref = _back(pil_op(_pil(x[i]), value)).float()
        assert (ours[i] - ref).abs().max() <= 1.0, name


def test_translation_moves_pixels_and_fills_black():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 3, 3] = 200.0
    out = A.OPS["translate_x"][0](x, torch.tensor([0.25]))  # 2 pixels: output(x) = input(x + 2)
    assert out[0, 0, 3, 1] == 200.0 and out.sum() == 200.0
    rotated = A.OPS["rotate"][0](torch.full((1, 1, 8, 8), 50.0), torch.tensor([30.0]))
    assert (rotated == 0).any() and rotated.max() == 50.0  # corners come from outside: black


def test_cutout_paints_a_gray_square_of_bounded_size():
    x = torch.zeros(50, 1, 20, 20, dtype=torch.uint8)
    out = A.cutout(x, torch.Generator().manual_seed(0))
    painted = (out == int(A.CUTOUT_FILL)).flatten(1).sum(1)
    assert painted.max() <= 10 * 10 and (painted > 0).float().mean() > 0.8
