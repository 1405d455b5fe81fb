"""Every prediction source as one stream of frames: files, folders, globs, videos, URLs,
arrays, PIL images, camera indices, and lists of these.

Corrupt files inside a folder, glob or list are reported through ``on_warning`` and skipped; a
single source that cannot be read is a ``SourceError`` that names it and says what to do.
"""

from __future__ import annotations

import glob
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from ..cancel import NEVER, CancelToken
from ..data.images import IMAGE_SUFFIXES, VIDEO_SUFFIXES, decode_image, read_image
from ..errors import ImageReadError, SourceError

Kind = Literal["image", "video", "stream", "array"]
WarningSink = Callable[[str, str | None], None]
_STREAM_PREFIXES = ("rtsp://", "rtmp://", "tcp://")
_URL_PREFIXES = ("http://", "https://")


@dataclass(frozen=True)
class Frame:
    """One image to predict on. ``frame`` counts video frames from 0 (None for stills)."""

    image: np.ndarray
    path: str
    index: int
    frame: int | None = None
    total_frames: int | None = None
    kind: Kind = "image"


@dataclass(frozen=True)
class _Entry:
    kind: Literal["file", "video", "url", "array", "camera"]
    target: Any
    name: str


class FrameSource:
    """Iterable of :class:`Frame`; ``total`` is the frame count when known (None for cameras)."""

    def __init__(
        self,
        entries: list[_Entry],
        *,
        single: bool,
        vid_stride: int,
        cancel: CancelToken,
        on_warning: WarningSink | None,
        capture_factory,
        timeout: float,
    ) -> None:
        self.entries = entries
        self.single = single
        self.vid_stride = max(int(vid_stride), 1)
        self.cancel = cancel
        self.on_warning = on_warning
        self.capture_factory = capture_factory
        self.timeout = timeout
        self._captures: list[Any] = []
        self.is_stream = any(e.kind == "camera" for e in entries)
        self.total = self._count()

    def _count(self) -> int | None:
        total = 0
        for entry in self.entries:
            if entry.kind == "camera":
                return None
            if entry.kind == "video":
                frames = _video_frame_count(entry.target)
                if frames is None:
                    return None
                total += -(-frames // self.vid_stride)
            else:
                total += 1
        return total

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def close(self) -> None:
        """Release every open capture (videos, cameras)."""
        while self._captures:
            self._captures.pop().release()

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        for entry in self.entries:
            self.cancel.raise_if_cancelled()
            if entry.kind in ("video", "camera"):
                for frame in self._frames(entry, index):
                    yield frame
                    index += 1
                continue
            image = self._still(entry)
            if image is not None:
                kind: Kind = "array" if entry.kind == "array" else "image"
                yield Frame(image, entry.name, index, kind=kind)
                index += 1

    def _still(self, entry: _Entry) -> np.ndarray | None:
        try:
            if entry.kind == "array":
                return entry.target
            if entry.kind == "url":
                return decode_image(_fetch(entry.target, self.timeout), source=entry.target)
            return read_image(entry.target)
        except (ImageReadError, SourceError) as exc:
            if self.single:
                raise SourceError(
                    f"{exc.message}; give a readable image, video or folder", path=entry.name
                ) from exc
            if self.on_warning is not None:
                self.on_warning(f"skipped: {exc.message}", entry.name)
            return None

    def _frames(self, entry: _Entry, start: int) -> Iterator[Frame]:
        capture = self.capture_factory(entry.target)
        self._captures.append(capture)
        if not capture.isOpened():
            capture.release()
            what = "camera" if entry.kind == "camera" else "video"
            raise SourceError(
                f"the {what} cannot be opened; check that it exists, is not in use and is a "
                "format OpenCV can read (mp4, avi, mkv, ...)",
                path=entry.name,
            )
        total = None if entry.kind == "camera" else _count_of(capture)
        kind: Kind = "stream" if entry.kind == "camera" else "video"
        number, index = 0, start
        try:
            while not self.cancel.cancelled:
                ok = capture.grab()
                if not ok:
                    break
                if number % self.vid_stride == 0:
                    ok, image = capture.retrieve()
                    if not ok or image is None:
                        break
                    yield Frame(_as_bgr(image), entry.name, index, number, total, kind)
                    index += 1
                number += 1
        finally:
            capture.release()
            if capture in self._captures:
                self._captures.remove(capture)
        self.cancel.raise_if_cancelled()


def open_source(
    source: Any,
    *,
    vid_stride: int = 1,
    cancel: CancelToken = NEVER,
    on_warning: WarningSink | None = None,
    capture_factory=cv2.VideoCapture,
    timeout: float = 30.0,
) -> FrameSource:
    """Resolve ``source`` into a :class:`FrameSource` (files are read lazily, while iterating)."""
    entries, single = _expand(source, top=True)
    if not entries:
        raise SourceError("nothing to predict on: the source is empty", path=str(source))
    return FrameSource(
        entries,
        single=single,
        vid_stride=vid_stride,
        cancel=cancel,
        on_warning=on_warning,
        capture_factory=capture_factory,
        timeout=timeout,
    )


def iter_batches(frames: Iterable[Frame], batch: int) -> Iterator[list[Frame]]:
    """Group ``frames`` into lists of up to ``batch``."""
    group: list[Frame] = []
    for frame in frames:
        group.append(frame)
        if len(group) >= batch:
            yield group
            group = []
    if group:
        yield group


# --- resolving ----------------------------------------------------------------------------


def _expand(source: Any, *, top: bool) -> tuple[list[_Entry], bool]:
    """Entries for ``source``; the flag says whether it is one still image (errors are fatal)."""
    if isinstance(source, list | tuple):
        entries: list[_Entry] = []
        for item in source:
            entries += _expand(item, top=False)[0]
        return entries, False
    if isinstance(source, np.ndarray):
        return [_Entry("array", _as_bgr(source), "image0")], top
    if _is_pil(source):
        rgb = np.asarray(source.convert("RGB"))
        return [_Entry("array", np.ascontiguousarray(rgb[..., ::-1]), "image0")], top
    if isinstance(source, bool):
        raise SourceError(f"cannot predict on {source!r}; give a path, URL, array or camera index")
    if isinstance(source, int) or (isinstance(source, str) and source.strip().isdigit()):
        index = int(source)
        return [_Entry("camera", index, f"camera{index}")], False
    if isinstance(source, str | Path):
        return _expand_path(str(source)), top and _is_still(str(source))
    raise SourceError(
        f"cannot predict on a {type(source).__name__}; give a file, folder, glob, video, URL, "
        "numpy array, PIL image, camera index or a list of these"
    )


def _expand_path(text: str) -> list[_Entry]:
    lower = text.lower()
    if lower.startswith(_STREAM_PREFIXES):
        return [_Entry("video", text, text)]
    if lower.startswith(_URL_PREFIXES):
        suffix = Path(lower.split("?")[0]).suffix
        return [_Entry("video" if suffix in VIDEO_SUFFIXES else "url", text, text)]
    if any(ch in text for ch in "*?["):
        matches = sorted(glob.glob(text, recursive=True))
        media = [m for m in matches if _media_kind(m)]
        if not media:
            raise SourceError("the pattern matches no images or videos", path=text)
        return [_file_entry(Path(m)) for m in media]
    path = Path(text).expanduser()
    if path.is_dir():
        media = sorted(p for p in path.iterdir() if p.is_file() and _media_kind(str(p)))
        if not media:
            raise SourceError("the folder holds no images or videos", path=path)
        return [_file_entry(p) for p in media]
    if not path.exists():
        raise SourceError("no such file or folder; check the path", path=path)
    if not _media_kind(str(path)):
        known = ", ".join(sorted(IMAGE_SUFFIXES | VIDEO_SUFFIXES))
        raise SourceError(f"is neither an image nor a video (known: {known})", path=path)
    return [_file_entry(path)]


def _file_entry(path: Path) -> _Entry:
    kind = "video" if _media_kind(str(path)) == "video" else "file"
    return _Entry(kind, str(path), str(path))


def _media_kind(path: str) -> str | None:
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return None


def _is_still(text: str) -> bool:
    lower = text.lower()
    if lower.startswith(_URL_PREFIXES):
        return Path(lower.split("?")[0]).suffix not in VIDEO_SUFFIXES
    return Path(text).is_file() and _media_kind(text) == "image"


def _is_pil(value: Any) -> bool:
    return type(value).__module__.startswith("PIL.") and hasattr(value, "convert")


def _as_bgr(image: np.ndarray) -> np.ndarray:
    """H×W grey, H×W×1, H×W×3 or H×W×4 (uint8 or 16-bit) → H×W×3 uint8 BGR."""
    array = np.asarray(image)
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    elif array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.size and array.max() <= 1.0:
            array = array * 255.0
        array = np.clip(array, 0, 255).astype(np.uint8)
    if array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1):
        return cv2.cvtColor(array.reshape(array.shape[:2]), cv2.COLOR_GRAY2BGR)
    if array.ndim == 3 and array.shape[2] == 4:
        return cv2.cvtColor(array, cv2.COLOR_BGRA2BGR)
    if array.ndim == 3 and array.shape[2] == 3:
        return np.ascontiguousarray(array)
    raise SourceError(f"an array of shape {array.shape} is not an image; give H×W×3 BGR uint8")


def _fetch(url: str, timeout: float) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http(s)
            return response.read()
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise SourceError(
            f"could not be downloaded ({reason}); check the address or save the "
            "image and give its path",
            path=url,
        ) from exc


def _video_frame_count(target: Any) -> int | None:
    if not isinstance(target, str) or target.lower().startswith(_URL_PREFIXES + _STREAM_PREFIXES):
        return None
    capture = cv2.VideoCapture(target)
    try:
        return _count_of(capture) if capture.isOpened() else None
    finally:
        capture.release()


def _count_of(capture) -> int | None:
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    return count if count > 0 else None
