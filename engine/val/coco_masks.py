"""Masks as the COCO evaluation sees them: ground-truth polygons rasterised the way pycocotools
rasterises them, mask IoU at the original image size, and predicted masks written as COCO RLE.

Validation scores masks at the original image size (like the ``predictions.json`` it writes)
against the label polygons filled by :func:`polygon_window`, which follows pycocotools'
``rleFrPoly`` step for step (vertices scaled by 5 and rounded, edges walked one sub-pixel at a
time, a pixel set where a column's crossings say it lies inside). So the in-loop mask mAP is
the one pycocotools computes from the written files, not a look-alike at another resolution.

Every mask is a :class:`~engine.predict.masks.MaskWindow`, kept only where it can be set, so
IoU and RLE cost what the objects cover rather than the whole image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..predict.masks import MaskWindow
from ..utils import rle

_SCALE = 5.0  # pycocotools' sub-pixel factor for polygons


def polygon_window(polygons: Sequence[np.ndarray], height: int, width: int) -> MaskWindow:
    """The union of ``polygons`` (each ``[k, 2]`` xy pixels, k >= 3) in an image of
    ``height x width``, filled as pycocotools fills a COCO polygon segmentation."""
    toggles = [_polygon_toggles(np.asarray(p, np.float64).reshape(-1, 2), height, width)
               for p in polygons if len(np.asarray(p).reshape(-1, 2)) >= 3]
    toggles = [t for t in toggles if len(t[0])]
    if not toggles:
        return MaskWindow(0, 0, np.zeros((0, 0), bool))
    filled = [_fill_columns(cols, rows, height) for cols, rows in toggles]
    left = min(start for start, _ in filled)
    right = max(start + mask.shape[1] for start, mask in filled)
    union = np.zeros((height, right - left), bool)
    for start, mask in filled:
        union[:, start - left : start - left + mask.shape[1]] |= mask
    return _trimmed(MaskWindow(0, left, union))


def _polygon_toggles(xy: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(column, row) of each place where pycocotools' polygon fill flips between outside and
    inside, walking the column-major pixel order; rows run 0..height."""
    # C's (int) cast truncates toward zero
    x = np.trunc(_SCALE * xy[:, 0] + 0.5).astype(np.int64)
    y = np.trunc(_SCALE * xy[:, 1] + 0.5).astype(np.int64)
    xs, xe = x, np.roll(x, -1)
    ys, ye = y, np.roll(y, -1)
    dx, dy = np.abs(xe - xs), np.abs(ys - ye)
    along_x = dx >= dy
    flip = (along_x & (xs > xe)) | (~along_x & (ys > ye))
    xs, xe = np.where(flip, xe, xs), np.where(flip, xs, xe)
    ys, ye = np.where(flip, ye, ys), np.where(flip, ys, ye)
    steps = np.where(along_x, dx, dy)
    # a repeated vertex (dx == dy == 0) gives one point, whose slope never matters
    slope = np.where(
        along_x, (ye - ys) / np.maximum(dx, 1), (xe - xs) / np.maximum(dy, 1)
    ).astype(np.float64)
    edge = np.repeat(np.arange(len(x)), steps + 1)
    d = np.arange(len(edge)) - np.repeat(np.cumsum(steps + 1) - (steps + 1), steps + 1)
    t = np.where(flip[edge], steps[edge] - d, d)
    bent_x = np.trunc(xs[edge] + slope[edge] * t + 0.5).astype(np.int64)
    bent_y = np.trunc(ys[edge] + slope[edge] * t + 0.5).astype(np.int64)
    u = np.where(along_x[edge], t + xs[edge], bent_x)
    v = np.where(along_x[edge], bent_y, t + ys[edge])
    moved = np.flatnonzero(u[1:] != u[:-1]) + 1
    column = np.where(u[moved] < u[moved - 1], u[moved], u[moved] - 1).astype(np.float64)
    column = (column + 0.5) / _SCALE - 0.5
    keep = (np.floor(column) == column) & (column >= 0) & (column <= width - 1)
    row = np.minimum(v[moved], v[moved - 1]).astype(np.float64)
    row = np.ceil(np.clip((row + 0.5) / _SCALE - 0.5, 0, height))
    return column[keep].astype(np.int64), row[keep].astype(np.int64)


def _fill_columns(cols: np.ndarray, rows: np.ndarray, height: int) -> tuple[int, np.ndarray]:
    """(first column, ``[height, k]`` mask) set between the flips, in column-major order.

    Each column holds an even number of flips (a closed outline crosses it in pairs), so the
    fill never leaks past the last column; a flip at row ``height`` ends its column."""
    first = int(cols.min())
    span = int(cols.max()) - first + 1
    positions = (cols - first) * height + rows
    flips = np.bincount(positions, minlength=span * height + 1)[: span * height]
    inside = (np.cumsum(flips) & 1).astype(bool)
    return first, inside.reshape(span, height).T


def _trimmed(window: MaskWindow) -> MaskWindow:
    """The window cut to the rows and columns that have a set pixel (empty: 0 x 0)."""
    rows, cols = np.flatnonzero(window.mask.any(1)), np.flatnonzero(window.mask.any(0))
    if not len(rows):
        return MaskWindow(window.top, window.left, np.zeros((0, 0), bool))
    mask = window.mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return MaskWindow(window.top + int(rows[0]), window.left + int(cols[0]), mask)


def window_iou(
    truth: Sequence[MaskWindow],
    found: Sequence[MaskWindow],
    pairs: np.ndarray | None = None,
) -> np.ndarray:
    """``[m, n]`` IoU of ground-truth and predicted masks, as pycocotools' RLE IoU.

    ``pairs [m, n]`` (bool) limits the work to the pairs that can be matched (same class);
    the others are left 0.
    """
    result = np.zeros((len(truth), len(found)))
    if not len(truth) or not len(found):
        return result
    true_area = np.array([w.area for w in truth], np.float64)
    found_area = np.array([w.area for w in found], np.float64)
    true_box = _extents(truth)
    found_box = _extents(found)
    overlap = (
        (np.maximum(true_box[:, None, 0], found_box[None, :, 0])
         < np.minimum(true_box[:, None, 2], found_box[None, :, 2]))
        & (np.maximum(true_box[:, None, 1], found_box[None, :, 1])
           < np.minimum(true_box[:, None, 3], found_box[None, :, 3]))
    )
    if pairs is not None:
        overlap &= np.asarray(pairs, bool)
    for g, d in zip(*np.nonzero(overlap), strict=True):
        result[g, d] = _intersection(truth[g], found[d])
    union = true_area[:, None] + found_area[None, :] - result
    return np.divide(result, union, out=np.zeros_like(result), where=union > 0)


def _extents(windows: Sequence[MaskWindow]) -> np.ndarray:
    """``[k, 4]`` (top, left, bottom, right) of each window, exclusive ends."""
    return np.array(
        [(w.top, w.left, w.top + w.mask.shape[0], w.left + w.mask.shape[1]) for w in windows],
        np.int64,
    ).reshape(-1, 4)


def _intersection(first: MaskWindow, second: MaskWindow) -> int:
    top, left = max(first.top, second.top), max(first.left, second.left)
    bottom = min(first.top + first.mask.shape[0], second.top + second.mask.shape[0])
    right = min(first.left + first.mask.shape[1], second.left + second.mask.shape[1])
    if bottom <= top or right <= left:
        return 0
    a = first.mask[top - first.top : bottom - first.top, left - first.left : right - first.left]
    b = second.mask[
        top - second.top : bottom - second.top, left - second.left : right - second.left
    ]
    return int(np.count_nonzero(a & b))


def window_rle(window: MaskWindow, height: int, width: int) -> dict[str, Any]:
    """COCO compressed RLE of ``window`` in an image of ``height x width``: the same as
    ``rle.encode`` of the pasted mask, from the window alone."""
    mask = window.mask
    if mask.size == 0 or not mask.any():
        return {"size": [height, width], "counts": rle.counts_to_string([height * width])}
    columns = mask.T.astype(np.int8)  # column-major: one row per image column
    edges = np.diff(columns, axis=1, prepend=0, append=0)
    col, row = np.nonzero(edges)  # in order: column by column, top to bottom
    positions = (window.left + col) * height + window.top + row
    # a run that ends at the bottom of a column and one that starts at the top of the next
    # meet at one position: the two flips cancel
    positions, counts = np.unique(positions, return_counts=True)
    positions = positions[(counts % 2 == 1) & (positions < height * width)]
    runs = np.diff(np.concatenate(([0], positions, [height * width])))
    return {"size": [height, width], "counts": rle.counts_to_string(runs)}
