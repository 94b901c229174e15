"""WideResNet as in USB / TorchSSL (``semilearn/nets/wrn``), written afresh.

Pre-activation basic blocks with BatchNorm (momentum 0.001, eps 0.001), LeakyReLU(0.1), biased 3x3 convs and a
1x1 projection shortcut where the width changes. Depth 28 has three groups of four blocks (WRN-28-2 has about
1.47 M parameters); USB's "WRN-37-2" for STL-10 is the four-group variant with first stride 2. The features are
the pooled activations after the final BN + LeakyReLU, and ``head`` is the linear classifier.
"""

from __future__ import annotations

import torch
from torch import nn

BN_MOMENTUM = 0.001
BN_EPS = 0.001
SLOPE = 0.1


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM, eps=BN_EPS)


class Block(nn.Module):
    """BN-act-conv-BN-act-conv with an identity or 1x1-conv shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1, self.bn2 = _bn(c_in), _bn(c_out)
        self.act = nn.LeakyReLU(SLOPE)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=True)
        self.shortcut = None if c_in == c_out else nn.Conv2d(c_in, c_out, 1, stride, 0, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.act(self.bn1(x))
        # With a projection, USB feeds the activated input to both branches; otherwise the raw input is kept.
        skip = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv2(self.act(self.bn2(self.conv1(pre))))
        return skip + out


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
    ) -> None:
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WideResNet depth must be 6n + 4 (10, 16, 22, 28, ...), got {depth}")
        per_group = (depth - 4) // 6
        widths = [16] + [16 * widen_factor * 2**g for g in range(groups)]
        self.stem = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=True)
        layers = []
        for g in range(groups):
            stride = first_stride if g == 0 else 2
            for b in range(per_group):
                layers.append(
                    Block(widths[g] if b == 0 else widths[g + 1], widths[g + 1], stride if b == 0 else 1)
                )
        self.blocks = nn.Sequential(*layers)
        self.bn = _bn(widths[-1])
        self.act = nn.LeakyReLU(SLOPE)
        self.head = nn.Linear(widths[-1], num_classes)
        self.num_features = widths[-1]
        self._init()

    def _init(self) -> None:
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
