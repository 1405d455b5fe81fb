"""Writing a generated YOLO dataset (images, label files, dataset yaml) for the sample sets.

The generators (``shape_samples``, ``figure_samples``) only draw scenes; this module lays them
out as ``root/images/{train,val}/*.jpg``, ``root/labels/{train,val}/*.txt`` and ``root/NAME``
(atomic writes), and gives them the same noisy backgrounds and contrasting colours.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..formats.dataset_yaml import write_dataset_yaml
from ..formats.yolo_labels import write_label_file
from .images import write_image

Scene = Callable[[np.random.Generator], tuple[np.ndarray, Sequence[str]]]
"""rng → (image, label lines) for one generated image."""


def write_sample_dataset(
    root: str | Path,
    yaml_name: str,
    spec: Mapping[str, Any],
    scene: Scene,
    *,
    counts: Mapping[str, int],
    seed: int,
) -> Path:
    """Draw ``counts[split]`` scenes per split from one seeded generator, write them and the
    yaml (the splits' image folders, then ``spec``); returns the yaml's path.

    The yaml gives no ``path``: without one, we and the reference both take the yaml's own
    folder as the root (the reference reads a relative ``path`` from the working directory)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, count in counts.items():
        for index in range(count):
            image, lines = scene(rng)
            stem = f"{split}_{index:04d}"
            write_image(root / "images" / split / f"{stem}.jpg", image)
            write_label_file(root / "labels" / split / f"{stem}.txt", lines)
    layout = {**{split: f"images/{split}" for split in counts}, **spec}
    target = root / yaml_name
    return write_dataset_yaml(target, layout)


def quantised(values: Iterable[float] | np.ndarray) -> list[float]:
    """Normalised coordinates rounded to 6 decimals (a millionth of the image), as the generated
    labels have always been: the sample datasets, and every figure measured on them, stay the
    same whatever the label codec's number format. ``round`` rounds the exact binary value, as
    ``f"{v:.6f}"`` did."""
    return [round(float(value), 6) for value in np.asarray(values).reshape(-1)]


def noisy_background(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A ``size``² image of one random colour with Gaussian noise, and that colour."""
    base = rng.integers(40, 216, 3)
    image = np.clip(base + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
    return image, base


def contrasting_colour(
    rng: np.random.Generator, background: np.ndarray, distance: int
) -> tuple[int, int, int]:
    """A random colour at least ``distance`` (sum of channel differences) from ``background``."""
    while True:
        colour = rng.integers(0, 256, 3)
        if np.abs(colour - background).sum() > distance:
            return tuple(int(c) for c in colour)
