"""The pose loss: detection losses plus keypoint location (OKS-weighted) and visibility terms.

Facts from the reference recipe: a keypoint's location loss is ``1 - exp(-d² / (2 (2σ)² area))``
for labelled keypoints only, scaled by K / (labelled keypoints) per object, with COCO's 17 sigmas
when K = 17 and 1/K otherwise; its visibility logit is trained with BCE towards "labelled";
gains pose 12.0 and kobj 1.0 on top of box 7.5, cls 0.5, dfl 1.5. Keypoints are predicted per
anchor as offsets in grid units: ``(2 * raw + anchor - 0.5)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..utils.boxes import xyxy_to_xywh
from .detect_loss import DetectionLoss

COCO_SIGMAS = (
    0.26,
    0.25,
    0.25,
    0.35,
    0.35,
    0.79,
    0.79,
    0.72,
    0.72,
    0.62,
    0.62,
    1.07,
    1.07,
    0.87,
    0.87,
    0.89,
    0.89,
)
"""COCO's per-keypoint standard deviations (×10) for the 17 person keypoints."""


def keypoint_loss_sigmas(num_keypoints: int) -> torch.Tensor:
    if num_keypoints == 17:
        return torch.tensor(COCO_SIGMAS) / 10.0
    return torch.full((num_keypoints,), 1.0 / num_keypoints)


class PoseLoss(DetectionLoss):
    """``__call__(preds, batch)`` → ``(total · batch, detached [box, pose, kobj, cls, dfl])``."""

    loss_names = ("box_loss", "pose_loss", "kobj_loss", "cls_loss", "dfl_loss")

    def __init__(self, head, *, pose: float = 12.0, kobj: float = 1.0, **gains: float) -> None:
        super().__init__(head, **gains)
        self.keypoint_shape = tuple(head.kpt_shape)
        self.gains.update(pose=pose, kobj=kobj)
        self.sigmas = keypoint_loss_sigmas(self.keypoint_shape[0])

    def __call__(self, preds, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        levels, raw_keypoints = (
            preds if len(preds) == 2 and isinstance(preds[0], list) else preds[1]
        )
        parts = self._detection_parts(levels, batch)
        location, visibility = self._keypoint_terms(raw_keypoints, batch, parts)
        losses = torch.stack([parts["box"], location, visibility, parts["cls"], parts["dfl"]])
        return self._total(losses, levels[0].shape[0])

    def _gain(self, name: str) -> float:
        extra = {"pose_loss": self.gains["pose"], "kobj_loss": self.gains["kobj"]}
        return extra[name] if name in extra else super()._gain(name)

    def _keypoint_terms(self, raw, batch: dict, parts: dict):
        assignment = parts["assignment"]
        fg = assignment.foreground
        zero = raw.sum() * 0.0
        if not fg.any():
            return zero, zero
        batch_size = raw.shape[0]
        count, ndim = self.keypoint_shape
        anchors, strides = parts["anchors"], parts["strides"]
        predicted = raw.permute(0, 2, 1).reshape(batch_size, -1, count, ndim)
        predicted = _decode_keypoints(predicted, anchors)  # grid units
        targets = self._padded_keypoints(batch, batch_size, parts["image_size"])  # pixels
        chosen = targets.gather(
            1, assignment.object_index[..., None, None].expand(-1, -1, count, targets.shape[-1])
        )  # [B, A, K, 3]
        chosen = chosen.clone()
        chosen[..., :2] /= strides.view(1, -1, 1, 1)
        true = chosen[fg]
        pred = predicted[fg]
        boxes = (assignment.boxes / strides)[fg]  # grid units, as the keypoints
        area = xyxy_to_xywh(boxes)[:, 2:].prod(1, keepdim=True)
        labelled = (
            true[..., 2] != 0
            if true.shape[-1] == 3
            else torch.ones_like(true[..., 0], dtype=torch.bool)
        )
        location = _oks_location_loss(pred, true, labelled, area, self.sigmas.to(pred.device))
        visibility = zero
        if ndim == 3:
            visibility = F.binary_cross_entropy_with_logits(pred[..., 2], labelled.float())
        return location, visibility

    def _padded_keypoints(self, batch: dict, batch_size: int, image_size: torch.Tensor):
        """``[B, M, K, 3]`` target keypoints in pixels, in the order of ``_padded_targets``."""
        device = image_size.device
        index = batch["batch_idx"].view(-1).to(device).long()
        keypoints = batch["keypoints"].to(device).float()
        count, ndim = self.keypoint_shape
        counts = torch.bincount(index, minlength=batch_size) if len(index) else None
        most = int(counts.max()) if counts is not None else 0
        out = torch.zeros(
            (batch_size, max(most, 1), count, keypoints.shape[-1] if len(keypoints) else ndim),
            device=device,
        )
        if most:
            order = torch.argsort(index, stable=True)
            index, keypoints = index[order], keypoints[order].clone()
            starts = torch.cumsum(counts, 0) - counts
            slot = torch.arange(len(index), device=device) - starts[index]
            keypoints[..., 0] *= image_size[1]
            keypoints[..., 1] *= image_size[0]
            out[index, slot] = keypoints
        return out


def _decode_keypoints(raw: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Raw keypoint outputs ``[B, A, K, ndim]`` → grid-unit positions (visibility kept raw)."""
    out = raw.clone()
    out[..., :2] = raw[..., :2] * 2.0 + (anchors[None, :, None, :] - 0.5)
    return out


def _oks_location_loss(pred, true, labelled, area, sigmas) -> torch.Tensor:
    distance = (pred[..., 0] - true[..., 0]) ** 2 + (pred[..., 1] - true[..., 1]) ** 2
    factor = labelled.shape[1] / (labelled.sum(1) + 1e-9)
    error = distance / ((2 * sigmas) ** 2 * (area + 1e-9) * 2)
    return (factor.view(-1, 1) * ((1 - torch.exp(-error)) * labelled)).mean()
