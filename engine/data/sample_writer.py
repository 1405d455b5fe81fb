"""Writing a generated YOLO dataset (images, label files, dataset yaml) for the sample sets.

The generators (``shape_samples``, ``figure_samples``) only draw scenes; this module lays them
out as ``root/images/{train,val}/*.jpg``, ``root/labels/{train,val}/*.txt`` and ``root/NAME``
(atomic writes), and gives them the same noisy backgrounds and contrasting colours.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..utils.atomic import atomic_writer
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
            _write_lines(root / "labels" / split / f"{stem}.txt", lines)
    layout = {**{split: f"images/{split}" for split in counts}, **spec}
    target = root / yaml_name
    with atomic_writer(target) as handle:
        handle.write(yaml.safe_dump(layout, sort_keys=False).encode())
    return target


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


def _write_lines(path: Path, lines: Sequence[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_writer(path) as handle:
        handle.write(("\n".join(lines) + "\n").encode() if lines else b"")
