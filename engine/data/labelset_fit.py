"""Fit a :class:`~engine.formats.labelset.LabelSet` to one task: what each object becomes in
YOLO rows (normalised to the image's size), and a line for every object that cannot.

The codecs keep what the tool drew; this module decides what it means for a task:

- classify: an image's tags give its class (the first, when there are several: a warning);
  objects have no place in a classification dataset and are listed, one line per image;
- segment: a polygon (parts and holes joined into one outline, walked there and back along
  the shortest links, which fills to the same area), a traced mask likewise; a rectangle
  becomes a 4-point polygon or is left out, as ``rectangles`` says, and is listed either way;
  a point set is its outline when it has one (COCO keypoints with a segmentation), else it is
  left out;
- detect: the box of anything with an extent;
- pose: a point set's box and keypoints, its joints matched to the target's by name (exactly,
  then ignoring case, spaces, ``-`` and ``_``; a source that declares no joints uses those its
  objects name, in order); joints the target lacks are listed (the caller
  may map them by hand with ``joint_map``), target joints the object lacks are "not labelled"
  (visibility 0), and a polygon or rectangle without points is left out.

The classes are the source's labels (less labelme's ``_background_`` when no object has it),
or ``classes`` when given. Labels outside ``classes`` are added after them (a warning names
each once) unless ``add_classes`` is off, when their objects are left out. Every line says
file, element, and reason (:class:`~engine.formats.labelset.Problem`); nothing is dropped
without one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..formats.labelset import (
    ABSENT,
    LabeledImage,
    LabeledObject,
    LabelSet,
    Problem,
)
from ..formats.yolo_labels import BOXES, KEYPOINTS, POLYGONS, label_rows
from .polygons import merge_polygons, polygon_area

__all__ = ["FitOptions", "Fitted", "FittedImage", "FittedObject", "fit_labelset",
           "match_joints"]

RECTANGLE_CHOICES = ("polygon", "skip")


@dataclass(frozen=True)
class FitOptions:
    """How to fit a set to ``task``.

    ``classes``: the target's classes (a project's), None for the source's own. ``rectangles``:
    ``polygon`` or ``skip`` for rectangles in a segment target. ``keypoint_names``: the
    target's joints (None: the source's). ``joint_map``: source joint -> target joint chosen
    by the user for names that do not match by themselves (a value None leaves it out).
    ``keypoint_dims``: 2 or 3 numbers per keypoint in the rows. ``include_crowd`` keeps
    crowd regions (COCO ``iscrowd``) as objects; by default they are left out and counted.
    """

    task: str
    classes: Sequence[str] | None = None
    add_classes: bool = True
    rectangles: str = "polygon"
    keypoint_names: Sequence[str] | None = None
    joint_map: Mapping[str, str | None] = field(default_factory=dict)
    keypoint_dims: int = 3
    include_crowd: bool = False


@dataclass(frozen=True)
class FittedObject:
    """One YOLO row: normalised ``box`` (cx, cy, w, h), ``polygon`` (x1, y1, ...) and
    ``keypoints`` (x, y[, v] per joint), as the task needs."""

    class_index: int
    box: tuple[float, float, float, float] | None = None
    polygon: tuple[float, ...] | None = None
    keypoints: tuple[float, ...] | None = None

    def values(self) -> tuple[float, ...]:
        """The numbers after the class on the row's line."""
        if self.polygon is not None:
            return self.polygon
        assert self.box is not None
        return self.box + (self.keypoints or ())


@dataclass(frozen=True)
class FittedImage:
    """An image with its rows (``class_index`` for classify: None when it has no tag)."""

    image: LabeledImage
    objects: tuple[FittedObject, ...] = ()
    class_index: int | None = None


@dataclass
class Fitted:
    """A set fitted to a task: the rows of each image, the classes and joints they index,
    what was read, written and left out, and a line for each object that did not fit."""

    task: str
    classes: list[str]
    keypoint_names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    images: list[FittedImage]
    problems: list[Problem]
    read: int = 0
    written: int = 0
    skipped: int = 0
    unmatched_joints: tuple[str, ...] = ()
    classes_added: tuple[str, ...] = ()


def fit_labelset(labels: LabelSet, options: FitOptions) -> Fitted:
    """The rows of every image of ``labels`` for ``options.task``; see the module docstring."""
    if options.rectangles not in RECTANGLE_CHOICES:
        raise ValueError(f"rectangles must be one of {RECTANGLE_CHOICES}, not "
                         f"{options.rectangles!r}")
    fitter = _Fitter(labels, options)
    images = [fitter.image(image) for image in labels.images]
    return Fitted(
        task=options.task, classes=fitter.classes, keypoint_names=fitter.joints,
        skeleton=fitter.skeleton(), images=images, problems=fitter.problems,
        read=fitter.read, written=fitter.written, skipped=fitter.skipped,
        unmatched_joints=tuple(fitter.unmatched), classes_added=tuple(fitter.added),
    )


def match_joints(source: Sequence[str], target: Sequence[str],
                 chosen: Mapping[str, str | None] | None = None) -> dict[str, int | None]:
    """Each source joint's index in ``target``: ``chosen`` first, then the same name, then the
    same name ignoring case, spaces, ``-`` and ``_``; None when nothing matches."""
    chosen = chosen or {}
    exact = {name: i for i, name in enumerate(target)}
    loose = {_loose(name): i for i, name in enumerate(target)}
    matched: dict[str, int | None] = {}
    for name in source:
        if name in chosen:
            pick = chosen[name]
            matched[name] = exact.get(pick) if pick is not None else None
        else:
            matched[name] = exact.get(name, loose.get(_loose(name)))
    return matched


def _loose(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).casefold()


class _Fitter:
    """The state of one fit: target classes, joints, counts and problems."""

    def __init__(self, labels: LabelSet, options: FitOptions) -> None:
        self.options, self.source = options, labels
        self.rows = label_rows(options.task)
        self.classes = list(options.classes if options.classes is not None
                            else _source_classes(labels))
        self.index = {name: i for i, name in enumerate(self.classes)}
        self.joints = tuple(options.keypoint_names if options.keypoint_names is not None
                            else labels.keypoint_names or _used_joints(labels))
        self.problems: list[Problem] = list(labels.problems)
        self.read = self.written = self.skipped = 0
        self.added: list[str] = []
        self.unmatched: list[str] = []
        self._refused: set[str] = set()
        self._joint_index: dict[str, int | None] = {}
        self._unseen_joints: set[str] = set()

    # -- classes ----------------------------------------------------------------------------
    def class_of(self, label: str, file: str, where: str) -> int | None:
        if label in self.index:
            return self.index[label]
        if not self.options.add_classes:
            self.problems.append(Problem(file, where, f"label {label!r} is not one of the "
                                         "project's classes: left out (add the class first)"))
            return None
        self.index[label] = len(self.classes)
        self.classes.append(label)
        self.added.append(label)
        if self.options.classes is not None:
            self.problems.append(Problem(file, where, f"label {label!r} is not one of the "
                                         "project's classes: added as a new class",
                                         "warning"))
        return self.index[label]

    def skeleton(self) -> tuple[tuple[int, int], ...]:
        """The source skeleton in target joint indices (edges whose ends both map)."""
        names = self.source.keypoint_names
        edges = []
        for a, b in self.source.skeleton:
            if a < len(names) and b < len(names):
                ia, ib = self.joint(names[a]), self.joint(names[b])
                if ia is not None and ib is not None:
                    edges.append((ia, ib))
        return tuple(edges)

    def joint(self, name: str) -> int | None:
        if name not in self._joint_index:
            found = match_joints([name], self.joints, self.options.joint_map)[name]
            self._joint_index[name] = found
            if found is None:
                self.unmatched.append(name)
        return self._joint_index[name]

    # -- images -----------------------------------------------------------------------------
    def image(self, image: LabeledImage) -> FittedImage:
        self.read += len(image.objects)
        if self.rows is None:
            return self._classify(image)
        if image.tags:
            self.problems.append(Problem(image.file, f"image {image.name}", f"image classes "
                                         f"({', '.join(image.tags)}) have no place in a "
                                         f"{self.options.task} dataset: left out (task=classify "
                                         "keeps them)", "warning"))
        objects = []
        for obj in image.objects:
            fitted = self._object(image, obj)
            if fitted is None:
                self.skipped += 1
            else:
                objects.append(fitted)
        self.written += len(objects)
        return FittedImage(image, tuple(objects))

    def _classify(self, image: LabeledImage) -> FittedImage:
        self.read += len(image.tags)
        if image.objects:
            self.skipped += len(image.objects)
            self.problems.append(Problem(image.file, f"image {image.name}",
                                         f"{len(image.objects)} objects left out: a "
                                         "classification dataset takes the image's class only"))
        if not image.tags:
            return FittedImage(image)
        if len(image.tags) > 1:
            self.skipped += len(image.tags) - 1
            self.problems.append(Problem(image.file, f"image {image.name}",
                                         f"{len(image.tags)} classes ({', '.join(image.tags)}):"
                                         f" kept {image.tags[0]!r}", "warning"))
        index = self.class_of(image.tags[0], image.file, f"image {image.name}")
        self.written += index is not None
        self.skipped += index is None
        return FittedImage(image, class_index=index)

    def _object(self, image: LabeledImage, obj: LabeledObject) -> FittedObject | None:
        where = obj.where or f"image {image.name}"
        if image.width <= 0 or image.height <= 0:
            self.problems.append(Problem(image.file, where, "the image's size is unknown"))
            return None
        reason = self._unfit(obj)
        if reason:
            self.problems.append(Problem(image.file, where, reason))
            return None
        index = self.class_of(obj.label, image.file, where)
        if index is None:
            return None
        if self.rows == POLYGONS:
            return self._polygon(image, obj, index, where)
        if self.rows == KEYPOINTS:
            return self._pose(image, obj, index, where)
        return self._box(image, obj, index, where)

    def _unfit(self, obj: LabeledObject) -> str:
        """Why ``obj`` has no place in the task ("" when it has)."""
        if obj.crowd and not self.options.include_crowd:
            return ("a crowd region (iscrowd 1) covers several objects: left out "
                    "(include_crowd=True keeps it)")
        if self.rows == POLYGONS:
            if obj.kind == "points" and not obj.polygons:
                return "a point set has no outline: a segmentation dataset needs polygons"
            if obj.kind == "rectangle" and self.options.rectangles == "skip":
                return "a rectangle: left out (rectangles=polygon imports it as a 4-point polygon)"
        if self.rows == KEYPOINTS and not obj.keypoints:
            return (f"a {obj.kind} without keypoints: a pose dataset needs points "
                    "(a skeleton or point shapes grouped with a box)")
        if self.rows == BOXES and obj.bounds() is None:
            return "an object without extent"
        return ""

    def _polygon(self, image: LabeledImage, obj: LabeledObject, index: int, where: str
                 ) -> FittedObject | None:
        if obj.kind == "rectangle":
            x1, y1, x2, y2 = obj.bounds() or (0, 0, 0, 0)
            rings = [np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float64)]
            self.problems.append(Problem(image.file, where, "a rectangle: imported as a 4-point "
                                         "polygon (rectangles=skip leaves it out)", "warning"))
        else:
            rings = [p for p in obj.polygons if len(p) >= 3 and polygon_area(p) > 0]
            holes = [h for h in obj.holes if len(h) >= 3]
            if not rings:
                self.problems.append(Problem(image.file, where, "an outline without area (fewer "
                                             "than 3 distinct points)"))
                return None
            rings += holes
        joined = merge_polygons(rings) if len(rings) > 1 else rings[0]
        scale = np.array([image.width, image.height], np.float64)
        flat = (np.asarray(joined, np.float64) / scale).reshape(-1)
        return FittedObject(index, polygon=tuple(float(v) for v in flat))

    def _box(self, image: LabeledImage, obj: LabeledObject, index: int, where: str
             ) -> FittedObject | None:
        bounds = obj.bounds()
        if bounds is None:
            self.problems.append(Problem(image.file, where, "an object without extent"))
            return None
        return FittedObject(index, box=_normalised_box(bounds, image))

    def _pose(self, image: LabeledImage, obj: LabeledObject, index: int, where: str
              ) -> FittedObject | None:
        dims = self.options.keypoint_dims
        values = [0.0] * (len(self.joints) * dims)
        placed = 0
        for point in obj.keypoints:
            target = self.joint(point.name)
            if target is None:
                if point.name not in self._unseen_joints:
                    self._unseen_joints.add(point.name)
                    self.problems.append(Problem(image.file, where, f"joint {point.name!r} is "
                                                 "not in the keypoint schema: left out (map it "
                                                 "to a joint to keep it)", "warning"))
                continue
            if point.visibility == ABSENT:
                continue
            x, y = point.x / image.width, point.y / image.height
            values[target * dims: target * dims + 2] = [x, y]
            if dims == 3:
                values[target * dims + 2] = float(point.visibility)
            placed += 1
        missing = len(self.joints) - placed
        if missing and placed:
            self.problems.append(Problem(image.file, where, f"{missing} of {len(self.joints)} "
                                         "joints not labelled (kept as not labelled)", "warning"))
        bounds = obj.bounds()
        if bounds is None or not placed:
            self.problems.append(Problem(image.file, where, "no labelled joint of the schema"))
            return None
        if bounds[2] <= bounds[0] or bounds[3] <= bounds[1]:
            self.problems.append(Problem(image.file, where, "its box has no area (one labelled "
                                         "joint, or joints in a line): kept, but training and a "
                                         "YOLO import leave such an object out; draw its box",
                                         "warning"))
        return FittedObject(index, box=_normalised_box(bounds, image), keypoints=tuple(values))


BACKGROUND = "_background_"
"""labelme's name for class 0 of its labels.txt, which labelme2coco declares as a category."""


def _source_classes(labels: LabelSet) -> list[str]:
    """The source's labels, less labelme's ``_background_`` when nothing is labelled with it
    (a YOLO class that no object has; the VOC masks codec leaves it out the same way)."""
    if BACKGROUND not in labels.labels:
        return list(labels.labels)
    used = any(obj.label == BACKGROUND for image in labels.images for obj in image.objects)
    used = used or any(BACKGROUND in image.tags for image in labels.images)
    return list(labels.labels) if used else [n for n in labels.labels if n != BACKGROUND]


def _used_joints(labels: LabelSet) -> tuple[str, ...]:
    """The joint names a set's objects use, in the order first seen (for a source that
    declares none: CVAT ``<points>``, labelme point groups)."""
    names: dict[str, None] = {}
    for image in labels.images:
        for obj in image.objects:
            names.update((point.name, None) for point in obj.keypoints)
    return tuple(names)


def _normalised_box(bounds: tuple[float, float, float, float], image: LabeledImage
                    ) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = bounds
    w, h = image.width, image.height
    return ((x1 + x2) / 2 / w, (y1 + y2) / 2 / h, (x2 - x1) / w, (y2 - y1) / h)
