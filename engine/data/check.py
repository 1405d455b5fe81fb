"""Fast image checks before training: find the files a loader would choke on, and say why.

Each file is opened once: Pillow reads the header (format and size) and ``verify()`` checks
what it can without decoding (PNG chunk checksums, for one). A JPEG without its end-of-image
marker is decoded in full to tell a truncated file from one with harmless trailing bytes.
A file Pillow cannot identify gets a full OpenCV decode, since OpenCV is what training uses.
Files are only read: a bad image is reported and left out, never rewritten or deleted.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

import cv2
import numpy as np
from PIL import Image

from ..cancel import NEVER, CancelToken

Severity = Literal["error", "warning"]
CheckProgress = Callable[[int, int], None]
"""Called with (files checked, files in all) as a check goes on."""

MIN_SIDE = 2
_JPEG_EOI = b"\xff\xd9"
_BATCH = 64


@dataclass(frozen=True)
class Problem:
    """Something wrong with one file or folder of a dataset.

    ``error``: the file (or folder) is left out of training; ``warning``: it is used, or its
    absence does not stop training, but the user should know. ``line`` (from 1) points into a
    text file (a label file, an image list) when the problem is one of its lines.
    """

    path: Path
    reason: str
    severity: Severity = "error"
    line: int | None = None


def default_workers() -> int:
    """Threads for checking: a few per core, so waiting on a slow disk overlaps with parsing."""
    return min(16, (os.cpu_count() or 1) * 2)


def check_image(path: Path) -> str | None:
    """Why ``path`` cannot be used as a training image, or None when it can."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            if size == 0:
                return "empty file (0 bytes)"
            handle.seek(0)
            return _check_open_file(handle, path)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"


def _check_open_file(handle: BinaryIO, path: Path) -> str | None:
    try:
        with Image.open(handle) as image:
            image_format, (width, height) = image.format, image.size
            image.verify()
    except Image.DecompressionBombError as exc:
        return f"too large to decode safely ({exc})"
    except Exception as exc:  # noqa: BLE001 - a corrupt file can make any decoder raise anything
        return _opencv_fallback(path, f"not a readable image ({_describe(exc)})")
    if min(width, height) < MIN_SIDE:
        return f"image is {width}×{height} px; each side must be at least {MIN_SIDE} px"
    if image_format == "JPEG" and not _ends_with(handle, _JPEG_EOI):
        return _check_full_jpeg(path)
    return None


def _ends_with(handle: BinaryIO, marker: bytes) -> bool:
    handle.seek(-len(marker), os.SEEK_END)
    return handle.read(len(marker)) == marker


def _check_full_jpeg(path: Path) -> str | None:
    """A JPEG without its end marker is fine if it decodes (trailing bytes), else truncated."""
    try:
        with Image.open(path) as image:
            image.load()
    except Exception as exc:  # noqa: BLE001 - see _check_open_file
        return f"truncated JPEG: no end-of-image marker and decoding fails ({_describe(exc)})"
    return None


def _opencv_fallback(path: Path, reason: str) -> str | None:
    """Formats Pillow does not know (PFM, some TIFF flavours) still count if OpenCV decodes them."""
    try:
        data = np.fromfile(path, np.uint8)
        decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except (OSError, cv2.error):
        return reason
    return reason if decoded is None or min(decoded.shape[:2]) < MIN_SIDE else None


def _describe(exc: Exception) -> str:
    text = str(exc).strip()
    if "cannot identify image file" in text:
        return "unknown format or damaged header"
    return text or type(exc).__name__


def check_images(
    paths: Sequence[Path],
    *,
    workers: int | None = None,
    cancel: CancelToken = NEVER,
    progress: CheckProgress | None = None,
) -> dict[Path, str]:
    """Check ``paths`` on a thread pool; map each unusable file to the reason.

    ``cancel`` is checked between batches of files and raises ``Cancelled``.
    """
    failures: dict[Path, str] = {}
    done, total = 0, len(paths)
    if progress is not None:
        progress(0, total)
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        sizes: dict[Future[dict[Path, str]], int] = {
            pool.submit(_check_batch, paths[i : i + _BATCH]): len(paths[i : i + _BATCH])
            for i in range(0, total, _BATCH)
        }
        pending = set(sizes)
        try:
            while pending:
                cancel.raise_if_cancelled()
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in finished:
                    failures.update(future.result())
                    done += sizes[future]
                if finished and progress is not None:
                    progress(done, total)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return failures


def _check_batch(paths: Sequence[Path]) -> dict[Path, str]:
    results = ((path, check_image(path)) for path in paths)
    return {path: reason for path, reason in results if reason is not None}
