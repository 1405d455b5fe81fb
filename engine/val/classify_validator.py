"""One validation pass of a classifier over a loader: top-1/top-5, per-class accuracy,
confusion matrix and the validation loss (when the model gives logits)."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..cancel import NEVER, CancelToken
from ..data.classify_augment import center_crop_resize
from ..data.loader import BatchLoader
from ..events import Reporter, StepEnd, ignore
from ..runs.validation import Validation
from .classify_metrics import ClassifyMetrics

# images (N×3×S×S float) -> (probabilities N×C, logits N×C or None)
Forward = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | None]]


def center_crop_transform(size: int):
    """The validation loader's transform: short side to ``size``, then a centred square."""

    def transform(image, _rng):
        return center_crop_resize(image, size)

    return transform


def model_forward(model: torch.nn.Module) -> Forward:
    """Adapt a TaskModel (eval mode returns probabilities and logits) to :data:`Forward`."""
    model.eval()

    def forward(images: torch.Tensor):
        out = model(images)
        return out if isinstance(out, tuple) else (out, None)

    return forward


@torch.inference_mode()
def validate_classify(
    forward: Forward,
    loader: BatchLoader,
    names: dict[int, str],
    device: torch.device,
    *,
    half: bool = False,
    cancel: CancelToken = NEVER,
    progress: Reporter = ignore,
) -> Validation:
    """Run ``forward`` over every batch of ``loader`` and score it."""
    metrics = ClassifyMetrics(names)
    loss_sum, count = 0.0, 0
    inference_s, started = 0.0, time.perf_counter()
    steps = len(loader)
    for step, batch in enumerate(loader):
        cancel.raise_if_cancelled()
        images = batch["img"].to(device, non_blocking=True)
        target = batch["cls"].to(device)
        t0 = time.perf_counter()
        with torch.autocast(device.type, enabled=half):
            probs, logits = forward(images)
        inference_s += time.perf_counter() - t0
        if logits is not None:
            loss_sum += float(F.cross_entropy(logits.float(), target, reduction="sum"))
        metrics.update(probs.float(), target)
        count += len(target)
        rate = count / max(time.perf_counter() - started, 1e-9)
        progress(StepEnd("val", 0, 0, step + 1, steps, images_per_s=rate))
    total_ms = (time.perf_counter() - started) * 1000 / max(count, 1)
    inference_ms = inference_s * 1000 / max(count, 1)
    metrics.speed = {
        "preprocess": total_ms - inference_ms,
        "inference": inference_ms,
        "loss": 0.0,
        "postprocess": 0.0,
    }
    losses = {"loss": loss_sum / count} if count and loss_sum else {}
    return Validation(dict(metrics.results_dict), float(metrics.fitness), losses, metrics)
