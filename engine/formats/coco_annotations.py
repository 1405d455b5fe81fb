"""COCO annotations read into :class:`~.labelset.LabeledObject` values, as drawn: polygon
lists, RLE masks traced to outlines and holes, keypoints named by their category's joints,
boxes; and the records one read of a COCO JSON builds (:class:`Reading`, :class:`ImageEntry`,
:class:`Category`). An entry that cannot be read raises :class:`Unreadable` saying why.

The file as a whole (categories, images and where they are) is read by :mod:`.coco_labelset`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ..utils import rle
from .labelset import ABSENT, Keypoint, LabeledObject, LabelSet, Problem, ring
from .outlines import trace_outlines

__all__ = ["Category", "ImageEntry", "Reading", "Unreadable", "annotation_object",
           "annotation_targets", "annotation_where", "as_number"]

_MIN_POLYGON_NUMBERS = 6  # three points
_VISIBILITIES = (0, 1, 2)


class Unreadable(ValueError):
    """An image entry or annotation left out; the message says why."""


@dataclass
class Category:
    name: str
    keypoints: tuple[str, ...]
    skeleton: Any = None  # as written


@dataclass
class ImageEntry:
    name: PurePosixPath
    width: int
    height: int
    path: Path | None
    objects: list[LabeledObject] = field(default_factory=list)


@dataclass
class Reading:
    """What one read is building: the set, its file name for problems, and the places."""

    labelset: LabelSet
    file: str
    folders: list[Path]
    existing: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.existing = [str(folder) for folder in self.folders if folder.is_dir()]

    def problem(self, where: str, reason: str, severity: str = "error") -> None:
        self.labelset.problems.append(Problem(self.file, where, reason, severity))

def annotation_targets(entry: Any, images: Mapping[Any, ImageEntry], left_out: set[Any],
             categories: Mapping[int, Category]) -> tuple[ImageEntry | None, Category]:
    if not isinstance(entry, dict):
        raise Unreadable("not an object")
    image_id, category_id = entry.get("image_id"), entry.get("category_id")
    if isinstance(image_id, list | dict):
        raise Unreadable(f"image_id {image_id!r:.40} is not an id")
    if image_id in left_out:
        return None, Category("", ())
    if image_id not in images:
        raise Unreadable(f"image_id {image_id!r} is not in images")
    if isinstance(category_id, bool | list | dict) or category_id not in categories:
        raise Unreadable(f"category_id {category_id!r} is not in categories")
    return images[image_id], categories[category_id]


def annotation_where(entry: Any, index: int) -> str:
    number = entry.get("id") if isinstance(entry, dict) else None
    return f"annotation id {number}" if number is not None else f"annotations[{index}]"


def annotation_object(entry: Mapping[str, Any], where: str, image: ImageEntry, label: str,
            joint_names: Sequence[str], reading: Reading) -> LabeledObject:
    """One annotation as drawn: polygon, mask, points or rectangle."""
    box = _box(entry.get("bbox"), where, reading)
    segmentation = entry.get("segmentation")
    polygons: tuple[np.ndarray, ...] = ()
    holes: tuple[np.ndarray, ...] = ()
    bad_parts: list[str] = []
    kind = None
    if isinstance(segmentation, dict):
        polygons, holes = _mask_outlines(segmentation, image)
        kind = "mask"
    elif isinstance(segmentation, list) and segmentation:
        polygons, bad_parts = _polygon_parts(segmentation)
        kind = "polygon"
    elif segmentation not in (None, [], ""):
        raise Unreadable(f"segmentation must be polygons or an RLE, not {segmentation!r:.40}")
    values = entry.get("keypoints")
    keypoints: tuple[Keypoint, ...] = ()
    if values:
        keypoints = _keypoints(values, joint_names)
        kind = "points"
    elif kind is None:
        if box is None:
            raise Unreadable("no segmentation, keypoints or bbox")
        kind = "rectangle"
    elif not polygons:
        raise Unreadable("; ".join(bad_parts) if kind == "polygon"
                          else "the RLE mask has no area")
    for reason in bad_parts if kind == "polygon" or values else ():
        reading.problem(where, f"{reason}; that part is left out", "warning")
    return LabeledObject(label=label, kind=kind, where=where, polygons=polygons, holes=holes,
                         box=box if kind in ("rectangle", "points") else None,
                         keypoints=keypoints, crowd=entry.get("iscrowd") in (1, True))


def _box(value: Any, where: str, reading: Reading) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        if not isinstance(value, list) or len(value) != 4:
            raise Unreadable
        x, y, width, height = (as_number(v) for v in value)
        if width < 0 or height < 0:
            raise Unreadable
    except Unreadable:
        reading.problem(where, f"bbox {value!r:.60} is not [x, y, width, height]; not read",
                        "warning")
        return None
    return x, y, x + width, y + height


def _polygon_parts(parts: list[Any]) -> tuple[tuple[np.ndarray, ...], list[str]]:
    """Each flat ``[x1, y1, ...]`` list as a ring, and why each part that is not one (fewer
    than 3 points, an odd count, a value that is not a number) was left out."""
    rings, reasons = [], []
    for number, part in enumerate(parts):
        try:
            if not isinstance(part, list):
                raise Unreadable("is not a list of numbers")
            if len(part) % 2:
                raise Unreadable(f"has an odd count of numbers ({len(part)})")
            points = ring([as_number(v) for v in part])
            if len(points) < _MIN_POLYGON_NUMBERS // 2:
                raise Unreadable(f"has {len(points)} points; a polygon needs at least 3 "
                                  "(6 numbers)")
        except Unreadable as exc:
            reasons.append(f"polygon {number} {exc}")
            continue
        rings.append(points)
    return tuple(rings), reasons


def _mask_outlines(segmentation: Mapping[str, Any], image: ImageEntry
                   ) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    try:
        mask = rle.decode(segmentation)
    except (ValueError, TypeError) as exc:
        raise Unreadable(f"the RLE cannot be read ({exc})") from exc
    if mask.shape != (image.height, image.width):
        raise Unreadable(f"the RLE's size {list(mask.shape)} is not the image's "
                          f"[{image.height}, {image.width}] (height, width)")
    return trace_outlines(mask)


def _keypoints(values: Any, names: Sequence[str]) -> tuple[Keypoint, ...]:
    if not isinstance(values, list) or len(values) != 3 * len(names):
        count = len(values) if isinstance(values, list) else values
        raise Unreadable(f"keypoints hold {count} values; the category's joints "
                          f"({len(names)}) need {3 * len(names)} (x, y, visibility each)")
    points = []
    for index, name in enumerate(names):
        x, y, visibility = (as_number(v) for v in values[3 * index: 3 * index + 3])
        if visibility not in _VISIBILITIES:
            raise Unreadable(f"joint '{name}' has visibility {visibility:g}; COCO writes 0 "
                              "(not labelled), 1 (hidden) or 2 (seen)")
        if visibility == ABSENT:
            x = y = 0.0
        points.append(Keypoint(name, x, y, int(visibility)))
    return tuple(points)


def as_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Unreadable(f"{value!r:.20} is not a number")
    if not math.isfinite(value):
        raise Unreadable(f"{value!r} is not a finite number")
    return float(value)

