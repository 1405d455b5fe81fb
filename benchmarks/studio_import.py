"""How fast the studio imports a YOLO segment dataset (the target: 10,000 images in < 20 s).

Generates ``--images`` small JPEGs (64×64, 1–3 polygons each, 80 % train / 20 % val) in a temp
folder, imports them into a new segment project by reference, and prints the seconds and
images per second. ``--copy`` copies the images into the project instead.

    python benchmarks/studio_import.py [--images 10000] [--copy]
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from engine.formats.dataset_yaml import dataset_config, write_dataset_yaml
from engine.formats.yolo_labels import label_text, polygon_line
from studio.services.importers import import_dataset
from studio.services.projects import create_project

NAMES = ["circle", "triangle", "square"]


def make_dataset(root: Path, count: int, seed: int = 0) -> Path:
    """Write ``count`` 64×64 JPEGs with 1–3 polygon labels each; returns the yaml's path."""
    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
    for index in range(count):
        split = "val" if index % 5 == 0 else "train"
        image = rng.integers(0, 255, (64, 64, 3), np.uint8)
        cv2.imwrite(str(root / "images" / split / f"{index:05d}.jpg"), image)
        lines = [_polygon_line(rng) for _ in range(int(rng.integers(1, 4)))]
        (root / "labels" / split / f"{index:05d}.txt").write_text(label_text(lines))
    splits = {"train": "images/train", "val": "images/val"}
    return write_dataset_yaml(root / "data.yaml", dataset_config(splits, NAMES))


def _polygon_line(rng: np.random.Generator) -> str:
    cx, cy = rng.uniform(0.25, 0.75, 2)
    radius = rng.uniform(0.05, 0.2)
    points = int(rng.integers(3, 13))
    angles = np.linspace(0, 2 * math.pi, points, endpoint=False)
    xs, ys = cx + radius * np.cos(angles), cy + radius * np.sin(angles)
    points = np.round(np.stack((xs, ys), 1), 6)  # 6 decimals, as the figures were measured with
    return polygon_line(int(rng.integers(0, len(NAMES))), points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--copy", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="studio-import-bench-") as temp:
        started = time.perf_counter()
        yaml_path = make_dataset(Path(temp) / "dataset", args.images)
        print(f"generated {args.images} images in {time.perf_counter() - started:.1f} s")
        project = create_project(Path(temp) / "project", name="bench", task="segment")
        try:
            started = time.perf_counter()
            summary = import_dataset(project, yaml_path, copy=args.copy)
            seconds = time.perf_counter() - started
        finally:
            project.close()
    print(f"imported {summary.images} images, {summary.annotations} polygons "
          f"({'copied' if args.copy else 'by reference'}), {len(summary.problems)} problems")
    print(f"{seconds:.2f} s, {summary.images / seconds:.0f} images/s")


if __name__ == "__main__":
    main()
