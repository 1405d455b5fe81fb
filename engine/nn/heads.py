"""Task heads: Classify, and the anchor-free Detect head with its Segment and Pose variants.

Eval-mode outputs follow the reference layout so that exported models and official weights
behave the same: Detect gives ``[N, 4 + nc, anchors]`` (xywh in pixels, class scores),
Segment appends 32 mask coefficients and returns prototypes, Pose appends decoded keypoints.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .batchnorm_silu import RecomputingConv2d
from .blocks import DFL, Conv, Proto


class Classify(nn.Module):
    """1x1 conv to 1280 channels, global average pool, dropout, linear classifier."""

    hidden_channels = 1280

    def __init__(self, in_channels: int, num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.conv = Conv(in_channels, self.hidden_channels, 1, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(p=dropout, inplace=True)
        self.linear = nn.Linear(self.hidden_channels, num_classes)
        self.export = False

    def forward(self, x: torch.Tensor | list[torch.Tensor]):
        if isinstance(x, list):
            x = torch.cat(x, 1)
        logits = self.linear(self.drop(self.pool(self.conv(x)).flatten(1)))
        if self.training:
            return logits
        probs = logits.softmax(1)
        return probs if self.export else (probs, logits)


def make_anchors(
    features: list[torch.Tensor], strides: tuple[int, ...], offset: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell-centre anchor points ``[A, 2]`` (in grid units) and their strides ``[A, 1]``."""
    points, stride_column = [], []
    dtype, device = features[0].dtype, features[0].device
    for feature, stride in zip(features, strides, strict=True):
        height, width = feature.shape[2:]
        xs = torch.arange(width, device=device, dtype=dtype) + offset
        ys = torch.arange(height, device=device, dtype=dtype) + offset
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack((grid_x, grid_y), -1).view(-1, 2))
        stride_column.append(
            torch.full((height * width, 1), float(stride), dtype=dtype, device=device)
        )
    return torch.cat(points), torch.cat(stride_column)


def distances_to_boxes(
    distances: torch.Tensor, anchors: torch.Tensor, dim: int = 1
) -> torch.Tensor:
    """Turn (left, top, right, bottom) distances from anchor points into xywh boxes."""
    left_top, right_bottom = distances.chunk(2, dim)
    top_left = anchors - left_top
    bottom_right = anchors + right_bottom
    return torch.cat(((top_left + bottom_right) / 2, bottom_right - top_left), dim)


def _branch(in_channels: int, hidden: int, out_channels: int) -> nn.Sequential:
    """Two 3x3 Convs and a 1x1 prediction conv: the shape of every per-level head branch."""
    return nn.Sequential(
        Conv(in_channels, hidden, 3),
        Conv(hidden, hidden, 3),
        RecomputingConv2d(hidden, out_channels, 1),
    )


class Detect(nn.Module):
    """Anchor-free decoupled head with DFL box regression over several feature levels."""

    reg_max = 16

    def __init__(self, num_classes: int, in_channels: list[int]) -> None:
        super().__init__()
        self.nc = num_classes
        self.nl = len(in_channels)
        self.no = num_classes + 4 * self.reg_max
        self.strides: tuple[int, ...] = ()  # set by the builder, one per input level
        box_hidden = max(16, in_channels[0] // 4, 4 * self.reg_max)
        cls_hidden = max(in_channels[0], min(num_classes, 100))
        self.cv2 = nn.ModuleList(_branch(c, box_hidden, 4 * self.reg_max) for c in in_channels)
        self.cv3 = nn.ModuleList(_branch(c, cls_hidden, num_classes) for c in in_channels)
        self.dfl = DFL(self.reg_max)
        self.export = False

    def forward(self, xs: list[torch.Tensor]):
        raw = self.forward_levels(xs)
        if self.training:
            return raw
        decoded = self.decode(raw, *self.anchors_for(raw))
        return decoded if self.export else (decoded, raw)

    def forward_levels(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        """Per level ``[N, 4*reg_max + nc, H, W]``: box distributions and class logits."""
        return [torch.cat((self.cv2[i](x), self.cv3[i](x)), 1) for i, x in enumerate(xs)]

    def anchors_for(self, raw: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Anchor points ``[2, A]`` and strides ``[1, A]`` for these feature maps."""
        anchors, strides = make_anchors(raw, self.strides)
        return anchors.transpose(0, 1), strides.transpose(0, 1)

    def decode(
        self, raw: list[torch.Tensor], anchors: torch.Tensor, strides: torch.Tensor
    ) -> torch.Tensor:
        """``[N, 4 + nc, A]``: xywh boxes in input pixels and sigmoid class scores."""
        batch = raw[0].shape[0]
        flat = torch.cat([level.view(batch, self.no, -1) for level in raw], 2)
        box, cls = flat.split((4 * self.reg_max, self.nc), 1)
        boxes = distances_to_boxes(self.dfl(box), anchors.unsqueeze(0), dim=1) * strides
        return torch.cat((boxes, cls.sigmoid()), 1)

    @torch.no_grad()
    def initialize_biases(self) -> None:
        """Box biases 1.0; class biases for ~5 objects per 640x640 image (needs strides)."""
        for box_branch, cls_branch, stride in zip(self.cv2, self.cv3, self.strides, strict=True):
            box_branch[-1].bias.fill_(1.0)
            cls_branch[-1].bias[: self.nc] = math.log(5 / self.nc / (640 / stride) ** 2)


class Segment(Detect):
    """Detect plus 32 mask coefficients per anchor and a prototype branch on the P3 level."""

    def __init__(
        self, num_classes: int, num_masks: int, proto_channels: int, in_channels: list[int]
    ) -> None:
        super().__init__(num_classes, in_channels)
        self.nm = num_masks
        self.npr = proto_channels
        self.proto = Proto(in_channels[0], proto_channels, num_masks)
        hidden = max(in_channels[0] // 4, num_masks)
        self.cv4 = nn.ModuleList(_branch(c, hidden, num_masks) for c in in_channels)

    def forward(self, xs: list[torch.Tensor]):
        prototypes = self.proto(xs[0])
        batch = prototypes.shape[0]
        coefficients = torch.cat(
            [self.cv4[i](x).view(batch, self.nm, -1) for i, x in enumerate(xs)], 2
        )
        raw = self.forward_levels(xs)
        if self.training:
            return raw, coefficients, prototypes
        decoded = torch.cat([self.decode(raw, *self.anchors_for(raw)), coefficients], 1)
        if self.export:
            return decoded, prototypes
        return decoded, (raw, coefficients, prototypes)


class Pose(Detect):
    """Detect plus ``K`` keypoints (x, y[, visibility]) per anchor, decoded to pixels."""

    def __init__(
        self, num_classes: int, keypoint_shape: tuple[int, int], in_channels: list[int]
    ) -> None:
        super().__init__(num_classes, in_channels)
        self.kpt_shape = tuple(keypoint_shape)
        self.nk = self.kpt_shape[0] * self.kpt_shape[1]
        hidden = max(in_channels[0] // 4, self.nk)
        self.cv4 = nn.ModuleList(_branch(c, hidden, self.nk) for c in in_channels)

    def forward(self, xs: list[torch.Tensor]):
        batch = xs[0].shape[0]
        keypoints = torch.cat(
            [self.cv4[i](x).view(batch, self.nk, -1) for i, x in enumerate(xs)], -1
        )
        raw = self.forward_levels(xs)
        if self.training:
            return raw, keypoints
        anchors, strides = self.anchors_for(raw)
        decoded = torch.cat(
            [
                self.decode(raw, anchors, strides),
                self.decode_keypoints(keypoints, anchors, strides),
            ],
            1,
        )
        return decoded if self.export else (decoded, (raw, keypoints))

    def decode_keypoints(
        self, keypoints: torch.Tensor, anchors: torch.Tensor, strides: torch.Tensor
    ) -> torch.Tensor:
        """Keypoints in input pixels (x, y) and sigmoid visibility, ``[N, K*ndim, A]``.

        Viewed as ``[N, K, ndim, A]``, with plain slices and one concatenation rather than
        assignments into strided slices: the same numbers, and an export without scatter
        operations (OpenVINO ran yolov8n-pose at 640 about 10% slower with them; ncnn has no
        layer for them at all).
        """
        count, ndim = self.kpt_shape
        batch, _, anchor_count = keypoints.shape
        grouped = keypoints.view(batch, count, ndim, anchor_count)
        decoded = (grouped[:, :, :2] * 2.0 + (anchors - 0.5)) * strides
        if ndim == 3:
            decoded = torch.cat((decoded, grouped[:, :, 2:3].sigmoid()), 2)
        return decoded.reshape(batch, count * ndim, anchor_count)
