"""Code the reference benchmarks run first in the reference's own environment.

torchvision's C operators do not load with the CPU torch wheel here, and the reference imports
torchvision (its NMS calls ``torchvision.ops.nms``). This registers pure-torch
``torchvision::nms`` / ``qnms`` kernels (greedy, by descending score) before it is imported.
Our code, not the reference's.
"""

import textwrap

TORCHVISION_SHIM = textwrap.dedent(
    """
    import torch

    lib = torch.library.Library("torchvision", "DEF")

    def nms(boxes, scores, iou_threshold):
        order = scores.argsort(descending=True)
        boxes = boxes[order]
        low = torch.maximum(boxes[:, None, :2], boxes[None, :, :2])
        high = torch.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
        inter = (high - low).clamp(min=0).prod(-1)
        area = (boxes[:, 2:] - boxes[:, :2]).clamp(min=0).prod(-1)
        iou = inter / (area[:, None] + area[None] - inter + 1e-9)
        over = (iou > iou_threshold).triu(1)
        keep = torch.ones(len(boxes), dtype=torch.bool)
        for i in range(len(boxes)):
            if keep[i]:
                keep &= ~over[i]
        return order[keep]

    for name in ("nms", "qnms"):
        lib.define(f"{name}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.impl(name, nms, "CPU")
    import torchvision.ops.boxes
    torchvision.ops.boxes._assert_has_ops = lambda: None
    """
)
