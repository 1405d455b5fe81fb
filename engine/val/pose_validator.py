"""Pose's part of validation: keypoints from the NMS rows, object keypoint similarity (OKS)
against the labelled keypoints, box and pose AP."""

from __future__ import annotations

from typing import Any

import torch

from .box_scorer import BoxScorer, image_truth
from .detection_metrics import PoseMetrics
from .pose_json import PoseJsonCollector


class PoseScorer(BoxScorer):
    """Keypoints are the NMS rows' extra columns: K × (x, y[, visibility]) in input pixels."""

    def __init__(
        self,
        names: dict[int, str],
        keypoint_shape: tuple[int, int],
        collector=None,
        ap_method="coco",
    ) -> None:
        self.metrics = PoseMetrics(names, method=ap_method)
        self.keypoint_shape = tuple(keypoint_shape)
        self.collector = collector  # a PoseJsonCollector for save_json, or None

    def score(self, i: int, det: torch.Tensor, _extras, batch: dict, input_shape) -> None:
        height, width = (int(v) for v in input_shape)
        owner, true_boxes = image_truth(i, batch, input_shape)
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
            image=batch["paths"][i],
        )
        if self.collector is not None:
            self.collector.add(
                batch["paths"][i], batch["ori_shapes"][i], batch["ratio_pad"][i], det,
                tuple(input_shape),
            )


def pose_scorer(names: dict[int, str], settings, dataset, samples) -> tuple[PoseScorer, Any]:
    """Pose's scorer for ``run_detect_val``: keypoints of the dataset's ``kpt_shape``, with a
    COCO JSON collector when ``settings.save_json``."""
    collector = None
    if settings.save_json:
        collector = PoseJsonCollector(samples, names, dataset.kpt_shape,
                                      dataset.keypoint_layout())
    return PoseScorer(names, dataset.kpt_shape, collector, settings.ap_method), collector
