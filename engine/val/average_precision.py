"""COCO-style matching and average precision (AP over IoU 0.50:0.95, per class), and one part's
results (:class:`Metric`).

The rules follow the COCO evaluation (pycocotools), so our numbers can be checked against it:

- **matching** (per image, per IoU threshold): predictions in descending score order each take
  the unmatched ground truth of their class with the highest IoU, if that IoU is >= the
  threshold (on a tie the later ground truth wins, as in pycocotools);
- **AP** per class and threshold: precision made monotone (its envelope from the right), read at
  the 101 recall points 0.00, 0.01, ..., 1.00 at the first detection whose recall reaches the
  point (0 past the last one), and averaged;
- **means** are over the classes that have ground truth; a class with ground truth and no
  prediction has AP 0; predictions of a class with no ground truth change nothing.

Precision, recall and F1 are read, as the Ultralytics reference does, at the one confidence that
maximises the (smoothed) F1 averaged over classes. ``fitness`` is mAP50-95.
Deliberate differences from pycocotools: no crowd annotations, no area ranges and no ``maxDets``
cap here (the caller's NMS limits detections; segment validation keeps COCO's 100 per image and
class itself, see :mod:`engine.val.segment_validator`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
CURVE_POINTS = 1000
_EPS = 1e-16

ApMethod = Literal["coco", "trapezoid"]


def as_array(values: Any, dtype: type | None = None) -> np.ndarray:
    """A numpy copy-or-view of a numpy array, list or torch tensor (any device, any float)."""
    if hasattr(values, "detach"):
        tensor = values.detach().cpu()
        values = tensor.float().numpy() if tensor.is_floating_point() else tensor.numpy()
    array = np.asarray(values)
    return array.astype(dtype, copy=False) if dtype is not None else array


# -- matching and AP -------------------------------------------------------------------------


def match_predictions(
    pred_classes: Any,
    true_classes: Any,
    iou: Any,
    thresholds: Any = IOU_THRESHOLDS,
    *,
    conf: Any | None = None,
) -> np.ndarray:
    """[n, T] bool: is prediction ``j`` a true positive at IoU threshold ``t``?

    ``iou`` is [m ground truths, n predictions]. Predictions are taken in descending ``conf``
    order (stable), or in the given order when ``conf`` is None (NMS output is already sorted).
    """
    pred_cls, true_cls = as_array(pred_classes).reshape(-1), as_array(true_classes).reshape(-1)
    overlaps = as_array(iou, np.float64).reshape(len(true_cls), len(pred_cls))
    levels = np.minimum(as_array(thresholds, np.float64).reshape(-1), 1 - 1e-10)
    correct = np.zeros((len(pred_cls), len(levels)), bool)
    if overlaps.size == 0:
        return correct
    order = (
        np.argsort(-as_array(conf, np.float64), kind="stable")
        if conf is not None
        else np.arange(len(pred_cls))
    )
    candidates = np.where(true_cls[:, None] == pred_cls[None, :], overlaps, -1.0)
    taken = np.zeros((len(levels), len(true_cls)), bool)
    reversed_index = len(true_cls) - 1
    for column in order[candidates[:, order].max(0) >= levels.min()]:
        scores = np.where(taken, -1.0, candidates[:, column][None, :])  # [T, m]
        best = reversed_index - np.argmax(scores[:, ::-1], axis=1)  # the last of equal bests
        hit = scores[np.arange(len(levels)), best] >= levels
        correct[column] = hit
        taken[np.flatnonzero(hit), best[hit]] = True
    return correct


@dataclass(frozen=True)
class ClassAP:
    """What :func:`ap_per_class` finds, for the classes that have ground truth (``classes``)."""

    classes: np.ndarray  # [C] class indices, ascending
    ap: np.ndarray  # [C, T] AP per IoU threshold
    precision: np.ndarray  # [C] at the confidence of best mean F1
    recall: np.ndarray  # [C]
    f1: np.ndarray  # [C]
    true_positives: np.ndarray  # [C] estimated at that confidence
    false_positives: np.ndarray  # [C]
    confidence: np.ndarray  # [K] x axis of the three curves below
    precision_curve: np.ndarray  # [C, K] over confidence, IoU 0.5
    recall_curve: np.ndarray  # [C, K]
    f1_curve: np.ndarray  # [C, K]
    recall_axis: np.ndarray  # [K] x axis of pr_curve
    pr_curve: np.ndarray  # [C, K] precision (envelope) over recall, IoU 0.5


def ap_per_class(
    tp: Any,
    conf: Any,
    pred_cls: Any,
    target_cls: Any,
    *,
    method: ApMethod = "coco",
) -> ClassAP:
    """Per-class AP at each IoU threshold, and P / R / F1 curves over confidence.

    ``tp`` [N, T] from :func:`match_predictions`, ``conf`` and ``pred_cls`` [N] for every
    prediction of the data set, ``target_cls`` [M] for every ground truth. ``method="coco"`` is
    pycocotools' 101-point rule; ``"trapezoid"`` integrates the linearly interpolated envelope
    over the same points, as the Ultralytics reference (8.4) does: the envelope drops to 0 just
    after the last recall reached, so a perfect detector scores 0.995 instead of 1.0.
    """
    scores = as_array(conf, np.float64).reshape(-1)
    hits = as_array(tp, bool)
    hits = hits[:, None] if hits.ndim == 1 else hits
    if len(hits) != len(scores):
        raise ValueError(f"tp has {len(hits)} rows for {len(scores)} confidences")
    order = np.argsort(-scores, kind="stable")
    hits, scores, predicted = hits[order], scores[order], as_array(pred_cls).reshape(-1)[order]
    classes, instances = np.unique(as_array(target_cls).reshape(-1), return_counts=True)
    axis = np.linspace(0.0, 1.0, CURVE_POINTS)
    shape = (len(classes), CURVE_POINTS)
    ap = np.zeros((len(classes), hits.shape[1]))
    p_curve, r_curve, pr_curve = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for row, (label, total) in enumerate(zip(classes, instances, strict=True)):
        chosen = predicted == label
        if not chosen.any():
            continue
        true_sum = np.cumsum(hits[chosen], axis=0, dtype=np.float64)
        false_sum = np.cumsum(~hits[chosen], axis=0, dtype=np.float64)
        recall = true_sum / total
        precision = true_sum / (true_sum + false_sum)
        r_curve[row] = np.interp(-axis, -scores[chosen], recall[:, 0], left=0)
        p_curve[row] = np.interp(-axis, -scores[chosen], precision[:, 0], left=1)
        for level in range(hits.shape[1]):
            ap[row, level] = _average_precision(recall[:, level], precision[:, level], method)
        pr_curve[row] = _precision_at_recall(recall[:, 0], precision[:, 0], axis)
    f1_curve = 2 * p_curve * r_curve / (p_curve + r_curve + _EPS)
    best = int(_box_filter(f1_curve.mean(0), 0.1).argmax()) if len(classes) else 0
    precision_at, recall_at = p_curve[:, best], r_curve[:, best]
    true_positives = np.round(recall_at * instances)
    false_positives = np.round(true_positives / (precision_at + _EPS) - true_positives)
    return ClassAP(
        classes=classes.astype(np.int64),
        ap=ap,
        precision=precision_at,
        recall=recall_at,
        f1=f1_curve[:, best],
        true_positives=true_positives,
        false_positives=false_positives,
        confidence=axis,
        precision_curve=p_curve,
        recall_curve=r_curve,
        f1_curve=f1_curve,
        recall_axis=axis,
        pr_curve=pr_curve,
    )


def _average_precision(recall: np.ndarray, precision: np.ndarray, method: ApMethod) -> float:
    if method == "coco":
        envelope = np.maximum.accumulate(precision[::-1])[::-1]
        index = np.searchsorted(recall, RECALL_POINTS, side="left")
        inside = index < len(recall)
        picked = np.where(inside, envelope[np.minimum(index, len(recall) - 1)], 0.0)
        return float(picked.mean())
    if method == "trapezoid":
        values = _precision_at_recall(recall, precision, RECALL_POINTS)
        return float(((values[1:] + values[:-1]) / 2 * np.diff(RECALL_POINTS)).sum())
    raise ValueError(f"unknown AP method {method!r}; use 'coco' or 'trapezoid'")


def _precision_at_recall(recall: np.ndarray, precision: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The precision envelope read linearly at ``at``: opened by (0, 1), and closed as the
    reference (8.4) closes it, dropping to 0 at the last recall reached, then (1, 0)."""
    last = recall[-1] if len(recall) else 1.0
    closed_recall = np.concatenate(([0.0], recall, [last, 1.0]))
    envelope = np.maximum.accumulate(np.concatenate(([1.0], precision, [0.0, 0.0]))[::-1])[::-1]
    return np.interp(at, closed_recall, envelope)


def _box_filter(values: np.ndarray, fraction: float) -> np.ndarray:
    """Moving average over an odd window of about ``2 * fraction`` of the points, edges held."""
    width = round(len(values) * fraction * 2) // 2 + 1
    padded = np.concatenate(
        (np.full(width // 2, values[0]), values, np.full(width // 2, values[-1]))
    )
    return np.convolve(padded, np.ones(width) / width, mode="valid")


# -- one part's results ----------------------------------------------------------------------


class Metric:
    """The results of one part (boxes, masks, keypoints): per-class AP, P, R and their means."""

    def __init__(self, num_classes: int, result: ClassAP | None = None) -> None:
        self.num_classes = num_classes
        self.result = (
            result
            if result is not None
            else ap_per_class(np.zeros((0, len(IOU_THRESHOLDS)), bool), [], [], [])
        )

    @property
    def ap_class_index(self) -> np.ndarray:
        """[C] the classes with ground truth, which every per-class array follows."""
        return self.result.classes

    @property
    def p(self) -> np.ndarray:
        """[C] precision per class at the best-F1 confidence."""
        return self.result.precision

    @property
    def r(self) -> np.ndarray:
        """[C] recall per class at the best-F1 confidence."""
        return self.result.recall

    @property
    def f1(self) -> np.ndarray:
        """[C] F1 per class at the best-F1 confidence."""
        return self.result.f1

    @property
    def all_ap(self) -> np.ndarray:
        """[C, 10] AP per class at IoU 0.50, 0.55, ..., 0.95."""
        return self.result.ap

    @property
    def ap50(self) -> np.ndarray:
        """[C] AP at IoU 0.5 per class."""
        return self.all_ap[:, 0]

    @property
    def ap(self) -> np.ndarray:
        """[C] AP over IoU 0.50:0.95 per class."""
        return self.all_ap.mean(1)

    @property
    def mp(self) -> float:
        """Mean precision over the classes with ground truth (0.0 if none)."""
        return float(self.p.mean()) if len(self.p) else 0.0

    @property
    def mr(self) -> float:
        """Mean recall over the classes with ground truth (0.0 if none)."""
        return float(self.r.mean()) if len(self.r) else 0.0

    @property
    def map50(self) -> float:
        """mAP at IoU 0.5."""
        return float(self.all_ap[:, 0].mean()) if len(self.all_ap) else 0.0

    @property
    def map75(self) -> float:
        """mAP at IoU 0.75."""
        return float(self.all_ap[:, 5].mean()) if len(self.all_ap) else 0.0

    @property
    def map(self) -> float:
        """mAP over IoU 0.50:0.95."""
        return float(self.all_ap.mean()) if len(self.all_ap) else 0.0

    @property
    def maps(self) -> np.ndarray:
        """[num_classes] mAP50-95 per class; a class without ground truth gets the mean."""
        values = np.full(self.num_classes, self.map)
        values[self.ap_class_index] = self.ap
        return values

    def mean_results(self) -> list[float]:
        """[mean precision, mean recall, mAP50, mAP50-95]."""
        return [self.mp, self.mr, self.map50, self.map]

    def class_result(self, index: int) -> tuple[float, float, float, float]:
        """(P, R, AP50, AP50-95) of the ``index``-th class of :attr:`ap_class_index`."""
        return (
            float(self.p[index]),
            float(self.r[index]),
            float(self.ap50[index]),
            float(self.ap[index]),
        )

    @property
    def fitness(self) -> float:
        """mAP50-95 alone, as the reference (8.4) picks best.pt; its older releases added 0.1 of
        mAP50."""
        return self.map

    def curves(self) -> dict[str, tuple[str, np.ndarray, np.ndarray, str]]:
        """Curve name -> (x label, x [K], y [C, K], y label): PR, F1, P and R."""
        result = self.result
        return {
            "PR": ("Recall", result.recall_axis, result.pr_curve, "Precision"),
            "F1": ("Confidence", result.confidence, result.f1_curve, "F1"),
            "P": ("Confidence", result.confidence, result.precision_curve, "Precision"),
            "R": ("Confidence", result.confidence, result.recall_curve, "Recall"),
        }

    def __repr__(self) -> str:
        figures = f"mp={self.mp:.4f}, mr={self.mr:.4f}, map50={self.map50:.4f}, map={self.map:.4f}"
        return f"Metric({figures})"
