"""The label checker: likely label errors across a dataset, as :class:`Finding` records.

Qt-free functions over plain records. Every coordinate is in **pixels** of the image (not
normalised): the thresholds (a tiny polygon's area, the tolerance of a keypoint outside its box)
are sizes a person sees, and a reader turns normalised YOLO rows into pixels with the image's
size once (:func:`instance_from_normalised`).

Checks, each a function that a test can call alone:

- :func:`find_swaps` — left/right joints swapped (from ``flip_idx`` and the joints' geometry);
- :func:`find_duplicates` — two instances of one class with IoU above 0.9 (mask IoU when both
  have polygons, box IoU otherwise);
- :func:`find_bad_polygons` — polygons below a pixel area, and self-intersecting ones;
- :func:`find_keypoints_outside` — labelled keypoints beyond their box, past a tolerance;
- :func:`find_model_disagreements` — against a trained model's predictions: confident
  predictions no label matches, labels the model scores very low (or that sit off an object
  the model sees nearby: shifted), or gives another class.

:func:`check_labels` runs them all. Nothing is changed: the findings are for a person to judge.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .checker_geometry import box_iou, polygon_area, polygon_iou, self_intersects
from .checker_records import (
    DOUBTED,
    DUPLICATE,
    KINDS,
    OTHER_CLASS,
    OUTSIDE,
    SELF_INTERSECTING,
    SHIFTED,
    SWAP,
    TINY,
    UNLABELLED,
    Finding,
    LabelInstance,
    Prediction,
)
from .checker_swaps import find_swaps

__all__ = [
    "KINDS",
    "CheckSettings",
    "Finding",
    "LabelInstance",
    "Prediction",
    "check_labels",
    "find_bad_polygons",
    "find_duplicates",
    "find_keypoints_outside",
    "find_model_disagreements",
    "find_swaps",
    "instance_from_normalised",
]


@dataclass(frozen=True)
class CheckSettings:
    """The checker's thresholds (pixels where they are sizes)."""

    duplicate_iou: float = 0.9
    min_polygon_area: float = 16.0
    keypoint_tolerance: float = 0.1  # a fraction of the box's larger side ...
    keypoint_tolerance_px: float = 2.0  # ... plus these pixels
    swap_margin: float = 0.25  # how much better the swapped pair fits, in body sizes
    match_iou: float = 0.5  # a prediction and a label are the same object from here
    confident: float = 0.7  # a prediction this sure with no label is reported
    doubt: float = 0.05  # a label no prediction of its class reaches this score is reported
    skip: frozenset[str] = field(default_factory=frozenset)  # kinds of check not to run


def instance_from_normalised(
    image: str | int,
    instance: int,
    class_index: int,
    size: tuple[int, int],
    *,
    box_xywh: Sequence[float] | None = None,
    polygon: np.ndarray | None = None,
    keypoints: np.ndarray | None = None,
    number: int | None = None,
) -> LabelInstance:
    """A :class:`LabelInstance` in pixels from a YOLO row's normalised values; ``size`` is the
    image's (width, height)."""
    scale = np.array(size, np.float64)
    box = None
    if box_xywh is not None:
        cx, cy, w, h = (float(v) for v in box_xywh)
        box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]) * np.tile(scale, 2)
    if polygon is not None:
        polygon = np.asarray(polygon, np.float64).reshape(-1, 2) * scale
    if keypoints is not None:
        keypoints = np.array(keypoints, np.float64)
        keypoints[:, :2] *= scale
    return LabelInstance(image, instance, class_index, box, polygon, keypoints, number)


def check_labels(
    instances: Iterable[LabelInstance],
    *,
    flip_idx: Sequence[int] | None = None,
    predictions: Mapping[str | int, Sequence[Prediction]] | None = None,
    settings: CheckSettings = CheckSettings(),
    joint_names: Sequence[str] | None = None,
    class_names: Sequence[str] | Mapping[int, str] | None = None,
) -> list[Finding]:
    """Every finding over ``instances``, surest first.

    ``flip_idx`` (a pose dataset's) enables the swap check; ``predictions`` maps each image the
    model ran on to its predictions (an image missing from it is not compared; one with an empty
    list is: the model found nothing there); ``joint_names`` name the joints in swap messages and
    ``class_names`` the classes in every message ("class 2" without them)."""
    instances = list(instances)
    skip = settings.skip
    findings: list[Finding] = []
    if flip_idx is not None and SWAP not in skip:
        findings += find_swaps(
            instances, flip_idx, margin=settings.swap_margin, joint_names=joint_names
        )
    if DUPLICATE not in skip:
        findings += find_duplicates(instances, iou=settings.duplicate_iou, names=class_names)
    findings += [
        f for f in find_bad_polygons(instances, settings.min_polygon_area) if f.kind not in skip
    ]
    if OUTSIDE not in skip:
        findings += find_keypoints_outside(
            instances, settings.keypoint_tolerance, settings.keypoint_tolerance_px
        )
    if predictions is not None:
        findings += [
            f
            for f in find_model_disagreements(instances, predictions, settings, class_names)
            if f.kind not in skip
        ]
    return sorted(findings, key=lambda f: -f.score)


def _by_image(instances: Iterable[LabelInstance]) -> dict[str | int, list[LabelInstance]]:
    groups: dict[str | int, list[LabelInstance]] = defaultdict(list)
    for item in instances:
        groups[item.image].append(item)
    return groups


def _iou(a: LabelInstance | Prediction, b: LabelInstance | Prediction) -> float:
    """Mask IoU when both have polygons, box IoU otherwise (0 without boxes)."""
    if a.polygon is not None and b.polygon is not None:
        return polygon_iou(a.polygon, b.polygon)
    if a.box is None or b.box is None:
        return 0.0
    return box_iou(a.box, b.box)


def class_name(index: int, names: Sequence[str] | Mapping[int, str] | None) -> str:
    """A class as messages name it: its name when known, else "class <index>"."""
    try:
        return str(names[index]) if names is not None else f"class {index}"
    except (IndexError, KeyError):
        return f"class {index}"


def find_duplicates(
    instances: Iterable[LabelInstance],
    iou: float = 0.9,
    names: Sequence[str] | Mapping[int, str] | None = None,
) -> list[Finding]:
    """Pairs of one class in one image that overlap with IoU above ``iou``."""
    findings = []
    for image, items in _by_image(instances).items():
        for i, first in enumerate(items):
            for second in items[i + 1 :]:
                if first.class_index != second.class_index or not _boxes_touch(first, second):
                    continue
                overlap = _iou(first, second)
                if overlap > iou:
                    message = (
                        f"instances {first.shown} and {second.shown} "
                        f"({class_name(first.class_index, names)}) overlap with IoU "
                        f"{overlap:.2f}: a duplicate?"
                    )
                    pair = (first.instance, second.instance)
                    findings.append(Finding(DUPLICATE, image, pair, message, overlap))
    return findings


def _boxes_touch(a: LabelInstance, b: LabelInstance) -> bool:
    """A cheap pre-test: boxes that do not overlap cannot be duplicates."""
    if a.box is None or b.box is None:
        return a.polygon is not None and b.polygon is not None
    return bool(
        a.box[0] < b.box[2] and b.box[0] < a.box[2] and a.box[1] < b.box[3] and b.box[1] < a.box[3]
    )


def find_bad_polygons(instances: Iterable[LabelInstance], min_area: float = 16.0) -> list[Finding]:
    """Polygons with an area below ``min_area`` square pixels, and self-intersecting ones."""
    findings = []
    for item in instances:
        if item.polygon is None:
            continue
        # Crossing first: a bow-tie's net (shoelace) area is near zero, yet it is not tiny.
        if self_intersects(item.polygon):
            message = f"instance {item.shown}: the polygon's outline crosses itself"
            findings.append(Finding(SELF_INTERSECTING, item.image, (item.instance,), message, 0.8))
            continue
        area = polygon_area(item.polygon)
        if area < min_area:
            message = (
                f"instance {item.shown}: polygon of {area:.1f} px² (under {min_area:g}): too "
                "small to be an object?"
            )
            findings.append(Finding(TINY, item.image, (item.instance,), message, 0.9))
    return findings


def find_keypoints_outside(
    instances: Iterable[LabelInstance], tolerance: float = 0.1, tolerance_px: float = 2.0
) -> list[Finding]:
    """Labelled keypoints farther outside their box than ``tolerance`` × the box's larger side
    + ``tolerance_px``."""
    findings = []
    for item in instances:
        if item.keypoints is None or item.box is None or not len(item.keypoints):
            continue
        points = _labelled(item.keypoints)
        slack = tolerance * float(max(item.box[2] - item.box[0], item.box[3] - item.box[1]))
        slack += tolerance_px
        low, high = item.box[:2] - slack, item.box[2:] + slack
        outside = np.flatnonzero(np.any((points < low) | (points > high), axis=1))
        if len(outside):
            joints = ", ".join(str(int(j)) for j in outside)
            message = (
                f"instance {item.shown}: keypoint(s) {joints} lie outside the box: is the box "
                "or a joint misplaced?"
            )
            findings.append(Finding(OUTSIDE, item.image, (item.instance,), message, 0.85))
    return findings


def _labelled(keypoints: np.ndarray) -> np.ndarray:
    """The (K, 2) points, with NaN where a joint is not labelled (visibility 0), so that every
    comparison with them is False."""
    points = np.array(keypoints[:, :2], np.float64)
    if keypoints.shape[1] > 2:
        points[keypoints[:, 2] <= 0] = np.nan
    return points


def find_model_disagreements(
    instances: Iterable[LabelInstance],
    predictions: Mapping[str | int, Sequence[Prediction]],
    settings: CheckSettings = CheckSettings(),
    names: Sequence[str] | Mapping[int, str] | None = None,
) -> list[Finding]:
    """Compare each image's labels with the model's predictions on it (any class matches any
    class from ``settings.match_iou``): a confident prediction no label matches; a label whose
    class no prediction reaches ``settings.doubt`` for; a label the model confidently gives
    another class. A doubted label with an unlabelled prediction of its class nearby (centres
    closer than the label's larger side) is one finding, "shifted", not two."""
    labels = _by_image(instances)
    findings = []
    for image, predicted in predictions.items():
        items = labels.get(image, [])
        overlaps = np.array([[_iou(p, item) for item in items] for p in predicted])
        overlaps = overlaps.reshape(len(predicted), len(items))
        unlabelled = _unlabelled_rows(predicted, overlaps, settings)
        for column, item in enumerate(items):
            finding = _judge_label(image, item, predicted, overlaps[:, column], settings, names)
            row = (
                _nearby(item, predicted, unlabelled)
                if finding and finding.kind == DOUBTED
                else None
            )
            if row is not None:  # one error, not two: the label sits off the model's object
                unlabelled.remove(row)
                finding = _shifted(image, item, predicted[row], names)
            findings += [finding] if finding else []
        findings += [_unlabelled(image, predicted[row], names) for row in unlabelled]
    return findings


def _unlabelled_rows(predicted, overlaps: np.ndarray, settings: CheckSettings) -> list[int]:
    """The confident predictions that no label matches."""
    return [
        row
        for row, prediction in enumerate(predicted)
        if prediction.score >= settings.confident
        and not (overlaps.shape[1] and overlaps[row].max() >= settings.match_iou)
    ]


def _nearby(item: LabelInstance, predicted, rows: list[int]) -> int | None:
    """The unlabelled prediction of the label's class nearest to it, when its centre is within
    the label's larger side of the label's centre."""
    if item.box is None:
        return None
    centre, reach = (item.box[:2] + item.box[2:]) / 2, float(max(item.box[2:] - item.box[:2]))
    distances = {
        row: float(np.hypot(*((predicted[row].box[:2] + predicted[row].box[2:]) / 2 - centre)))
        for row in rows
        if predicted[row].class_index == item.class_index
    }
    row = min(distances, key=distances.get, default=None)
    return row if row is not None and distances[row] < reach else None


def _where(prediction: Prediction) -> str:
    x1, y1, x2, y2 = (int(round(v)) for v in prediction.box)
    return f"({x1}, {y1})–({x2}, {y2})"


def _unlabelled(image, prediction: Prediction, names) -> Finding:
    message = (
        f"the model sees {class_name(prediction.class_index, names)} at {_where(prediction)} "
        f"with {prediction.score:.2f} confidence, and no label is there"
    )
    return Finding(UNLABELLED, image, (), message, float(prediction.score))


def _shifted(image, item: LabelInstance, prediction: Prediction, names) -> Finding:
    message = (
        f"the model sees this {class_name(item.class_index, names)} (instance {item.shown}) at "
        f"{_where(prediction)} ({prediction.score:.2f} confidence), off this label: is the "
        "label shifted?"
    )
    return Finding(SHIFTED, image, (item.instance,), message, float(prediction.score))


def _judge_label(
    image, item, predicted, overlaps: np.ndarray, settings, names=None
) -> Finding | None:
    matched = [p for p, iou in zip(predicted, overlaps, strict=True) if iou >= settings.match_iou]
    same = max((p.score for p in matched if p.class_index == item.class_index), default=0.0)
    other = max(
        (p for p in matched if p.class_index != item.class_index),
        key=lambda p: p.score,
        default=None,
    )
    if other is not None and other.score >= settings.confident and same < settings.doubt:
        message = (
            f"instance {item.shown} is labelled {class_name(item.class_index, names)}; the "
            f"model says {class_name(other.class_index, names)} with {other.score:.2f} "
            "confidence"
        )
        return Finding(OTHER_CLASS, image, (item.instance,), message, float(other.score))
    if same < settings.doubt:
        message = (
            f"the model gives instance {item.shown} ({class_name(item.class_index, names)}) at "
            f"most {same:.2f} confidence: is it misplaced, or not an object?"
        )
        return Finding(DOUBTED, image, (item.instance,), message, 1.0 - same)
    return None
