"""Convolutional building blocks of the YOLOv8 backbone and neck.

Attribute names (``conv``, ``bn``, ``cv1``, ``m`` ...) follow the state-dict layout of the
official checkpoints, so their tensors map onto ours by name.
"""

from __future__ import annotations

import torch
from torch import nn

from .batchnorm_silu import RecomputingConv2d, batchnorm_silu, can_fuse

# Batch-norm settings of the reference's detection-family models (detect, segment, pose);
# its classifiers keep torch's defaults (eps 1e-5, momentum 0.1). Outputs of imported
# weights depend on eps, so TaskModel applies the right pair per task.
DETECTION_BN_EPS = 1e-3
DETECTION_BN_MOMENTUM = 0.03


def same_padding(kernel_size: int, dilation: int = 1) -> int:
    """Padding that keeps the spatial size for a stride-1 convolution ('same')."""
    if dilation > 1:
        kernel_size = dilation * (kernel_size - 1) + 1
    return kernel_size // 2


class Conv(nn.Module):
    """Convolution without bias, batch norm, SiLU. ``fuse()`` folds the norm into the conv."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 1,
        stride: int = 1,
        padding: int | None = None,
        groups: int = 1,
        dilation: int = 1,
        act: bool = True,
    ) -> None:
        super().__init__()
        pad = same_padding(kernel_size, dilation) if padding is None else padding
        self.conv: nn.Conv2d = RecomputingConv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            pad,
            groups=groups,
            dilation=dilation,
            bias=False,
        )
        self.bn: nn.Module = nn.BatchNorm2d(out_channels)
        self.act: nn.Module = nn.SiLU(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if can_fuse(self.bn, self.act, x):
            return batchnorm_silu(self.bn, x)
        return self.act(self.bn(x))

    @torch.no_grad()
    def fuse(self) -> None:
        """Fold the batch norm into the convolution weights (inference only)."""
        if isinstance(self.bn, nn.Identity):
            return
        self.conv = fuse_conv_and_bn(self.conv, self.bn)
        self.bn = nn.Identity()


@torch.no_grad()
def fuse_conv_and_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """Return a new Conv2d with bias that computes ``bn(conv(x))`` in eval mode."""
    fused = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        conv.stride,
        conv.padding,
        dilation=conv.dilation,
        groups=conv.groups,
        bias=True,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    ).requires_grad_(False)
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
    conv_bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.bias.copy_(bn.bias + (conv_bias - bn.running_mean) * scale)
    return fused


class Bottleneck(nn.Module):
    """Two convolutions with an optional residual connection."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        shortcut: bool = True,
        groups: int = 1,
        kernel_sizes: tuple[int, int] = (3, 3),
        expansion: float = 0.5,
    ) -> None:
        super().__init__()
        hidden = int(out_channels * expansion)
        self.cv1 = Conv(in_channels, hidden, kernel_sizes[0], 1)
        self.cv2 = Conv(hidden, out_channels, kernel_sizes[1], 1, groups=groups)
        self.add = shortcut and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


def _bottlenecks(channels: int, n: int, shortcut: bool, groups: int) -> list[Bottleneck]:
    """The ``n`` full-width 3x3/3x3 bottlenecks inside the CSP blocks C2f and C2."""
    return [
        Bottleneck(channels, channels, shortcut, groups, kernel_sizes=(3, 3), expansion=1.0)
        for _ in range(n)
    ]


class C2f(nn.Module):
    """CSP block with two convolutions and ``n`` bottlenecks whose outputs are all kept."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n: int = 1,
        shortcut: bool = False,
        groups: int = 1,
        expansion: float = 0.5,
    ) -> None:
        super().__init__()
        self.c = int(out_channels * expansion)
        self.cv1 = Conv(in_channels, 2 * self.c, 1, 1)
        self.cv2 = Conv((2 + n) * self.c, out_channels, 1)
        self.m = nn.ModuleList(_bottlenecks(self.c, n, shortcut, groups))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = list(self.cv1(x).chunk(2, 1))
        for block in self.m:
            parts.append(block(parts[-1]))
        return self.cv2(torch.cat(parts, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: three chained max-pools concatenated."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5) -> None:
        super().__init__()
        hidden = in_channels // 2
        self.cv1 = Conv(in_channels, hidden, 1, 1)
        self.cv2 = Conv(hidden * 4, out_channels, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=kernel_size, stride=1, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [self.cv1(x)]
        for _ in range(3):
            parts.append(self.m(parts[-1]))
        return self.cv2(torch.cat(parts, 1))


class Concat(nn.Module):
    """Concatenate a list of tensors along one dimension."""

    def __init__(self, dimension: int = 1) -> None:
        super().__init__()
        self.d = dimension

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(xs, self.d)


class DFL(nn.Module):
    """Distribution focal loss integral: expected value of a softmax over ``reg_max`` bins."""

    def __init__(self, reg_max: int = 16) -> None:
        super().__init__()
        self.conv = nn.Conv2d(reg_max, 1, 1, bias=False).requires_grad_(False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.arange(reg_max, dtype=torch.float).view(1, reg_max, 1, 1))
        self.reg_max = reg_max

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, anchors = x.shape
        bins = x.view(batch, 4, self.reg_max, anchors).transpose(2, 1).softmax(1)
        return self.conv(bins).view(batch, 4, anchors)


class Proto(nn.Module):
    """Mask prototype branch: 3x3 conv, 2x transposed-conv upsample, 3x3 conv, 1x1 conv."""

    def __init__(self, in_channels: int, hidden: int = 256, num_masks: int = 32) -> None:
        super().__init__()
        self.cv1 = Conv(in_channels, hidden, kernel_size=3)
        self.upsample = nn.ConvTranspose2d(hidden, hidden, 2, 2, 0, bias=True)
        self.cv2 = Conv(hidden, hidden, kernel_size=3)
        self.cv3 = Conv(hidden, num_masks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(self.cv2(self.upsample(self.cv1(x))))


class C2(nn.Module):
    """CSP block with two convolutions; bottlenecks run on one half of the channels."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        n: int = 1,
        shortcut: bool = True,
        groups: int = 1,
        expansion: float = 0.5,
    ) -> None:
        super().__init__()
        self.c = int(out_channels * expansion)
        self.cv1 = Conv(in_channels, 2 * self.c, 1, 1)
        self.cv2 = Conv(2 * self.c, out_channels, 1)
        self.m = nn.Sequential(*_bottlenecks(self.c, n, shortcut, groups))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        processed, passed = self.cv1(x).chunk(2, 1)
        return self.cv2(torch.cat((self.m(processed), passed), 1))
