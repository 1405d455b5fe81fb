"""Detection and instance-segmentation metrics: COCO-style AP over IoU 0.50:0.95, per class.

The matching and AP rules (those of pycocotools, so our numbers can be checked against it) are in
:mod:`engine.val.average_precision`; the confusion matrix is in
:mod:`engine.val.detection_confusion`. ``fitness`` is mAP50-95, summed over
the parts (box, mask) of a task.

A task is a set of *parts* (``box``, ``seg``, ``pose``), each scored from an IoU matrix per
image: :meth:`InstanceMetrics.add_image` takes those matrices; the pose task supplies its keypoint
similarity (OKS, :mod:`engine.val.keypoint_iou`) as the ``pose`` part's IoU.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from .average_precision import (
    IOU_THRESHOLDS,
    ApMethod,
    ClassAP,
    Metric,
    ap_per_class,
    as_array,
    match_predictions,
)
from .classify_metrics import SPEED_KEYS
from .detection_confusion import CONFUSION_CONF, CONFUSION_IOU, DetectionConfusionMatrix
from .keypoint_iou import keypoint_areas, oks
from .metric_files import write_curve_csv

__all__ = [
    "BOX",
    "CONFUSION_CONF",
    "CONFUSION_IOU",
    "IOU_THRESHOLDS",
    "MASK",
    "POSE",
    "ApMethod",
    "ClassAP",
    "DetectionConfusionMatrix",
    "DetectionMetrics",
    "InstanceMetrics",
    "Metric",
    "MetricPart",
    "PoseMetrics",
    "SegmentMetrics",
    "ap_per_class",
    "box_iou",
    "mask_iou",
    "match_predictions",
]

_NAME_WIDTH = 24


# -- IoU -------------------------------------------------------------------------------------


def box_iou(boxes1: Any, boxes2: Any) -> np.ndarray:
    """[m, n] IoU of xyxy boxes ``boxes1`` [m, 4] and ``boxes2`` [n, 4] (no +1 on sides)."""
    first, second = as_array(boxes1, np.float64), as_array(boxes2, np.float64)
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
    first, second = as_array(masks1), as_array(masks2)
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
        image: str | None = None,
    ) -> None:
        """Score one image from an IoU matrix [m ground truths, n predictions] per part.

        The ``box`` IoU also feeds the confusion matrix, which keeps the image's cells under
        ``image`` (its path). Any score in [0, 1] works as an IoU (a pose task passes OKS).
        """
        conf = as_array(pred_conf, np.float64).reshape(-1)
        predicted = self._classes(pred_classes, "prediction")
        truth = self._classes(true_classes, "ground-truth")
        if len(conf) != len(predicted):
            raise ValueError(f"{len(conf)} confidences for {len(predicted)} predicted classes")
        missing = [part.name for part in self.PARTS if part.name not in ious]
        if missing:
            raise ValueError(f"no IoU matrix for part(s) {missing}; give one per part")
        matrices = {part.name: self._iou(ious[part.name], part, truth, conf) for part in self.PARTS}
        self.confusion_matrix.add(matrices[self.PARTS[0].name], conf, predicted, truth, image)
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
        overlaps = as_array(values, np.float64)
        if overlaps.size == 0:
            overlaps = overlaps.reshape(len(truth), len(conf))
        if overlaps.shape != (len(truth), len(conf)):
            raise ValueError(
                f"the {part.name} IoU must be [{len(truth)} ground truths, {len(conf)} "
                f"predictions], got {list(overlaps.shape)}"
            )
        return overlaps

    def _classes(self, values: Any, what: str) -> np.ndarray:
        array = as_array(values).reshape(-1)
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
        """What training maximises: the sum over parts of mAP50-95."""
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
                written.append(write_curve_csv(stem.with_suffix(".csv"), x_label, x, y, labels))
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
        image: str | None = None,
    ) -> None:
        """Add one image: predictions [n] (xyxy boxes, confidence, class) and ground truth [m]."""
        ious = {"box": box_iou(_boxes(true_boxes), _boxes(pred_boxes))}
        self.add_image(pred_conf, pred_classes, true_classes, ious, image)


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
        image: str | None = None,
    ) -> None:
        """Add one image; masks are binary [n, H, W] and [m, H, W] at one common size."""
        ious = {
            "box": box_iou(_boxes(true_boxes), _boxes(pred_boxes)),
            "seg": mask_iou(true_masks, pred_masks),
        }
        self.add_image(pred_conf, pred_classes, true_classes, ious, image)


class PoseMetrics(InstanceMetrics):
    """Box and keypoint (OKS) AP for pose estimation: ``.box`` and ``.pose``."""

    PARTS = (BOX, POSE)

    @property
    def pose(self) -> Metric:
        """Pose (keypoint) results."""
        return self._metric("pose")

    def update(
        self,
        *,
        pred_boxes: Any,
        pred_conf: Any,
        pred_classes: Any,
        pred_keypoints: Any,
        true_boxes: Any,
        true_classes: Any,
        true_keypoints: Any,
        true_areas: Any = None,
        image: str | None = None,
    ) -> None:
        """Add one image; keypoints in pixels, [n, K, 2|3] predicted and [m, K, 3] labelled.

        ``true_areas`` [m] scale OKS; None uses box area * 0.53 like the reference validator
        (COCO's evaluation uses the segment area instead).
        """
        truth = _boxes(true_boxes)
        areas = keypoint_areas(truth) if true_areas is None else true_areas
        ious = {
            "box": box_iou(truth, _boxes(pred_boxes)),
            "pose": oks(true_keypoints, pred_keypoints, areas),
        }
        self.add_image(pred_conf, pred_classes, true_classes, ious, image)


_MEASURES = ("precision", "recall", "mAP50", "mAP50-95")


def _boxes(values: Any) -> np.ndarray:
    array = as_array(values, np.float64)
    if array.size == 0:
        return array.reshape(0, 4)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"boxes must be [N, 4] xyxy, got {list(array.shape)}")
    return array


def _clip(name: str) -> str:
    return name if len(name) <= _NAME_WIDTH else name[: _NAME_WIDTH - 3] + "..."
