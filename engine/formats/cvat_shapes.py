"""CVAT's shape elements, one at a time: ``box``, ``polygon``, ``ellipse``, ``mask``,
``points`` and a skeleton's joint read into :class:`LabeledObject`/:class:`Keypoint` (pixels),
and CVAT's mask run lengths decoded and encoded (the reader and the writer both use them).

A shape that cannot be read raises ``ValueError`` (or ``KeyError``) whose message is the
reason the reader reports; which shapes join into one object, and what a label means, is the
reader's (:mod:`engine.formats.cvat`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from xml.etree import ElementTree as ET  # noqa: N817 - the usual name

import numpy as np

from ..utils.rle import rle_counts
from .labelset import ABSENT, OCCLUDED, VISIBLE, Keypoint, LabeledObject
from .outlines import trace_outlines

__all__ = ["ELLIPSE_MIN_POINTS", "SHAPES", "decode_mask", "encode_mask", "read_joint"]

ELLIPSE_MIN_POINTS = 32
_ELLIPSE_MAX_POINTS = 720
_ELLIPSE_SAGITTA = 0.25  # px: an ellipse's polygon strays at most this far inside the curve


def _box(child: ET.Element, label: str, where: str) -> LabeledObject:
    x1, y1, x2, y2 = (_number(child, key) for key in ("xtl", "ytl", "xbr", "ybr"))
    x1, x2, y1, y2 = min(x1, x2), max(x1, x2), min(y1, y2), max(y1, y2)
    rotation = _number(child, "rotation", 0.0)
    if rotation % 360 == 0:
        return LabeledObject(label=label, kind="rectangle", where=where, box=(x1, y1, x2, y2))
    corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float64)
    return LabeledObject(label=label, kind="polygon", where=where,
                         polygons=(_rotate(corners, rotation, (x1 + x2) / 2, (y1 + y2) / 2),))


def _polygon(child: ET.Element, label: str, where: str) -> LabeledObject:
    points = _points(child.get("points"))
    if len(points) < 3:
        raise ValueError(f"a polygon needs at least 3 points, it has {len(points)}")
    return LabeledObject(label=label, kind="polygon", where=where, polygons=(points,))


def _ellipse(child: ET.Element, label: str, where: str) -> LabeledObject:
    """An ellipse as a polygon (no task has ellipses): enough points that the outline strays
    at most a quarter pixel inside the curve, and never fewer than 32."""
    cx, cy, rx, ry = (_number(child, key) for key in ("cx", "cy", "rx", "ry"))
    if rx <= 0 or ry <= 0:
        raise ValueError(f"an ellipse needs positive radii, not rx={rx:g} ry={ry:g}")
    radius = max(rx, ry)
    step = math.acos(max(-1.0, 1 - _ELLIPSE_SAGITTA / radius)) * 2
    count = min(_ELLIPSE_MAX_POINTS, max(ELLIPSE_MIN_POINTS, math.ceil(2 * math.pi / step)))
    angles = np.linspace(0, 2 * math.pi, count, endpoint=False)
    ring = np.stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)], axis=1)
    ring = _rotate(ring, _number(child, "rotation", 0.0), cx, cy)
    return LabeledObject(label=label, kind="polygon", where=where, polygons=(ring,))


def _mask(child: ET.Element, label: str, where: str) -> LabeledObject:
    crop = decode_mask(child.get("rle") or "", int(_number(child, "width")),
                       int(_number(child, "height")))
    outer, holes = trace_outlines(crop, offset=(_number(child, "left"), _number(child, "top")))
    if not outer:
        raise ValueError("the mask has no area (no pixels, or lines one pixel wide)")
    return LabeledObject(label=label, kind="mask", where=where, polygons=outer, holes=holes)


def _point_set(child: ET.Element, label: str, where: str) -> LabeledObject:
    points = _points(child.get("points"))
    if not len(points):
        raise ValueError("the point set has no points")
    visibility = OCCLUDED if child.get("occluded") == "1" else VISIBLE
    keypoints = tuple(Keypoint(str(i + 1), float(x), float(y), visibility)
                      for i, (x, y) in enumerate(points))
    return LabeledObject(label=label, kind="points", where=where, keypoints=keypoints)


SHAPES: dict[str, Callable[[ET.Element, str, str], LabeledObject]] = {
    "box": _box, "polygon": _polygon, "ellipse": _ellipse, "mask": _mask, "points": _point_set,
}
"""The readers of the shapes that stand alone; a ``skeleton`` needs its label's joints (the
reader's), and a ``tag`` is no shape."""


def read_joint(part: ET.Element, joint: str) -> Keypoint:
    """One ``<points>`` of a ``<skeleton>``: its joint, not labelled when ``outside``."""
    if part.get("outside") == "1":  # the joint is not there: its coordinates mean nothing
        return Keypoint(joint, 0.0, 0.0, ABSENT)
    points = _points(part.get("points"))
    if len(points) != 1:
        raise ValueError(f"a skeleton joint is one point, this has {len(points)}")
    visibility = OCCLUDED if part.get("occluded") == "1" else VISIBLE
    return Keypoint(joint, float(points[0, 0]), float(points[0, 1]), visibility)


def decode_mask(rle: str, width: int, height: int) -> np.ndarray:
    """CVAT's mask runs (``"3, 5, 7"``: a run of 0s, of 1s, of 0s ... over the ``width`` x
    ``height`` crop, row by row) as a ``[height, width]`` uint8 0/1 array."""
    if width <= 0 or height <= 0:
        raise ValueError(f"a mask needs a positive size, not {width}x{height}")
    try:
        runs = np.array([int(v) for v in rle.replace(",", " ").split()], np.int64)
    except ValueError as exc:
        raise ValueError(f"the mask's rle must be whole numbers ({exc})") from None
    if runs.size == 0 or (runs < 0).any() or runs.sum() != width * height:
        raise ValueError(f"the mask's rle covers {int(runs.sum())} pixels, its crop "
                         f"{width}x{height} has {width * height}")
    values = np.arange(runs.size, dtype=np.int64) % 2
    return np.repeat(values.astype(np.uint8), runs).reshape(height, width)


def encode_mask(mask: np.ndarray) -> tuple[list[int], int, int, int, int]:
    """The runs, left, top, width and height of the tight crop of a 0/1 ``mask``, as CVAT
    writes a ``<mask>`` (the first run is of 0s, 0 long when the crop starts set)."""
    ys, xs = np.nonzero(mask)
    left, top, right, bottom = int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())
    crop = np.asarray(mask)[top:bottom + 1, left:right + 1]
    # rle_counts reads column by column; the transpose's columns are the crop's rows
    counts = rle_counts(crop.T)
    return [int(c) for c in counts], left, top, right - left + 1, bottom - top + 1


def _number(element: ET.Element, key: str, default: float | None = None) -> float:
    value = element.get(key)
    if value is None:
        if default is None:
            raise ValueError(f"the <{element.tag}> has no {key!r}")
        return default
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{key}={value!r} is not a finite number")
    return number


def _points(text: str | None) -> np.ndarray:
    """``"x1,y1;x2,y2"`` as a ``[k, 2]`` float64 array."""
    if text is None:
        raise ValueError("the shape has no 'points'")
    pairs = [p for p in text.replace(" ", "").split(";") if p]
    values = []
    for pair in pairs:
        numbers = pair.split(",")
        if len(numbers) != 2:
            raise ValueError(f"a point must be 'x,y', not {pair!r}")
        values.append([float(v) for v in numbers])
    array = np.array(values, np.float64).reshape(-1, 2)
    if not np.isfinite(array).all():
        raise ValueError("the points must be finite numbers")
    return array


def _rotate(points: np.ndarray, degrees: float, cx: float, cy: float) -> np.ndarray:
    """Points turned ``degrees`` clockwise on screen (y points down) about (cx, cy), as CVAT
    turns a box or an ellipse."""
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    x, y = points[:, 0] - cx, points[:, 1] - cy
    return np.stack([cx + x * cos - y * sin, cy + x * sin + y * cos], axis=1)
