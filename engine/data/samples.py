"""Small real datasets written as ImageNet-style folders, for demos, tests and benchmarks.

``digits`` is scikit-learn's bundled handwritten-digits set (1,797 8×8 images, 10 classes,
shipped inside the package, so nothing is downloaded), upscaled and saved as PNG files.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import DatasetError
from .images import write_image


def make_digits_folder(
    root: str | Path, *, size: int = 32, val_count: int = 400, seed: int = 0,
    limit: int | None = None,
) -> Path:
    """Write ``root/train/<digit>/*.png`` and ``root/val/<digit>/*.png``; returns ``root``.

    ``val_count`` images (a seeded random choice) are held out; ``limit`` keeps only the first
    images of the shuffled set (for fast tests).
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:  # scikit-learn is a development dependency
        raise DatasetError("the digits sample needs scikit-learn: pip install scikit-learn"
                           ) from exc
    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.images))
    if limit is not None:
        order = order[:limit]
        val_count = min(val_count, len(order) // 4)
    root = Path(root)
    for position, index in enumerate(order):
        split = "val" if position < val_count else "train"
        pixels = (digits.images[index] * (255.0 / 16.0)).astype(np.uint8)
        image = cv2.resize(pixels, (size, size), interpolation=cv2.INTER_LINEAR)
        label = int(digits.target[index])
        write_image(root / split / str(label) / f"{index:04d}.png", image)
    return root
