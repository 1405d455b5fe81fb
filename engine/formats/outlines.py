"""Masks to outlines and back, for the codecs whose tools store pixels (mask PNGs, COCO RLE,
CVAT masks, labelme mask shapes, Label Studio brushes).

OpenCV traces the contours (a well-kept C implementation; tracing by hand would be slower and
no more exact). ``RETR_CCOMP`` gives two levels: outer boundaries and the holes inside them, so
a ring with a hole comes back as one outline and one hole rather than being filled in.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

__all__ = ["fill_outlines", "trace_outlines"]

_MIN_POINTS = 3


def trace_outlines(mask: np.ndarray, offset: tuple[float, float] = (0.0, 0.0)
                   ) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """The outer rings and hole rings of the nonzero pixels of ``mask`` (``[h, w]``), each a
    ``[k, 2]`` float64 array of pixel corners shifted by ``offset`` (a crop's top-left corner).

    Points are pixel centres as OpenCV traces them (a 1-pixel-wide object is a line of
    centres, which has no area: such rings and any of fewer than 3 points are left out).
    """
    binary = (np.asarray(mask) > 0).astype(np.uint8)
    if binary.ndim != 2 or not binary.any():
        return (), ()
    contours, hierarchy = cv2.findContours(binary, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    outer: list[np.ndarray] = []
    holes: list[np.ndarray] = []
    shift = np.asarray(offset, np.float64)
    for contour, (_next, _previous, _child, parent) in zip(contours, hierarchy[0], strict=True):
        points = contour.reshape(-1, 2).astype(np.float64) + shift
        if len(points) < _MIN_POINTS or _area(points) <= 0:
            continue
        (holes if parent >= 0 else outer).append(points)
    return tuple(outer), tuple(holes)


def fill_outlines(polygons: Sequence[np.ndarray], holes: Sequence[np.ndarray],
                  height: int, width: int) -> np.ndarray:
    """A ``[height, width]`` uint8 0/1 mask: the outer rings filled, then the holes cleared.

    Vertices are rounded to the nearest pixel (what :func:`trace_outlines` gives back exactly
    for masks it traced)."""
    mask = np.zeros((height, width), np.uint8)
    rounded = [np.round(np.asarray(p, np.float64)).astype(np.int32).reshape(-1, 1, 2)
               for p in polygons if len(p) >= _MIN_POINTS]
    if rounded:
        cv2.fillPoly(mask, rounded, 1)
    cleared = [np.round(np.asarray(h, np.float64)).astype(np.int32).reshape(-1, 1, 2)
               for h in holes if len(h) >= _MIN_POINTS]
    if cleared:
        # a traced hole's ring runs through the object's own pixels next to the hole: clear
        # the inside, then draw the ring back so those pixels stay set
        cv2.fillPoly(mask, cleared, 0)
        cv2.polylines(mask, cleared, True, 1)
    return mask


def _area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
