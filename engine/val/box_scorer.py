"""Detection's part of validation (see :func:`~engine.val.detect_validator.validate_detections`):
box AP alone, boxes in input pixels."""

from __future__ import annotations

from typing import Any

import torch

from ..utils.boxes import xywh_to_xyxy
from .detection_metrics import DetectionMetrics


class BoxScorer:
    """The NMS rows' boxes, classes and scores against the batch's boxes."""

    def __init__(self, names: dict[int, str], ap_method: str = "coco") -> None:
        self.metrics = DetectionMetrics(names, method=ap_method)

    def unpack(self, output) -> tuple[torch.Tensor, Any, Any]:
        """(detections, nothing, what the loss takes or None) from either output form."""
        if isinstance(output, tuple | list):  # a TaskModel in eval mode: (decoded, raw)
            return output[0], None, output[1]
        return output, None, None

    def score(self, i: int, det: torch.Tensor, _extras, batch: dict, input_shape) -> None:
        owner, true_boxes = image_truth(i, batch, input_shape)
        self.metrics.update(
            pred_boxes=det[:, :4].cpu(),
            pred_conf=det[:, 4].cpu(),
            pred_classes=det[:, 5].cpu(),
            true_boxes=true_boxes,
            true_classes=batch["cls"][owner].view(-1).long(),
            image=batch["paths"][i],
        )


def image_truth(i: int, batch: dict, input_shape) -> tuple[torch.Tensor, torch.Tensor]:
    """Which of the batch's objects belong to image ``i``, and their boxes (xyxy, input
    pixels)."""
    height, width = (int(v) for v in input_shape)
    owner = batch["batch_idx"].view(-1) == i
    scale = torch.tensor([width, height, width, height], dtype=torch.float32)
    return owner, xywh_to_xyxy(batch["bboxes"][owner].float() * scale)


def box_scorer(names: dict[int, str], settings, _dataset, _samples) -> tuple[BoxScorer, None]:
    """Detection's scorer for ``run_detect_val`` (no COCO JSON collector)."""
    return BoxScorer(names, settings.ap_method), None
