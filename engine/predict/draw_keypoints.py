"""Drawing pose keypoints and the limbs between them on an image, in place (OpenCV, BGR).

Each keypoint index has its own colour (the same in every object and image); a limb takes the
colour of its first keypoint. Keypoints whose confidence is below a threshold, and those outside
the image, are hidden together with every limb that touches them.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import cv2
import numpy as np

from .drawing import line_width_for

Skeleton = Sequence[tuple[int, int]]

COCO_SKELETON: tuple[tuple[int, int], ...] = (
    # legs: ankle-knee, knee-hip (left, right), then hip-hip
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12),
    # torso and arms: shoulder-hip, shoulder-shoulder, shoulder-elbow, elbow-wrist
    (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9), (8, 10),
    # head: eyes, nose, ears, ear-shoulder
    (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)  # fmt: skip
"""The 19 limbs of the 17 COCO person keypoints (0-based: 0 nose, 1-2 eyes, 3-4 ears,
5-6 shoulders, 7-8 elbows, 9-10 wrists, 11-12 hips, 13-14 knees, 15-16 ankles; left first)."""

COCO_NUM_KEYPOINTS = 17


def skeleton_for(
    num_keypoints: int, dataset_skeleton: Skeleton | None = None
) -> tuple[tuple[int, int], ...]:
    """The limbs to draw: the dataset's own skeleton when it gives one, COCO's for 17 keypoints,
    otherwise none (points only)."""
    if dataset_skeleton:
        return tuple((int(a), int(b)) for a, b in dataset_skeleton)
    if num_keypoints == COCO_NUM_KEYPOINTS:
        return COCO_SKELETON
    return ()


def _keypoint_palette(count: int = 24) -> list[tuple[int, int, int]]:
    """Bright BGR colours with hues spread evenly, alternating two brightness levels so that
    neighbouring indices stay distinguishable."""
    colours = []
    for i in range(count):
        hue = (i * 7 % count) / count
        value = 1.0 if i % 2 == 0 else 0.8
        red, green, blue = colorsys.hsv_to_rgb(hue, 0.75, value)
        colours.append((int(blue * 255), int(green * 255), int(red * 255)))
    return colours


KEYPOINT_PALETTE = _keypoint_palette()


def keypoint_colour(index: int) -> tuple[int, int, int]:
    """The BGR colour of keypoint ``index``."""
    return KEYPOINT_PALETTE[int(index) % len(KEYPOINT_PALETTE)]


def draw_keypoints(
    canvas: np.ndarray,
    keypoints: np.ndarray,
    *,
    skeleton: Skeleton,
    conf_threshold: float = 0.5,
    radius: int | None = None,
    line_width: int | None = None,
) -> None:
    """Draw ``keypoints [n, K, 2|3]`` (x, y[, confidence] in canvas pixels): limbs first, then
    a filled dot per shown keypoint, in place."""
    keypoints = np.asarray(keypoints, dtype=np.float32)
    if keypoints.size == 0:
        return
    if keypoints.ndim != 3 or keypoints.shape[-1] not in (2, 3):
        raise ValueError(f"keypoints must be [n, K, 2|3], got {keypoints.shape}")
    width = line_width or max(line_width_for(canvas.shape) // 2, 1)
    dot = radius or max(line_width_for(canvas.shape) * 2, 3)  # legible at 320 px and at 4K
    shown = visible_keypoints(keypoints, canvas.shape[:2], conf_threshold)
    count = keypoints.shape[1]
    for points, mask in zip(keypoints, shown, strict=True):
        centres = np.round(points[:, :2]).astype(int)
        for a, b in skeleton:
            if a < count and b < count and mask[a] and mask[b]:
                start, end = tuple(centres[a].tolist()), tuple(centres[b].tolist())
                cv2.line(canvas, start, end, keypoint_colour(a), width, cv2.LINE_AA)
        for index in np.flatnonzero(mask):
            centre = tuple(centres[index].tolist())
            cv2.circle(canvas, centre, dot, keypoint_colour(index), -1, cv2.LINE_AA)


def visible_keypoints(
    keypoints: np.ndarray, shape: tuple[int, int], conf_threshold: float = 0.5
) -> np.ndarray:
    """``[n, K]`` booleans: inside the image (``shape`` H, W) and confident enough."""
    height, width = shape
    x, y = keypoints[..., 0], keypoints[..., 1]
    shown = (x >= 0) & (y >= 0) & (x < width) & (y < height)
    if keypoints.shape[-1] == 3:
        shown &= keypoints[..., 2] >= conf_threshold
    return shown
