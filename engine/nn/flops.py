"""FLOP counting with ``torch.utils.flop_counter`` on the meta device: no weights, no compute.

One multiply-add counts as 2 FLOPs (the counter's convention). Counting happens on the
BN-fused network, as the reference reports its figures.
"""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from .model import TaskModel


def count_flops(model: TaskModel, imgsz: int | tuple[int, int] = 640, fused: bool = True) -> float:
    """FLOPs of one forward pass of a single ``imgsz`` image, in GFLOPs."""
    from .zoo import build_model  # here: zoo imports model, which this module serves

    height, width = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    with torch.device("meta"):
        twin = build_model(model.yaml)
    twin.eval()
    if fused:
        twin.fuse()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        twin(torch.empty(1, model.in_channels, height, width, device="meta"))
    return counter.get_total_flops() / 1e9


def default_imgsz(model: TaskModel) -> int:
    """The size the published figures use: 640, or 1280 for P6 (four-level) models."""
    return 1280 if max(model.strides) >= 64 else 640
