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
``xyxy``; see :mod:`engine.data.instances`. The geometry (letterbox, warp, flips) lives in
:mod:`engine.data.detect_geometry` and the batching in :mod:`engine.data.detect_targets`; both
are re-exported here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..formats.yolo_labels import KEYPOINTS, POLYGONS, label_rows
from .detect_geometry import (
    box_candidates,
    clip_instances,
    concat_instances,
    flip,
    flip_instances,
    letterbox,
    letterbox_instances,
    load_resized,
    random_perspective,
    scale_shift,
    warp,
)
from .detect_targets import to_targets
from .instances import Instances
from .polygons import resample_polygons

__all__ = [
    "DetectAugment",
    "DetectValTransform",
    "box_candidates",
    "box_ioa",
    "copy_paste",
    "flip",
    "hsv_augment",
    "letterbox",
    "letterbox_instances",
    "load_resized",
    "mixup",
    "mosaic4",
    "random_perspective",
    "to_targets",
    "warp",
]

log = logging.getLogger(__name__)

Loader = Callable[[int], tuple[np.ndarray, Instances]]
RatioPad = tuple[tuple[float, float], tuple[float, float]]


# --- mosaic, mixup, copy-paste, colour ----------------------------------------------------------


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
        parts.append(scale_shift(instances, 1, 1, x1a - x1b, y1a - y1b))
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
        donors = flip_instances(instances, w, h, True)
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


def box_ioa(boxes1: np.ndarray, boxes2: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """Intersection over the area of ``boxes2``: ``[n, m]`` for ``xyxy`` ``[n, 4]``, ``[m, 4]``."""
    low = np.maximum(boxes1[:, None, :2], boxes2[None, :, :2])
    high = np.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])
    inter = np.prod(np.clip(high - low, 0, None), -1)
    area2 = np.prod(boxes2[:, 2:] - boxes2[:, :2], -1)
    return inter / (area2[None] + eps)


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
        if label_rows(task) == KEYPOINTS and not flip_idx and fliplr > 0:
            log.warning("%s data has no flip_idx; horizontal flips are turned off (fliplr=0)", task)
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
        if label_rows(self.task) != POLYGONS:
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
            instances = scale_shift(instances, w / w0, h / h0, 0, 0)
        out, ratio, pad = letterbox(resized, self.imgsz, scaleup=False)
        instances = letterbox_instances(instances, ratio, pad)
        return out, instances, ((w / w0 * ratio, h / h0 * ratio), (float(pad[0]), float(pad[1])))
