"""Weights that make an untrained model decide clearly, for checking exports without training.

A fresh model gives nearly the same outputs for every input, and no detection passes a
confidence threshold: an export that mixed up channels, or dropped every box, would still
"match" it. ``make_decisive`` re-initialises the weights so that outputs depend on the image:
He-initialised convolutions spread the features; a classifier's larger linear layer separates
its class probabilities; a detection head gets boxes about 3 strides wide (random box logits
would saturate the DFL bins) and class biases that put about 2% of the anchors above 0.5, so
the parity gate compares a few clear detections, not none. Used by ``benchmarks/`` and tests.
"""

from __future__ import annotations

import torch

from ..nn.heads import Classify
from ..nn.model import TaskModel


@torch.no_grad()
def make_decisive(model: TaskModel, *, seed: int = 0, imgsz: int = 64) -> TaskModel:
    """Re-initialise ``model`` in place (see the module docstring); returns it in eval mode."""
    from .run import prepare_model

    torch.manual_seed(seed)
    for name, module in model.named_modules():
        # not the DFL's fixed convolution: its weights are the bin numbers 0..15
        if isinstance(module, torch.nn.Conv2d) and ".dfl." not in f".{name}.":
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    if isinstance(model.head, Classify):  # the head, not the task: it is the head's weights
        model.head.linear.weight.mul_(200)
        return model.eval()
    bins = torch.arange(16.0)
    for branch in model.head.cv2:  # DFL bins peaking at 1.5 strides per side
        branch[-1].weight.zero_()
        branch[-1].bias.copy_(-(bins - 1.5).square().repeat(4) / 2)
    for branch in model.head.cv3:
        branch[-1].weight.mul_(100)
        branch[-1].bias.fill_(0.0)
    model.eval()
    images = torch.rand(4, model.in_channels, imgsz, imgsz,
                        generator=torch.Generator().manual_seed(seed + 1))
    outputs = prepare_model(model)(images)
    first = outputs[0] if isinstance(outputs, tuple | list) else outputs
    scores = first[:, 4 : 4 + model.num_classes]
    logit = torch.logit(scores.flatten().quantile(0.98).clamp(1e-4, 1 - 1e-4))
    for branch in model.head.cv3:
        branch[-1].bias.fill_(-float(logit))
    return model
