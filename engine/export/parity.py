"""The parity gate: an export is run by its own runtime and compared with the PyTorch model.

Both get the same fixed inputs (seeded noise, plus sample images when there are some) and their
raw outputs are compared element by element with one figure, the **error**: ``|a - b|`` where
the PyTorch value is at most 1 in size (probabilities, scores, visibilities) and ``|a - b| /
|a|`` above that (pixel coordinates, mask coefficients), so that a box corner at x = 600 is
held to the same relative precision as a score. Then the decisions are compared: the same top-1
class, or the same detections (same class, IoU >= 0.5) after non-max suppression.

Tolerances, by what the export stores:

========  =============  =============================================================
weights   error at most  decisions
========  =============  =============================================================
fp32      1e-3           reported (they follow from the error)
fp16      3e-2           every clear top-1 equal; detections F1 >= 0.9
bf16      1e-1 of range  every clear top-1 equal; detections F1 >= 0.9
int8      not gated      clear top-1 equal on 80%; detections F1 >= 0.5
========  =============  =============================================================

bf16 is not a file format but a way OpenVINO computes on CPUs with bfloat16 instructions (the
fast CPU path, engine/api/runtime_cache.py). Its 8-bit mantissa keeps about three significant
digits of every value, so a box corner at x = 600 moves by up to 2 px and one at x = 0.6 by
0.3 px: scaled by the value or by 1, those read as 4e-3 and 0.3. Its error is therefore taken
against the largest magnitude of each output channel (a box coordinate's is the image's side,
a score's 1), the share of what that output spans. Its bound is 1e-1: bf16 rounds 8x coarser
than fp16 (unit roundoff 2^-8 against 2^-11), and 1e-1 is 25 of its roundoffs where fp16's 3e-2
is 60 of fp16's. A 30-epoch yolov8n-seg whose mask prototypes moved by 3.3e-2 on noise
validated in bf16 at box/mask mAP50-95 0.2401/0.2711 against 0.2379/0.2695 in float32.

A top-1 is "clear" when the PyTorch model's best class leads the second by more than the
tolerance, and detections are matched among those scoring clearly above the confidence
threshold; decisions within the rounding of the format are not its fault.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..nn.heads import Classify
from ..nn.model import TaskModel
from ..predict.nms import non_max_suppression
from ..utils.boxes import box_iou

Outputs = tuple[torch.Tensor, ...]


@dataclass(frozen=True)
class Tolerance:
    """What an export of one precision must meet (see the module docstring)."""

    precision: str
    max_error: float | None
    top1_agreement: float
    detection_f1: float
    decision_margin: float
    per_channel_range: bool = False
    """Scale errors by each output channel's largest magnitude (bf16), not by each value's."""


TOLERANCES = {
    "fp32": Tolerance("fp32", 1e-3, 1.0, 0.99, 1e-3),
    "fp16": Tolerance("fp16", 3e-2, 1.0, 0.9, 3e-2),
    "bf16": Tolerance("bf16", 1e-1, 1.0, 0.9, 3e-2, per_channel_range=True),
    "int8": Tolerance("int8", None, 0.8, 0.5, 0.1),
}
DETECTION_CONF = 0.25
DETECTION_IOU = 0.7
MATCH_IOU = 0.5


@dataclass(frozen=True)
class ParityCheck:
    """The outcome of running an export beside the PyTorch model. ``status``: passed, failed,
    or unchecked (no runtime for the format here; ``reason`` says why)."""

    status: str
    precision: str = "fp32"
    max_error: float | None = None
    tolerance: float | None = None
    decisions: str = ""
    agreement: float | None = None
    inputs: int = 0
    latency_ms: float | None = None
    reason: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def summary(self) -> str:
        """One line: ``passed: error 4.1e-05 <= 1e-03, top-1 equal 4/4 (fp32)``."""
        if self.status == "unchecked":
            return f"not checked: {self.reason}"
        parts = []
        if self.max_error is not None:
            bound = "not gated" if self.tolerance is None else f"<= {self.tolerance:.0e}"
            parts.append(f"error {self.max_error:.1e} ({bound})")
        if self.decisions:
            parts.append(self.decisions)
        text = f"{self.status}: {', '.join(parts)} ({self.precision}, {self.inputs} inputs)"
        return f"{text}; {self.reason}" if self.reason else text


def unchecked(reason: str, precision: str = "fp32") -> ParityCheck:
    """A parity result for an export whose runtime is not available here."""
    return ParityCheck(status="unchecked", precision=precision, reason=reason)


def parity_inputs(
    batch: int, channels: int, imgsz: tuple[int, int], samples: Sequence[torch.Tensor] = ()
) -> list[torch.Tensor]:
    """Fixed inputs of the export's batch size: seeded noise, then the sample images (each a
    ``[C, H, W]`` float tensor in 0..1 at ``imgsz``) in batches, the last one filled with noise."""
    generator = torch.Generator().manual_seed(0)
    height, width = imgsz

    def noise(count: int) -> torch.Tensor:
        return torch.rand(count, channels, height, width, generator=generator)

    inputs = [noise(batch)]
    images = [s for s in samples if tuple(s.shape) == (channels, height, width)]
    for start in range(0, len(images), batch):
        chunk = torch.stack(images[start : start + batch])
        if chunk.shape[0] < batch:
            chunk = torch.cat((chunk, noise(batch - chunk.shape[0])))
        inputs.append(chunk)
    return inputs


def compare(
    rule: ParityRule,
    reference: Callable[[torch.Tensor], Outputs],
    candidate: Callable[[torch.Tensor], Outputs],
    inputs: Sequence[torch.Tensor],
    *,
    num_classes: int,
    precision: str = "fp32",
) -> ParityCheck:
    """Run both on ``inputs`` and judge the candidate by the tolerance of ``precision``, its
    decisions by the task's ``rule`` (TOP1 or DETECTIONS).

    ``num_classes`` says which rows of a detection output are class scores (after the box).
    """
    tolerance = TOLERANCES[precision]
    worst = 0.0
    agreed = total = 0
    latencies: list[float] = []
    for images in inputs:
        expected = _as_tuple(reference(images))
        started = time.perf_counter()
        got = _as_tuple(candidate(images))
        latencies.append((time.perf_counter() - started) * 1000 / images.shape[0])
        shape_problem = _shape_mismatch(expected, got)
        if shape_problem:
            return ParityCheck(status="failed", precision=precision, inputs=len(inputs),
                               reason=shape_problem)
        error = max_error(expected, got, per_channel_range=tolerance.per_channel_range)
        worst = max(worst, error)
        hits, count = rule.agreement(expected[0], got[0], num_classes, tolerance.decision_margin)
        agreed += hits
        total += count
    agreement = agreed / total if total else 1.0
    needed = rule.needed(tolerance)
    within = tolerance.max_error is None or worst <= tolerance.max_error
    passed = within and agreement >= needed
    return ParityCheck(
        status="passed" if passed else "failed",
        precision=precision,
        max_error=worst,
        tolerance=tolerance.max_error,
        decisions=rule.describe(agreed, total, agreement),
        agreement=agreement,
        inputs=len(inputs),
        latency_ms=statistics.median(latencies) if latencies else None,
        reason="" if passed else _why(within, worst, tolerance, agreement, needed, rule),
    )


def max_error(expected: Outputs, got: Outputs, *, per_channel_range: bool = False) -> float:
    """The largest error over all outputs: absolute up to magnitude 1, relative above; with
    ``per_channel_range``, relative to each channel's (dim 1's) largest magnitude instead of
    each value's."""
    worst = 0.0
    for a, b in zip(expected, got, strict=True):
        a = a.detach().float().cpu()
        b = b.detach().float().cpu()
        if not torch.isfinite(b).all():
            return float("inf")
        scale = _channel_range(a) if per_channel_range and a.dim() > 1 else a.abs()
        scale = scale.clamp_min(1.0)
        worst = max(worst, float(((a - b).abs() / scale).max()) if a.numel() else 0.0)
    return worst


def _channel_range(values: torch.Tensor) -> torch.Tensor:
    """Each channel's (dim 1's) largest magnitude over the batch and the other axes, shaped
    to broadcast against ``values``."""
    other = [axis for axis in range(values.dim()) if axis != 1]
    return values.abs().amax(dim=other, keepdim=True)


def _as_tuple(outputs: torch.Tensor | Sequence[torch.Tensor]) -> Outputs:
    return (outputs,) if isinstance(outputs, torch.Tensor) else tuple(outputs)


def _shape_mismatch(expected: Outputs, got: Outputs) -> str:
    if len(expected) != len(got):
        return f"the export gives {len(got)} outputs, the model {len(expected)}"
    for index, (a, b) in enumerate(zip(expected, got, strict=True)):
        if tuple(a.shape) != tuple(b.shape):
            return (f"output {index} has shape {tuple(b.shape)} in the export, "
                    f"{tuple(a.shape)} in the model")
    return ""


def _top1_agreement(
    expected: torch.Tensor, got: torch.Tensor, _nc: int, margin: float
) -> tuple[int, int]:
    """How many clear top-1 decisions of the model the export repeats, of how many."""
    expected = expected.float().cpu()
    got = got.float().cpu()
    top2 = expected.topk(min(2, expected.shape[1]), dim=1).values
    clear = (top2[:, 0] - top2[:, -1] > margin) if expected.shape[1] > 1 else torch.ones(
        expected.shape[0], dtype=torch.bool)
    same = expected.argmax(1) == got.argmax(1)
    return int((same & clear).sum()), int(clear.sum())


def _detection_agreement(
    expected: torch.Tensor, got: torch.Tensor, nc: int, margin: float
) -> tuple[int, int]:
    """Matched detections (same class, IoU >= 0.5) and detections counted, over the batch.

    Clear detections of each side (score above the threshold plus ``margin``) must be found
    among the other's detections above the threshold less ``margin``; both directions count.
    """
    low = max(DETECTION_CONF - margin, 0.01)
    high = min(DETECTION_CONF + margin, 0.99)
    matched = counted = 0
    loose_a = non_max_suppression(expected.float().cpu(), low, DETECTION_IOU, num_classes=nc)
    loose_b = non_max_suppression(got.float().cpu(), low, DETECTION_IOU, num_classes=nc)
    for a, b in zip(loose_a, loose_b, strict=True):
        for mine, theirs in ((a, b), (b, a)):
            clear = mine[mine[:, 4] > high]
            counted += clear.shape[0]
            matched += _matches(clear, theirs)
    return matched, counted


def _matches(clear: torch.Tensor, others: torch.Tensor) -> int:
    if clear.shape[0] == 0 or others.shape[0] == 0:
        return 0
    iou = box_iou(clear[:, :4], others[:, :4])
    same_class = clear[:, 5:6] == others[:, 5].unsqueeze(0)
    return int(((iou >= MATCH_IOU) & same_class).any(dim=1).sum())


def _why(
    within: bool, worst: float, tolerance: Tolerance, agreement: float, needed: float,
    rule: ParityRule,
) -> str:
    if not within:
        return (f"outputs differ by {worst:.2e}, more than the {tolerance.precision} tolerance "
                f"{tolerance.max_error:.0e}")
    return f"{rule.what} {agreement:.2f} is below {needed:.2f}"


Agreement = Callable[[torch.Tensor, torch.Tensor, int, float], tuple[int, int]]


@dataclass(frozen=True)
class ParityRule:
    """How a task's decisions are compared (each task declares its rule, engine/tasks/).

    ``agreement(expected, got, num_classes, margin)`` counts the clear decisions of the model
    the export repeats, of how many; ``needed`` is the share a tolerance asks for; ``what``
    names that share in a failure ("top-1 agreement 0.50 is below 1.00"); ``describe`` is the
    decisions' part of the summary line.
    """

    what: str
    agreement: Agreement
    needed: Callable[[Tolerance], float]
    describe: Callable[[int, int, float], str]


TOP1 = ParityRule(
    "top-1 agreement",
    _top1_agreement,
    lambda tolerance: tolerance.top1_agreement,
    lambda agreed, total, _share: f"top-1 equal {agreed}/{total}",
)
"""Classifiers: the same top-1 class wherever the model's is clear."""

DETECTIONS = ParityRule(
    "detection F1",
    _detection_agreement,
    lambda tolerance: tolerance.detection_f1,
    lambda agreed, total, share: f"detections matched {agreed}/{total} (F1 {share:.2f})",
)
"""The detection family: the same detections (class, IoU >= 0.5) after non-max suppression."""


def head_rule(model: TaskModel) -> ParityRule:
    """The rule of ``model``'s head, for an export made without its task's rule (scripts and
    tests calling ``export_model`` directly): a classifier's top-1, else detections."""
    return TOP1 if isinstance(model.head, Classify) else DETECTIONS
