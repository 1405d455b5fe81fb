"""Task-aligned assignment of anchors to ground-truth objects (TOOD), as YOLOv8 trains.

For every ground-truth box, the anchors whose centres fall inside it are candidates (a side
shorter than the middle stride counts as that long, so small objects still get anchors); each is
scored by ``score^alpha * iou^beta`` (the predicted score of the object's class and the CIoU of
the predicted box with the object's box). The ``top_k`` best candidates of each object become
its positives; an anchor claimed by several objects keeps the one it overlaps most. Targets are
soft: one-hot class scores scaled by the normalised alignment metric.

Written for the batch as a whole with padded ground truth (``[B, max_objects, ...]`` plus a
validity mask), so one training step runs a fixed number of tensor ops whatever the objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..utils.boxes import aligned_iou


@dataclass
class Assignment:
    """Per anchor: the target box (pixels, xyxy), soft class scores, positives, object index."""

    boxes: torch.Tensor  # [B, A, 4]
    scores: torch.Tensor  # [B, A, C]
    foreground: torch.Tensor  # [B, A] bool
    object_index: torch.Tensor  # [B, A] long: which padded object each anchor takes


class TaskAlignedAssigner:
    """Assign anchors with the task-aligned metric (top-k 10, alpha 0.5, beta 6.0 by default)."""

    def __init__(
        self,
        num_classes: int,
        top_k: int = 10,
        alpha: float = 0.5,
        beta: float = 6.0,
        eps: float = 1e-9,
        strides: tuple[float, ...] = (8.0, 16.0, 32.0),
    ) -> None:
        self.num_classes, self.top_k = num_classes, top_k
        self.alpha, self.beta, self.eps = alpha, beta, eps
        # The reference (8.4) floors each side of a box at the middle stride when it picks
        # candidates: an object smaller than one cell of the 8-px grid may hold no anchor centre
        # at all and would never be learned.
        self.min_side = float(strides[1] if len(strides) > 1 else strides[0])

    @torch.no_grad()
    def __call__(
        self,
        pred_scores: torch.Tensor,  # [B, A, C] probabilities
        pred_boxes: torch.Tensor,  # [B, A, 4] xyxy pixels
        anchor_points: torch.Tensor,  # [A, 2] pixels
        gt_labels: torch.Tensor,  # [B, M, 1]
        gt_boxes: torch.Tensor,  # [B, M, 4] xyxy pixels
        gt_valid: torch.Tensor,  # [B, M, 1] 1.0 for real objects, 0.0 for padding
    ) -> Assignment:
        batch, anchors = pred_scores.shape[:2]
        if gt_boxes.shape[1] == 0:
            return self._empty(pred_scores, pred_boxes)
        candidates = _floor_sides(gt_boxes, self.min_side)
        inside = _centres_inside(anchor_points, candidates) * gt_valid  # [B, M, A]
        metric, overlaps = self._alignment(pred_scores, pred_boxes, gt_labels, gt_boxes, inside)
        positives = self._top_candidates(metric, gt_valid) * inside
        object_index, foreground, positives = _resolve_conflicts(positives, overlaps)
        boxes, labels = _gather_targets(gt_labels, gt_boxes, object_index)
        scores = torch.nn.functional.one_hot(labels.clamp(min=0), self.num_classes)
        scores = scores * foreground.unsqueeze(-1)
        metric = metric * positives
        best_metric = metric.amax(-1, keepdim=True)  # [B, M, 1]
        best_overlap = (overlaps * positives).amax(-1, keepdim=True)
        normalised = (metric * best_overlap / (best_metric + self.eps)).amax(-2).unsqueeze(-1)
        return Assignment(boxes, scores * normalised, foreground.bool(), object_index)

    def _alignment(self, pred_scores, pred_boxes, gt_labels, gt_boxes, inside):
        """``score^alpha * iou^beta`` and the CIoU, for anchors inside each object, [B, M, A]."""
        batch, objects = gt_boxes.shape[:2]
        anchors = pred_boxes.shape[1]
        mask = inside.bool()
        overlaps = torch.zeros(
            (batch, objects, anchors), dtype=pred_boxes.dtype, device=pred_boxes.device
        )
        scores = torch.zeros_like(overlaps)
        labels = gt_labels.long().squeeze(-1).clamp(min=0)  # [B, M]
        class_scores = pred_scores.gather(2, labels.unsqueeze(1).expand(-1, anchors, -1)).transpose(
            1, 2
        )  # [B, M, A]: each anchor's score for each object's class
        scores[mask] = class_scores[mask]
        gt = gt_boxes.unsqueeze(2).expand(-1, -1, anchors, -1)[mask]
        pred = pred_boxes.unsqueeze(1).expand(-1, objects, -1, -1)[mask]
        overlaps[mask] = aligned_iou(gt, pred, kind="ciou").clamp_(0)
        return scores.pow(self.alpha) * overlaps.pow(self.beta), overlaps

    def _top_candidates(self, metric: torch.Tensor, gt_valid: torch.Tensor) -> torch.Tensor:
        """1.0 for each object's ``top_k`` anchors by metric (0 for padded objects)."""
        k = min(self.top_k, metric.shape[-1])
        top = metric.topk(k, dim=-1).indices  # [B, M, k]
        chosen = torch.zeros_like(metric)
        chosen.scatter_(-1, top, 1.0)
        return chosen * gt_valid

    def _empty(self, pred_scores: torch.Tensor, pred_boxes: torch.Tensor) -> Assignment:
        batch, anchors = pred_scores.shape[:2]
        device = pred_scores.device
        return Assignment(
            torch.zeros_like(pred_boxes),
            torch.zeros_like(pred_scores),
            torch.zeros((batch, anchors), dtype=torch.bool, device=device),
            torch.zeros((batch, anchors), dtype=torch.long, device=device),
        )


def _floor_sides(boxes: torch.Tensor, min_side: float) -> torch.Tensor:
    """xyxy ``boxes`` with each side shorter than ``min_side`` widened to it about its centre."""
    centre = (boxes[..., :2] + boxes[..., 2:]) / 2
    half = ((boxes[..., 2:] - boxes[..., :2]).clamp(min=min_side)) / 2
    return torch.cat((centre - half, centre + half), -1)


def _centres_inside(points: torch.Tensor, boxes: torch.Tensor, eps: float = 1e-9):
    """1.0 where anchor point ``a`` lies strictly inside box ``m``: [B, M, A]."""
    left_top = points[None, None] - boxes[..., None, :2]
    right_bottom = boxes[..., None, 2:] - points[None, None]
    distances = torch.cat((left_top, right_bottom), -1)
    return (distances.amin(-1) > eps).to(boxes.dtype)


def _resolve_conflicts(positives: torch.Tensor, overlaps: torch.Tensor):
    """An anchor chosen by several objects keeps the one with the highest IoU."""
    claims = positives.sum(-2)  # [B, A]
    if claims.max() > 1:
        shared = (claims.unsqueeze(1) > 1).expand_as(positives)
        best = torch.zeros_like(positives)
        best.scatter_(1, overlaps.argmax(1, keepdim=True), 1.0)
        positives = torch.where(shared, best, positives)
        claims = positives.sum(-2)
    return positives.argmax(-2), claims, positives


def _gather_targets(gt_labels, gt_boxes, object_index):
    """Each anchor's object's box [B, A, 4] and label [B, A]."""
    batch, objects = gt_boxes.shape[:2]
    offsets = torch.arange(batch, device=gt_boxes.device).unsqueeze(-1) * objects
    flat = object_index + offsets
    labels = gt_labels.long().flatten()[flat]
    boxes = gt_boxes.view(-1, 4)[flat]
    return boxes, labels
