"""Geometry of the detection-family transforms: resizing, letterbox, the perspective warp and
flips, applied to an image and its :class:`~engine.data.instances.Instances` together.

Coordinates are pixels with edges at whole numbers (an image ``w`` wide spans ``0..w``), boxes
``xyxy``; see :mod:`engine.data.instances`. Every random choice comes from the
``np.random.Generator`` passed in; nothing here imports torch. The recipes that use these live
in :mod:`engine.data.detect_augment`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import cv2
import numpy as np

from .instances import Instances

FILL = (114, 114, 114)


# --- resizing -----------------------------------------------------------------------------------


def load_resized(
    image: np.ndarray, imgsz: int
) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
    """Long side to ``imgsz``, aspect kept: ``(image, (h0, w0), (h, w))``.

    Enlarges bilinearly; shrinks with the area filter by the whole factor and bilinearly for the
    rest (OpenCV's area filter is slow at fractional factors), as the reference sizes images
    before mosaic (its sizes: ``min(ceil(side * r), imgsz)``).
    """
    h0, w0 = image.shape[:2]
    ratio = imgsz / max(h0, w0)
    if ratio == 1:
        return image, (h0, w0), (h0, w0)
    w, h = min(math.ceil(w0 * ratio), imgsz), min(math.ceil(h0 * ratio), imgsz)
    if ratio > 1:
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    else:
        fy, fx = max(h0 // h, 1), max(w0 // w, 1)
        if fy >= 2 or fx >= 2:
            hh, ww = h0 // fy, w0 // fx
            image = cv2.resize(image[: hh * fy, : ww * fx], (ww, hh), interpolation=cv2.INTER_AREA)
        if image.shape[:2] != (h, w):
            image = cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)
    return image, (h0, w0), (h, w)


def letterbox(
    image: np.ndarray,
    new_shape: int | tuple[int, int],
    *,
    auto: bool = False,
    scaleup: bool = True,
    center: bool = True,
    stride: int = 32,
    color: tuple[int, int, int] = FILL,
) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Resize keeping aspect to fit ``new_shape`` (h, w) and pad: ``(image, ratio, (padw, padh))``.

    ``auto`` pads only to a multiple of ``stride``; ``scaleup=False`` never enlarges; ``center``
    splits the padding between both sides (else it all goes right/bottom). ``padw``/``padh`` are
    the left/top padding; map labels with :func:`letterbox_instances`.
    """
    if isinstance(new_shape, int):
        new_shape = (new_shape, new_shape)
    h, w = image.shape[:2]
    ratio = min(new_shape[0] / h, new_shape[1] / w)
    if not scaleup:
        ratio = min(ratio, 1.0)
    new_w, new_h = int(round(w * ratio)), int(round(h * ratio))
    dw, dh = new_shape[1] - new_w, new_shape[0] - new_h
    if auto:
        dw, dh = dw % stride, dh % stride
    if (new_w, new_h) != (w, h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    left = int(round(dw / 2 - 0.1)) if center else 0
    top = int(round(dh / 2 - 0.1)) if center else 0
    right, bottom = dw - left, dh - top
    if dw or dh:
        image = cv2.copyMakeBorder(
            image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=color
        )
    return image, ratio, (left, top)


def letterbox_instances(instances: Instances, ratio: float, pad: tuple[float, float]) -> Instances:
    """``instances`` (pixels of the image before :func:`letterbox`) in the letterboxed image."""
    return scale_shift(instances, ratio, ratio, pad[0], pad[1])


# --- instance geometry --------------------------------------------------------------------------


def scale_shift(instances: Instances, sx: float, sy: float, dx: float, dy: float) -> Instances:
    """A pixels copy with every point mapped by ``x * sx + dx``, ``y * sy + dy``."""
    scale, shift = np.array([sx, sy], np.float32), np.array([dx, dy], np.float32)
    keypoints = None
    if instances.keypoints is not None:
        keypoints = instances.keypoints.copy()
        keypoints[..., :2] = keypoints[..., :2] * scale + shift
    return Instances(
        instances.cls.copy(),
        instances.boxes * np.tile(scale, 2) + np.tile(shift, 2),
        [s * scale + shift for s in instances.segments],
        keypoints,
        normalized=False,
    )


def clip_instances(instances: Instances, width: float, height: float) -> Instances:
    """Boxes, polygons and keypoints clipped to ``0..width`` × ``0..height`` (pixels).

    Keypoints that were outside get visibility 0 (when they carry one) before being clipped.
    """
    boxes = instances.boxes.copy()
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, width)
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, height)
    limit = np.array([width, height], np.float32)
    segments = [np.clip(s, 0, limit) for s in instances.segments]
    keypoints = instances.keypoints
    if keypoints is not None:
        keypoints = keypoints.copy()
        xy = keypoints[..., :2]
        if keypoints.shape[-1] > 2:
            outside = (xy < 0).any(-1) | (xy > limit).any(-1)
            keypoints[..., 2][outside] = 0
        keypoints[..., :2] = np.clip(xy, 0, limit)
    return replace(instances, boxes=boxes, segments=segments, keypoints=keypoints)


def concat_instances(parts: Sequence[Instances]) -> Instances:
    """One ``Instances`` of all ``parts`` (pixels). Empty parts never decide the fields present."""
    full = [p for p in parts if len(p)]
    if not full:
        shapes = [p.keypoints.shape[1:] for p in parts if p.keypoints is not None]
        empty = Instances.empty(tuple(shapes[0]) if shapes else None)
        return replace(empty, normalized=False)
    with_segments = [bool(p.segments) for p in full]
    with_keypoints = [p.keypoints is not None for p in full]
    if any(with_keypoints) and not all(with_keypoints):
        raise ValueError("concat_instances: some parts have keypoints and others do not")
    return Instances(
        np.concatenate([p.cls for p in full]),
        np.concatenate([p.boxes for p in full]),
        [s for p in full for s in p.segments] if all(with_segments) else [],
        np.concatenate([p.keypoints for p in full]) if all(with_keypoints) else None,
        normalized=False,
    )


def box_candidates(
    before: np.ndarray,
    after: np.ndarray,
    *,
    wh_thr: float = 2,
    ar_thr: float = 100,
    area_thr: float = 0.1,
    eps: float = 1e-16,
) -> np.ndarray:
    """Which warped boxes to keep: wider and taller than ``wh_thr`` px, aspect under ``ar_thr``,
    and more than ``area_thr`` of the area of the box ``before`` (already scaled by the warp's
    scale), so objects mostly cut off by the border are dropped.
    """
    w1, h1 = before[:, 2] - before[:, 0], before[:, 3] - before[:, 1]
    w2, h2 = after[:, 2] - after[:, 0], after[:, 3] - after[:, 1]
    aspect = np.maximum(w2 / (h2 + eps), h2 / (w2 + eps))
    return (
        (w2 > wh_thr) & (h2 > wh_thr) & (w2 * h2 / (w1 * h1 + eps) > area_thr) & (aspect < ar_thr)
    )


# --- perspective --------------------------------------------------------------------------------


def perspective_matrix(
    rng: np.random.Generator,
    shape: tuple[int, int],
    size: tuple[int, int],
    *,
    degrees: float,
    translate: float,
    scale: float,
    shear: float,
    perspective: float,
) -> tuple[np.ndarray, float]:
    """A random 3×3 warp from an image of ``shape`` (h, w) to one of ``size`` (w, h), and its scale.

    Composed as the reference does, right to left: move the centre to the origin, perspective,
    rotation and scale, shear, translation to a random point near the output's centre.
    """
    centre = np.eye(3)
    centre[0, 2], centre[1, 2] = -shape[1] / 2, -shape[0] / 2
    persp = np.eye(3)
    persp[2, 0], persp[2, 1] = rng.uniform(-perspective, perspective, 2)
    angle = math.radians(rng.uniform(-degrees, degrees))
    s = float(rng.uniform(1 - scale, 1 + scale))
    rotate = np.eye(3)
    cos, sin = s * math.cos(angle), s * math.sin(angle)
    rotate[:2, :2] = [[cos, sin], [-sin, cos]]  # cv2.getRotationMatrix2D's convention
    skew = np.eye(3)
    skew[0, 1], skew[1, 0] = np.tan(np.radians(rng.uniform(-shear, shear, 2)))
    move = np.eye(3)
    move[0, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * size[0]
    move[1, 2] = rng.uniform(0.5 - translate, 0.5 + translate) * size[1]
    return move @ skew @ rotate @ persp @ centre, s


def _transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    out = points.reshape(-1, 2).astype(np.float64) @ matrix[:2, :2].T + matrix[:2, 2]
    if matrix[2, 0] or matrix[2, 1]:
        out /= (points.reshape(-1, 2) @ matrix[2, :2] + matrix[2, 2])[:, None]
    return out.reshape(points.shape).astype(np.float32)


def _warp_segments(
    segments: list[np.ndarray], matrix: np.ndarray, width: int, height: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Warped polygons and their boxes: the tight box of each polygon's points inside the image,
    then every point clipped to that box (the reference's rule; all-outside polygons collapse to
    a zero box). Vectorised over all points."""
    lengths = np.array([len(s) for s in segments])
    points = _transform_points(np.concatenate(segments), matrix)
    inside = (points >= 0).all(1) & (points[:, 0] <= width) & (points[:, 1] <= height)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))[lengths > 0]
    boxes = np.zeros((len(segments), 4), np.float32)
    if len(starts):
        low = np.minimum.reduceat(np.where(inside[:, None], points, np.inf), starts)
        high = np.maximum.reduceat(np.where(inside[:, None], points, -np.inf), starts)
        found = np.isfinite(low).all(1)
        boxes[lengths > 0] = np.where(found[:, None], np.concatenate((low, high), 1), 0)
    owner = np.repeat(np.arange(len(segments)), lengths)
    points = np.clip(points, boxes[owner, :2], boxes[owner, 2:])
    return boxes, np.split(points, np.cumsum(lengths)[:-1])


def warp(
    image: np.ndarray,
    instances: Instances,
    matrix: np.ndarray,
    size: tuple[int, int],
    *,
    scale: float = 1.0,
) -> tuple[np.ndarray, Instances]:
    """Warp ``image`` and its ``instances`` (pixels) by the 3×3 ``matrix`` to ``size`` (w, h).

    Boxes come from the warped polygons when there are any, else from the warped box corners;
    everything is clipped to the output, and objects failing :func:`box_candidates` against
    their original box times ``scale`` are dropped (area threshold 0.01 with polygons, else 0.1).
    """
    width, height = size
    is_perspective = bool(matrix[2, 0] or matrix[2, 1])
    if (width, height) != image.shape[1::-1] or not np.array_equal(matrix, np.eye(3)):
        if is_perspective:
            image = cv2.warpPerspective(image, matrix, size, borderValue=FILL)
        else:
            image = cv2.warpAffine(image, matrix[:2], size, borderValue=FILL)
    if not len(instances):
        return image, replace(instances, normalized=False)
    corners = instances.boxes[:, [0, 1, 2, 3, 0, 3, 2, 1]].reshape(-1, 4, 2)
    corners = _transform_points(corners, matrix)
    boxes = np.concatenate((corners.min(1), corners.max(1)), 1)
    segments = instances.segments
    if segments:
        boxes, segments = _warp_segments(segments, matrix, width, height)
    keypoints = instances.keypoints
    if keypoints is not None:
        keypoints = keypoints.copy()
        keypoints[..., :2] = _transform_points(keypoints[..., :2], matrix)
    warped = clip_instances(
        Instances(instances.cls, boxes, segments, keypoints, normalized=False), width, height
    )
    keep = box_candidates(instances.boxes * scale, warped.boxes, area_thr=0.01 if segments else 0.1)
    return image, warped.select(keep)


def random_perspective(
    image: np.ndarray,
    instances: Instances,
    rng: np.random.Generator,
    *,
    degrees: float,
    translate: float,
    scale: float,
    shear: float,
    perspective: float,
    border: tuple[int, int] = (0, 0),
) -> tuple[np.ndarray, Instances]:
    """A random :func:`perspective_matrix` applied with :func:`warp`.

    The output is the input grown by ``border`` (y, x) on every side: ``(-imgsz // 2,) * 2``
    crops a 2·imgsz mosaic to imgsz. ``instances`` in pixels.
    """
    size = (image.shape[1] + 2 * border[1], image.shape[0] + 2 * border[0])
    matrix, s = perspective_matrix(
        rng,
        image.shape[:2],
        size,
        degrees=degrees,
        translate=translate,
        scale=scale,
        shear=shear,
        perspective=perspective,
    )
    return warp(image, instances, matrix, size, scale=s)


# --- flips --------------------------------------------------------------------------------------


def flip_instances(
    instances: Instances,
    width: float,
    height: float,
    horizontal: bool,
    flip_idx: Sequence[int] | None = None,
) -> Instances:
    """``instances`` mirrored across a ``width``×``height`` image; the horizontal mirror also
    reorders keypoints by ``flip_idx``. The image itself is left to the caller."""
    axis, extent = (0, width) if horizontal else (1, height)
    boxes = instances.boxes.copy()
    boxes[:, [axis, axis + 2]] = extent - instances.boxes[:, [axis + 2, axis]]
    segments = []
    for s in instances.segments:
        s = s.copy()
        s[:, axis] = extent - s[:, axis]
        segments.append(s)
    keypoints = instances.keypoints
    if keypoints is not None:
        keypoints = keypoints.copy()
        keypoints[..., axis] = extent - keypoints[..., axis]
        if horizontal and flip_idx is not None:
            if len(flip_idx) != keypoints.shape[1]:
                raise ValueError(
                    f"flip: flip_idx has {len(flip_idx)} entries for {keypoints.shape[1]} keypoints"
                )
            keypoints = np.ascontiguousarray(keypoints[:, list(flip_idx)])
    return replace(instances, boxes=boxes, segments=segments, keypoints=keypoints)


def flip(
    image: np.ndarray,
    instances: Instances,
    direction: str,
    flip_idx: Sequence[int] | None = None,
) -> tuple[np.ndarray, Instances]:
    """Mirror left-right (``"horizontal"``) or top-bottom (``"vertical"``).

    A horizontal flip also reorders keypoints by ``flip_idx`` (left eye ↔ right eye). Works on
    pixel or normalised instances.
    """
    if direction not in ("horizontal", "vertical"):
        raise ValueError(f"flip: direction must be 'horizontal' or 'vertical', not {direction!r}")
    horizontal = direction == "horizontal"
    h, w = (1, 1) if instances.normalized else image.shape[:2]
    flipped = cv2.flip(image, 1 if horizontal else 0)
    return flipped, flip_instances(instances, w, h, horizontal, flip_idx)
