"""Thumbnails for the Datasets page: decoded off the GUI thread, cached on disk, labels drawn.

* ``ThumbnailStore``: the disk cache, ``<project>/.cache/thumbnails/<size>/<id // 1000>/
  <id>-<key>.jpg`` where ``key`` is the file's hash (or its mtime and size when the importer
  stored no hash), so a changed file gets a new thumbnail. Files are written atomically (a
  temp file, then ``os.replace``) but not fsynced: a cache can always be made again, and a
  torn file is detected (it does not decode) and remade.
* ``ThumbnailLoader``: worker threads taking requests newest first (the items the user is
  looking at now), each answered by the ``ready`` signal on the GUI thread with a ``QImage``.
  The cache holds the bare picture; the ground truth is painted on a copy per request, so
  editing labels never makes the cache stale and the "show labels" toggle is cheap.
* ``paint_ground_truth``: the one drawing of labels (masks at 40 % with a 2 px outline,
  boxes, keypoints by body side with the skeleton, a class band for classify) used by the
  thumbnails and the page's large preview alike.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen, QPolygonF

from engine.data.images import png_problem

from .image_queries import Shape
from .palette import KEYPOINT_SIDES, class_color, keypoint_side

if TYPE_CHECKING:
    from .projects import Project

THUMBNAIL_SIZE = 128
"""The longest side of a thumbnail, in pixels."""
_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4),
            (2, cv2.IMREAD_REDUCED_COLOR_2))


class ThumbnailError(Exception):
    """An image that cannot be read or decoded (the message says why)."""


def decode_image(path: Path, max_side: int, known_size: tuple[int, int] | None = None
                 ) -> np.ndarray:
    """The image at ``path`` as BGR, shrunk to fit ``max_side`` (JPEG decoded at 1/2, 1/4 or
    1/8 scale when ``known_size`` says that is still large enough: several times faster)."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)  # also for non-ASCII paths on Windows
    except OSError as exc:
        raise ThumbnailError(f"cannot be read ({exc.strerror or exc})") from exc
    problem = png_problem(data) if data.size else None
    if problem is not None:  # checked first: libpng would print its own line naming no file
        raise ThumbnailError(f"is not a readable image ({problem})")
    flag = cv2.IMREAD_COLOR
    if known_size and min(known_size) > 0:
        for factor, reduced in _REDUCED:
            if max(known_size) // factor >= max_side:
                flag = reduced
                break
    image = cv2.imdecode(data, flag) if data.size else None
    if image is None and flag != cv2.IMREAD_COLOR and data.size:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise ThumbnailError("is not an image OpenCV can decode" if data.size else "is empty")
    height, width = image.shape[:2]
    scale = max_side / max(height, width)
    if scale < 1:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return image


def bgr_to_qimage(image: np.ndarray) -> QImage:
    """A ``QImage`` (RGB32, paintable) holding its own copy of the BGR array."""
    image = np.ascontiguousarray(image)
    height, width = image.shape[:2]
    wrapped = QImage(image.data, width, height, image.strides[0], QImage.Format.Format_BGR888)
    return wrapped.convertToFormat(QImage.Format.Format_RGB32)


@dataclass(frozen=True)
class OverlayStyle:
    """Colours and shapes for drawing labels: class colours by index, keypoint colours by
    body side, the skeleton's edges and values per keypoint (2 or 3)."""

    class_colors: dict[int, str]
    keypoint_colors: tuple[str, ...] = ()
    skeleton: tuple[tuple[int, int], ...] = ()
    keypoint_dims: int = 3
    fill_opacity: float = 0.4

    @classmethod
    def from_project(cls, project: Project) -> OverlayStyle:
        """The project's class colours and keypoint schema (two short queries)."""
        colors = {c.index: c.color for c in project.classes()}
        schema = project.keypoint_schema()
        if schema is None:
            return cls(colors)
        sides = tuple(KEYPOINT_SIDES[keypoint_side(name)] for name in schema.names)
        return cls(colors, sides, tuple(schema.skeleton), schema.dims)

    def color(self, class_index: int) -> QColor:
        return QColor(self.class_colors.get(class_index, class_color(class_index)))


def _points(values: Sequence[float], target: QRectF) -> QPolygonF:
    return QPolygonF([QPointF(target.left() + values[i] * target.width(),
                              target.top() + values[i + 1] * target.height())
                      for i in range(0, len(values) - 1, 2)])


def paint_ground_truth(painter: QPainter, shapes: Sequence[Shape], target: QRectF,
                       style: OverlayStyle, *, line_width: float = 2.0,
                       point_radius: float = 4.0) -> None:
    """Draw ``shapes`` (normalised geometry) over the image drawn in ``target``."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    for shape in shapes:
        color = style.color(shape.class_index)
        pen = QPen(color, line_width)
        pen.setCosmetic(True)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        if shape.kind == "class":
            band = max(3.0, target.height() * 0.06)
            painter.fillRect(QRectF(target.left(), target.bottom() - band, target.width(), band),
                             color)
            continue
        if shape.polygon and len(shape.polygon) >= 6:
            fill = QColor(color)
            fill.setAlphaF(style.fill_opacity)
            painter.setPen(pen)
            painter.setBrush(QBrush(fill))
            painter.drawPolygon(_points(shape.polygon, target))
        if shape.box and len(shape.box) == 4:
            cx, cy, w, h = shape.box
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(QRectF(target.left() + (cx - w / 2) * target.width(),
                                    target.top() + (cy - h / 2) * target.height(),
                                    w * target.width(), h * target.height()))
        if shape.keypoints:
            _paint_keypoints(painter, shape.keypoints, target, style, color, line_width,
                             point_radius)
    painter.restore()


def _paint_keypoints(painter: QPainter, values: Sequence[float], target: QRectF,
                     style: OverlayStyle, color: QColor, line_width: float,
                     radius: float) -> None:
    dims = style.keypoint_dims if style.keypoint_dims in (2, 3) else 3
    count = len(values) // dims
    points: list[tuple[QPointF, float] | None] = []
    for k in range(count):
        x, y = values[k * dims], values[k * dims + 1]
        visibility = values[k * dims + 2] if dims == 3 else (2.0 if x or y else 0.0)
        point = QPointF(target.left() + x * target.width(), target.top() + y * target.height())
        points.append((point, visibility) if visibility > 0 else None)
    edge_pen = QPen(color, line_width)
    edge_pen.setCosmetic(True)
    painter.setPen(edge_pen)
    for a, b in style.skeleton:
        if a < count and b < count and points[a] and points[b]:
            painter.drawLine(points[a][0], points[b][0])
    for k, item in enumerate(points):
        if item is None:
            continue
        point, visibility = item
        side = QColor(style.keypoint_colors[k]) if k < len(style.keypoint_colors) else color
        outline = QPen(side if visibility < 2 else QColor(255, 255, 255), 1.5)
        outline.setCosmetic(True)
        painter.setPen(outline)
        painter.setBrush(Qt.BrushStyle.NoBrush if visibility < 2 else QBrush(side))
        painter.drawEllipse(point, radius, radius)


class ThumbnailStore:
    """The disk cache of thumbnails of one size (see the module docstring)."""

    def __init__(self, folder: Path, size: int = THUMBNAIL_SIZE) -> None:
        self.size = size
        self.folder = Path(folder) / str(size)

    def cache_path(self, image_id: int, source: Path, file_hash: str = "") -> Path:
        """Where the thumbnail of this version of the file lives (may not exist yet)."""
        if file_hash:
            key = file_hash[:16]
        else:
            try:
                stat = source.stat()
            except OSError as exc:
                raise ThumbnailError(f"cannot be read ({exc.strerror or exc})") from exc
            key = f"m{stat.st_mtime_ns:x}s{stat.st_size:x}"
        return self.folder / f"{image_id // 1000:04d}" / f"{image_id}-{key}.jpg"

    def get(self, image_id: int, source: Path, file_hash: str = "",
            known_size: tuple[int, int] | None = None) -> tuple[np.ndarray, bool]:
        """The thumbnail (BGR) and whether it came from the cache; made and saved if not."""
        path = self.cache_path(image_id, source, file_hash)
        if path.is_file():
            cached = cv2.imdecode(np.fromfile(str(path), dtype=np.uint8), cv2.IMREAD_COLOR)
            if cached is not None:
                return cached, True
        image = decode_image(source, self.size, known_size)
        self._save(path, image)
        return image, False

    @staticmethod
    def _save(path: Path, image: np.ndarray) -> None:
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 88])
        if not ok:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(encoded.tobytes())
            os.replace(temp, path)
        except OSError:  # a full or read-only disk: the thumbnail is still shown, just not kept
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(temp)


@dataclass(frozen=True)
class ThumbnailRequest:
    """One thumbnail wanted: the image's id, file, hash and size, and labels to draw."""

    image_id: int
    source: Path
    file_hash: str = ""
    width: int = 0
    height: int = 0
    shapes: tuple[Shape, ...] = ()
    show_labels: bool = True
    tag: Any = None  # handed back in the result, e.g. the asker's generation


@dataclass(frozen=True)
class ThumbnailResult:
    """A finished request: ``image`` (None on failure, with ``error`` saying why)."""

    image_id: int
    image: QImage | None
    from_cache: bool
    tag: Any = None
    error: str = ""


class ThumbnailLoader(QObject):
    """Makes thumbnails on worker threads, newest request first; ``ready(ThumbnailResult)``
    arrives on the GUI thread. Call ``stop()`` before the project closes."""

    ready = Signal(object)

    def __init__(self, store: ThumbnailStore, style: OverlayStyle, *, workers: int = 2,
                 max_pending: int = 400, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.style = style
        self.max_pending = max_pending
        self.made = 0
        self.from_cache = 0
        self.worker_threads: set[str] = set()  # the threads that did the work (for tests)
        self._queue: deque[ThumbnailRequest] = deque()
        self._condition = threading.Condition()
        self._stopped = False
        self._threads = [threading.Thread(target=self._work, name=f"thumbnails-{i}",
                                          daemon=True) for i in range(max(1, workers))]
        for thread in self._threads:
            thread.start()

    def request(self, request: ThumbnailRequest) -> None:
        """Queue ``request`` as the most urgent; the oldest are dropped past ``max_pending``
        (they were scrolled past; the view asks again when they come back)."""
        with self._condition:
            self._queue.append(request)
            while len(self._queue) > self.max_pending:
                self._queue.popleft()
            self._condition.notify()

    def discard_pending(self) -> None:
        """Forget every request not started yet."""
        with self._condition:
            self._queue.clear()

    @property
    def pending(self) -> int:
        with self._condition:
            return len(self._queue)

    def stop(self, timeout: float = 5.0) -> None:
        """Drop the queue and end the worker threads (waits for the images being made)."""
        with self._condition:
            self._stopped = True
            self._queue.clear()
            self._condition.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def _next(self) -> ThumbnailRequest | None:
        with self._condition:
            while not self._queue and not self._stopped:
                self._condition.wait()
            return None if self._stopped else self._queue.pop()

    def _work(self) -> None:
        while (request := self._next()) is not None:
            result = self._make(request)
            if self._stopped:
                return
            with contextlib.suppress(RuntimeError):  # the loader was deleted meanwhile
                self.ready.emit(result)

    def _make(self, request: ThumbnailRequest) -> ThumbnailResult:
        self.worker_threads.add(threading.current_thread().name)
        try:
            known = (request.width, request.height) if request.width else None
            array, cached = self.store.get(request.image_id, request.source, request.file_hash,
                                           known)
        except ThumbnailError as exc:
            return ThumbnailResult(request.image_id, None, False, request.tag, str(exc))
        except Exception as exc:  # noqa: BLE001 - one bad file must not end the worker
            return ThumbnailResult(request.image_id, None, False, request.tag,
                                   f"{type(exc).__name__}: {exc}")
        if cached:
            self.from_cache += 1
        else:
            self.made += 1
        image = bgr_to_qimage(array)
        if request.show_labels and request.shapes:
            painter = QPainter(image)
            paint_ground_truth(painter, request.shapes, QRectF(image.rect()), self.style,
                               line_width=1.5, point_radius=2.0)
            painter.end()
        return ThumbnailResult(request.image_id, image, cached, request.tag)
