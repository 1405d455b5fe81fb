"""Assists that need no model weights, built on OpenCV: box → polygon (GrabCut), click →
region (magic wand), refinement by positive and negative clicks (GrabCut from a mask), and
edge-snapping scissors (``scissors``, re-exported here).

Each returns one editable outline in image pixels: a float64 ``[k, 2]`` array of x, y
(vertices at pixel centres, tens of them rather than one per boundary pixel), or None when
the assist found nothing to outline. An outline is one ring: holes inside the object are filled
in (the studio's polygons have no holes) and only the largest piece is kept.

Every assist runs on a working copy — the region that matters, downscaled until its longer
side is at most ``max_side`` (``scale.working_copy``; 512 for GrabCut, 1,024 for the rest) —
and maps its outline back to image pixels, so a 10,000 × 10,000 photo costs about what a
1,024-pixel one does (box → polygon ~1 s, wand ~0.2 s on this 2-core machine).

Bad input raises ValueError naming the argument (an image that is not one, a box or click
outside the image, a box under 2 pixels on a side, a tolerance outside 0..255); an assist
that runs but finds no object returns None, which the studio shows as "nothing found".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import cv2
import numpy as np

from ..formats.outlines import trace_outlines
from .scale import (
    DEFAULT_MAX_SIDE,
    WorkingCopy,
    check_box,
    check_image,
    check_point,
    working_copy,
)
from .scissors import ScissorsSession, scissors

__all__ = [
    "GRABCUT_MAX_SIDE",
    "ScissorsSession",
    "box_to_polygon",
    "magic_wand",
    "outline_of",
    "refine",
    "scissors",
]

Point = Sequence[float] | np.ndarray

GRABCUT_MAX_SIDE = 512
"""GrabCut's working copy is smaller than the other assists' (``DEFAULT_MAX_SIDE``): its time
grows with the pixels, ~0.5 s at 512² and ~2.3 s at 1,024² here, while a 512-pixel outline
of a huge object is already within a fifth of a percent of its size."""

_MIN_MARGIN_PX = 8  # background GrabCut learns from, around a small box (image pixels)


def box_to_polygon(
    image: np.ndarray,
    box: Point,
    *,
    iterations: int = 5,
    margin: float = 0.1,
    simplify: float = 1.5,  # 10 vertices at the median, IoU 0.974 (1.0: 15, 0.974)
    max_side: int = GRABCUT_MAX_SIDE,
) -> np.ndarray | None:
    """The outline of the object inside ``box`` (x0, y0, x1, y1 in image pixels).

    GrabCut starts from the box (``GC_INIT_WITH_RECT``: outside is background, inside
    probably foreground) on a crop that reaches ``margin`` × the box's longer side beyond it,
    so the background model sees what surrounds the object. ``simplify`` is how far (working
    pixels) the polygon may stray from the traced outline; None if nothing was found."""
    image = check_image(image)
    x0, y0, x1, y1 = check_box(box, image.shape)
    pad = max(_MIN_MARGIN_PX, int(np.ceil(margin * max(x1 - x0, y1 - y0))))
    height, width = image.shape[:2]
    crop = (max(0, x0 - pad), max(0, y0 - pad), min(width, x1 + pad), min(height, y1 + pad))
    copy = working_copy(image, crop, max_side)
    rect = _working_rect(copy, (x0, y0, x1, y1))
    mask = np.zeros(copy.image.shape[:2], np.uint8)
    models = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(
        _denoised(copy.image),
        mask,
        rect,
        *models,
        _positive(iterations, "iterations"),
        cv2.GC_INIT_WITH_RECT,
    )
    return outline_of(_clean(_foreground(mask)), copy, simplify=simplify)


def magic_wand(
    image: np.ndarray,
    point: Point,
    tolerance: float = 32,
    *,
    connectivity: int = 4,
    simplify: float = 1.0,
    max_side: int = DEFAULT_MAX_SIDE,
) -> np.ndarray | None:
    """The outline of the region around ``point`` (x, y in image pixels) whose colours are
    within ``tolerance`` (0..255, per channel) of the clicked pixel's.

    A flood fill (``FLOODFILL_FIXED_RANGE``: every pixel is compared with the clicked one,
    so a gradual ramp does not leak) over ``connectivity`` 4 or 8 neighbours, on the whole
    image downscaled to ``max_side`` (a region may reach anywhere). The working copy is
    smoothed first with an edge-keeping blur, so sensor noise and JPEG colour bleeding inside
    the object do not stop the fill (a Gaussian blur would also smear the object's edge).
    Holes are filled in; None if the region is under a pixel or two."""
    image = check_image(image)
    xy = check_point(point, image.shape)
    if not 0 <= float(tolerance) <= 255:
        raise ValueError(f"tolerance must be between 0 and 255, not {tolerance}")
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, not {connectivity}")
    copy = working_copy(image, None, max_side)
    region = _flood(_denoised(copy.image), copy.pixel(xy), tolerance, connectivity)
    return outline_of(region, copy, simplify=simplify)


def refine(
    image: np.ndarray,
    previous: np.ndarray | Sequence[Point],
    positive: Iterable[Point] = (),
    negative: Iterable[Point] = (),
    *,
    iterations: int = 3,
    click_tolerance: float = 24,
    click_radius: float | None = None,
    margin: float = 0.25,
    simplify: float = 1.0,
    max_side: int = GRABCUT_MAX_SIDE,
) -> np.ndarray | None:
    """The ``previous`` result (a ``[k, 2]`` polygon in image pixels, or an ``[h, w]`` mask
    the size of the image) refined by ``positive`` clicks (this is the object) and
    ``negative`` clicks (this is not).

    GrabCut from a mask (``GC_INIT_WITH_MASK``) on a crop reaching ``margin`` × the region's
    size beyond the previous region and the clicks: the previous region is probable
    foreground, the rest probable background. Around each click, the pixels within
    ``click_tolerance`` (0..255) of its colour and joined to it (a flood fill, as the magic
    wand) swap to probable foreground or background, and a disc of ``click_radius`` image
    pixels (default: 1% of the crop, at least 2 working pixels) is definite. (Discs alone do
    not do it: a click on a part of another colour leaves that colour in the background's
    model, and GrabCut gives back no more than the disc.) Of the pieces found, the largest one
    holding a positive click is kept (the largest one when no click is inside any). None if
    nothing is left."""
    image = check_image(image)
    positive = [check_point(p, image.shape, "positive") for p in positive]
    negative = [check_point(p, image.shape, "negative") for p in negative]
    if not 0 <= float(click_tolerance) <= 255:
        raise ValueError(f"click_tolerance must be between 0 and 255, not {click_tolerance}")
    region, polygon, full_mask = _previous_region(previous, image.shape)
    crop = _crop_around(region, positive + negative, margin, image.shape)
    copy = working_copy(image, crop, max_side)
    smooth = _denoised(copy.image)
    mask = _previous_in_working(copy, crop, polygon, full_mask)
    radius = _click_radius(copy, click_radius)
    seeds = [copy.pixel(xy) for xy in positive]
    stops = [copy.pixel(xy) for xy in negative]
    for seed in seeds:
        mask[_flood(smooth, seed, click_tolerance) > 0] = cv2.GC_PR_FGD
    for stop in stops:
        mask[_flood(smooth, stop, click_tolerance) > 0] = cv2.GC_PR_BGD
    for points, label in ((seeds, cv2.GC_FGD), (stops, cv2.GC_BGD)):
        for pixel in points:
            cv2.circle(mask, pixel, radius, label, -1)
    if not np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD)).any():
        return None
    models = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    iterations = _positive(iterations, "iterations")
    cv2.grabCut(smooth, mask, None, *models, iterations, cv2.GC_INIT_WITH_MASK)
    return outline_of(_clean(_foreground(mask)), copy, simplify=simplify, prefer=seeds)


def outline_of(
    mask: np.ndarray,
    copy: WorkingCopy,
    *,
    simplify: float = 1.0,
    prefer: Sequence[tuple[int, int]] = (),
) -> np.ndarray | None:
    """The outer ring of the largest piece of ``mask`` (working pixels; of the pieces holding
    a ``prefer`` pixel, if any does) in image pixels, simplified to within ``simplify``
    working pixels (``cv2.approxPolyDP``); None for an empty mask."""
    piece = _largest_piece(mask, prefer)
    if piece is None:
        return None
    rings, _holes = trace_outlines(piece)
    if not rings:
        return None
    ring = max(rings, key=lambda r: cv2.contourArea(r.astype(np.float32)))
    if simplify > 0 and len(ring) > 3:
        simpler = cv2.approxPolyDP(ring.astype(np.float32).reshape(-1, 1, 2), simplify, True)
        if len(simpler) >= 3:
            ring = simpler.reshape(-1, 2).astype(np.float64)
    return copy.to_full(ring)


# -- helpers ---------------------------------------------------------------------------------


def _positive(value: int, name: str) -> int:
    if int(value) < 1:
        raise ValueError(f"{name} must be 1 or more, not {value}")
    return int(value)


def _working_rect(
    copy: WorkingCopy, bounds: tuple[int, int, int, int]
) -> tuple[int, int, int, int]:
    """The box's pixel bounds in the working copy as an (x, y, w, h) rectangle that leaves
    at least one pixel of background (GrabCut needs some to start its background model)."""
    height, width = copy.image.shape[:2]
    # the box's outer pixel edges, not its pixel centres, map through the scale
    left, top = np.floor(copy.to_working((bounds[0] - 0.5, bounds[1] - 0.5)) + 0.5)
    right, bottom = np.ceil(copy.to_working((bounds[2] - 0.5, bounds[3] - 0.5)) - 0.5)
    left, top = max(1, int(left)), max(1, int(top))
    right, bottom = min(width - 1, int(right)), min(height - 1, int(bottom))
    return left, top, max(1, right - left), max(1, bottom - top)


def _foreground(grabcut_mask: np.ndarray) -> np.ndarray:
    return ((grabcut_mask == cv2.GC_FGD) | (grabcut_mask == cv2.GC_PR_FGD)).astype(np.uint8)


def _flood(
    image: np.ndarray, seed: tuple[int, int], tolerance: float, connectivity: int = 4
) -> np.ndarray:
    """The pixels joined to ``seed`` whose colours are within ``tolerance`` of the seed's
    (``FLOODFILL_FIXED_RANGE``: compared with the seed, so a gradual ramp does not leak), as
    a 0/1 mask of ``image``'s size."""
    height, width = image.shape[:2]
    filled = np.zeros((height + 2, width + 2), np.uint8)
    flags = connectivity | cv2.FLOODFILL_FIXED_RANGE | cv2.FLOODFILL_MASK_ONLY | (1 << 8)
    difference = (float(tolerance),) * 3
    cv2.floodFill(image, filled, seed, (0, 0, 0), difference, difference, flags)
    return filled[1:-1, 1:-1]


def _denoised(image: np.ndarray) -> np.ndarray:
    """An edge-keeping blur (bilateral): on a noisy or textured background GrabCut's colour
    models overlap and it can lose a low-contrast object altogether, and a flood fill stops
    at every speck; smoothed, they separate. On the shapes set it lifted GrabCut's worst IoU
    from 0 to 0.9 (a Gaussian blur instead smears edges and rounds the stars' points off)."""
    return cv2.bilateralFilter(image, 7, 50, 7)


def _clean(mask: np.ndarray) -> np.ndarray:
    """One-pixel notches closed: GrabCut's cut on a noisy background leaves them, and each
    would become vertices to delete by hand. (Opening too would cut thin points off.)"""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)


def _largest_piece(mask: np.ndarray, prefer: Sequence[tuple[int, int]]) -> np.ndarray | None:
    count, labels, stats, _centres = cv2.connectedComponentsWithStats(
        (mask > 0).astype(np.uint8), connectivity=8
    )
    if count <= 1:
        return None
    chosen = {int(labels[y, x]) for x, y in prefer} - {0}
    candidates = sorted(chosen) if chosen else range(1, count)
    best = max(candidates, key=lambda label: stats[label, cv2.CC_STAT_AREA])
    return (labels == best).astype(np.uint8)


def _previous_region(
    previous: np.ndarray | Sequence[Point], shape: tuple[int, ...]
) -> tuple[tuple[float, float, float, float], np.ndarray | None, np.ndarray | None]:
    """(bounds x0, y0, x1, y1 in image pixels, the polygon or None, the mask or None)."""
    array = np.asarray(previous)
    if array.shape == tuple(shape[:2]):
        # a uint8 or bool mask is used as it is: a full-size copy of a huge one costs seconds
        mask = array.view(np.uint8) if array.dtype == np.bool_ else array
        mask = mask if mask.dtype == np.uint8 else (mask != 0).view(np.uint8)
        if not mask.any():
            raise ValueError("previous mask is empty; run an assist first, or pass its polygon")
        x, y, w, h = cv2.boundingRect(mask)
        return (x, y, x + w - 1, y + h - 1), None, mask
    if array.ndim == 2 and array.shape[1] == 2 and len(array) >= 3:
        polygon = array.astype(np.float64)
        if not np.isfinite(polygon).all():
            raise ValueError("previous polygon holds a coordinate that is not a number")
        low, high = polygon.min(0), polygon.max(0)
        height, width = shape[:2]
        if high[0] < 0 or high[1] < 0 or low[0] > width - 1 or low[1] > height - 1:
            raise ValueError("previous polygon lies outside the image")
        return (low[0], low[1], high[0], high[1]), polygon, None
    raise ValueError(
        f"previous must be a [k, 2] polygon (k ≥ 3) or an {shape[0]}×{shape[1]} "
        f"mask, not an array of shape {array.shape}"
    )


def _crop_around(
    bounds: tuple[float, float, float, float],
    clicks: list[np.ndarray],
    margin: float,
    shape: tuple[int, ...],
) -> tuple[int, int, int, int]:
    points = np.array([bounds[:2], bounds[2:], *clicks], np.float64)
    low, high = points.min(0), points.max(0)
    pad = max(_MIN_MARGIN_PX, margin * float((high - low).max()))
    height, width = shape[:2]
    x0, y0 = np.maximum(np.floor(low - pad), 0).astype(int)
    x1 = min(width, int(np.ceil(high[0] + pad)) + 1)
    y1 = min(height, int(np.ceil(high[1] + pad)) + 1)
    return int(x0), int(y0), x1, y1


def _previous_in_working(
    copy: WorkingCopy,
    crop: tuple[int, int, int, int],
    polygon: np.ndarray | None,
    full_mask: np.ndarray | None,
) -> np.ndarray:
    """A GrabCut mask of the working copy: the previous region probable foreground, the rest
    probable background."""
    height, width = copy.image.shape[:2]
    inside = np.zeros((height, width), np.uint8)
    if polygon is not None:
        points = np.round(copy.to_working(polygon)).astype(np.int32)
        cv2.fillPoly(inside, [points.reshape(-1, 1, 2)], 1)
    else:
        x0, y0, x1, y1 = crop
        inside = cv2.resize(
            full_mask[y0:y1, x0:x1], (width, height), interpolation=cv2.INTER_NEAREST
        )
    return np.where(inside > 0, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)


def _click_radius(copy: WorkingCopy, click_radius: float | None) -> int:
    if click_radius is None:
        return max(2, round(0.01 * max(copy.image.shape[:2])))
    if click_radius <= 0:
        raise ValueError(f"click_radius must be positive (image pixels), not {click_radius}")
    return max(1, round(click_radius * min(copy.scale)))
