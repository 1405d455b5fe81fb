"""Segmentation's part of validation (see :func:`~engine.val.detect_validator.validate_detections`):
mask decoding, box and mask AP.

With the split's labels (``yolo segment val``), each image is scored as pycocotools scores the
``save_json`` files: boxes and masks in original-image pixels, predicted masks as
:func:`~engine.predict.masks.native_mask_windows` makes them (the masks the JSON holds), the
label polygons filled as pycocotools fills them (:mod:`engine.val.coco_masks`). Without them
(validation during training, which sees only the batches) masks are compared at the prototype
resolution (1/4 of the input) against the batch's mask targets, boxes in input pixels: cheaper,
and close, but not COCO's figure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data.detect_labels import LabelledImage
from ..predict.masks import MaskWindow, native_mask_windows, process_mask
from ..utils.boxes import LetterboxInfo, scale_boxes, xywh_to_xyxy
from .coco_masks import polygon_window, window_iou
from .detection_metrics import SegmentMetrics, box_iou
from .segment_json import SegmentJsonCollector

# images [N, 3, H, W] -> the model's eval output: (detections, prototypes) for an export, or
# (detections, (raw levels, coefficients, prototypes)) for a TaskModel in eval mode.
SegmentForward = Callable[[torch.Tensor], Any]

COCO_MAX_DETS = 100
"""Detections per image and class that COCO's mAP50-95 counts (``maxDets``, its last)."""


class SegmentScorer:
    """Segmentation's part of :func:`validate_detections`: prototypes and masks.

    With ``samples`` (the split's labelled images, in any order) images are scored against
    their labels in original pixels, as COCO scores them; without, against the batch."""

    def __init__(
        self,
        names: dict[int, str],
        overlap: bool = True,
        collector=None,
        ap_method="coco",
        samples: Sequence[LabelledImage] | None = None,
    ) -> None:
        self.metrics = SegmentMetrics(names, method=ap_method)
        self.overlap, self.collector = overlap, collector
        self.samples = None if samples is None else {str(s.image): s for s in samples}

    def unpack(self, output) -> tuple[torch.Tensor, Any, Any]:
        """(detections, prototypes, what the loss takes or None) from either output form."""
        detections, rest = output[0], output[1]
        if isinstance(rest, tuple | list):  # a TaskModel in eval mode
            return detections, rest[2], rest
        return detections, rest, None

    def score(self, i: int, det: torch.Tensor, prototypes, batch: dict, input_shape) -> None:
        """Add image ``i``'s NMS rows ``det`` and its ground truth to the metrics (and to the
        JSON collector)."""
        if self.samples is None:
            _score_image(
                self.metrics, i, det, prototypes[i].float(), batch, input_shape, self.overlap
            )
            windows = None
        else:
            windows = self._score_as_coco(i, det, prototypes[i], batch, tuple(input_shape))
        if self.collector is not None:
            self.collector.add(
                batch["paths"][i],
                batch["ori_shapes"][i],
                batch["ratio_pad"][i],
                det,
                tuple(input_shape),
                prototypes=prototypes[i].float(),
                windows=windows,
            )

    def _score_as_coco(
        self, i: int, det: torch.Tensor, prototypes: torch.Tensor, batch: dict, input_shape
    ) -> list[MaskWindow] | None:
        """Score image ``i`` in original pixels against its labels; returns the predicted masks
        when they were all made (for the JSON collector), else None."""
        path = batch["paths"][i]
        height, width = (int(v) for v in batch["ori_shapes"][i])
        info = LetterboxInfo.from_ratio_pad(batch["ratio_pad"][i])
        truth = self.samples[path].instances.to_pixels(width, height)
        boxes = scale_boxes(det[:, :4].float(), input_shape, (height, width), ratio_pad=info)
        classes = det[:, 5].long().cpu().numpy()
        conf = det[:, 4].float().cpu().numpy()
        scored = _coco_scored(classes, conf)
        same_class = truth.cls[:, None] == classes[None, scored]
        box_ious = box_iou(truth.boxes, boxes.cpu()[torch.from_numpy(scored)])
        # the metric needs the masks that can reach IoU 0.5 (same class, boxes overlapping);
        # the JSON needs every mask
        wanted = np.zeros(len(det), bool)
        wanted[scored] = (same_class & (box_ious > 0)).any(0)
        wanted |= self.collector is not None
        windows = _masks_where(wanted, prototypes, det, boxes, input_shape, (height, width), info)
        mask_ious = window_iou(
            _label_masks(truth, height, width), [windows[k] for k in scored], same_class
        )
        self.metrics.add_image(
            conf[scored], classes[scored], truth.cls, {"box": box_ious, "seg": mask_ious},
            image=path,
        )
        return windows if wanted.all() else None


def _coco_scored(classes: np.ndarray, conf: np.ndarray) -> np.ndarray:
    """The rows COCO scores: per class, the :data:`COCO_MAX_DETS` highest scores (ties in row
    order, as pycocotools' stable sort keeps them), in row order."""
    order = np.argsort(-conf, kind="stable")
    kept = np.zeros(len(classes), bool)
    for label in np.unique(classes):
        kept[order[classes[order] == label][:COCO_MAX_DETS]] = True
    return np.flatnonzero(kept)


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


def _label_masks(truth, height: int, width: int) -> list[MaskWindow]:
    """Each labelled object's polygon filled as pycocotools fills it (empty without one)."""
    if not truth.segments:
        return [MaskWindow(0, 0, np.zeros((0, 0), bool)) for _ in range(len(truth))]
    return [polygon_window([segment], height, width) for segment in truth.segments]


def _masks_where(wanted, prototypes, det, boxes, input_shape, original_shape, info):
    """The original-size masks of the rows ``wanted`` marks; an empty window for the rest."""
    rows = torch.from_numpy(wanted).to(det.device)
    made = iter(
        native_mask_windows(
            prototypes, det[rows, 6:], boxes[rows], input_shape, original_shape, info
        )
    )
    empty = MaskWindow(0, 0, np.zeros((0, 0), bool))
    return [next(made) if keep else empty for keep in wanted]


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
    scorer = SegmentScorer(
        names, settings.overlap_mask, collector, settings.ap_method, samples=samples
    )
    return scorer, collector
