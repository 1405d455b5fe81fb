"""Every prediction source as one stream of frames: image files, folders, globs, videos, http(s)
URLs, numpy arrays, PIL images, camera indices and live stream URLs, and lists of these.

A source made of one thing (a file, a URL, an array, a camera) fails with a ``SourceError`` that
names it and says what to do. Inside a folder, glob or list, an image or video that cannot be
read is reported through ``on_warning(message, path)`` (the ``logging`` module when None) and
skipped. Files, URLs and videos are read lazily, while iterating; single videos and cameras are
opened at once, so a source that cannot be opened fails before any work starts.
"""

from __future__ import annotations

import glob
import http.client
import itertools
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from ..cancel import NEVER, CancelToken
from ..data.images import IMAGE_SUFFIXES, VIDEO_SUFFIXES, decode_image, read_image
from ..errors import ImageReadError, SourceError

log = logging.getLogger(__name__)

Kind = Literal["image", "video", "stream", "array"]
WarningSink = Callable[[str, str | None], None]
CaptureFactory = Callable[[Any], Any]
"""Makes a capture for a path, URL or camera index: cv2.VideoCapture or anything with its
``isOpened()``, ``read()``, ``get(prop)`` and ``release()`` (``grab()`` is used when present)."""

_URL_PREFIXES = ("http://", "https://")
_STREAM_PREFIXES = ("rtsp://", "rtmp://", "tcp://")
_GLOB_CHARS = frozenset("*?[")
_MEDIA = ", ".join(sorted(s.lstrip(".") for s in IMAGE_SUFFIXES | VIDEO_SUFFIXES))
_ACCEPTED = (
    "give an image, video or folder path, a glob, an http(s) URL, a numpy array, a PIL image, "
    "a camera index or a list of these"
)


@dataclass(frozen=True, eq=False)
class Frame:
    """One image to predict on.

    ``index`` counts every frame the source yields, from 0. ``frame`` is the frame's number in
    its video or stream, from 0 (None for still images); with ``vid_stride=3`` a video yields
    frames 0, 3, 6, ... ``total_frames`` is the video's frame count when the file states it.
    """

    image: np.ndarray = field(repr=False)  # H×W×3 uint8 BGR
    path: str  # file path, URL, 'image0' for arrays, 'camera0' for camera 0
    index: int
    frame: int | None = None
    total_frames: int | None = None
    kind: Kind = "image"


@dataclass(frozen=True)
class _Entry:
    """One resolved item: an image file, image URL, in-memory image, video, or live stream."""

    kind: Literal["file", "url", "array", "video", "stream"]
    target: Any  # a path or URL string, a BGR array, or a camera index
    name: str


class FrameSource:
    """An iterable of :class:`Frame`; close it (or use ``with``) to release videos and cameras.

    ``total`` is the number of frames it will yield when known beforehand (None for streams and
    videos whose length is not stated); ``is_stream`` is True for cameras and live URLs.
    """

    def __init__(
        self,
        entries: list[_Entry],
        *,
        single: bool,
        vid_stride: int,
        cancel: CancelToken,
        on_warning: WarningSink | None,
        capture_factory: CaptureFactory,
        timeout: float,
    ) -> None:
        self._entries = entries
        self._single = single  # one item: failures are errors, not warnings
        self._vid_stride = vid_stride
        self._cancel = cancel
        self._on_warning = on_warning
        self._capture_factory = capture_factory
        self._timeout = timeout
        self._open: list[Any] = []
        self._ready: dict[int, Any] = {}  # entry position -> capture opened up front
        self.is_stream = any(e.kind == "stream" for e in entries)
        if single and entries[0].kind in ("video", "stream"):
            self._ready[0] = self._open_capture(entries[0])
        self.total = None if self.is_stream else self._count()

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release every open capture; iteration after this ends at the next video frame."""
        self._ready.clear()
        while self._open:
            self._open.pop().release()

    def __iter__(self) -> Iterator[Frame]:
        counter = itertools.count()
        for position, entry in enumerate(self._entries):
            self._cancel.raise_if_cancelled()
            if entry.kind in ("video", "stream"):
                yield from self._video(position, entry, counter)
            else:
                yield from self._still(entry, counter)

    # --- stills ---------------------------------------------------------------------------

    def _still(self, entry: _Entry, counter: Iterator[int]) -> Iterator[Frame]:
        try:
            image = self._load(entry)
        except (ImageReadError, SourceError) as exc:
            self._failed(entry, exc.message)
            return
        kind: Kind = "array" if entry.kind == "array" else "image"
        yield Frame(image, entry.name, next(counter), kind=kind)

    def _load(self, entry: _Entry) -> np.ndarray:
        if entry.kind == "array":
            return entry.target
        if entry.kind == "url":
            return decode_image(_download(entry.target, self._timeout), source=entry.target)
        return read_image(entry.target)

    def _failed(self, entry: _Entry, message: str) -> None:
        """A fatal error for a one-item source; a warning and a skip inside a collection."""
        if self._single:
            raise SourceError(message, path=entry.name)
        if self._on_warning is not None:
            self._on_warning(f"skipped: {message}", entry.name)
        else:
            log.warning("%s: skipped: %s", entry.name, message)

    # --- videos and streams ---------------------------------------------------------------

    def _video(self, position: int, entry: _Entry, counter: Iterator[int]) -> Iterator[Frame]:
        capture = self._ready.pop(position, None)
        if capture is None:
            try:
                capture = self._open_capture(entry)
            except SourceError as exc:
                self._failed(entry, exc.message)
                return
        kind: Kind = "stream" if entry.kind == "stream" else "video"
        total = None if kind == "stream" else _frame_count(capture)
        try:
            for number in itertools.count():
                self._cancel.raise_if_cancelled()
                if number % self._vid_stride:
                    if not _skip_frame(capture):
                        return
                    continue
                ok, image = capture.read()
                if not ok or image is None:
                    return
                yield Frame(_as_bgr(image), entry.name, next(counter), number, total, kind)
        finally:
            self._release(capture)

    def _open_capture(self, entry: _Entry) -> Any:
        capture = self._capture_factory(entry.target)
        self._open.append(capture)
        if not capture.isOpened():
            self._release(capture)
            what = "camera" if isinstance(entry.target, int) else entry.kind
            hint = {
                "camera": "check that it is connected and not in use by another program",
                "stream": "check the address and that the stream is live",
            }.get(what, "check that it exists and is a format OpenCV reads (mp4, avi, mkv, ...)")
            raise SourceError(f"the {what} cannot be opened; {hint}", path=entry.name)
        return capture

    def _release(self, capture: Any) -> None:
        if any(c is capture for c in self._open):
            self._open = [c for c in self._open if c is not capture]
            capture.release()

    def _count(self) -> int | None:
        """Frames to come: 1 per still, ceil(frames / vid_stride) per video; None if unknown."""
        total = 0
        for position, entry in enumerate(self._entries):
            if entry.kind != "video":
                total += 1
                continue
            frames = self._video_length(position, entry)
            if frames is None:
                return None
            total += -(-frames // self._vid_stride)
        return total

    def _video_length(self, position: int, entry: _Entry) -> int | None:
        if position in self._ready:
            return _frame_count(self._ready[position])
        if entry.target.lower().startswith(_URL_PREFIXES):
            return None  # counting would mean connecting now
        capture = self._capture_factory(entry.target)
        try:
            return _frame_count(capture) if capture.isOpened() else 0  # 0: it will be skipped
        finally:
            capture.release()


def open_source(
    source: Any,
    *,
    vid_stride: int = 1,
    cancel: CancelToken = NEVER,
    on_warning: WarningSink | None = None,
    capture_factory: CaptureFactory = cv2.VideoCapture,
    timeout: float = 30.0,
) -> FrameSource:
    """Resolve ``source`` into a :class:`FrameSource`.

    ``vid_stride`` keeps every n-th video frame; ``cancel`` is checked between frames (a set
    token raises ``Cancelled``); ``timeout`` bounds each URL download, in seconds.
    """
    if int(vid_stride) < 1:
        raise SourceError(f"vid_stride must be 1 or more, got {vid_stride}", key="vid_stride")
    entries, single = _resolve(source)
    return FrameSource(
        entries,
        single=single,
        vid_stride=int(vid_stride),
        cancel=cancel,
        on_warning=on_warning,
        capture_factory=capture_factory,
        timeout=timeout,
    )


def iter_batches(frames: Iterable[Frame], batch: int) -> Iterator[list[Frame]]:
    """Group ``frames`` into lists of ``batch`` (the last one may be shorter)."""
    if batch < 1:
        raise ValueError(f"batch must be 1 or more, got {batch}")
    iterator = iter(frames)
    while group := list(itertools.islice(iterator, batch)):
        yield group


# --- resolving ----------------------------------------------------------------------------


def _resolve(source: Any) -> tuple[list[_Entry], bool]:
    """The entries of ``source``, and whether it is a single item (its failures are fatal)."""
    if not isinstance(source, list | tuple):
        return _resolve_item(source, 0)
    if not source:
        raise SourceError(f"the list of sources is empty; {_ACCEPTED}", key="source")
    entries: list[_Entry] = []
    for position, item in enumerate(source):
        entries += (
            _resolve(item)[0]
            if isinstance(item, list | tuple)
            else _resolve_item(item, position)[0]
        )
    return entries, False


def _resolve_item(item: Any, position: int) -> tuple[list[_Entry], bool]:
    if isinstance(item, np.ndarray):
        return [_Entry("array", _as_bgr(item), f"image{position}")], True
    if _is_pil(item):
        rgb = np.asarray(item.convert("RGB"))
        name = getattr(item, "filename", "") or f"image{position}"
        return [_Entry("array", np.ascontiguousarray(rgb[..., ::-1]), str(name))], True
    if isinstance(item, int) and not isinstance(item, bool):
        return [_Entry("stream", item, f"camera{item}")], True
    if isinstance(item, str) and item.strip().isdigit():
        index = int(item)
        return [_Entry("stream", index, f"camera{index}")], True
    if isinstance(item, str | Path):
        return _resolve_path(str(item))
    raise SourceError(f"cannot predict on a {type(item).__name__}; {_ACCEPTED}", key="source")


def _resolve_path(text: str) -> tuple[list[_Entry], bool]:
    lower = text.lower()
    if lower.startswith(_STREAM_PREFIXES):
        return [_Entry("stream", text, text)], True
    if lower.startswith(_URL_PREFIXES):
        suffix = Path(lower.split("?", 1)[0].split("#", 1)[0]).suffix
        return [_Entry("video" if suffix in VIDEO_SUFFIXES else "url", text, text)], True
    if not text.strip():
        raise SourceError(f"the source is an empty string; {_ACCEPTED}", key="source")
    path = Path(text).expanduser()
    if path.is_dir():
        return _folder(path), False
    if path.exists():
        return [_file_entry(path)], True
    if _GLOB_CHARS & set(text):
        return _glob(str(path)), False
    raise SourceError("no such file or folder; check the path", path=text)


def _folder(folder: Path) -> list[_Entry]:
    media = sorted(p for p in folder.iterdir() if p.is_file() and _media_kind(p))
    if not media:
        raise SourceError(
            f"the folder holds no images or videos ({_MEDIA}); for subfolders give a glob "
            f"such as '{folder / '**' / '*.jpg'}'",
            path=folder,
        )
    return [_file_entry(p) for p in media]


def _glob(pattern: str) -> list[_Entry]:
    matches = sorted(Path(m) for m in glob.glob(pattern, recursive=True))
    media = [p for p in matches if p.is_file() and _media_kind(p)]
    if not media:
        raise SourceError(
            f"the pattern matches no images or videos ({_MEDIA}); check the folder and the "
            "pattern ('**' matches subfolders)",
            path=pattern,
        )
    return [_file_entry(p) for p in media]


def _file_entry(path: Path) -> _Entry:
    kind = _media_kind(path)
    if kind is None:
        raise SourceError(f"is neither an image nor a video; give one of: {_MEDIA}", path=path)
    return _Entry("video" if kind == "video" else "file", str(path), str(path))


def _media_kind(path: Path) -> Literal["image", "video"] | None:
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    return "video" if suffix in VIDEO_SUFFIXES else None


def _is_pil(value: Any) -> bool:
    return type(value).__module__.startswith("PIL.") and hasattr(value, "convert")


def _as_bgr(image: np.ndarray) -> np.ndarray:
    """H×W grey, H×W×1, H×W×3 (BGR) or H×W×4 (BGRA), uint8 or uint16 → H×W×3 uint8 BGR."""
    array = np.asarray(image)
    if array.dtype == np.uint16:
        array = (array >> 8).astype(np.uint8)
    if array.dtype != np.uint8:
        raise SourceError(
            f"an image array must be uint8 (0-255), got {array.dtype}; convert it first, "
            "e.g. (image * 255).astype(np.uint8) for 0-1 floats",
            key="source",
        )
    if array.size and (array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1)):
        return cv2.cvtColor(array.reshape(array.shape[:2]), cv2.COLOR_GRAY2BGR)
    if array.size and array.ndim == 3 and array.shape[2] == 4:
        return cv2.cvtColor(array, cv2.COLOR_BGRA2BGR)
    if array.size and array.ndim == 3 and array.shape[2] == 3:
        return np.ascontiguousarray(array)
    raise SourceError(
        f"an array of shape {array.shape} is not an image; give H×W×3 BGR (or H×W grey, "
        "H×W×4 BGRA)",
        key="source",
    )


def _download(url: str, timeout: float) -> bytes:
    """The body of ``url``, in memory; failures become a ``SourceError`` with the reason."""
    request = urllib.request.Request(url, headers={"User-Agent": "yolo-studio"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.read()
    except urllib.error.HTTPError as exc:
        raise _download_error(url, f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise _download_error(url, str(exc.reason)) from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        raise _download_error(url, str(exc) or type(exc).__name__) from exc


def _download_error(url: str, reason: str) -> SourceError:
    return SourceError(
        f"could not be downloaded ({reason}); check the address and the connection, or save "
        "the image and give its path",
        path=url,
    )


def _skip_frame(capture: Any) -> bool:
    """Advance one frame without decoding it when the capture can (``grab``)."""
    grab = getattr(capture, "grab", None)
    return bool(grab()) if grab is not None else bool(capture.read()[0])


def _frame_count(capture: Any) -> int | None:
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    return count if count > 0 else None
