"""Box geometry in torch: format conversion, IoU variants, clipping and letterbox mapping.

Boxes are float tensors whose last dimension holds 4 numbers; any leading dimensions are
allowed. ``xyxy`` is (x1, y1, x2, y2) corners, ``xywh`` is (centre x, centre y, width, height).
Shapes are ``(height, width)``. Nothing here modifies its input.

Letterbox mapping follows the reference: an image of ``original_shape`` was resized by
``gain = min(input_h / original_h, input_w / original_w)`` and padded evenly to ``input_shape``,
with the left/top padding rounded as its letterbox rounds it (``round(x - 0.1)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

Shape = tuple[int, int]
IouKind = Literal["iou", "giou", "diou", "ciou"]
RatioPad = tuple[tuple[float, ...], tuple[float, float]]


def xywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    """Centre/size boxes to corner boxes."""
    centre, half = boxes[..., :2], boxes[..., 2:4] / 2
    return torch.cat((centre - half, centre + half), -1)


def xyxy_to_xywh(boxes: torch.Tensor) -> torch.Tensor:
    """Corner boxes to centre/size boxes."""
    top_left, bottom_right = boxes[..., :2], boxes[..., 2:4]
    return torch.cat(((top_left + bottom_right) / 2, bottom_right - top_left), -1)


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Area of xyxy boxes, shape ``[...]`` (negative for inverted boxes, as written)."""
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Pairwise IoU of xyxy boxes ``[..., N, 4]`` x ``[..., M, 4]`` -> ``[..., N, M]``."""
    a, b = boxes1.unsqueeze(-2), boxes2.unsqueeze(-3)
    size = torch.minimum(a[..., 2:4], b[..., 2:4]) - torch.maximum(a[..., :2], b[..., :2])
    inter = size.clamp(min=0).prod(-1)
    union = box_area(boxes1).unsqueeze(-1) + box_area(boxes2).unsqueeze(-2) - inter
    return inter / (union + eps)


def aligned_iou(
    boxes1: torch.Tensor, boxes2: torch.Tensor, kind: IouKind = "iou", eps: float = 1e-7
) -> torch.Tensor:
    """Elementwise IoU (or GIoU / DIoU / CIoU) of matching xyxy boxes, shape ``[...]``.

    Same formulas and ``eps`` placement as the YOLOv8 box loss: heights are clamped to ``eps``,
    ``eps`` is added to the union and to the enclosing box's area / squared diagonal, and the
    CIoU trade-off ``alpha`` carries no gradient.
    """
    if kind not in ("iou", "giou", "diou", "ciou"):
        raise ValueError(f"kind must be one of iou, giou, diou, ciou; got {kind!r}")
    x1a, y1a, x2a, y2a = boxes1.unbind(-1)
    x1b, y1b, x2b, y2b = boxes2.unbind(-1)
    wa, ha = x2a - x1a, (y2a - y1a).clamp(min=eps)
    wb, hb = x2b - x1b, (y2b - y1b).clamp(min=eps)
    inter = (torch.minimum(x2a, x2b) - torch.maximum(x1a, x1b)).clamp(min=0) * (
        torch.minimum(y2a, y2b) - torch.maximum(y1a, y1b)
    ).clamp(min=0)
    union = wa * ha + wb * hb - inter + eps
    iou = inter / union
    if kind == "iou":
        return iou
    enclose_w = torch.maximum(x2a, x2b) - torch.minimum(x1a, x1b)
    enclose_h = torch.maximum(y2a, y2b) - torch.minimum(y1a, y1b)
    if kind == "giou":
        enclose_area = enclose_w * enclose_h + eps
        return iou - (enclose_area - union) / enclose_area
    diagonal2 = enclose_w.pow(2) + enclose_h.pow(2) + eps
    centre_distance2 = ((x1b + x2b - x1a - x2a).pow(2) + (y1b + y2b - y1a - y2a).pow(2)) / 4
    if kind == "diou":
        return iou - centre_distance2 / diagonal2
    v = (4 / math.pi**2) * (torch.atan(wb / hb) - torch.atan(wa / ha)).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (centre_distance2 / diagonal2 + v * alpha)


def clip_boxes(boxes: torch.Tensor, shape: Shape) -> torch.Tensor:
    """xyxy boxes clamped to an image of ``shape`` (x to [0, width], y to [0, height]).

    Columns after the fourth (scores, classes) are kept unchanged.
    """
    height, width = shape
    x = boxes[..., 0:4:2].clamp(0, width)
    y = boxes[..., 1:4:2].clamp(0, height)
    corners = torch.stack((x[..., 0], y[..., 0], x[..., 1], y[..., 1]), -1)
    return torch.cat((corners, boxes[..., 4:]), -1)


def clip_points(points: torch.Tensor, shape: Shape) -> torch.Tensor:
    """Points ``[..., >=2]`` with x, y clamped to the image; further columns kept."""
    height, width = shape
    x = points[..., 0:1].clamp(0, width)
    y = points[..., 1:2].clamp(0, height)
    return torch.cat((x, y, points[..., 2:]), -1)


@dataclass(frozen=True)
class LetterboxInfo:
    """How an original image was placed in the network input: scale, then (left, top) pad."""

    gain: float
    pad: tuple[float, float]

    @classmethod
    def from_shapes(cls, input_shape: Shape, original_shape: Shape) -> LetterboxInfo:
        """The geometry the reference letterbox produces for these shapes (centred padding)."""
        gain = min(input_shape[0] / original_shape[0], input_shape[1] / original_shape[1])
        resized_h = round(original_shape[0] * gain)
        resized_w = round(original_shape[1] * gain)
        left = round((input_shape[1] - resized_w) / 2 - 0.1)
        top = round((input_shape[0] - resized_h) / 2 - 0.1)
        return cls(gain, (float(left), float(top)))

    @classmethod
    def from_ratio_pad(cls, ratio_pad: RatioPad) -> LetterboxInfo:
        """From the reference's ``((gain_h, gain_w), (pad_w, pad_h))`` pair."""
        return cls(float(ratio_pad[0][0]), (float(ratio_pad[1][0]), float(ratio_pad[1][1])))

    def points_to_original(self, points: torch.Tensor, padding: bool = True) -> torch.Tensor:
        """Input-pixel points ``[..., >=2]`` to original pixels (extra columns kept)."""
        xy = points[..., :2]
        if padding:
            xy = xy - xy.new_tensor(self.pad)
        return torch.cat((xy / self.gain, points[..., 2:]), -1)

    def points_to_input(self, points: torch.Tensor, padding: bool = True) -> torch.Tensor:
        """Original-pixel points ``[..., >=2]`` to input pixels: the inverse mapping."""
        xy = points[..., :2] * self.gain
        if padding:
            xy = xy + xy.new_tensor(self.pad)
        return torch.cat((xy, points[..., 2:]), -1)

    def boxes_to_original(self, boxes: torch.Tensor, padding: bool = True) -> torch.Tensor:
        """Input-pixel xyxy boxes to original pixels (not clipped; extra columns kept)."""
        corners = boxes[..., :4].unflatten(-1, (2, 2))
        mapped = self.points_to_original(corners, padding).flatten(-2)
        return torch.cat((mapped, boxes[..., 4:]), -1)

    def boxes_to_input(self, boxes: torch.Tensor, padding: bool = True) -> torch.Tensor:
        """Original-pixel xyxy boxes to input pixels: the inverse mapping (extra columns kept)."""
        corners = boxes[..., :4].unflatten(-1, (2, 2))
        mapped = self.points_to_input(corners, padding).flatten(-2)
        return torch.cat((mapped, boxes[..., 4:]), -1)


def letterbox_info(
    input_shape: Shape, original_shape: Shape, ratio_pad: LetterboxInfo | RatioPad | None = None
) -> LetterboxInfo:
    """``ratio_pad`` as a ``LetterboxInfo``, or the geometry derived from the two shapes."""
    if ratio_pad is None:
        return LetterboxInfo.from_shapes(input_shape, original_shape)
    if isinstance(ratio_pad, LetterboxInfo):
        return ratio_pad
    return LetterboxInfo.from_ratio_pad(ratio_pad)


def scale_boxes(
    boxes: torch.Tensor,
    from_shape: Shape,
    to_shape: Shape,
    ratio_pad: LetterboxInfo | RatioPad | None = None,
    padding: bool = True,
) -> torch.Tensor:
    """xyxy boxes in the letterboxed input (``from_shape``) to the original image, clipped.

    ``ratio_pad`` overrides the geometry derived from the shapes (needed when the letterbox did
    not scale up); ``padding=False`` only rescales.
    """
    info = letterbox_info(from_shape, to_shape, ratio_pad)
    return clip_boxes(info.boxes_to_original(boxes, padding), to_shape)


def scale_points(
    points: torch.Tensor,
    from_shape: Shape,
    to_shape: Shape,
    ratio_pad: LetterboxInfo | RatioPad | None = None,
    padding: bool = True,
) -> torch.Tensor:
    """Points ``[..., >=2]`` (keypoints, polygon vertices) from the input to the original image.

    Only x and y change (then clipped to ``to_shape``); a visibility column is kept as is.
    """
    info = letterbox_info(from_shape, to_shape, ratio_pad)
    return clip_points(info.points_to_original(points, padding), to_shape)
