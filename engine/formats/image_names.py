"""Image files by name: the one set of image suffixes the engine reads, and a test of a name.

Here, at the bottom of the engine, so the codecs (``yolo_dataset``, ``masks``) and
``engine.data.images`` (which re-exports ``IMAGE_SUFFIXES`` for its callers) share one set.
"""

from __future__ import annotations

import os

__all__ = ["IMAGE_SUFFIXES", "is_image_name"]

IMAGE_SUFFIXES = frozenset(
    {".bmp", ".dng", ".jpeg", ".jpg", ".jpe", ".mpo", ".png", ".tif", ".tiff", ".webp", ".pfm"}
)
"""Image files by suffix, lower case with the dot (what OpenCV decodes for training)."""


def is_image_name(name: str) -> bool:
    """Whether the file name (or path) ``name`` ends in an image suffix, in any case."""
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES
