"""One validation pass of an instance-segmentation model: NMS, mask decoding, box and mask AP.

Predictions and ground truth are compared in the letterboxed input (boxes in input pixels,
masks at the prototype resolution, 1/4 of the input); a letterbox is a uniform scale plus a
shift, so box IoU is the same as in the original image. With a ``loss`` (training), the model's
raw outputs also give the validation losses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from ..cancel import NEVER, CancelToken
from ..data.loader import BatchLoader
from ..events import Reporter, StepEnd, ignore
from ..predict.masks import process_mask
from ..predict.nms import non_max_suppression
from ..train.task import Validation
from ..utils.boxes import xywh_to_xyxy
from .detection_metrics import SegmentMetrics

# images [N, 3, H, W] -> the model's eval output: (detections, prototypes) for an export, or
# (detections, (raw levels, coefficients, prototypes)) for a TaskModel in eval mode.
SegmentForward = Callable[[torch.Tensor], Any]


@torch.inference_mode()
def validate_segment(
    forward: SegmentForward,
    loader: BatchLoader,
    names: dict[int, str],
    device: torch.device,
    *,
    half: bool = False,
    conf: float = 0.001,
    iou: float = 0.7,
    max_det: int = 300,
    overlap: bool = True,
    loss: Callable | None = None,
    collector=None,
    cancel: CancelToken = NEVER,
    progress: Reporter = ignore,
) -> Validation:
    """Score ``forward`` on every batch of ``loader`` (a val :class:`DetectBatchLoader`);
    a ``collector`` (:class:`~engine.val.segment_json.SegmentJsonCollector`) also gets each
    image's predictions for the COCO JSON files."""
    metrics = SegmentMetrics(names)
    loss_sum, batches, seen = None, 0, 0
    timings = {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}
    started = time.perf_counter()
    steps = len(loader)
    for step, batch in enumerate(loader):
        cancel.raise_if_cancelled()
        t0 = time.perf_counter()
        images = batch["img"].to(device, non_blocking=True)
        t1 = time.perf_counter()
        with torch.autocast(device.type, enabled=half):
            output = forward(images)
        t2 = time.perf_counter()
        detections, prototypes, training_view = _unpack(output)
        if loss is not None and training_view is not None:
            items = loss(training_view, batch)[1]
            loss_sum = items if loss_sum is None else loss_sum + items
            batches += 1
        found = non_max_suppression(
            detections.float(),
            conf=conf,
            iou=iou,
            max_det=max_det,
            num_classes=len(names),
            multi_label=True,
        )
        for i, det in enumerate(found):
            _score_image(metrics, i, det, prototypes[i].float(), batch, images.shape[2:], overlap)
            if collector is not None:
                collector.add(
                    batch["paths"][i],
                    batch["ori_shapes"][i],
                    batch["ratio_pad"][i],
                    det,
                    prototypes[i].float(),
                    tuple(images.shape[2:]),
                )
        seen += len(images)
        timings["preprocess"] += t1 - t0
        timings["inference"] += t2 - t1
        timings["postprocess"] += time.perf_counter() - t2
        rate = seen / max(time.perf_counter() - started, 1e-9)
        progress(StepEnd("val", 0, 0, step + 1, steps, images_per_s=rate))
    metrics.speed = {k: v * 1000 / max(seen, 1) for k, v in timings.items()} | {"loss": 0.0}
    losses = {}
    if loss_sum is not None:
        means = (loss_sum / max(batches, 1)).tolist()
        losses = dict(zip(loss.loss_names, means, strict=True))
    return Validation(dict(metrics.results_dict), float(metrics.fitness), losses, metrics)


def _unpack(output) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """(detections, prototypes, what the loss takes or None) from either output form."""
    detections, rest = output[0], output[1]
    if isinstance(rest, tuple | list):  # a TaskModel in eval mode
        return detections, rest[2], rest
    return detections, rest, None


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
