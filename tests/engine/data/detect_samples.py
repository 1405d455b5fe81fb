"""Tiny segment / pose datasets written by tests: noise images, label files and a yaml."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import yaml

TRIANGLE = "0 0.1 0.1 0.9 0.1 0.5 0.8"
POSE_ROW = "0 0.5 0.5 0.4 0.4 0.4 0.4 2 0.6 0.4 1 0.5 0.6 0"  # K=3, D=3


def write_image(path: Path, seed: int = 0, size: int = 16) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), pixels)
    return path


def write_labels(path: Path, rows: Sequence[str] | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = rows if isinstance(rows, str) else "".join(f"{row}\n" for row in rows)
    path.write_text(text, encoding="utf-8")
    return path


def write_yaml(path: Path, config: Mapping) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
    return path


def make_dataset(
    root: Path,
    *,
    task: str = "segment",
    per_split: int = 2,
    rows: Sequence[str] | None = None,
    extra: Mapping | None = None,
) -> Path:
    """``root/images/{train,val}/i.png`` with a label file each; returns ``root/data.yaml``."""
    rows = rows if rows is not None else [TRIANGLE if task == "segment" else POSE_ROW]
    for split in ("train", "val"):
        for i in range(per_split):
            write_image(root / "images" / split / f"{i}.png", seed=i)
            write_labels(root / "labels" / split / f"{i}.txt", rows)
    config: dict = {"path": ".", "train": "images/train", "val": "images/val", "names": ["thing"]}
    if task == "pose":
        config |= {"kpt_shape": [3, 3], "flip_idx": [0, 2, 1]}
    config |= dict(extra or {})
    return write_yaml(root / "data.yaml", config)
