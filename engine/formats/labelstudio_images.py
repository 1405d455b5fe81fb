"""Where a Label Studio task's image is: the reference its data holds (``image``, the
``$variable`` a result's ``to_name`` names, else the first value that looks like an image) and
the file it names below an images folder.

Label Studio writes ``/data/upload/3/5f2a0b1c-a.jpg`` (an upload, its name prefixed with 8 hex
digits), ``/data/local-files/?d=folder/a.jpg``, ``s3://``/``gs://``/``http(s)://`` URLs or a
bare name. A file is looked for by the path after ``?d=``, then a relative reference as
written, then the upload name without its prefix, then the name as written, each in the folder
and its ``images/``; never above the folder, and URLs are never fetched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

__all__ = ["IMAGE_SUFFIXES", "find_image", "image_reference", "is_url"]

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                            ".jfif", ".pgm", ".ppm", ".heic", ".avif"})
_UPLOAD_PREFIX = re.compile(r"^[0-9a-fA-F]{8}-(.+)$")
_URL_SCHEMES = ("http", "https", "s3", "gs", "azure-blob", "ftp")


def image_reference(data: Mapping[str, Any], results: Sequence[Mapping[str, Any]] = ()
                    ) -> str | None:
    """The task's image as Label Studio wrote it: ``data["image"]``, else the value named by a
    result's ``to_name``, else the first data value that looks like an image."""
    if isinstance(data.get("image"), str) and data["image"]:
        return data["image"]
    for result in results:
        value = data.get(str(result.get("to_name")))
        if isinstance(value, str) and value:
            return value
    for value in data.values():
        if isinstance(value, str) and PurePosixPath(_path_of(value)).suffix.lower() in \
                IMAGE_SUFFIXES:
            return value
    return None


def find_image(reference: str, base: Path) -> tuple[Path | None, PurePosixPath, list[str]]:
    """The file ``reference`` names below ``base`` (None when missing), the image's name
    (the file's name, else the reference's name without an upload prefix) and the relative
    paths tried, in order."""
    tried: list[str] = []
    for candidate in _candidates(reference):
        for folder in ("", "images"):
            relative = PurePosixPath(folder, candidate) if folder else candidate
            if str(relative) in tried:
                continue
            tried.append(str(relative))
            path = base / relative
            if path.is_file():
                return path, PurePosixPath(path.name), tried
    name = PurePosixPath(_path_of(reference)).name
    stripped = _UPLOAD_PREFIX.match(name)
    name = stripped.group(1) if stripped else name
    return None, PurePosixPath(name if name not in ("", ".", "..") else "image"), tried


def _candidates(reference: str) -> list[PurePosixPath]:
    """Relative paths that may hold the image, in the order they are tried."""
    found: list[PurePosixPath] = []
    written = _path_of(reference)
    local = _local_files_path(reference)
    if local is not None:
        found.append(local)
    elif not is_url(reference) and not written.startswith("/") and \
            not PureWindowsPath(written).drive:  # C:\data\a.jpg: looked for by name only
        found.append(PurePosixPath(written))
    name = PurePosixPath(written).name
    stripped = _UPLOAD_PREFIX.match(name)
    if stripped:
        found.append(PurePosixPath(stripped.group(1)))
    if name:
        found.append(PurePosixPath(name))
    # never look above the images folder (a reference with '..' or a root)
    return [p for p in dict.fromkeys(found) if p.parts and ".." not in p.parts
            and not p.is_absolute()]


def _local_files_path(reference: str) -> PurePosixPath | None:
    """The path after ``?d=`` of a ``/data/local-files/`` reference."""
    if "?d=" not in reference and "&d=" not in reference:
        return None
    values = parse_qs(_split(reference).query).get("d")
    return PurePosixPath(values[0]) if values else None


def _split(reference: str) -> SplitResult:
    """``urlsplit``, which refuses a malformed host (``http://[x``): then no URL at all."""
    try:
        return urlsplit(reference)
    except ValueError:
        return urlsplit("")


def _path_of(reference: str) -> str:
    """The path part of a reference (a URL's path, unquoted; the ``?d=`` path of a local
    file), as a POSIX path."""
    local = _local_files_path(reference)
    if local is not None:
        return str(local)
    if is_url(reference):
        return unquote(_split(reference).path)
    return unquote(reference.split("?", 1)[0]).replace("\\", "/")


def is_url(reference: str) -> bool:
    """Whether ``reference`` is a URL (never fetched: its image is looked for by name)."""
    return _split(reference).scheme.lower() in _URL_SCHEMES
