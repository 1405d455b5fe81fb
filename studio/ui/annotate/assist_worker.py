"""The assists' background side: one worker thread that decodes the image and runs the
engine's OpenCV assists (``engine.assist.classical``) on it, so GrabCut or a scissors path
never blocks the window; and the edge snapper that feeds the polygon tool's live preview.

Calls run in order on a single thread, which also owns the decoded image and the scissors
session of the images last used (nothing else touches them, so they need no lock).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal

from ...services.annotations import ImageInfo
from ..datasets.background import BackgroundCalls
from .geometry import Point

CACHED_IMAGES = 2  # the image shown and the one before: going back and forth stays quick
CACHED_PIXELS = 40_000_000  # ...unless they are huge: then only the one in use is kept


@dataclass(frozen=True)
class ImageView:
    """The decoded image (BGR) and how its pixels map to the document's: a file whose
    decoded size differs from the size on record still gives outlines in the right place."""

    image: np.ndarray
    scale_x: float  # image pixels per document pixel
    scale_y: float

    def to_image(self, points: Sequence[Point]) -> np.ndarray:
        """Document pixels -> ``[k, 2]`` image pixels."""
        array = np.asarray(points, np.float64).reshape(-1, 2)
        return array * (self.scale_x, self.scale_y)

    def to_document(self, points: Any) -> list[Point] | None:
        """``[k, 2]`` image pixels (or None) -> document pixels."""
        if points is None:
            return None
        array = np.asarray(points, np.float64).reshape(-1, 2)
        array = array / (self.scale_x, self.scale_y)
        return [(float(x), float(y)) for x, y in array]


Work = Callable[[ImageView], Any]


class AssistWorker(QObject):
    """Runs ``work(view)`` for an image on the assists' thread, in order; ``busyChanged``
    when the first call starts or the last one ends (path previews excepted: they are quiet,
    the cursor must not flicker while it moves)."""

    busyChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.calls = BackgroundCalls("annotate-assist", 1, self)
        self.pending = 0
        self._images: OrderedDict[Path, ImageView] = OrderedDict()  # the worker's only
        self._scissors: OrderedDict[Path, Any] = OrderedDict()  # the worker's only

    @property
    def busy(self) -> bool:
        return self.pending > 0

    def run(self, image: ImageInfo, work: Work, done: Callable[[Any], None],
            failed: Callable[[str, str], None] | None = None, *, quiet: bool = False) -> None:
        """``done(work(view))`` back on the GUI thread, or ``failed(message, details)``."""
        if not quiet:
            self._count(1)

        def finished(result: Any) -> None:
            if not quiet:
                self._count(-1)
            done(result)

        def broke(message: str, details: str) -> None:
            if not quiet:
                self._count(-1)
            if failed is not None:
                failed(message, details)

        self.calls.call(lambda: work(self.view(image)), finished, broke)

    def close(self) -> None:
        """Drop the calls not started and wait for the running one (before the page goes)."""
        self.calls.close(wait=True)

    # -- on the worker thread ---------------------------------------------------------------
    def view(self, image: ImageInfo) -> ImageView:
        """The decoded image (cached); raises ``ImageReadError`` naming the file."""
        from engine.data.images import read_image

        view = self._images.get(image.path)
        if view is None:
            pixels = read_image(image.path)
            height, width = pixels.shape[:2]
            view = ImageView(pixels, width / max(image.width, 1), height / max(image.height, 1))
            self._images[image.path] = view
            while len(self._images) > CACHED_IMAGES or (
                    len(self._images) > 1 and sum(v.image.shape[0] * v.image.shape[1]
                                                  for v in self._images.values()) > CACHED_PIXELS):
                self._images.popitem(last=False)
        self._images.move_to_end(image.path)
        return view

    def scissors(self, image: ImageInfo, view: ImageView) -> Any:
        """The intelligent-scissors session of ``image`` (made once, then cached)."""
        from engine.assist import classical

        session = self._scissors.get(image.path)
        if session is None:
            session = classical.scissors(view.image)
            self._scissors[image.path] = session
            while len(self._scissors) > CACHED_IMAGES:
                self._scissors.popitem(last=False)
        self._scissors.move_to_end(image.path)
        return session

    def _count(self, step: int) -> None:
        was = self.busy
        self.pending += step
        if self.busy != was:
            self.busyChanged.emit(self.busy)


PathDone = Callable[[Point, Point, list[Point]], None]


class EdgeSnapper(QObject):
    """Edge snapping for the polygon tool: the path along the image's edges from a vertex
    to the cursor. One request runs at a time and only the newest waiting one follows, so a
    fast-moving cursor never queues work. ``toggled(on)`` when switched."""

    toggled = Signal(bool)

    def __init__(self, worker: AssistWorker, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = worker
        self.enabled = False
        self.running = False
        self._wanted: tuple[ImageInfo, Point, Point, PathDone] | None = None
        self._edges: list[tuple[ImageInfo, Point, Point, PathDone]] = []

    def set_enabled(self, on: bool) -> None:
        if on != self.enabled:
            self.enabled = on
            self._wanted, self._edges = None, []
            self.toggled.emit(on)

    def request(self, image: ImageInfo, start: Point, end: Point, done: PathDone, *,
                edge: bool = False) -> None:
        """``done(start, end, path)`` later, ``path`` from ``start`` to ``end`` in the
        document's pixels. A preview waiting to start is replaced by the next request; an
        ``edge`` (a vertex clicked before its path was ready) always runs, first."""
        if edge:
            self._edges.append((image, start, end, done))
        else:
            self._wanted = (image, start, end, done)
        self._next()

    def _next(self) -> None:
        if self.running or not (self._edges or self._wanted):
            return
        if self._edges:
            image, start, end, done = self._edges.pop(0)
        else:
            image, start, end, done = self._wanted
            self._wanted = None
        self.running = True
        worker = self.worker
        self.worker.run(
            image, lambda view: snapped_path(worker.scissors(image, view), view, start, end),
            lambda path: self._arrived(start, end, path, done), self._failed, quiet=True)

    def _arrived(self, start: Point, end: Point, path: list[Point], done: PathDone) -> None:
        self.running = False
        done(start, end, path)
        self._next()

    def _failed(self, _message: str, _details: str) -> None:
        # the preview stays a straight line; the polygon tool still draws
        self.running = False
        self._next()


def snapped_path(session: Any, view: ImageView, start: Point, end: Point) -> list[Point]:
    """The scissors path from ``start`` to ``end`` (document pixels; the session gives tens
    of vertices along the edges, not one per pixel)."""
    height, width = view.image.shape[:2]
    a, b = (tuple(float(np.clip(v, 0, limit - 1)) for v, limit in zip(p, (width, height),
                                                                       strict=True))
            for p in view.to_image([start, end]))
    points = view.to_document(session.path(a, b)) or []
    return [start, *points[1:-1], end]  # the ends exactly where the user put them
