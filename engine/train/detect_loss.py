"""Losses of the detection family: boxes (CIoU + distribution focal loss), classes (BCE) and,
for segmentation, masks on the prototypes.

Facts from the reference recipe: anchors are assigned by :class:`TaskAlignedAssigner` (top-k 10,
alpha 0.5, beta 6.0, box sides floored at the middle stride for candidates); every term is
normalised by the sum of the soft target scores; gains box 7.5, cls 0.5, dfl 1.5, and the mask
term takes the box gain. The returned total is multiplied by the batch size (the optimiser
recipe's nominal batch expects a summed loss).

Targets arrive as the collated batch (``cls [M, 1]``, ``bboxes [M, 4]`` normalised xywh,
``batch_idx [M]``, ``masks``); see :func:`engine.data.detect_augment.to_targets`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..nn.heads import make_anchors
from ..utils.boxes import aligned_iou, xywh_to_xyxy, xyxy_to_xywh
from .assigner import Assignment, TaskAlignedAssigner


class DetectionLoss:
    """Box, class and DFL losses for a :class:`~engine.nn.heads.Detect` head.

    ``__call__(preds, batch)`` returns ``(total · batch_size, detached [box, cls, dfl])``.
    """

    loss_names = ("box_loss", "cls_loss", "dfl_loss")

    def __init__(self, head, *, box: float = 7.5, cls: float = 0.5, dfl: float = 1.5) -> None:
        self.num_classes = head.nc
        self.reg_max = head.reg_max
        self.strides = tuple(head.strides)
        self.gains = {"box": box, "cls": cls, "dfl": dfl}
        self.assigner = TaskAlignedAssigner(
            head.nc, top_k=10, alpha=0.5, beta=6.0, strides=self.strides
        )

    def __call__(self, preds, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        levels = preds[0] if isinstance(preds, tuple) else preds
        parts = self._detection_parts(levels, batch)
        losses = torch.stack([parts["box"], parts["cls"], parts["dfl"]])
        return self._total(losses, levels[0].shape[0])

    # --- shared with the segment and pose losses ------------------------------------------

    def _detection_parts(self, levels: list[torch.Tensor], batch: dict) -> dict:
        """Assign anchors and compute the box/cls/dfl terms (unweighted); keeps what the
        mask and keypoint terms need (assignment, anchors, strides, sizes)."""
        batch_size = levels[0].shape[0]
        flat = torch.cat([x.view(batch_size, x.shape[1], -1) for x in levels], 2)
        pred_dist, pred_logits = flat.split((4 * self.reg_max, self.num_classes), 1)
        pred_dist = pred_dist.permute(0, 2, 1).contiguous()  # [B, A, 4*reg_max]
        pred_logits = pred_logits.permute(0, 2, 1).contiguous()  # [B, A, C]
        dtype, device = pred_logits.dtype, pred_logits.device
        image_size = torch.tensor(levels[0].shape[2:], device=device, dtype=dtype)
        image_size = image_size * self.strides[0]  # (h, w) of the input in pixels
        anchors, strides = make_anchors(levels, self.strides, 0.5)
        gt_labels, gt_boxes, gt_valid = self._padded_targets(batch, batch_size, image_size)
        pred_boxes = _decode(pred_dist, anchors, self.reg_max)  # grid units, xyxy
        assignment = self.assigner(
            pred_logits.detach().sigmoid(),
            (pred_boxes.detach() * strides).to(gt_boxes.dtype),
            anchors * strides,
            gt_labels,
            gt_boxes,
            gt_valid,
        )
        score_sum = max(float(assignment.scores.sum()), 1.0)
        cls_loss = (
            F.binary_cross_entropy_with_logits(
                pred_logits, assignment.scores.to(dtype), reduction="none"
            ).sum()
            / score_sum
        )
        box_loss, dfl_loss = self._box_terms(
            pred_dist, pred_boxes, anchors, strides, assignment, score_sum
        )
        return {
            "box": box_loss,
            "cls": cls_loss,
            "dfl": dfl_loss,
            "assignment": assignment,
            "anchors": anchors,
            "strides": strides,
            "score_sum": score_sum,
            "image_size": image_size,
            "gt_valid": gt_valid,
        }

    def _box_terms(
        self, pred_dist, pred_boxes, anchors, strides, assignment: Assignment, score_sum: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        zero = pred_dist.sum() * 0.0  # keeps the graph connected when nothing is assigned
        fg = assignment.foreground
        if not fg.any():
            return zero, zero
        target = assignment.boxes / strides  # grid units
        weight = assignment.scores.sum(-1)[fg].unsqueeze(-1)
        iou = aligned_iou(pred_boxes[fg], target[fg], kind="ciou")
        box_loss = ((1.0 - iou).unsqueeze(-1) * weight).sum() / score_sum
        distances = _boxes_to_distances(anchors, target, self.reg_max - 1)
        dfl = _distribution_focal_loss(pred_dist[fg].view(-1, self.reg_max), distances[fg])
        dfl_loss = (dfl * weight).sum() / score_sum
        return box_loss, dfl_loss

    def _padded_targets(self, batch: dict, batch_size: int, image_size: torch.Tensor):
        """``[B, M, 1]`` labels, ``[B, M, 4]`` pixel xyxy boxes and a ``[B, M, 1]`` validity
        mask, M being the most objects in one image of the batch."""
        device = image_size.device
        index = batch["batch_idx"].view(-1).to(device).long()
        labels = batch["cls"].view(-1).to(device)
        boxes = batch["bboxes"].to(device).view(-1, 4)
        counts = torch.bincount(index, minlength=batch_size) if len(index) else None
        most = int(counts.max()) if counts is not None else 0
        out_labels = torch.zeros((batch_size, most, 1), device=device)
        out_boxes = torch.zeros((batch_size, most, 4), device=device)
        valid = torch.zeros((batch_size, most, 1), device=device)
        if most:
            order = torch.argsort(index, stable=True)
            index, labels, boxes = index[order], labels[order], boxes[order]
            starts = torch.cumsum(counts, 0) - counts
            slot = torch.arange(len(index), device=device) - starts[index]
            scale = image_size[[1, 0, 1, 0]]
            out_labels[index, slot, 0] = labels.float()
            out_boxes[index, slot] = xywh_to_xyxy(boxes.float() * scale)
            valid[index, slot, 0] = 1.0
        return out_labels, out_boxes, valid

    def _total(self, losses: torch.Tensor, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        gains = torch.tensor(
            [self._gain(n) for n in self.loss_names], device=losses.device, dtype=losses.dtype
        )
        weighted = losses * gains
        return weighted.sum() * batch_size, weighted.detach()

    def _gain(self, name: str) -> float:
        return {
            "box_loss": self.gains["box"],
            "seg_loss": self.gains["box"],
            "cls_loss": self.gains["cls"],
            "dfl_loss": self.gains["dfl"],
        }[name]


class SegmentationLoss(DetectionLoss):
    """Detection losses plus the mask loss on the prototypes (``overlap`` index-map masks or
    one mask per object)."""

    loss_names = ("box_loss", "seg_loss", "cls_loss", "dfl_loss")

    def __init__(self, head, *, overlap: bool = True, **gains: float) -> None:
        super().__init__(head, **gains)
        self.overlap = overlap

    def __call__(self, preds, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        levels, coefficients, prototypes = preds if len(preds) == 3 else preds[1]
        parts = self._detection_parts(levels, batch)
        seg = self._mask_loss(coefficients, prototypes, batch, parts)
        losses = torch.stack([parts["box"], seg, parts["cls"], parts["dfl"]])
        return self._total(losses, levels[0].shape[0])

    def _mask_loss(self, coefficients, prototypes, batch: dict, parts: dict) -> torch.Tensor:
        assignment: Assignment = parts["assignment"]
        fg = assignment.foreground
        zero = (prototypes * 0).sum() + (coefficients * 0).sum()
        if not fg.any():
            return zero
        mask_h, mask_w = prototypes.shape[-2:]
        masks = batch["masks"].to(prototypes.device).float()
        if tuple(masks.shape[-2:]) != (mask_h, mask_w):
            masks = F.interpolate(masks[None], (mask_h, mask_w), mode="nearest")[0]
        image_size = parts["image_size"]
        batch_index = batch["batch_idx"].view(-1).to(prototypes.device)
        coefficients = coefficients.permute(0, 2, 1)  # [B, A, nm]
        total = zero
        for i in range(prototypes.shape[0]):
            if not fg[i].any():
                continue
            objects = assignment.object_index[i][fg[i]]
            target = self._target_masks(masks, i, objects, batch_index)
            boxes = assignment.boxes[i][fg[i]] / image_size[[1, 0, 1, 0]]  # normalised xyxy
            area = xyxy_to_xywh(boxes)[:, 2:].prod(1)
            proto_boxes = boxes * torch.tensor(
                [mask_w, mask_h, mask_w, mask_h], device=boxes.device, dtype=boxes.dtype
            )
            total = total + _single_mask_loss(
                target, coefficients[i][fg[i]], prototypes[i], proto_boxes, area
            )
        return total / fg.sum()

    def _target_masks(self, masks, image: int, objects, batch_index) -> torch.Tensor:
        """The ground-truth mask of each positive anchor's object, ``[P, h, w]`` in 0/1."""
        if self.overlap:  # one index map per image: object j is drawn with value j + 1
            return (masks[image][None] == (objects + 1).view(-1, 1, 1)).float()
        return masks[batch_index == image][objects]


def _decode(pred_dist: torch.Tensor, anchors: torch.Tensor, reg_max: int) -> torch.Tensor:
    """Expected (left, top, right, bottom) distances from the softmax bins → xyxy boxes."""
    batch, count, _ = pred_dist.shape
    bins = torch.arange(reg_max, device=pred_dist.device, dtype=pred_dist.dtype)
    distances = pred_dist.view(batch, count, 4, reg_max).softmax(3).matmul(bins)
    left_top, right_bottom = distances.chunk(2, -1)
    return torch.cat((anchors - left_top, anchors + right_bottom), -1)


def _boxes_to_distances(anchors: torch.Tensor, boxes: torch.Tensor, limit: float) -> torch.Tensor:
    """xyxy boxes → (left, top, right, bottom) distances from the anchors, in [0, limit)."""
    left_top, right_bottom = boxes.chunk(2, -1)
    distances = torch.cat((anchors - left_top, right_bottom - anchors), -1)
    return distances.clamp_(0, limit - 0.01)


def _distribution_focal_loss(pred_dist: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy towards the two bins around each (fractional) target distance."""
    target = target.reshape(-1)
    left = target.long()
    right = left + 1
    weight_left = right - target
    weight_right = 1 - weight_left
    loss = (
        F.cross_entropy(pred_dist, left, reduction="none") * weight_left
        + F.cross_entropy(pred_dist, right, reduction="none") * weight_right
    )
    return loss.view(-1, 4).mean(-1, keepdim=True)


def _single_mask_loss(target, coefficients, prototypes, boxes, area) -> torch.Tensor:
    """BCE of each predicted mask, inside its box only, normalised by the box's area."""
    predicted = torch.einsum("in,nhw->ihw", coefficients, prototypes)
    loss = F.binary_cross_entropy_with_logits(predicted, target, reduction="none")
    return (_inside_boxes(loss, boxes).mean(dim=(1, 2)) / area).sum()


def _inside_boxes(values: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Zero ``values [n, h, w]`` outside each row's box (xyxy in the same pixel grid)."""
    height, width = values.shape[-2:]
    x1, y1, x2, y2 = boxes[:, :, None].chunk(4, 1)  # each [n, 1, 1]
    columns = torch.arange(width, device=values.device, dtype=boxes.dtype)[None, None, :]
    rows = torch.arange(height, device=values.device, dtype=boxes.dtype)[None, :, None]
    return values * ((columns >= x1) & (columns < x2) & (rows >= y1) & (rows < y2))
