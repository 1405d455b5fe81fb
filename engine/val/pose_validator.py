"""Pose's part of validation: keypoints from the NMS rows, object keypoint similarity (OKS)
against the labelled keypoints, box and pose AP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..cancel import NEVER, CancelToken
from ..data.loader import BatchLoader
from ..events import Reporter, ignore
from ..train.task import Validation
from ..utils.boxes import xywh_to_xyxy
from .detect_validator import validate_detections
from .detection_metrics import PoseMetrics


def validate_pose(
    forward: Callable,
    loader: BatchLoader,
    names: dict[int, str],
    keypoint_shape: tuple[int, int],
    device: torch.device,
    *,
    half: bool = False,
    conf: float = 0.001,
    iou: float = 0.7,
    max_det: int = 300,
    loss: Callable | None = None,
    cancel: CancelToken = NEVER,
    progress: Reporter = ignore,
) -> Validation:
    """Score ``forward`` on every batch of a val :class:`DetectBatchLoader` of pose data."""
    scorer = PoseScorer(PoseMetrics(names), tuple(keypoint_shape))
    return validate_detections(
        forward,
        loader,
        scorer,
        device,
        half=half,
        conf=conf,
        iou=iou,
        max_det=max_det,
        loss=loss,
        cancel=cancel,
        progress=progress,
    )


class PoseScorer:
    """Keypoints are the NMS rows' extra columns: K × (x, y[, visibility]) in input pixels."""

    def __init__(self, metrics: PoseMetrics, keypoint_shape: tuple[int, int]) -> None:
        self.metrics, self.keypoint_shape = metrics, keypoint_shape

    def unpack(self, output) -> tuple[torch.Tensor, Any, Any]:
        if isinstance(output, tuple | list):  # a TaskModel in eval mode: (decoded, raw)
            return output[0], None, output[1]
        return output, None, None

    def score(self, i: int, det: torch.Tensor, _extras, batch: dict, input_shape) -> None:
        height, width = (int(v) for v in input_shape)
        owner = batch["batch_idx"].view(-1) == i
        scale = torch.tensor([width, height, width, height], dtype=torch.float32)
        true_boxes = xywh_to_xyxy(batch["bboxes"][owner].float() * scale)
        true_keypoints = batch["keypoints"][owner].float().clone()
        true_keypoints[..., 0] *= width
        true_keypoints[..., 1] *= height
        count, ndim = self.keypoint_shape
        predicted = det[:, 6:].reshape(len(det), count, ndim).cpu()
        self.metrics.update(
            pred_boxes=det[:, :4].cpu(),
            pred_conf=det[:, 4].cpu(),
            pred_classes=det[:, 5].cpu(),
            pred_keypoints=predicted,
            true_boxes=true_boxes,
            true_classes=batch["cls"][owner].view(-1).long(),
            true_keypoints=true_keypoints,
        )
