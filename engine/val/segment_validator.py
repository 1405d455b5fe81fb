"""Segmentation's part of validation (see :func:`~engine.val.detect_validator.validate_detections`):
mask decoding, box and mask AP. Masks are compared at the prototype resolution (1/4 of the
input), boxes in input pixels."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from ..predict.masks import process_mask
from ..utils.boxes import xywh_to_xyxy
from .detection_metrics import SegmentMetrics
from .segment_json import SegmentJsonCollector

# images [N, 3, H, W] -> the model's eval output: (detections, prototypes) for an export, or
# (detections, (raw levels, coefficients, prototypes)) for a TaskModel in eval mode.
SegmentForward = Callable[[torch.Tensor], Any]


class SegmentScorer:
    """Segmentation's part of :func:`validate_detections`: prototypes and masks."""

    def __init__(
        self, names: dict[int, str], overlap: bool = True, collector=None, ap_method="coco"
    ) -> None:
        self.metrics = SegmentMetrics(names, method=ap_method)
        self.overlap, self.collector = overlap, collector

    def unpack(self, output) -> tuple[torch.Tensor, Any, Any]:
        """(detections, prototypes, what the loss takes or None) from either output form."""
        detections, rest = output[0], output[1]
        if isinstance(rest, tuple | list):  # a TaskModel in eval mode
            return detections, rest[2], rest
        return detections, rest, None

    def score(self, i: int, det: torch.Tensor, prototypes, batch: dict, input_shape) -> None:
        _score_image(self.metrics, i, det, prototypes[i].float(), batch, input_shape, self.overlap)
        if self.collector is not None:
            self.collector.add(
                batch["paths"][i],
                batch["ori_shapes"][i],
                batch["ratio_pad"][i],
                det,
                tuple(input_shape),
                prototypes=prototypes[i].float(),
            )


def _score_image(
    metrics: SegmentMetrics,
    i: int,
    det: torch.Tensor,
    prototypes: torch.Tensor,
    batch: dict,
    input_shape,
    overlap: bool,
) -> None:
    mask_h, mask_w = prototypes.shape[-2:]
    true_boxes, true_classes, true_masks = _ground_truth(batch, i, input_shape, overlap)
    if tuple(true_masks.shape[-2:]) != (mask_h, mask_w):
        true_masks = F.interpolate(true_masks[None].float(), (mask_h, mask_w), mode="nearest")[0]
    if len(det):
        masks = process_mask(prototypes, det[:, 6:], det[:, :4], tuple(input_shape), upsample=False)
    else:
        masks = torch.zeros((0, mask_h, mask_w), dtype=torch.bool)
    metrics.update(
        pred_boxes=det[:, :4].cpu(),
        pred_conf=det[:, 4].cpu(),
        pred_classes=det[:, 5].cpu(),
        pred_masks=masks.cpu(),
        true_boxes=true_boxes.cpu(),
        true_classes=true_classes.cpu(),
        true_masks=true_masks.cpu() > 0.5,
        image=batch["paths"][i],
    )


def _ground_truth(batch: dict, i: int, input_shape, overlap: bool):
    """Image ``i``'s boxes (xyxy input pixels), classes and masks [m, h, w] from the batch."""
    owner = batch["batch_idx"].view(-1) == i
    height, width = (int(v) for v in input_shape)
    scale = torch.tensor([width, height, width, height], dtype=torch.float32)
    boxes = xywh_to_xyxy(batch["bboxes"][owner].float() * scale)
    classes = batch["cls"][owner].view(-1).long()
    masks = batch["masks"]
    if overlap:  # the image's index map: object k (in batch order) is drawn with value k + 1
        values = torch.arange(1, int(owner.sum()) + 1).view(-1, 1, 1)
        object_masks = (masks[i][None] == values).float()
    else:
        object_masks = masks[owner].float()
    return boxes, classes, object_masks


def segment_scorer(names: dict[int, str], settings, _dataset, samples) -> tuple[SegmentScorer, Any]:
    """Segmentation's scorer for ``run_detect_val``, with a COCO JSON collector when
    ``settings.save_json``."""
    collector = SegmentJsonCollector(samples, names) if settings.save_json else None
    return SegmentScorer(names, settings.overlap_mask, collector, settings.ap_method), collector
