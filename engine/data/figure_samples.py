"""A generated pose dataset: stick figures on noisy backgrounds, with box + keypoint labels.

Each image holds 1..``max_figures`` figures that do not overlap. A figure has five keypoints —
head, left hand, right hand, left foot, right foot — where "left" is the figure's own left,
which faces the viewer and so lies on the image's right (as in COCO). Now and then a hand is
hidden behind a small block; its keypoint is still labelled, with visibility 1. Written in the
YOLO pose layout::

    root/figures.yaml                  kpt_shape [5, 3], flip_idx, kpt_names, skeleton
    root/images/{train,val}/*.jpg
    root/labels/{train,val}/*.txt      0 cx cy w h  then 5 x (x y visibility), normalised
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from ..formats.yolo_labels import pose_line
from .sample_writer import (
    contrasting_colour,
    noisy_background,
    quantised,
    write_sample_dataset,
)

KEYPOINT_NAMES = ("head", "left_hand", "right_hand", "left_foot", "right_foot")
FLIP_IDX = (0, 2, 1, 4, 3)
SKELETON = ((0, 1), (0, 2), (0, 3), (0, 4))
"""Head to each hand and each foot (the torso point the limbs meet at is not a keypoint)."""
OCCLUDED_HAND_CHANCE = 0.1


def make_figures_dataset(
    root: str | Path,
    *,
    size: int = 320,
    train: int = 200,
    val: int = 50,
    max_figures: int = 3,
    seed: int = 0,
) -> Path:
    """Write the dataset under ``root``; returns the path of its ``figures.yaml``."""
    spec = {
        "kpt_shape": [len(KEYPOINT_NAMES), 3],
        "flip_idx": list(FLIP_IDX),
        "kpt_names": list(KEYPOINT_NAMES),
        "skeleton": [list(pair) for pair in SKELETON],
        "names": {0: "figure"},
    }
    return write_sample_dataset(
        root,
        "figures.yaml",
        spec,
        lambda rng: _scene(rng, size, max_figures),
        counts={"train": train, "val": val},
        seed=seed,
    )


def _scene(rng: np.random.Generator, size: int, max_figures: int):
    """A noisy background with 1..max_figures non-overlapping figures, and their label lines
    (each figure a box and 5 keypoints, normalised)."""
    image, base = noisy_background(rng, size)
    taken: list[np.ndarray] = []  # xyxy of each figure with its margin
    figures = []
    for _ in range(int(rng.integers(1, max_figures + 1))):
        figure = _place_figure(rng, size, taken)
        if figure is None:
            break
        joints, keypoints, thickness, margin = figure
        box = _figure_box(joints, thickness)
        taken.append(box + [-margin, -margin, margin, margin])
        _draw_figure(image, joints, thickness, contrasting_colour(rng, base, 200))
        if rng.random() < OCCLUDED_HAND_CHANCE:
            hand = int(rng.integers(1, 3))
            _occlude(image, keypoints[hand, :2], margin, contrasting_colour(rng, base, 200))
            keypoints[hand, 2] = 1
        figures.append((box, keypoints))
    return image, _label_lines(figures, size)


def _pose(rng: np.random.Generator, height: float) -> dict[str, np.ndarray]:
    """The joints of a figure ``height`` tall with its head's top at (0, 0)."""
    head = np.array([0.0, 0.1 * height])
    shoulder = np.array([0.0, 0.28 * height])
    hip = np.array([0.0, 0.6 * height])
    arm, leg = 0.3 * height, 0.4 * height
    joints = {"head": head, "shoulder": shoulder, "hip": hip}
    for side, sign in (("left", 1.0), ("right", -1.0)):  # the figure's left is the image's right
        lift = math.radians(float(rng.uniform(-60, 60)))  # 0: arm straight out sideways
        joints[f"{side}_hand"] = shoulder + arm * np.array([sign * math.cos(lift), -math.sin(lift)])
        spread = math.radians(float(rng.uniform(10, 35)))
        joints[f"{side}_foot"] = hip + leg * np.array([sign * math.sin(spread), math.cos(spread)])
    return joints


def _place_figure(rng: np.random.Generator, size: int, taken, tries: int = 50):
    for _ in range(tries):
        height = float(rng.uniform(size * 0.25, size * 0.55))
        joints = _pose(rng, height)
        thickness = max(int(round(height * 0.03)), 2)
        margin = 0.05 * height + 4
        box = _figure_box(joints, thickness)
        low = margin - box[:2]
        high = size - margin - box[2:]
        if np.any(high <= low):
            continue
        shift = rng.uniform(low, high)
        moved = {name: point + shift for name, point in joints.items()}
        box = _figure_box(moved, thickness)
        if all(_apart(box, other, margin) for other in taken):
            keypoints = np.array(
                [[*moved[name], 2.0] for name in ("head", *KEYPOINT_NAMES[1:])], np.float32
            )
            return moved, keypoints, thickness, margin
    return None


def _figure_box(joints: dict[str, np.ndarray], thickness: int) -> np.ndarray:
    """xyxy enclosing the drawn figure: head circle, limbs and line thickness."""
    points = np.stack(list(joints.values()))
    head_radius = _head_radius(joints)
    head = joints["head"]
    low = np.minimum(points.min(0), head - head_radius) - thickness
    high = np.maximum(points.max(0), head + head_radius) + thickness
    return np.concatenate((low, high))


def _head_radius(joints: dict[str, np.ndarray]) -> float:
    """A tenth of the figure's height (the head centre sits 0.5 height above the hip)."""
    return float(joints["hip"][1] - joints["head"][1]) / 0.5 * 0.1


def _apart(box: np.ndarray, other: np.ndarray, margin: float) -> bool:
    return bool(
        box[0] - margin >= other[2]
        or other[0] >= box[2] + margin
        or box[1] - margin >= other[3]
        or other[1] >= box[3] + margin
    )


def _draw_figure(image: np.ndarray, joints, thickness: int, colour) -> None:
    def point(name: str) -> tuple[int, int]:
        return tuple(int(round(v)) for v in joints[name])

    head_radius = _head_radius(joints)
    cv2.circle(image, point("head"), int(round(head_radius)), colour, thickness, cv2.LINE_AA)
    neck = (point("head")[0], int(round(joints["head"][1] + head_radius)))
    cv2.line(image, neck, point("hip"), colour, thickness, cv2.LINE_AA)
    for side in ("left", "right"):
        for start, end in (("shoulder", "hand"), ("hip", "foot")):
            cv2.line(image, point(start), point(f"{side}_{end}"), colour, thickness, cv2.LINE_AA)


def _occlude(image: np.ndarray, centre: np.ndarray, half: float, colour) -> None:
    x, y = (int(round(v)) for v in centre)
    reach = max(int(half * 0.8), 3)
    cv2.rectangle(image, (x - reach, y - reach), (x + reach, y + reach), colour, -1)


def _label_lines(figures, size: int) -> list[str]:
    lines = []
    for box, keypoints in figures:
        x1, y1, x2, y2 = (float(v) for v in np.clip(box / size, 0, 1))
        points = [
            [*quantised(np.clip(np.array([x, y], np.float64) / size, 0, 1)), int(visibility)]
            for x, y, visibility in keypoints
        ]
        box_xywh = quantised([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])
        lines.append(pose_line(0, box_xywh, points))
    return lines
