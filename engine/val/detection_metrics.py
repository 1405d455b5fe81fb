"""Detection and instance-segmentation metrics: COCO-style AP over IoU 0.50:0.95, per class.

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
maximises the (smoothed) F1 averaged over classes. ``fitness`` is 0.1 * mAP50 + 0.9 * mAP50-95,
summed over the parts (box, mask) of a task. Deliberate differences from pycocotools: no crowd
annotations, no area ranges and no ``maxDets`` cap (the caller's NMS limits detections).

A task is a set of *parts* (``box``, ``seg``; ``pose`` later), each scored from an IoU matrix per
image: :meth:`InstanceMetrics.add_image` takes those matrices, so a pose task only has to supply
its keypoint similarity (OKS) as the ``pose`` part's IoU.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np

from ..utils.atomic import atomic_writer
from .classify_metrics import SPEED_KEYS

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)
CURVE_POINTS = 1000
CONFUSION_IOU = 0.45
CONFUSION_CONF = 0.25
_EPS = 1e-16
_NAME_WIDTH = 24

ApMethod = Literal["coco", "trapezoid"]


def _array(values: Any, dtype: type | None = None) -> np.ndarray:
    """A numpy copy-or-view of a numpy array, list or torch tensor (any device, any float)."""
    if hasattr(values, "detach"):
        tensor = values.detach().cpu()
        values = tensor.float().numpy() if tensor.is_floating_point() else tensor.numpy()
    array = np.asarray(values)
    return array.astype(dtype, copy=False) if dtype is not None else array


# -- IoU -------------------------------------------------------------------------------------


def box_iou(boxes1: Any, boxes2: Any) -> np.ndarray:
    """[m, n] IoU of xyxy boxes ``boxes1`` [m, 4] and ``boxes2`` [n, 4] (no +1 on sides)."""
    first, second = _array(boxes1, np.float64), _array(boxes2, np.float64)
    if first.size == 0 or second.size == 0:
        return np.zeros((len(first), len(second)))
    area1 = (first[:, 2] - first[:, 0]) * (first[:, 3] - first[:, 1])
    area2 = (second[:, 2] - second[:, 0]) * (second[:, 3] - second[:, 1])
    left_top = np.maximum(first[:, None, :2], second[None, :, :2])
    right_bottom = np.minimum(first[:, None, 2:], second[None, :, 2:])
    sides = np.clip(right_bottom - left_top, 0.0, None)
    inter = sides[..., 0] * sides[..., 1]
    union = area1[:, None] + area2[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def mask_iou(masks1: Any, masks2: Any) -> np.ndarray:
    """[m, n] IoU of binary masks [m, H, W] (or [m, H*W]) and [n, H, W]: one matrix product."""
    first, second = _array(masks1), _array(masks2)
    if first.size == 0 or second.size == 0:
        return np.zeros((len(first), len(second)))
    first = first.reshape(len(first), -1)
    second = second.reshape(len(second), -1)
    if first.shape[1] != second.shape[1]:
        raise ValueError(
            f"masks must have the same size to compare: {first.shape[1]} vs {second.shape[1]} "
            "pixels; resize one set first"
        )
    # float32 sums of 0/1 are exact below 2**24 pixels, and BLAS makes the product fast
    dtype = np.float32 if first.shape[1] < 2**24 else np.float64
    first, second = (first != 0).astype(dtype), (second != 0).astype(dtype)
    inter = (first @ second.T).astype(np.float64)
    union = first.sum(1, dtype=np.float64)[:, None] + second.sum(1, dtype=np.float64)[None] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


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
    pred_cls, true_cls = _array(pred_classes).reshape(-1), _array(true_classes).reshape(-1)
    overlaps = _array(iou, np.float64).reshape(len(true_cls), len(pred_cls))
    levels = np.minimum(_array(thresholds, np.float64).reshape(-1), 1 - 1e-10)
    correct = np.zeros((len(pred_cls), len(levels)), bool)
    if overlaps.size == 0:
        return correct
    order = (
        np.argsort(-_array(conf, np.float64), kind="stable")
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
    over the same points, as the Ultralytics reference does (a little different).
    """
    scores = _array(conf, np.float64).reshape(-1)
    hits = _array(tp, bool)
    hits = hits[:, None] if hits.ndim == 1 else hits
    if len(hits) != len(scores):
        raise ValueError(f"tp has {len(hits)} rows for {len(scores)} confidences")
    order = np.argsort(-scores, kind="stable")
    hits, scores, predicted = hits[order], scores[order], _array(pred_cls).reshape(-1)[order]
    classes, instances = np.unique(_array(target_cls).reshape(-1), return_counts=True)
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
    """The precision envelope, closed by (0, 1) and (1, 0) and read linearly at ``at``."""
    closed_recall = np.concatenate(([0.0], recall, [1.0]))
    envelope = np.maximum.accumulate(np.concatenate(([1.0], precision, [0.0]))[::-1])[::-1]
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
        """0.1 * mAP50 + 0.9 * mAP50-95."""
        return 0.1 * self.map50 + 0.9 * self.map

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


# -- confusion matrix ------------------------------------------------------------------------


class DetectionConfusionMatrix:
    """Counts of (true class, predicted class) with a background class at index ``num_classes``.

    Rows are true classes and columns predicted ones (the project's layout; the reference draws
    it transposed). Per image, predictions above ``conf_threshold`` are paired class-blind with
    ground truths at IoU above ``iou_threshold``, highest IoU first, one to one; a ground truth
    left over counts as predicted background (missed), a prediction left over as true background
    (a false alarm).
    """

    def __init__(
        self,
        num_classes: int,
        *,
        iou_threshold: float = CONFUSION_IOU,
        conf_threshold: float = CONFUSION_CONF,
    ) -> None:
        self.num_classes = num_classes
        self.iou_threshold = iou_threshold
        self.conf_threshold = conf_threshold
        self.matrix = np.zeros((num_classes + 1, num_classes + 1), np.int64)

    def add(self, iou: Any, pred_conf: Any, pred_classes: Any, true_classes: Any) -> None:
        """Count one image; ``iou`` is [m ground truths, n predictions]."""
        keep = _array(pred_conf, np.float64).reshape(-1) > self.conf_threshold
        predicted = _array(pred_classes, np.int64).reshape(-1)[keep]
        truth = _array(true_classes, np.int64).reshape(-1)
        overlaps = _array(iou, np.float64).reshape(len(truth), len(keep))[:, keep]
        background = self.num_classes
        rows, columns = _greedy_pairs(overlaps, self.iou_threshold)
        np.add.at(self.matrix, (truth[rows], predicted[columns]), 1)
        missed = np.setdiff1d(np.arange(len(truth)), rows)
        np.add.at(self.matrix, (truth[missed], background), 1)
        extra = np.setdiff1d(np.arange(len(predicted)), columns)
        np.add.at(self.matrix, (background, predicted[extra]), 1)

    def to_csv(self, path: str | Path, names: Sequence[str]) -> Path:
        """Write the counts with a header row and a first column of class names."""
        labels = [*map(str, names), "background"]
        rows = [["true \\ predicted", *labels]]
        rows += [[label, *map(str, row)] for label, row in zip(labels, self.matrix, strict=True)]
        return _write_csv(path, rows)

    def plot(self, path: str | Path, names: Sequence[str], *, normalize: bool = True) -> Path:
        """Draw the matrix with a 'background' class (each true row normalised by default)."""
        from ..plots import plot_confusion_matrix

        title = "Confusion Matrix Normalized" if normalize else "Confusion Matrix"
        labels = [*map(str, names), "background"]
        return plot_confusion_matrix(self.matrix, labels, path, normalize=normalize, title=title)


def _greedy_pairs(overlaps: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one (row, column) pairs above ``threshold``, highest overlap first."""
    rows, columns = np.nonzero(overlaps > threshold)
    order = np.argsort(-overlaps[rows, columns], kind="stable")
    used_rows, used_columns, pairs = set(), set(), []
    for row, column in zip(rows[order].tolist(), columns[order].tolist(), strict=True):
        if row not in used_rows and column not in used_columns:
            used_rows.add(row)
            used_columns.add(column)
            pairs.append((row, column))
    found = np.array(pairs, np.int64).reshape(-1, 2)
    return found[:, 0], found[:, 1]


# -- tasks -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricPart:
    """One scored part of a task: its attribute, results-key suffix and plot/table title."""

    name: str
    suffix: str
    title: str


BOX = MetricPart("box", "B", "Box")
MASK = MetricPart("seg", "M", "Mask")
POSE = MetricPart("pose", "P", "Pose")


class InstanceMetrics:
    """Per-image matching and data-set AP for a task made of :attr:`PARTS` (box first).

    Subclasses add an ``update`` that computes each part's IoU matrix and calls
    :meth:`add_image`, and a property per extra part.
    """

    PARTS: ClassVar[tuple[MetricPart, ...]] = (BOX,)

    def __init__(
        self,
        names: Mapping[int, str],
        *,
        method: ApMethod = "coco",
        confusion_iou: float = CONFUSION_IOU,
        confusion_conf: float = CONFUSION_CONF,
    ) -> None:
        if not names or sorted(names) != list(range(len(names))):
            raise ValueError(
                f"class names must be keyed 0..C-1 with C >= 1, got keys {sorted(names)[:10]}"
            )
        self.names: dict[int, str] = {index: str(names[index]) for index in range(len(names))}
        self.num_classes = len(self.names)
        self.method: ApMethod = method
        self.confusion_iou, self.confusion_conf = confusion_iou, confusion_conf
        #: Milliseconds per image for each phase; the validator sets these.
        self.speed: dict[str, float] = dict.fromkeys(SPEED_KEYS, 0.0)
        self.reset()

    def reset(self) -> None:
        """Forget every image seen so far (speed figures are kept)."""
        self.confusion_matrix = DetectionConfusionMatrix(
            self.num_classes, iou_threshold=self.confusion_iou, conf_threshold=self.confusion_conf
        )
        self._conf: list[np.ndarray] = []
        self._pred_classes: list[np.ndarray] = []
        self._true_classes: list[np.ndarray] = []
        self._hits: dict[str, list[np.ndarray]] = {part.name: [] for part in self.PARTS}
        self._images_per_class = np.zeros(self.num_classes, np.int64)
        self._seen = 0
        self._cache: dict[str, Metric] | None = None

    def add_image(
        self,
        pred_conf: Any,
        pred_classes: Any,
        true_classes: Any,
        ious: Mapping[str, Any],
    ) -> None:
        """Score one image from an IoU matrix [m ground truths, n predictions] per part.

        The ``box`` IoU also feeds the confusion matrix. Any score in [0, 1] works as an IoU
        (a pose task passes OKS).
        """
        conf = _array(pred_conf, np.float64).reshape(-1)
        predicted = self._classes(pred_classes, "prediction")
        truth = self._classes(true_classes, "ground-truth")
        if len(conf) != len(predicted):
            raise ValueError(f"{len(conf)} confidences for {len(predicted)} predicted classes")
        missing = [part.name for part in self.PARTS if part.name not in ious]
        if missing:
            raise ValueError(f"no IoU matrix for part(s) {missing}; give one per part")
        matrices = {part.name: self._iou(ious[part.name], part, truth, conf) for part in self.PARTS}
        self.confusion_matrix.add(matrices[self.PARTS[0].name], conf, predicted, truth)
        order = np.argsort(-conf, kind="stable")
        for name, overlaps in matrices.items():
            self._hits[name].append(match_predictions(predicted[order], truth, overlaps[:, order]))
        self._conf.append(conf[order])
        self._pred_classes.append(predicted[order])
        self._true_classes.append(truth)
        self._images_per_class[np.unique(truth)] += 1
        self._seen += 1
        self._cache = None

    @staticmethod
    def _iou(values: Any, part: MetricPart, truth: np.ndarray, conf: np.ndarray) -> np.ndarray:
        overlaps = _array(values, np.float64)
        if overlaps.size == 0:
            overlaps = overlaps.reshape(len(truth), len(conf))
        if overlaps.shape != (len(truth), len(conf)):
            raise ValueError(
                f"the {part.name} IoU must be [{len(truth)} ground truths, {len(conf)} "
                f"predictions], got {list(overlaps.shape)}"
            )
        return overlaps

    def _classes(self, values: Any, what: str) -> np.ndarray:
        array = _array(values).reshape(-1)
        fractional = np.issubdtype(array.dtype, np.floating) and not np.array_equal(
            array, np.round(array)
        )
        if fractional:
            raise ValueError(f"{what} classes must be whole numbers, got {array[:5]}")
        classes = array.astype(np.int64)
        if classes.size and (classes.min() < 0 or classes.max() >= self.num_classes):
            bad = int(classes.min() if classes.min() < 0 else classes.max())
            raise ValueError(
                f"{what} class {bad} is outside 0..{self.num_classes - 1} "
                f"({self.num_classes} classes)"
            )
        return classes

    # -- results -----------------------------------------------------------------------------

    def _metric(self, name: str) -> Metric:
        if self._cache is None:
            conf = np.concatenate([np.zeros(0), *self._conf])
            predicted = np.concatenate([np.zeros(0, np.int64), *self._pred_classes])
            truth = np.concatenate([np.zeros(0, np.int64), *self._true_classes])
            self._cache = {}
            for part in self.PARTS:
                hits = np.concatenate(
                    [np.zeros((0, len(IOU_THRESHOLDS)), bool), *self._hits[part.name]]
                )
                result = ap_per_class(hits, conf, predicted, truth, method=self.method)
                self._cache[part.name] = Metric(self.num_classes, result)
        return self._cache[name]

    @property
    def box(self) -> Metric:
        """Box results."""
        return self._metric("box")

    @property
    def parts(self) -> dict[str, Metric]:
        """Every part's results by part name, box first."""
        return {part.name: self._metric(part.name) for part in self.PARTS}

    @property
    def seen(self) -> int:
        """How many images have been added since the last reset."""
        return self._seen

    @property
    def instances_per_class(self) -> np.ndarray:
        """[num_classes] ground-truth objects per class."""
        truth = np.concatenate([np.zeros(0, np.int64), *self._true_classes])
        return np.bincount(truth, minlength=self.num_classes)

    @property
    def images_per_class(self) -> np.ndarray:
        """[num_classes] images holding at least one object of each class."""
        return self._images_per_class.copy()

    @property
    def keys(self) -> list[str]:
        """The results.csv column names of these metrics."""
        return [
            f"metrics/{measure}({part.suffix})"
            for part in self.PARTS
            for measure in ("precision", "recall", "mAP50", "mAP50-95")
        ]

    @property
    def results_dict(self) -> dict[str, float]:
        """Mean P, R, mAP50 and mAP50-95 of each part under their results.csv column names."""
        values = [value for metric in self.parts.values() for value in metric.mean_results()]
        return dict(zip(self.keys, values, strict=True))

    @property
    def fitness(self) -> float:
        """What training maximises: the sum over parts of 0.1 * mAP50 + 0.9 * mAP50-95."""
        return float(sum(metric.fitness for metric in self.parts.values()))

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready values; a class without ground truth has ``None`` results."""
        metrics = self.parts
        instances, images = self.instances_per_class, self._images_per_class
        per_class: dict[str, Any] = {}
        for index, name in self.names.items():
            entry: dict[str, Any] = {
                "images": int(images[index]),
                "instances": int(instances[index]),
            }
            for part_name, metric in metrics.items():
                where = np.flatnonzero(metric.ap_class_index == index)
                entry[part_name] = (
                    dict(zip(_MEASURES, metric.class_result(int(where[0])), strict=True))
                    if len(where)
                    else None
                )
            per_class[name] = entry
        return {
            "fitness": self.fitness,
            "seen": self._seen,
            "instances": int(instances.sum()),
            "results": self.results_dict,
            "per_class": per_class,
            "speed": dict(self.speed),
        }

    def summary_table(self) -> str:
        """A text table: class, images, instances, then P, R, mAP50, mAP50-95 per part.

        The 'all' row comes first; then one row per class that has ground truth.
        """
        metrics = list(self.parts.values())
        instances, images = self.instances_per_class, self._images_per_class
        rows = [("all", self._seen, int(instances.sum()), [m.mean_results() for m in metrics])]
        for position, index in enumerate(metrics[0].ap_class_index):
            results = [list(metric.class_result(position)) for metric in metrics]
            rows.append(
                (self.names[int(index)], int(images[index]), int(instances[index]), results)
            )
        width = max(5, *(len(_clip(row[0])) for row in rows))
        header = [f"{'Class':>{width}}", f"{'Images':>9}", f"{'Instances':>9}"]
        for part in self.PARTS:
            header += [f"{part.title + '(P':>10}", f"{'R':>10}", f"{'mAP50':>10}"]
            header.append(f"{'mAP50-95)':>10}")
        lines = ["  ".join(header)]
        for name, image_count, instance_count, results in rows:
            cells = [f"{_clip(name):>{width}}", f"{image_count:>9d}", f"{instance_count:>9d}"]
            cells += [f"{value:>10.3f}" for values in results for value in values]
            lines.append("  ".join(cells))
        return "\n".join(lines)

    def save(self, folder: str | Path, *, plots: bool = True) -> list[Path]:
        """Write the confusion matrix and every part's curves as CSV (and PNG with ``plots``)."""
        from ..plots import plot_confidence_curve, plot_pr_curve

        target = Path(folder)
        names = list(self.names.values())
        written = [self.confusion_matrix.to_csv(target / "confusion_matrix.csv", names)]
        if plots:
            written.append(
                self.confusion_matrix.plot(target / "confusion_matrix_normalized.png", names)
            )
            written.append(
                self.confusion_matrix.plot(target / "confusion_matrix.png", names, normalize=False)
            )
        for part, metric in zip(self.PARTS, self.parts.values(), strict=True):
            labels = [self.names[int(index)] for index in metric.ap_class_index]
            for curve, (x_label, x, y, y_label) in metric.curves().items():
                stem = target / f"{part.title}{curve}_curve"
                written.append(_write_curve_csv(stem.with_suffix(".csv"), x_label, x, y, labels))
                if not plots:
                    continue
                if curve == "PR":
                    written.append(
                        plot_pr_curve(x, y, labels, stem.with_suffix(".png"), ap50=metric.ap50)
                    )
                else:
                    written.append(
                        plot_confidence_curve(
                            x, y, labels, stem.with_suffix(".png"), ylabel=y_label
                        )
                    )
        return written

    def __repr__(self) -> str:
        figures = ", ".join(f"{name}={m.map:.4f}" for name, m in self.parts.items())
        return f"{type(self).__name__}(classes={self.num_classes}, seen={self._seen}, {figures})"


class DetectionMetrics(InstanceMetrics):
    """Box AP for object detection: ``.box``."""

    PARTS = (BOX,)

    def update(
        self,
        *,
        pred_boxes: Any,
        pred_conf: Any,
        pred_classes: Any,
        true_boxes: Any,
        true_classes: Any,
    ) -> None:
        """Add one image: predictions [n] (xyxy boxes, confidence, class) and ground truth [m]."""
        ious = {"box": box_iou(_boxes(true_boxes), _boxes(pred_boxes))}
        self.add_image(pred_conf, pred_classes, true_classes, ious)


class SegmentMetrics(InstanceMetrics):
    """Box and mask AP for instance segmentation: ``.box`` and ``.seg``."""

    PARTS = (BOX, MASK)

    @property
    def seg(self) -> Metric:
        """Mask results."""
        return self._metric("seg")

    def update(
        self,
        *,
        pred_boxes: Any,
        pred_conf: Any,
        pred_classes: Any,
        pred_masks: Any,
        true_boxes: Any,
        true_classes: Any,
        true_masks: Any,
    ) -> None:
        """Add one image; masks are binary [n, H, W] and [m, H, W] at one common size."""
        ious = {
            "box": box_iou(_boxes(true_boxes), _boxes(pred_boxes)),
            "seg": mask_iou(true_masks, pred_masks),
        }
        self.add_image(pred_conf, pred_classes, true_classes, ious)


_MEASURES = ("precision", "recall", "mAP50", "mAP50-95")


def _boxes(values: Any) -> np.ndarray:
    array = _array(values, np.float64)
    if array.size == 0:
        return array.reshape(0, 4)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"boxes must be [N, 4] xyxy, got {list(array.shape)}")
    return array


def _clip(name: str) -> str:
    return name if len(name) <= _NAME_WIDTH else name[: _NAME_WIDTH - 3] + "..."


def _write_csv(path: str | Path, rows: list[list[str]]) -> Path:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    with atomic_writer(path) as handle:
        handle.write(buffer.getvalue().encode("utf-8"))
    return Path(path)


def _write_curve_csv(
    path: Path, x_label: str, x: np.ndarray, y: np.ndarray, labels: Sequence[str]
) -> Path:
    """One row per x value: x, the mean over classes ('all'), then one column per class."""
    mean = y.mean(0) if len(y) else np.full(len(x), math.nan)
    rows = [[x_label.lower(), "all", *labels]]
    rows += [
        [f"{x[i]:.6g}", f"{mean[i]:.6g}", *(f"{value:.6g}" for value in y[:, i])]
        for i in range(len(x))
    ]
    return _write_csv(path, rows)
