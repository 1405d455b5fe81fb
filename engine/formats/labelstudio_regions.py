"""Label Studio's regions, read in percent of the image, placed in pixels: polygons,
rectangles (turned clockwise about their top-left corner), brushes (decoded and traced to
outlines and holes), and keypoints grouped into objects by their ``parentID`` rectangle (else
one object per control tag). Also the small checks of the values a result holds, which the
reader shares; a value that cannot be read raises :class:`Skip`, whose message is the
problem's reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .labelset import Keypoint, LabeledObject, Problem, ring
from .labelstudio_brush import decode_brush
from .outlines import trace_outlines

__all__ = ["LABEL_KEYS", "Region", "Skip", "TaskLabels", "number_of", "place_regions",
           "result_id", "whole"]

LABEL_KEYS = ("rectanglelabels", "polygonlabels", "keypointlabels", "brushlabels")
"""The result types of a labelled region (a bare tool's result is read as one of them)."""


class Skip(ValueError):
    """A result that cannot be read: its message is the problem's reason."""


@dataclass(frozen=True)
class Region:
    """A region read but still in percent, until the image's size is known."""

    label: str
    kind: str  # the result type: rectanglelabels, polygonlabels or brushlabels
    where: str
    result: Mapping[str, Any]
    value: Mapping[str, Any]


@dataclass
class TaskLabels:
    """What one task's annotation gives, before its regions are placed in pixels."""

    number: str
    regions: list[Region] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    keypoints: list[tuple[Mapping[str, Any], Keypoint]] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)


def place_regions(read: TaskLabels, width: int, height: int, file: str,
                  problems: list[Problem]) -> list[LabeledObject]:
    """The task's regions in pixels, keypoints grouped into their objects."""
    if width <= 0 or height <= 0:
        return []
    rectangles: dict[Any, LabeledObject] = {}
    objects: list[LabeledObject] = []
    for region in read.regions:
        try:
            obj = _region(region, width, height)
        except Skip as exc:
            problems.append(Problem(file, region.where, str(exc)))
            continue
        if region.kind == "rectanglelabels":
            rectangles[result_id(region.result)] = obj
        objects.append(obj)
    return _group_keypoints(read, rectangles, objects, width, height, file, problems)


def _size_of(result: Mapping[str, Any], width: int, height: int) -> tuple[float, float]:
    w, h = result.get("original_width"), result.get("original_height")
    return (float(w), float(h)) if whole(w) and whole(h) else (float(width), float(height))


def _region(region: Region, width: int, height: int) -> LabeledObject:
    """One region in pixels."""
    w, h = _size_of(region.result, width, height)
    label, where, value = region.label, region.where, region.value
    if region.kind == "polygonlabels":
        points = value.get("points")
        if not isinstance(points, list) or len(points) < 3:
            count = len(points) if isinstance(points, list) else 0
            raise Skip(f"a polygon needs at least 3 points, it has {count}")
        polygon = ring([_pair(p) for p in points]) * np.array([w, h]) / 100.0
        if len(polygon) < 3:
            raise Skip("a polygon needs at least 3 points (its last repeats its first)")
        return LabeledObject(label, "polygon", where, polygons=(polygon,))
    if region.kind == "rectanglelabels":
        return _rectangle(label, where, value, w, h)
    return _brush(label, where, value, int(w), int(h))


def _rectangle(label: str, where: str, value: Mapping[str, Any], w: float,
               h: float) -> LabeledObject:
    x, y, width, height = (number_of(value, k) for k in ("x", "y", "width", "height"))
    x, y, width, height = x * w / 100, y * h / 100, width * w / 100, height * h / 100
    if width <= 0 or height <= 0:
        raise Skip(f"a rectangle of no area ({width:g} x {height:g} pixels)")
    rotation = number_of(value, "rotation", 0.0) % 360.0
    if rotation == 0:
        return LabeledObject(label, "rectangle", where, box=(x, y, x + width, y + height))
    # clockwise on screen (y down) about the top-left corner, as Label Studio draws it
    angle = math.radians(rotation)
    cos, sin = math.cos(angle), math.sin(angle)
    corners = np.array([[0.0, 0.0], [width, 0.0], [width, height], [0.0, height]])
    turned = corners @ np.array([[cos, sin], [-sin, cos]]) + np.array([x, y])
    return LabeledObject(label, "polygon", where, polygons=(turned,))


def _brush(label: str, where: str, value: Mapping[str, Any], w: int, h: int) -> LabeledObject:
    if value.get("format", "rle") != "rle" or not isinstance(value.get("rle"), list):
        raise Skip(f"a brush region must carry 'rle' in format 'rle', not "
                   f"{value.get('format')!r}")
    try:
        flat = decode_brush(value["rle"], expected=w * h * 4)
    except ValueError as exc:
        raise Skip(f"its brush RLE cannot be decoded for a {w}x{h} image ({exc}: 4 per "
                   "pixel)") from exc
    polygons, holes = trace_outlines(flat.reshape(h, w, 4)[:, :, 3])
    if not polygons:
        raise Skip("an empty brush region (no painted pixels)")
    return LabeledObject(label, "mask", where, polygons=polygons, holes=holes)


def _group_keypoints(read: TaskLabels, rectangles: Mapping[Any, LabeledObject],
                     objects: list[LabeledObject], width: int, height: int, file: str,
                     problems: list[Problem]) -> list[LabeledObject]:
    """Keypoints joined to their parent rectangle (which becomes their object's box) or, with
    no parent, into one object per control tag."""
    groups: dict[Any, list[Keypoint]] = {}
    first_where: dict[Any, str] = {}
    for result, point in read.keypoints:
        w, h = _size_of(result, width, height)
        pixel = Keypoint(point.name, point.x * w / 100, point.y * h / 100)
        where = f"{read.number}, result {str(result.get('id'))!r}"
        parent = None if result.get("parentID") is None else str(result["parentID"])
        key: Any = ("parent", parent)
        if parent is None or parent not in rectangles:
            if parent is not None:
                problems.append(Problem(file, where, f"its parentID {parent!r} is not a "
                                        "rectangle of this task: read with the points that "
                                        "have no parent", "warning"))
            key = ("tag", str(result.get("from_name") or "keypoints"))
        members = groups.setdefault(key, [])
        if any(k.name == pixel.name for k in members):
            problems.append(Problem(file, where, f"a second {pixel.name!r} point in one "
                                    "object: left out"))
            continue
        members.append(pixel)
        first_where.setdefault(key, where)
    parents = {key[1] for key in groups if key[0] == "parent"}
    out = [obj for obj in objects if not any(rectangles[p] is obj for p in parents)]
    for key, points in groups.items():
        if key[0] == "parent":
            rectangle = rectangles[key[1]]
            out.append(LabeledObject(rectangle.label, "points", rectangle.where,
                                     box=rectangle.bounds(), keypoints=tuple(points)))
        else:
            problems.append(Problem(file, first_where[key], f"{len(points)} keypoint(s) of "
                                    f"{key[1]!r} have no parentID rectangle: read as one "
                                    f"object labelled {key[1]!r}", "warning"))
            out.append(LabeledObject(key[1], "points", first_where[key],
                                     keypoints=tuple(points)))
    return out


def result_id(result: Mapping[str, Any]) -> str | None:
    """A result's ``id`` as text (None when it has none)."""
    return None if result.get("id") is None else str(result["id"])


def _pair(point: Any) -> tuple[float, float]:
    if not isinstance(point, list | tuple) or len(point) != 2:
        raise Skip(f"a point must be [x, y] in percent, not {point!r}")
    return _finite(point[0], "a point's x"), _finite(point[1], "a point's y")


def number_of(value: Mapping[str, Any], key: str, default: float | None = None) -> float:
    """``value[key]`` (or ``default``) as a float; :class:`Skip` unless a finite number."""
    return _finite(value.get(key, default), f"'{key}'")


def _finite(number: Any, what: str) -> float:
    if isinstance(number, bool) or not isinstance(number, int | float) or \
            not math.isfinite(number):
        raise Skip(f"{what} must be a finite number, not {number!r}")
    return float(number)


def whole(value: Any) -> bool:
    """Whether ``value`` is a positive whole number (an image size as Label Studio writes it)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and \
        math.isfinite(value) and value > 0 and float(value).is_integer()
