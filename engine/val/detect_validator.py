"""The validation pass shared by the detection-family tasks: forward, NMS (multi-label, as the
reference validates), then a per-task scorer turns each image's detections into metric updates.

Predictions and ground truth are compared in the letterboxed input; a letterbox is a uniform
scale plus a shift, so IoU (and OKS) is the same as in the original image. With a ``loss``
(during training) the model's raw outputs also give the validation losses.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import torch

from ..cancel import NEVER, CancelToken
from ..data.loader import BatchLoader
from ..events import Reporter, StepEnd, ignore
from ..predict.nms import non_max_suppression
from ..runs.validation import Validation


class Scorer(Protocol):
    """A task's half of validation: it owns the metrics object (``metrics``)."""

    metrics: Any

    def unpack(self, output) -> tuple[torch.Tensor, Any, Any]:
        """(detections [N, 4 + nc + extra, A], extra outputs, what the loss takes or None)."""

    def score(self, i: int, det: torch.Tensor, extras: Any, batch: dict, input_shape) -> None:
        """Add image ``i``'s detections (NMS rows) and its ground truth to the metrics."""


@torch.inference_mode()
def validate_detections(
    forward: Callable[[torch.Tensor], Any],
    loader: BatchLoader,
    scorer: Scorer,
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
    """Score ``forward`` on every batch of ``loader``; returns the scorer's metrics."""
    metrics = scorer.metrics
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
        detections, extras, training_view = scorer.unpack(output)
        if loss is not None and training_view is not None:
            items = loss(training_view, batch)[1]
            loss_sum = items if loss_sum is None else loss_sum + items
            batches += 1
        found = non_max_suppression(
            detections.float(),
            conf=conf,
            iou=iou,
            max_det=max_det,
            num_classes=metrics.num_classes,
            multi_label=True,
        )
        for i, det in enumerate(found):
            scorer.score(i, det, extras, batch, images.shape[2:])
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
