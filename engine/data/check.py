"""Fast image checks before training: find the files a loader would choke on, and say why.

Each file is opened once: Pillow reads the header (format and size) and ``verify()`` checks
what it can without decoding (PNG chunk checksums, for one). A JPEG that does not end with its
end-of-image marker has its markers walked to tell a cut-off file (the image data runs to the
end of the file, as when its second half is zeros: libjpeg's "Premature end of JPEG file",
which OpenCV decodes to a half-grey image without a word) from one with harmless bytes after
the marker, which is then decoded in full. A file Pillow cannot identify gets a full OpenCV
decode, since OpenCV is what training uses (a damaged PNG is named before that decode, which
would print libpng's own line; see images.py).
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
from .images import png_problem

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
    """A JPEG not ending with its end marker is fine if the marker comes earlier (bytes after
    it) and it decodes; else it is cut off."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if _jpeg_image_end(data) is None:
        return (
            "truncated JPEG: no end-of-image marker; the image data runs to the end of the file "
            "(libjpeg: \"Premature end of JPEG file\"), so part of the picture is missing"
        )
    try:
        with Image.open(path) as image:
            image.load()
    except Exception as exc:  # noqa: BLE001 - see _check_open_file
        return f"truncated JPEG: no end-of-image marker and decoding fails ({_describe(exc)})"
    return None


def _jpeg_image_end(data: bytes) -> int | None:
    """Offset just past the main image's end-of-image marker, or None when the file ends first.

    Walks the markers from the start: segments by their length (so an EXIF thumbnail's own
    end marker is skipped), entropy-coded scan data up to the next marker.
    """
    position, size = 2, len(data)  # after the start-of-image marker
    while position + 1 < size:
        if data[position] != 0xFF:
            return None  # not a marker where one must be: damaged
        marker = data[position + 1]
        if marker == 0xD9:
            return position + 2
        if marker == 0xFF or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            position += 1 if marker == 0xFF else 2  # fill byte, restart or TEM: no length
            continue
        if position + 4 > size:
            return None
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            position = _scan_end(data, position)
    return None


def _scan_end(data: bytes, position: int) -> int:
    """Offset of the first marker after scan data from ``position`` (the file's end if none).
    In scan data 0xFF is followed by 0x00 (a stuffed byte) or a restart marker, else a marker."""
    while True:
        found = data.find(b"\xff", position)
        if found < 0 or found + 1 >= len(data):
            return len(data)
        follower = data[found + 1]
        if follower != 0x00 and not 0xD0 <= follower <= 0xD7:
            return found
        position = found + 2


def _opencv_fallback(path: Path, reason: str) -> str | None:
    """Formats Pillow does not know (PFM, some TIFF flavours) still count if OpenCV decodes them."""
    try:
        data = np.fromfile(path, np.uint8)
        damaged = png_problem(data)
        if damaged is not None:  # decoding would print libpng's own line, naming no file
            return f"not a readable image ({damaged})"
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
