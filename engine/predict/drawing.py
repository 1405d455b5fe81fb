"""Drawing on prediction images with OpenCV: sizes that follow the image, and text panels.

Kept apart from ``Results`` so the detection-family tasks can reuse the same label drawing for
their boxes, masks and keypoints.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
MIN_FONT_SCALE = 0.25


def line_width_for(shape: Sequence[int]) -> int:
    """Default stroke width in pixels for an image of ``shape`` (H, W, ...): ~0.3 % of its size."""
    return max(round((shape[0] + shape[1]) / 2 * 0.003), 1)


def font_scale_for(shape: Sequence[int]) -> float:
    """Default OpenCV font scale for an image of ``shape``: readable at 224 px and at 1280 px."""
    return float(np.clip((shape[0] + shape[1]) / 2 / 700, 0.3, 2.0))


def fit_font_scale(lines: Sequence[str], scale: float, thickness: int, max_width: int) -> float:
    """``scale``, shrunk (down to ``MIN_FONT_SCALE``) so the widest line fits ``max_width``."""
    widest = max(cv2.getTextSize(text, FONT, scale, thickness)[0][0] for text in lines)
    if widest <= max_width:
        return scale
    return max(scale * max_width / widest, MIN_FONT_SCALE)


def draw_text_panel(
    canvas: np.ndarray,
    lines: Sequence[str],
    *,
    origin: tuple[int, int] = (0, 0),
    font_scale: float,
    thickness: int,
    color: tuple[int, int, int] = (255, 255, 255),
    darken: float = 0.3,
) -> tuple[int, int, int, int]:
    """Write ``lines`` one under another on a darkened box at ``origin`` (x, y), in place.

    The box keeps ``darken`` of the pixels under it, so the text stays readable on any image.
    Returns the box as (x1, y1, x2, y2), clipped to the canvas; nothing outside it changes.
    """
    if not lines:
        return (origin[0], origin[1], origin[0], origin[1])
    sizes = [cv2.getTextSize(text, FONT, font_scale, thickness) for text in lines]
    pad = max(round(6 * font_scale), 2)
    line_height = max(h + baseline for (_, h), baseline in sizes) + pad
    x1, y1 = origin
    x2 = min(x1 + max(w for (w, _), _ in sizes) + 2 * pad, canvas.shape[1])
    y2 = min(y1 + line_height * len(lines) + pad, canvas.shape[0])
    region = canvas[y1:y2, x1:x2]
    region[:] = (region * darken).astype(canvas.dtype)
    for row, (text, ((_, height), _)) in enumerate(zip(lines, sizes, strict=True)):
        cv2.putText(
            region,  # drawing into the view keeps every stroke inside the box
            text,
            (pad, pad + line_height * row + height),
            FONT,
            font_scale,
            color,
            thickness,
            cv2.LINE_AA,
        )
    return (x1, y1, x2, y2)
