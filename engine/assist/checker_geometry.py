"""Plane geometry for the label checker: polygon area, self-intersection, mask and box IoU.

Shapely is not a dependency (and we add none), so the self-intersection test is written here:
every pair of non-adjacent edges is tested at once with numpy orientation signs. That is
O(n²) in the number of vertices, which is fine for hand-drawn outlines (a 2,000-vertex polygon
is 4 million sign tests, done in blocks to bound memory); a sweep line would only pay off for
far longer outlines than labels have.
"""

from __future__ import annotations

import cv2
import numpy as np

RASTER_SIDE = 512
"""Mask IoU rasterises the two polygons' joint bounding box at about this many pixels a side:
fine enough that IoU near 0.9 is measured to about ±0.01 whatever the objects' size."""

_BLOCK = 512  # edges per block in the self-intersection test: 512² booleans at a time


def polygon_area(polygon: np.ndarray) -> float:
    """The absolute shoelace area of a ``(N, 2)`` polygon (for a self-intersecting one, the
    net area, which is smaller than what it covers)."""
    x, y = np.asarray(polygon, np.float64).T
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two ``x1 y1 x2 y2`` boxes (0 when either has no area)."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(width, 0.0) * max(height, 0.0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def polygon_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of the areas two polygons cover, by rasterising both on one grid over their joint
    bounding box (scaled so its longer side is :data:`RASTER_SIDE` pixels)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    both = np.concatenate((a, b))
    low, high = both.min(0), both.max(0)
    side = float(max(high - low))
    if side <= 0:
        return 0.0
    scale = RASTER_SIDE / side
    shape = (
        int(np.ceil((high[1] - low[1]) * scale)) + 2,
        int(np.ceil((high[0] - low[0]) * scale)) + 2,
    )
    masks = []
    for polygon in (a, b):
        mask = np.zeros(shape, np.uint8)
        points = np.round((polygon - low) * scale * 4).astype(np.int32)  # 2 fractional bits
        cv2.fillPoly(mask, [points], 1, cv2.LINE_8, 2)
        masks.append(mask.astype(bool))
    union = np.logical_or(*masks).sum()
    return float(np.logical_and(*masks).sum() / union) if union else 0.0


def self_intersects(polygon: np.ndarray) -> bool:
    """Whether two edges of the closed polygon that do not share a vertex cross or touch.

    Repeated consecutive vertices are dropped first (a double click is not a crossing)."""
    points = _without_repeats(np.asarray(polygon, np.float64))
    count = len(points)
    if count < 4:
        return False
    starts, ends = points, np.roll(points, -1, axis=0)
    for first in range(0, count, _BLOCK):
        rows = np.arange(first, min(first + _BLOCK, count))
        crossing = _segments_cross(starts[rows], ends[rows], starts, ends)
        # Neighbouring edges share a vertex: edge i meets i-1 and i+1 (mod count) by design.
        gap = np.abs(rows[:, None] - np.arange(count)[None, :])
        crossing &= (gap > 1) & (gap < count - 1)
        if crossing.any():
            return True
    return False


def _without_repeats(points: np.ndarray) -> np.ndarray:
    keep = np.any(points != np.roll(points, 1, axis=0), axis=1)
    return points[keep] if keep.any() else points[:1]


def _segments_cross(p1, p2, q1, q2) -> np.ndarray:
    """(A, B) booleans: segment a (p1→p2) and segment b (q1→q2) intersect, touching
    included, by the orientation test."""
    p1, p2 = p1[:, None, :], p2[:, None, :]
    q1, q2 = q1[None, :, :], q2[None, :, :]
    d1, d2 = _orient(q1, q2, p1), _orient(q1, q2, p2)
    d3, d4 = _orient(p1, p2, q1), _orient(p1, p2, q2)
    proper = (d1 * d2 < 0) & (d3 * d4 < 0)
    touching = (
        ((d1 == 0) & _within(q1, q2, p1))
        | ((d2 == 0) & _within(q1, q2, p2))
        | ((d3 == 0) & _within(p1, p2, q1))
        | ((d4 == 0) & _within(p1, p2, q2))
    )
    return proper | touching


def _orient(a, b, c) -> np.ndarray:
    """The sign of the turn a→b→c (the z of the cross product)."""
    cross = (b[..., 0] - a[..., 0]) * (c[..., 1] - a[..., 1]) - (b[..., 1] - a[..., 1]) * (
        c[..., 0] - a[..., 0]
    )
    return np.sign(cross)


def _within(a, b, c) -> np.ndarray:
    """Whether c (already on the line ab) lies within the segment's bounding box."""
    return (
        (np.minimum(a[..., 0], b[..., 0]) <= c[..., 0])
        & (c[..., 0] <= np.maximum(a[..., 0], b[..., 0]))
        & (np.minimum(a[..., 1], b[..., 1]) <= c[..., 1])
        & (c[..., 1] <= np.maximum(a[..., 1], b[..., 1]))
    )
