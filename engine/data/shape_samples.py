"""A generated segmentation dataset: filled shapes on noisy backgrounds, with polygon labels.

Used by tests (a few tiny images), the demo project and ``benchmarks/detect_train.py`` (320×320
images with 1–4 shapes — circle, triangle, rectangle, star — 200 train / 50 val). Shapes do not
overlap, so every polygon is the whole visible object. Written in the YOLO segment layout::

    root/shapes.yaml
    root/images/{train,val}/*.jpg
    root/labels/{train,val}/*.txt      class x1 y1 x2 y2 ... (normalised)
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from ..formats.yolo_labels import polygon_line
from .sample_writer import (
    contrasting_colour,
    noisy_background,
    quantised,
    write_sample_dataset,
)

SHAPE_NAMES = ("circle", "triangle", "rectangle", "star")


def make_shapes_dataset(
    root: str | Path,
    *,
    size: int = 320,
    train: int = 200,
    val: int = 50,
    max_shapes: int = 4,
    seed: int = 0,
) -> Path:
    """Write the dataset under ``root``; returns the path of its ``shapes.yaml``."""
    return write_sample_dataset(
        root,
        "shapes.yaml",
        {"names": dict(enumerate(SHAPE_NAMES))},
        lambda rng: _scene(rng, size, max_shapes),
        counts={"train": train, "val": val},
        seed=seed,
    )


def _scene(rng: np.random.Generator, size: int, max_shapes: int):
    """A noisy background with 1..max_shapes non-overlapping filled shapes, and its label
    lines."""
    image, base = noisy_background(rng, size)
    placed: list[tuple[float, float, float]] = []  # (cx, cy, radius)
    rows = []
    for _ in range(int(rng.integers(1, max_shapes + 1))):
        spot = _free_spot(rng, size, placed)
        if spot is None:
            break
        placed.append(spot)
        kind = int(rng.integers(0, len(SHAPE_NAMES)))
        polygon = _polygon(kind, *spot, rng)
        colour = contrasting_colour(rng, base, 150)
        cv2.fillPoly(image, [np.round(polygon).astype(np.int32)], colour, cv2.LINE_AA)
        rows.append((kind, polygon))
    return image, _label_lines(rows, size)


def _free_spot(rng, size: int, placed, tries: int = 50):
    for _ in range(tries):
        radius = float(rng.uniform(size * 0.06, size * 0.2))
        cx, cy = rng.uniform(radius + 2, size - radius - 2, 2)
        if all(math.hypot(cx - x, cy - y) > radius + r + 4 for x, y, r in placed):
            return float(cx), float(cy), radius
    return None


def _polygon(kind: int, cx: float, cy: float, radius: float, rng) -> np.ndarray:
    turn = float(rng.uniform(0, 2 * math.pi))
    if kind == 0:  # circle
        angles = np.linspace(0, 2 * math.pi, 48, endpoint=False)
        radii = np.full(48, radius)
    elif kind == 1:  # triangle
        angles = turn + np.arange(3) * 2 * math.pi / 3
        radii = np.full(3, radius)
    elif kind == 2:  # rectangle, aspect 0.5..1
        half_w, half_h = radius * 0.7, radius * 0.7 * rng.uniform(0.5, 1.0)
        corners = np.array(
            [[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]]
        )
        rotation = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
        return (corners @ rotation.T + [cx, cy]).astype(np.float32)
    else:  # five-pointed star
        angles = turn + np.arange(10) * math.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, radius, radius * 0.45)
    points = np.stack((cx + radii * np.cos(angles), cy + radii * np.sin(angles)), 1)
    return points.astype(np.float32)


def _label_lines(rows, size: int) -> list[str]:
    return [polygon_line(kind, quantised(np.clip(polygon / size, 0, 1))) for kind, polygon in rows]
