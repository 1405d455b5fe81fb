"""A format-neutral set of labelled images: what every other tool's dataset codec reads into
and writes from (labelme, CVAT, Label Studio, mask PNGs, COCO).

A codec turns its files into a :class:`LabelSet` without deciding what the shapes mean for a
task: a rectangle stays a rectangle, a point set stays a point set, a mask is already traced to
outlines with its holes. ``engine.data.labelset_fit`` then fits a set to one task (YOLO rows,
the studio's annotations) and lists what does not fit; exports go the other way, from a
project or a YOLO dataset to a set, and a codec writes it.

Coordinates are image pixels (x right, y down, 0..width and 0..height), as the tools write
them. Every object and problem says where it came from (``file`` and ``where``: "shape 3",
"annotation id 17", "line 42") so a report can name it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

__all__ = [
    "ABSENT",
    "OCCLUDED",
    "VISIBLE",
    "KINDS",
    "Keypoint",
    "LabelSet",
    "LabeledImage",
    "LabeledObject",
    "Problem",
]

ABSENT, OCCLUDED, VISIBLE = 0, 1, 2
"""A keypoint's visibility, as COCO and YOLO write it: not labelled, labelled but hidden,
labelled and seen."""

KINDS = ("polygon", "rectangle", "points", "mask")
"""What a tool drew, as :attr:`LabeledObject.kind` says it:

- ``polygon``: ``polygons`` (several for an object in parts), maybe ``holes``;
- ``rectangle``: ``box`` only (a circle or a rotated box is a polygon);
- ``points``: ``keypoints`` (a skeleton, a labelme point group, a COCO keypoints object), with
  ``box`` when the tool gave one;
- ``mask``: pixels traced into ``polygons`` and ``holes`` (an RLE, a mask PNG, a brush).
"""


@dataclass(frozen=True)
class Keypoint:
    """One named point of an object, in pixels (``x``, ``y`` are 0 when ``ABSENT``)."""

    name: str
    x: float
    y: float
    visibility: int = VISIBLE


@dataclass(frozen=True, eq=False)
class LabeledObject:
    """One object on an image as the tool drew it.

    ``polygons`` and ``holes`` are ``[k, 2]`` float64 arrays of pixel points (rings, not
    closed by repeating the first point). ``box`` is ``(x1, y1, x2, y2)`` in pixels. ``where``
    names the object in its file for reports.
    """

    label: str
    kind: str
    where: str
    polygons: tuple[np.ndarray, ...] = ()
    holes: tuple[np.ndarray, ...] = ()
    box: tuple[float, float, float, float] | None = None
    keypoints: tuple[Keypoint, ...] = ()
    crowd: bool = False
    """A region covering several objects (COCO ``iscrowd``): evaluation ignores it, and a
    fit leaves it out unless asked to keep it."""

    def bounds(self) -> tuple[float, float, float, float] | None:
        """The box, else the extent of the outlines, else of the labelled keypoints."""
        if self.box is not None:
            return self.box
        points = [p for p in self.polygons if len(p)]
        if not points:
            points = [np.array([[k.x, k.y] for k in self.keypoints if k.visibility != ABSENT])]
            points = [p for p in points if p.size]
        if not points:
            return None
        every = np.concatenate(points).reshape(-1, 2)
        (x1, y1), (x2, y2) = every.min(0), every.max(0)
        return float(x1), float(y1), float(x2), float(y2)


@dataclass(frozen=True, eq=False)
class LabeledImage:
    """One image and its labels.

    ``name`` is the image's path as the labels give it, relative to the set's ``root`` (the
    place an output puts it below ``images/``). ``path`` is the image file found on disk, or
    None when it is missing (then ``image_data``, an encoded image file embedded in the labels,
    may stand in). ``tags`` are image-level classes (labelme flags, CVAT tags, Label Studio
    choices). ``file`` is the label file it was read from.
    """

    name: PurePosixPath
    width: int
    height: int
    file: str
    path: Path | None = None
    objects: tuple[LabeledObject, ...] = ()
    tags: tuple[str, ...] = ()
    image_data: bytes | None = None
    split: str | None = None


@dataclass(frozen=True)
class Problem:
    """What could not be read or fitted: the file, the element or line in it, and why."""

    file: str
    where: str
    reason: str
    severity: str = "error"  # "error": left out; "warning": kept, but changed or doubtful
    missing_image: str = ""
    """The image's ``LabeledImage.name`` when the problem is that its file was not found (a
    writer that places the images adds where to put it to this line rather than a second)."""

    def line(self) -> str:
        """One line for a report: ``file, where: reason``."""
        place = f"{self.file}, {self.where}" if self.where else self.file
        return f"{place}: {self.reason}"


@dataclass
class LabelSet:
    """Images with their labels as one tool wrote them, and what could not be read.

    ``labels`` are the class names in the source's order (those its objects and tags use, and
    those it declares without using). ``keypoint_names`` and ``skeleton`` (pairs of indices
    into it) describe the points of a pose source.
    """

    format: str
    source: Path
    images: list[LabeledImage] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    keypoint_names: tuple[str, ...] = ()
    skeleton: tuple[tuple[int, int], ...] = ()
    problems: list[Problem] = field(default_factory=list)

    def add_label(self, name: str) -> None:
        """Record a class name the first time it is seen."""
        if name not in self.labels:
            self.labels.append(name)

    def object_count(self) -> int:
        return sum(len(image.objects) for image in self.images)

    def counted_tags(self) -> int:
        return sum(len(image.tags) for image in self.images)


def ring(points: Sequence[Sequence[float]] | np.ndarray) -> np.ndarray:
    """Points as a ``[k, 2]`` float64 array (a closing repeat of the first point dropped)."""
    array = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(array) > 1 and np.array_equal(array[0], array[-1]):
        array = array[:-1]
    return array
