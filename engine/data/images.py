"""Reading images: every common format to one layout (H×W×3 uint8, BGR, EXIF-upright).

OpenCV decodes (it is the fastest decoder here and honours EXIF orientation); bytes are read
with numpy first so paths with any characters work on every platform.

A PNG's chunk checksums are checked before OpenCV sees it: on a damaged PNG libpng prints its
own line to stderr ("libpng error: IDAT: CRC error", naming no file) before OpenCV returns, and
no OpenCV log level silences it. Checked first, the file is reported by path instead, through
``ImageReadError``. The check is a CRC-32 over the file, a few percent of the decode's time.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import cv2
import numpy as np

from ..errors import ImageReadError
from ..formats.image_names import IMAGE_SUFFIXES  # one set for the engine; re-exported

VIDEO_SUFFIXES = frozenset(
    {
        ".asf",
        ".avi",
        ".gif",
        ".m4v",
        ".mkv",
        ".mov",
        ".mp4",
        ".mpeg",
        ".mpg",
        ".ts",
        ".wmv",
        ".webm",
    }
)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def is_image_file(path: str | Path) -> bool:
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def png_problem(data: bytes | np.ndarray) -> str | None:
    """Why PNG bytes would make libpng stop (a chunk's checksum, a cut-off file), or None.

    Walks the chunks (length, type, data, CRC-32) up to IEND; bytes after IEND are ignored,
    as libpng ignores them. Not a PNG (no signature): None.
    """
    view = memoryview(data).cast("B")
    if bytes(view[:8]) != PNG_SIGNATURE:
        return None
    position, size = 8, len(view)
    while position + 8 <= size:
        length = int.from_bytes(view[position : position + 4], "big")
        kind = bytes(view[position + 4 : position + 8])
        name = kind.decode("ascii", "replace")
        end = position + 12 + length
        if end > size:
            return f"truncated PNG: the file ends inside its {name} chunk"
        stored = int.from_bytes(view[end - 4 : end], "big")
        if zlib.crc32(view[position + 4 : end - 4]) != stored:
            return (
                f"damaged PNG: the checksum of its {name} chunk does not match; "
                "the file is corrupt"
            )
        if kind == b"IEND":
            return None
        position = end
    return "truncated PNG: the file ends before its IEND chunk"


def decode_image(data: bytes | np.ndarray, *, source: str | Path = "<bytes>") -> np.ndarray:
    """Decode encoded image bytes to H×W×3 uint8 BGR (grey, RGBA and 16-bit are converted)."""
    buffer = np.frombuffer(data, np.uint8) if isinstance(data, bytes | bytearray) else data
    if buffer.size == 0:
        raise ImageReadError("the file is empty", path=source)
    problem = png_problem(buffer)
    if problem is not None:
        raise ImageReadError(f"not a readable image ({problem})", path=source)
    image = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if image is None:
        raise ImageReadError(
            "not a readable image (corrupt, truncated or unknown format)", path=source
        )
    return image


def read_image(path: str | Path) -> np.ndarray:
    """Read ``path`` as H×W×3 uint8 BGR, upright per its EXIF orientation."""
    try:
        data = np.fromfile(path, np.uint8)
    except (FileNotFoundError, IsADirectoryError, PermissionError, OSError) as exc:
        raise ImageReadError(f"cannot be read ({exc.strerror or exc})", path=path) from exc
    return decode_image(data, source=path)


def write_image(path: str | Path, image: np.ndarray, *, quality: int = 95) -> None:
    """Encode ``image`` (BGR) by the path's suffix and write it atomically."""
    from ..utils.atomic import atomic_writer

    target = Path(path)
    suffix = target.suffix.lower() or ".jpg"
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix in (".jpg", ".jpeg") else []
    ok, encoded = cv2.imencode(suffix, image, params)
    if not ok:
        raise ImageReadError(f"cannot encode an image as {suffix}", path=target)
    with atomic_writer(target) as handle:
        handle.write(encoded.tobytes())
