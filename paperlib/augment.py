"""Batch augmentations on uint8 image tensors (N, C, H, W): the weak view (crop + flip) and the strong view
(RandAugment + Cutout) of FixMatch / FreeMatch, seeded from a ``torch.Generator``.

The strong view follows USB's ``RandAugment(3, 5)``: three operations per image, drawn from a pool of 14,
each with a magnitude drawn uniformly from the operation's range, then Cutout of a gray square whose side is a
random fraction (up to 1/2) of the image. It is written for batches: each of the three slots groups the images
by the operation they drew, and the geometric operations share one ``grid_sample`` call. Per-image PIL
augmentation cost ~200 ms per batch of 64 here, more than a training step; this costs a few milliseconds.
The images may live on any device (a GPU's, in training): the random draws always come from the CPU
generator ``g`` in the same order and are then moved to the images' device, so the draws, and on the CPU the
numbers, do not depend on where the images are.
Geometric operations sample with nearest neighbours and fill with black, as PIL does; shears and rotations
are about the image centre.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

CUTOUT_FILL = 127.0


def weak_augment(images: torch.Tensor, g: torch.Generator, flip: bool = True, pad: int = 4) -> torch.Tensor:
    """Random crop after reflect padding by ``pad`` pixels (1/8 of the side for STL-10 in USB), plus a random
    horizontal flip (label-preserving for every data set here); on a uint8 batch, one draw per image from ``g``."""
    n, _, h, w = images.shape
    padded = F.pad(images.float(), (pad, pad, pad, pad), mode="reflect")
    dev = images.device
    dy = torch.randint(0, 2 * pad + 1, (n,), generator=g).to(dev)
    dx = torch.randint(0, 2 * pad + 1, (n,), generator=g).to(dev)
    rows = (dy[:, None] + torch.arange(h, device=dev)[None, :])[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=dev)[None, :])[:, None, None, :]
    if flip:
        mirror = (torch.rand(n, generator=g) < 0.5).to(dev)
        cols = torch.where(mirror[:, None, None, None], cols.flip(-1), cols)
    batch = torch.arange(n, device=dev)[:, None, None, None]
    chans = torch.arange(images.shape[1], device=dev)[None, :, None, None]
    return padded[batch, chans, rows, cols].to(torch.uint8)


# --------------------------------------------------------------------------- photometric operations on [0, 255]


def _per_image(v: torch.Tensor) -> torch.Tensor:
    return v.view(-1, 1, 1, 1)


def _blend(x: torch.Tensor, base: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL's ImageEnhance: base + factor (x - base), clipped."""
    return (base + _per_image(factor) * (x - base)).clamp(0, 255)


def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


def _identity(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return x


def _brightness(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return _blend(x, torch.zeros_like(x), v)


def _color(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return _blend(x, _gray(x).expand_as(x), v)


def _contrast(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    mean = _gray(x).mean(dim=(1, 2, 3), keepdim=True).round()
    return _blend(x, mean.expand_as(x), v)


def _sharpness(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Blend with PIL's SMOOTH filter (centre 5, neighbours 1, / 13); the border pixels stay as they are."""
    c = x.shape[1]
    kernel = torch.ones(3, 3, dtype=x.dtype, device=x.device)
    kernel[1, 1] = 5.0
    kernel = (kernel / 13.0).expand(c, 1, 3, 3)
    smooth = x.clone()
    smooth[:, :, 1:-1, 1:-1] = F.conv2d(x, kernel, groups=c).round()
    return _blend(x, smooth, v)


def _posterize(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    shift = _per_image(2.0 ** (8 - v.floor()))
    return torch.floor(x / shift) * shift


def _solarize(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    return torch.where(x < _per_image(v), x, 255.0 - x)


def _autocontrast(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    lo = x.amin(dim=(2, 3), keepdim=True)
    hi = x.amax(dim=(2, 3), keepdim=True)
    span = hi - lo
    stretched = (x - lo) * 255.0 / torch.where(span > 0, span, torch.ones_like(span))
    return torch.where(span > 0, stretched, x)


def _equalize(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """PIL's ImageOps.equalize per image and channel: a lookup table from the cumulative histogram, spread so
    the most frequent last level is left out; a channel with a single level is unchanged."""
    n, c, h, w = x.shape
    flat = x.round().long().view(n * c, h * w)
    hist = torch.zeros(n * c, 256, dtype=torch.long, device=x.device).scatter_add_(
        1, flat, torch.ones_like(flat)
    )
    last = 255 - torch.argmax((hist.flip(1) > 0).long(), dim=1)  # highest level present
    step = (h * w - hist.gather(1, last[:, None]).squeeze(1)) // 255
    before = hist.cumsum(1) - hist
    safe = torch.where(step > 0, step, torch.ones_like(step))[:, None]
    lut = ((before + safe // 2) // safe).clamp(max=255)
    out = torch.where(step[:, None] > 0, lut.gather(1, flat), flat)
    return out.view(n, c, h, w).to(x.dtype)


# ------------------------------------------------------------------------------------- geometric operations


def _affine(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Sample x at M @ (x_out, y_out, 1) in pixel coordinates centred on the image (nearest, black fill)."""
    _, _, h, w = x.shape
    scale = torch.tensor([2.0 / w, 2.0 / h], dtype=x.dtype, device=x.device)
    theta = m.clone()
    theta[:, 0, 1] *= h / w
    theta[:, 1, 0] *= w / h
    theta[:, :, 2] *= scale
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def _matrix(v: torch.Tensor, kind: str, h: int, w: int) -> torch.Tensor:
    m = torch.zeros(v.shape[0], 2, 3, dtype=torch.float32, device=v.device)
    m[:, 0, 0] = m[:, 1, 1] = 1.0
    if kind == "rotate":
        a = v * math.pi / 180
        m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = a.cos(), -a.sin(), a.sin(), a.cos()
    elif kind == "shear_x":
        m[:, 0, 1] = v
    elif kind == "shear_y":
        m[:, 1, 0] = v
    elif kind == "translate_x":
        m[:, 0, 2] = v * w
    else:  # translate_y
        m[:, 1, 2] = v * h
    return m


def _geometric(kind: str):
    def op(x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return _affine(x, _matrix(v, kind, x.shape[2], x.shape[3]))

    return op


# USB's pool with its magnitude ranges (low, high); magnitudes are drawn uniformly in between.
OPS = {
    "identity": (_identity, 0.0, 1.0),
    "autocontrast": (_autocontrast, 0.0, 1.0),
    "brightness": (_brightness, 0.05, 0.95),
    "color": (_color, 0.05, 0.95),
    "contrast": (_contrast, 0.05, 0.95),
    "equalize": (_equalize, 0.0, 1.0),
    "posterize": (_posterize, 4.0, 8.0),
    "sharpness": (_sharpness, 0.05, 0.95),
    "solarize": (_solarize, 0.0, 256.0),
    "rotate": (_geometric("rotate"), -30.0, 30.0),
    "shear_x": (_geometric("shear_x"), -0.3, 0.3),
    "shear_y": (_geometric("shear_y"), -0.3, 0.3),
    "translate_x": (_geometric("translate_x"), -0.3, 0.3),
    "translate_y": (_geometric("translate_y"), -0.3, 0.3),
}


def rand_augment(images: torch.Tensor, g: torch.Generator, num_ops: int = 3) -> torch.Tensor:
    """``num_ops`` operations per image from ``OPS``, each with its own uniform magnitude (uint8 in and out)."""
    x = images.float()
    n = x.shape[0]
    table = list(OPS.values())
    for _ in range(num_ops):
        pick = torch.randint(0, len(table), (n,), generator=g)
        u = torch.rand(n, generator=g).to(x.device)
        for k, (op, lo, hi) in enumerate(table):
            sel = (pick == k).nonzero().squeeze(1).to(x.device)
            if sel.numel():
                x[sel] = op(x[sel], lo + (hi - lo) * u[sel])
    return x.round().clamp(0, 255).to(torch.uint8)


def cutout(images: torch.Tensor, g: torch.Generator, max_fraction: float = 0.5) -> torch.Tensor:
    """A gray square per image, its side a uniform fraction (up to ``max_fraction``) of the image side, its
    centre anywhere in the image (the square may be clipped by the border)."""
    n, _, h, w = images.shape
    dev = images.device
    side = (torch.rand(n, generator=g) * max_fraction * min(h, w)).to(dev)
    cy = (torch.rand(n, generator=g) * h).to(dev)
    cx = (torch.rand(n, generator=g) * w).to(dev)
    yy = torch.arange(h, dtype=torch.float32, device=dev)[None, :, None] + 0.5
    xx = torch.arange(w, dtype=torch.float32, device=dev)[None, None, :] + 0.5
    half = (side / 2)[:, None, None]
    hole = ((yy - cy[:, None, None]).abs() < half) & ((xx - cx[:, None, None]).abs() < half)
    return images.masked_fill(hole[:, None], int(CUTOUT_FILL))


def strong_augment(images: torch.Tensor, g: torch.Generator, flip: bool = True, pad: int = 4) -> torch.Tensor:
    """FreeMatch's strong view: the weak view, then RandAugment (3 operations) and Cutout."""
    return cutout(rand_augment(weak_augment(images, g, flip, pad), g), g)
