"""Small pure helpers for the canvas: normalised <-> pixel geometry and distances."""

from __future__ import annotations

import math
from collections.abc import Sequence

Point = tuple[float, float]


def to_pixels(values: Sequence[float], width: int, height: int) -> list[Point]:
    """``[x1, y1, x2, y2, ...]`` normalised -> ``[(px, py), ...]``."""
    return [(values[i] * width, values[i + 1] * height) for i in range(0, len(values) - 1, 2)]


def to_normal(points: Sequence[Point], width: int, height: int) -> tuple[float, ...]:
    """``[(px, py), ...]`` -> ``(x1, y1, ...)`` normalised and clipped to 0..1."""
    out: list[float] = []
    for x, y in points:
        out += [clip(x / width), clip(y / height)]
    return tuple(out)


def clip(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return min(max(value, low), high)


def box_to_pixels(box: Sequence[float], width: int, height: int) -> tuple[float, ...]:
    """``(cx, cy, w, h)`` normalised -> ``(x0, y0, x1, y1)`` in pixels."""
    cx, cy, w, h = box
    return ((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width,
            (cy + h / 2) * height)


def box_to_normal(x0: float, y0: float, x1: float, y1: float, width: int,
                  height: int) -> tuple[float, ...]:
    """Corners in pixels (any order) -> ``(cx, cy, w, h)`` normalised, clipped to the image."""
    left, right = sorted((clip(x0 / width), clip(x1 / width)))
    top, bottom = sorted((clip(y0 / height), clip(y1 / height)))
    return ((left + right) / 2, (top + bottom) / 2, right - left, bottom - top)


def keypoint_triples(values: Sequence[float]) -> list[tuple[float, float, float]]:
    return [(values[i], values[i + 1], values[i + 2]) for i in range(0, len(values) - 2, 3)]


def is_placed(x: float, y: float, v: float) -> bool:
    """Whether a keypoint has a position (hidden ones keep theirs for cycling back)."""
    return v > 0 or x != 0 or y != 0


def segment_distance(p: Point, a: Point, b: Point) -> tuple[float, Point]:
    """Distance from ``p`` to segment ``ab`` and the nearest point on it."""
    ax, ay = a
    dx, dy = b[0] - ax, b[1] - ay
    length = dx * dx + dy * dy
    t = 0.0 if length == 0 else clip(((p[0] - ax) * dx + (p[1] - ay) * dy) / length)
    nearest = (ax + t * dx, ay + t * dy)
    return math.dist(p, nearest), nearest


def contains(points: Sequence[Point], p: Point) -> bool:
    """Even-odd point-in-polygon test."""
    inside = False
    x, y = p
    for i in range(len(points)):
        x1, y1 = points[i]
        x2, y2 = points[i - 1]
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside
