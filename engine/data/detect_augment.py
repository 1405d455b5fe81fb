"""Train and val transforms for the detection family (segment, pose), on uint8 BGR arrays.

The recipe follows the reference's (facts, not code). Train, per sample: mosaic of 4 images
(p = ``mosaic``) or the image letterboxed to ``imgsz``², copy-paste (``copy_paste``), one random
perspective/affine warp (``degrees``, ``translate``, ``scale``, ``shear``, ``perspective``) that
also crops a mosaic back to ``imgsz``², mixup with a second sample built the same way (p =
``mixup``), HSV jitter, vertical flip (``flipud``), horizontal flip (``fliplr``; keypoints swap
by ``flip_idx``). For the last ``close_mosaic`` epochs the caller passes ``mosaic=False``, which
also turns off copy-paste and mixup, as the reference does. Val: long side to ``imgsz``, then a
centred letterbox to ``imgsz``².

Every random choice comes from the ``np.random.Generator`` passed in. Nothing here imports
torch: these functions run on loader threads; ``to_targets`` returns numpy arrays that the
caller turns into tensors.

Coordinates are pixels with edges at whole numbers (an image ``w`` wide spans ``0..w``), boxes
``xyxy``; see :mod:`engine.data.instances`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from .instances import Instances, xyxy_to_xywh
from .polygons import overlap_masks, polygons_to_masks, resample_polygons

log = logging.getLogger(__name__)

FILL = (114, 114, 114)
Loader = Callable[[int], tuple[np.ndarray, Instances]]
RatioPad = tuple[tuple[float, float], tuple[float, float]]


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
    return _scale_shift(instances, ratio, ratio, pad[0], pad[1])


# --- instance geometry --------------------------------------------------------------------------


def _scale_shift(instances: Instances, sx: float, sy: float, dx: float, dy: float) -> Instances:
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


def box_ioa(boxes1: np.ndarray, boxes2: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """Intersection over the area of ``boxes2``: ``[n, m]`` for ``xyxy`` ``[n, 4]``, ``[m, 4]``."""
    low = np.maximum(boxes1[:, None, :2], boxes2[None, :, :2])
    high = np.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    inter = np.prod(np.clip(high - low, 0, None), -1)
    area2 = np.prod(boxes2[:, 2:] - boxes2[:, :2], -1)
    return inter / (area2[None] + eps)


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


# --- mosaic, mixup, copy-paste, colour, flips ---------------------------------------------------


def mosaic4(
    index: int, load: Loader, num_images: int, imgsz: int, rng: np.random.Generator
) -> tuple[np.ndarray, Instances]:
    """Image ``index`` and 3 random others tiled around a random centre of a 2·imgsz canvas.

    The centre is uniform in ``[imgsz/2, 3·imgsz/2)``; tiles are placed top-left, top-right,
    bottom-left, bottom-right of it and cut at the canvas edge; the rest is grey 114. Instances
    are shifted, clipped to the canvas and zero-area ones dropped. ``load(i)`` gives a
    :func:`load_resized` image and its instances in pixels.
    """
    s = imgsz
    yc, xc = (int(rng.uniform(s / 2, 3 * s / 2)) for _ in range(2))
    indices = [index, *(int(i) for i in rng.integers(0, num_images, 3))]
    canvas = None
    parts = []
    for tile, i in enumerate(indices):
        image, instances = load(i)
        h, w = image.shape[:2]
        if canvas is None:
            canvas = np.full((2 * s, 2 * s, *image.shape[2:]), 114, np.uint8)
        left, top = tile % 2 == 0, tile < 2
        x1a, x2a = (max(xc - w, 0), xc) if left else (xc, min(xc + w, 2 * s))
        y1a, y2a = (max(yc - h, 0), yc) if top else (yc, min(yc + h, 2 * s))
        x1b = w - (x2a - x1a) if left else 0
        y1b = h - (y2a - y1a) if top else 0
        canvas[y1a:y2a, x1a:x2a] = image[y1b : y1b + y2a - y1a, x1b : x1b + x2a - x1a]
        parts.append(_scale_shift(instances, 1, 1, x1a - x1b, y1a - y1b))
    merged = clip_instances(concat_instances(parts), 2 * s, 2 * s)
    area = np.prod(merged.boxes[:, 2:] - merged.boxes[:, :2], 1)
    return canvas, merged.select(area > 0)


def mixup(
    image: np.ndarray,
    instances: Instances,
    other_image: np.ndarray,
    other_instances: Instances,
    rng: np.random.Generator,
) -> tuple[np.ndarray, Instances]:
    """Blend two same-size images with a Beta(32, 32) ratio and keep the objects of both."""
    ratio = float(rng.beta(32.0, 32.0))
    blended = cv2.addWeighted(image, ratio, other_image, 1 - ratio, 0)
    return blended, concat_instances([instances, other_instances])


def copy_paste(
    image: np.ndarray,
    instances: Instances,
    rng: np.random.Generator,
    p: float,
    *,
    mode: str = "flip",
    source: tuple[np.ndarray, Instances] | None = None,
) -> tuple[np.ndarray, Instances]:
    """Paste objects (by their polygons) from a source image into ``image``.

    Source: the left-right mirror of ``image`` (``mode="flip"``) or ``source`` (``"mixup"``, a
    same-size image with instances in pixels). Candidates are source objects whose box covers
    less than 0.3 of every existing box (intersection over the existing box's area); a random
    ``round(p · candidates)`` of them are pasted. Needs polygons; without them a no-op.
    """
    if p <= 0 or not len(instances) or not instances.segments:
        return image, instances
    h, w = image.shape[:2]
    if mode == "flip":
        donors = _flip_instances(instances, w, h, True)
    elif mode == "mixup":
        if source is None:
            raise ValueError("copy_paste: mode 'mixup' needs a source image and instances")
        donors = source[1]
        if not len(donors) or not donors.segments:
            return image, instances
    else:
        raise ValueError(f"copy_paste: unknown mode {mode!r}; expected 'flip' or 'mixup'")
    ioa = box_ioa(donors.boxes, instances.boxes)
    candidates = np.flatnonzero((ioa < 0.3).all(1))
    chosen = rng.permutation(candidates)[: int(round(p * len(candidates)))]
    if not len(chosen):
        return image, instances
    out = image.copy()
    for j in chosen:  # one object's box at a time: a mosaic canvas is 4x the output
        contour = donors.segments[j].astype(np.int32)
        x0, y0 = np.maximum(contour.min(0), 0)
        x1, y1 = np.minimum(contour.max(0) + 1, (w, h))
        if x1 <= x0 or y1 <= y0:
            continue
        region = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.drawContours(region, [contour - (x0, y0)], -1, 1, cv2.FILLED)
        if mode == "flip":  # output column x shows input column w - 1 - x
            pasted = cv2.flip(image[y0:y1, w - x1 : w - x0], 1)
        else:
            pasted = source[0][y0:y1, x0:x1]
        np.copyto(out[y0:y1, x0:x1], pasted, where=region.astype(bool)[..., None])
    return out, concat_instances([instances, donors.select(chosen)])


def hsv_augment(
    image: np.ndarray, gains: tuple[float, float, float], rng: np.random.Generator
) -> np.ndarray:
    """Random hue shift and saturation/value gains through one lookup table per channel.

    Hue is shifted by up to ``gains[0]`` of the circle and saturation 0 stays 0 (so whites
    keep their colour), as the reference does since 8.3.79 (earlier it multiplied the hue).
    """
    if not any(gains):
        return image
    r = rng.uniform(-1, 1, 3) * np.asarray(gains, np.float64)
    x = np.arange(256, dtype=np.float64)
    lut_h = ((x + r[0] * 180) % 180).astype(np.uint8)
    lut_s = np.clip(x * (1 + r[1]), 0, 255).astype(np.uint8)
    lut_s[0] = 0
    lut_v = np.clip(x * (1 + r[2]), 0, 255).astype(np.uint8)
    hue, sat, val = cv2.split(cv2.cvtColor(image, cv2.COLOR_BGR2HSV))
    hsv = cv2.merge((cv2.LUT(hue, lut_h), cv2.LUT(sat, lut_s), cv2.LUT(val, lut_v)))
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def _flip_instances(
    instances: Instances,
    width: float,
    height: float,
    horizontal: bool,
    flip_idx: Sequence[int] | None = None,
) -> Instances:
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
    return flipped, _flip_instances(instances, w, h, horizontal, flip_idx)


# --- the recipes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectAugment:
    """The train-time recipe for detect / segment / pose; built with :meth:`from_settings`.

    Call it with a sample index, a ``load(i) -> (image, Instances in pixels)`` function (images
    already :func:`load_resized` to ``imgsz``), the dataset size and a generator; it returns an
    ``imgsz``×``imgsz`` uint8 BGR image and its instances in pixels.
    """

    imgsz: int
    task: str = "detect"
    mosaic: float = 1.0
    mixup: float = 0.0
    copy_paste: float = 0.0
    copy_paste_mode: str = "flip"
    degrees: float = 0.0
    translate: float = 0.1
    scale: float = 0.5
    shear: float = 0.0
    perspective: float = 0.0
    hsv: tuple[float, float, float] = (0.015, 0.7, 0.4)
    flipud: float = 0.0
    fliplr: float = 0.5
    flip_idx: tuple[int, ...] | None = None

    @classmethod
    def from_settings(
        cls, settings, imgsz: int, *, task: str, flip_idx: Sequence[int] | None = None
    ) -> DetectAugment:
        """The recipe from validated ``Settings``. Pose without ``flip_idx`` cannot mirror
        left-right correctly, so ``fliplr`` is then turned off with a warning (as the reference)."""
        fliplr = settings.fliplr
        if task == "pose" and not flip_idx and fliplr > 0:
            log.warning("pose data has no flip_idx; horizontal flips are turned off (fliplr=0)")
            fliplr = 0.0
        return cls(
            imgsz=imgsz,
            task=task,
            mosaic=settings.mosaic,
            mixup=settings.mixup,
            copy_paste=settings.copy_paste,
            copy_paste_mode=settings.copy_paste_mode,
            degrees=settings.degrees,
            translate=settings.translate,
            scale=settings.scale,
            shear=settings.shear,
            perspective=settings.perspective,
            hsv=(settings.hsv_h, settings.hsv_s, settings.hsv_v),
            flipud=settings.flipud,
            fliplr=fliplr,
            flip_idx=tuple(flip_idx) if flip_idx else None,
        )

    def __call__(
        self,
        index: int,
        load: Loader,
        num_images: int,
        rng: np.random.Generator,
        *,
        mosaic: bool = True,
    ) -> tuple[np.ndarray, Instances]:
        """One augmented sample; ``mosaic=False`` (last ``close_mosaic`` epochs) also turns off
        copy-paste and mixup, as the reference does when it closes the mosaic."""
        image, instances = self._compose(index, load, num_images, rng, mixing=mosaic)
        if mosaic and self.mixup and rng.random() < self.mixup:
            other = self._compose(int(rng.integers(num_images)), load, num_images, rng, mixing=True)
            image, instances = mixup(image, instances, *other, rng)
        image = hsv_augment(image, self.hsv, rng)
        if self.flipud and rng.random() < self.flipud:
            image, instances = flip(image, instances, "vertical")
        if self.fliplr and rng.random() < self.fliplr:
            image, instances = flip(image, instances, "horizontal", self.flip_idx)
        return image, instances

    def _load(self, load: Loader, index: int) -> tuple[np.ndarray, Instances]:
        """``load(index)`` in pixels, with polygons resampled dense (segment) or dropped."""
        image, instances = load(index)
        instances = instances.to_pixels(image.shape[1], image.shape[0])
        if self.task != "segment":
            return image, replace(instances, segments=[])
        return image, replace(instances, segments=resample_polygons(instances.segments))

    def _compose(
        self,
        index: int,
        load: Loader,
        num_images: int,
        rng: np.random.Generator,
        *,
        mixing: bool,
        paste: bool = True,
    ) -> tuple[np.ndarray, Instances]:
        """Mosaic or letterbox, copy-paste and the perspective warp: the reference's
        pre-transform, also used to build mixup's and copy-paste's second sample."""
        loader = lambda i: self._load(load, i)  # noqa: E731
        use_mosaic = mixing and self.mosaic > 0 and rng.random() < self.mosaic
        if use_mosaic:
            image, instances = mosaic4(index, loader, num_images, self.imgsz, rng)
        else:
            image, instances = loader(index)
        flip_paste = mixing and paste and self.copy_paste > 0 and self.copy_paste_mode == "flip"
        if flip_paste:
            image, instances = copy_paste(image, instances, rng, self.copy_paste)
        border = (-(self.imgsz // 2), -(self.imgsz // 2)) if use_mosaic else (0, 0)
        if not use_mosaic:
            image, ratio, pad = letterbox(image, self.imgsz)
            instances = letterbox_instances(instances, ratio, pad)
        image, instances = random_perspective(
            image,
            instances,
            rng,
            degrees=self.degrees,
            translate=self.translate,
            scale=self.scale,
            shear=self.shear,
            perspective=self.perspective,
            border=border,
        )
        mix_paste = mixing and paste and self.copy_paste > 0 and self.copy_paste_mode == "mixup"
        if mix_paste and instances.segments:
            other_index = int(rng.integers(num_images))
            source = self._compose(other_index, load, num_images, rng, mixing=True, paste=False)
            image, instances = copy_paste(
                image, instances, rng, self.copy_paste, mode="mixup", source=source
            )
        return image, instances


@dataclass(frozen=True)
class DetectValTransform:
    """Validation: long side to ``imgsz`` (:func:`load_resized`), then a centred letterbox to
    ``imgsz``² that never enlarges.

    Returns ``(image, instances in pixels, (ratio, pad))`` with ``ratio = (rx, ry)`` and ``pad =
    (padw, padh)``, so a point of the original image maps as ``xy * ratio + pad`` and back as
    ``(xy - pad) / ratio``.
    """

    imgsz: int

    def __call__(
        self, image: np.ndarray, instances: Instances
    ) -> tuple[np.ndarray, Instances, RatioPad]:
        resized, (h0, w0), (h, w) = load_resized(image, self.imgsz)
        if instances.normalized:
            instances = instances.to_pixels(w, h)
        else:
            instances = _scale_shift(instances, w / w0, h / h0, 0, 0)
        out, ratio, pad = letterbox(resized, self.imgsz, scaleup=False)
        instances = letterbox_instances(instances, ratio, pad)
        return out, instances, ((w / w0 * ratio, h / h0 * ratio), (float(pad[0]), float(pad[1])))


# --- batching for the loss ----------------------------------------------------------------------


def to_targets(
    batch: Sequence[Instances],
    imgsz: int | tuple[int, int],
    *,
    task: str,
    mask_ratio: int = 4,
    overlap: bool = True,
    keypoint_shape: tuple[int, int] | None = None,
) -> dict[str, np.ndarray]:
    """Collate the instances (pixels of ``imgsz`` images) of a batch in the loss's layout.

    ``cls`` float32 ``[M, 1]``, ``bboxes`` float32 ``[M, 4]`` normalised ``xywh``, ``batch_idx``
    float32 ``[M]`` (the image of each object); segment: ``masks`` uint8 (int32 past 255 objects)
    — with ``overlap`` one index map per image ``[N, h/r, w/r]`` whose value ``k`` is the image's
    ``k``-th object (objects are reordered largest first to match), else ``[M, h/r, w/r]`` 0/1;
    pose: ``keypoints`` float32 ``[M, K, 3|2]`` with ``x, y`` normalised (``keypoint_shape`` gives
    ``K, 3|2`` for a batch without objects).
    """
    height, width = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    mask_shape = (height // mask_ratio, width // mask_ratio)
    cls, boxes, owner, masks, keypoints = [], [], [], [], []
    for i, instances in enumerate(batch):
        if task == "segment":
            if len(instances) and not instances.segments:
                raise ValueError(f"to_targets: image {i} of the batch has objects but no polygons")
            if overlap:
                index_map, order = overlap_masks(instances.segments, (height, width), mask_ratio)
                instances = instances.select(order)
                masks.append(index_map[None])
            else:
                masks.append(polygons_to_masks(instances.segments, (height, width), mask_ratio))
        cls.append(instances.cls)
        boxes.append(instances.boxes)
        owner.append(np.full(len(instances), i))
        if task == "pose" and instances.keypoints is not None:
            keypoints.append(instances.keypoints)
    scale = np.array([width, height, width, height], np.float32)
    targets = {
        "cls": np.concatenate(cls or [np.zeros(0)]).astype(np.float32).reshape(-1, 1),
        "bboxes": xyxy_to_xywh(np.concatenate(boxes or [np.zeros((0, 4))])) / scale,
        "batch_idx": np.concatenate(owner or [np.zeros(0)]).astype(np.float32),
    }
    if task == "segment":
        targets["masks"] = np.concatenate(masks) if masks else np.zeros((0, *mask_shape), np.uint8)
    if task == "pose":
        targets["keypoints"] = _normalised_keypoints(
            keypoints, len(targets["cls"]), width, height, keypoint_shape
        )
    return targets


def _normalised_keypoints(
    parts: list[np.ndarray],
    count: int,
    width: int,
    height: int,
    keypoint_shape: tuple[int, int] | None,
) -> np.ndarray:
    known = [p for p in parts if len(p)]
    if not known:
        shape = keypoint_shape or (parts[0].shape[1:] if parts else (0, 3))
        if count:
            raise ValueError("to_targets: pose objects without keypoints")
        return np.zeros((0, *shape), np.float32)
    out = np.concatenate(known).astype(np.float32)
    if len(out) != count:
        raise ValueError("to_targets: pose objects without keypoints")
    out[..., 0] /= width
    out[..., 1] /= height
    return out
