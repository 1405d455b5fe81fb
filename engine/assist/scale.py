"""The small working copy an assist runs on, and the mapping of its pixels back to the image.

Every classical assist (GrabCut, flood fill, scissors) costs time in proportion to the pixels it
sees, so it runs on a crop of the image (the region that matters) downscaled until its longer
side is at most ``max_side``. The crop is a numpy view and the downscale writes only the small
copy, so a 10,000 × 10,000 image costs one pass over the cropped pixels and no full-size
copy. Points map between the two through pixel centres: full pixel ``x`` covers
``[x - 0.5, x + 0.5]``, as ``cv2.resize`` takes it.

Also the argument checks the assists share: each names the argument and says what to pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "DEFAULT_MAX_SIDE",
    "WorkingCopy",
    "check_box",
    "check_image",
    "check_point",
    "working_copy",
]

DEFAULT_MAX_SIDE = 1024
"""The longer side of the working copy, in pixels: GrabCut on it takes ~0.1–0.5 s."""

_MIN_MAX_SIDE = 16
_FAST_FACTOR = 4  # from this shrink factor on, a whole factor (see working_copy)


@dataclass(frozen=True)
class WorkingCopy:
    """A crop of the image, downscaled: ``image`` is contiguous ``[h, w, 3]`` uint8 BGR.

    ``origin`` is the crop's top-left corner in image pixels; ``scale`` is (x, y) working
    pixels per image pixel (≤ 1; the two differ by the rounding of the resized size)."""

    image: np.ndarray
    origin: tuple[int, int]
    scale: tuple[float, float]

    def to_working(self, points: np.ndarray | Sequence[float]) -> np.ndarray:
        """Image pixels → working pixels (float64, any ``[..., 2]`` shape)."""
        xy = np.asarray(points, np.float64)
        return (xy - self.origin + 0.5) * self.scale - 0.5

    def to_full(self, points: np.ndarray | Sequence[float]) -> np.ndarray:
        """Working pixels → image pixels (float64, any ``[..., 2]`` shape)."""
        xy = np.asarray(points, np.float64)
        return (xy + 0.5) / self.scale - 0.5 + self.origin

    def pixel(self, point: np.ndarray | Sequence[float]) -> tuple[int, int]:
        """The working pixel (column, row) nearest to ``point`` (image pixels), clipped to the
        copy: where a click lands."""
        height, width = self.image.shape[:2]
        x, y = np.round(self.to_working(point))
        return int(np.clip(x, 0, width - 1)), int(np.clip(y, 0, height - 1))

    @property
    def pixel_size(self) -> float:
        """How many image pixels one working pixel spans (the larger of the two axes)."""
        return 1.0 / min(self.scale)


def working_copy(
    image: np.ndarray,
    region: tuple[int, int, int, int] | None = None,
    max_side: int = DEFAULT_MAX_SIDE,
) -> WorkingCopy:
    """The crop ``region`` (``x0, y0, x1, y1``, end exclusive, already inside the image; None
    for the whole image) of the checked ``image``, downscaled so its longer side is at most
    ``max_side`` (INTER_AREA: it averages, so thin edges stay where they were).

    A crop over ``_FAST_FACTOR`` times ``max_side`` shrinks by a whole factor, its far edges
    moved by under a factor's pixels to a multiple of it (out where the image has room, else
    in): OpenCV averages whole blocks four times faster (0.17 s rather than 0.7 s for a
    10,000² photo), and a missing sliver of under ten pixels out of thousands is not seen."""
    if int(max_side) < _MIN_MAX_SIDE:
        raise ValueError(f"max_side must be at least {_MIN_MAX_SIDE} pixels, not {max_side}")
    height, width = image.shape[:2]
    x0, y0, x1, y1 = region if region is not None else (0, 0, width, height)
    longest = max(x1 - x0, y1 - y0)
    whole = -(-longest // int(max_side))  # the smallest whole factor that fits max_side
    size = None
    if whole >= _FAST_FACTOR:
        ends = _whole_blocks(x0, x1, whole, width), _whole_blocks(y0, y1, whole, height)
        if ends[0] - x0 >= whole and ends[1] - y0 >= whole:
            x1, y1 = ends
            size = ((x1 - x0) // whole, (y1 - y0) // whole)
    crop = image[y0:y1, x0:x1]
    crop_w, crop_h = x1 - x0, y1 - y0
    if size is None:
        factor = min(1.0, max_side / longest)
        size = (max(1, round(crop_w * factor)), max(1, round(crop_h * factor)))
    if size == (crop_w, crop_h):
        small = np.ascontiguousarray(crop)  # a copy of at most max_side² pixels
    else:
        small = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    small = _three_channels(small)
    return WorkingCopy(small, (x0, y0), (size[0] / crop_w, size[1] / crop_h))


def _whole_blocks(start: int, end: int, factor: int, limit: int) -> int:
    """``end`` moved so that ``end - start`` is a multiple of ``factor``: out if ``limit``
    allows, else in (to ``start`` when that leaves nothing: the caller then resizes as
    usual)."""
    length = end - start
    longer = start + -(-length // factor) * factor
    return longer if longer <= limit else start + (length // factor) * factor


def _three_channels(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.shape[2] == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(image)


# -- argument checks -------------------------------------------------------------------------


def check_image(image: np.ndarray) -> np.ndarray:
    """``image`` as an ``[h, w]`` or ``[h, w, 1|3|4]`` uint8 array (BGR, as the engine reads
    images); ValueError naming ``image`` otherwise."""
    array = np.asarray(image)
    shape_ok = array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4))
    if not shape_ok or array.dtype != np.uint8:
        raise ValueError(
            f"image must be an [h, w] or [h, w, 3] uint8 array (as read_image gives), "
            f"not {array.dtype} {array.shape}"
        )
    if array.shape[0] < 2 or array.shape[1] < 2:
        raise ValueError(
            f"image is {array.shape[1]}×{array.shape[0]} pixels; it has nothing to outline"
        )
    return array


def check_point(
    point: Sequence[float] | np.ndarray, shape: tuple[int, ...], name: str = "point"
) -> np.ndarray:
    """``point`` (x, y in image pixels) as float64, inside an image of ``shape``; ValueError
    naming ``name`` when it is not two finite numbers or lies outside the image."""
    xy = np.asarray(point, np.float64).reshape(-1)
    if xy.shape != (2,) or not np.isfinite(xy).all():
        raise ValueError(f"{name} must be two numbers (x, y) in image pixels, not {point!r}")
    height, width = shape[:2]
    if not (-0.5 <= xy[0] < width - 0.5 and -0.5 <= xy[1] < height - 0.5):
        raise ValueError(
            f"{name} ({xy[0]:g}, {xy[1]:g}) is outside the {width}×{height} image;"
            " click on the image"
        )
    return xy


def check_box(
    box: Sequence[float] | np.ndarray, shape: tuple[int, ...], min_side: float = 2.0
) -> tuple[int, int, int, int]:
    """``box`` (x0, y0, x1, y1 in image pixels, corners in either order) as integer pixel
    bounds ``x0, y0, x1, y1`` (end exclusive) clipped to an image of ``shape``.

    A box partly outside the image is clipped; ValueError naming ``box`` when it is not four
    finite numbers, lies wholly outside the image, or is under ``min_side`` pixels on a side
    (nothing to outline in it)."""
    values = np.asarray(box, np.float64).reshape(-1)
    if values.shape != (4,) or not np.isfinite(values).all():
        raise ValueError(f"box must be four numbers (x0, y0, x1, y1) in image pixels, not {box!r}")
    left, right = sorted(values[0::2])
    top, bottom = sorted(values[1::2])
    if right - left < min_side or bottom - top < min_side:
        raise ValueError(
            f"box ({left:g}, {top:g}, {right:g}, {bottom:g}) is "
            f"{right - left:g}×{bottom - top:g} pixels; drag a box at least "
            f"{min_side:g} pixels wide and high around the object"
        )
    height, width = shape[:2]
    bounds = (
        max(0, int(np.floor(left))),
        max(0, int(np.floor(top))),
        min(width, int(np.ceil(right)) + 1),
        min(height, int(np.ceil(bottom)) + 1),
    )
    if bounds[2] - bounds[0] < min_side or bounds[3] - bounds[1] < min_side:
        raise ValueError(
            f"box ({left:g}, {top:g}, {right:g}, {bottom:g}) lies outside the "
            f"{width}×{height} image; drag it over the object"
        )
    return bounds
