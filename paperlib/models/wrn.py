"""WideResNet as in USB (semilearn 0.3.2, ``semilearn/nets/wrn/wrn.py`` and ``wrn_var.py``), written afresh.

Pre-activation basic blocks: BatchNorm (momentum 0.001, PyTorch's eps 1e-5), LeakyReLU(0.1), bias-free 3x3
convs and a bias-free 1x1 projection shortcut where the width changes. Where the width changes, USB's block
does not use its own pre-activation for the convolution path: the first block of the first group
(``activate_before_residual``) feeds the activated input to conv1 and the shortcut, the first blocks of the
later groups feed them the raw input (their bn1 still runs, so its running statistics move, but its output is
unused and its affine parameters get no gradient). Depth 28 has three groups of four blocks (WRN-28-2:
1,467,626 parameters); USB's "WRN-37-2" for STL-10 is the four-group variant with first stride 2. The stem
conv and the classifier have biases; the final BN uses eps 1e-3. The features are the pooled activations
after that BN + LeakyReLU, and ``head`` is the linear classifier.

Modules are registered in USB's order (stem, blocks with bn1, conv1, bn2, conv2, shortcut, final BN, head), so
the state_dict lists USB's tensors in USB's order and, from the same seed, the initial weights are USB's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BN_MOMENTUM = 0.001
BN_EPS = 1e-5  # the blocks' BatchNorms (PyTorch's default)
FINAL_BN_EPS = 1e-3  # the BatchNorm before pooling
SLOPE = 0.1


class Block(nn.Module):
    """BN-act-conv-BN-act-conv with an identity or 1x1-conv shortcut, wired as USB's ``BasicBlock``."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        stride: int,
        activate_before_residual: bool = False,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act1 = nn.LeakyReLU(SLOPE, inplace=True)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.act2 = nn.LeakyReLU(SLOPE, inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = None if c_in == c_out else nn.Conv2d(c_in, c_out, 1, stride, 0, bias=False)
        self.activate_before_residual = activate_before_residual
        self.drop_rate = drop_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.act1(self.bn1(x))
        if self.shortcut is None:
            path, skip = pre, x
        else:
            # USB: only an activate_before_residual block passes its activation on; the others discard it.
            path = pre if self.activate_before_residual else x
            skip = self.shortcut(path)
        out = self.act2(self.bn2(self.conv1(path)))
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        return skip + self.conv2(out)


class WideResNet(nn.Module):
    """WRN-depth-k returning ``(logits, features)``; ``groups=4`` gives USB's variant used for STL-10."""

    def __init__(
        self,
        num_classes: int,
        depth: int = 28,
        widen_factor: int = 2,
        in_channels: int = 3,
        groups: int = 3,
        first_stride: int = 1,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n + 4 (10, 16, 22, 28, ...), got {depth}")
        per_group = (depth - 4) // 6
        widths = [16] + [16 * widen_factor * 2**g for g in range(groups)]
        self.stem = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=True)
        layers = []
        for g in range(groups):
            for b in range(per_group):
                c_in = widths[g] if b == 0 else widths[g + 1]
                stride = (first_stride if g == 0 else 2) if b == 0 else 1
                layers.append(Block(c_in, widths[g + 1], stride, g == 0, drop_rate))
        self.blocks = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(widths[-1], eps=FINAL_BN_EPS, momentum=BN_MOMENTUM)
        self.act = nn.LeakyReLU(SLOPE)
        self.head = nn.Linear(widths[-1], num_classes)
        self.num_features = widths[-1]
        self._init()

    def _init(self) -> None:
        # USB's initialization, in module order; the stem's bias keeps PyTorch's default draw, as in USB.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="leaky_relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn(self.blocks(self.stem(x))))
        return out.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.features(x)
        return self.head(feats), feats

    @property
    def head_weight(self) -> torch.Tensor:
        """The classification heads, one row per class (C, d)."""
        return self.head.weight
