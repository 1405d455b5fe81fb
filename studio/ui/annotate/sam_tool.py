"""The Segment Anything tool (I) of a segment project's Annotate page.

With a ready encoder/decoder pair in the models folder (``engine.assist.sam_models``), choosing
the tool starts the encoder for the current image on a Job (the jobs indicator shows it; the
panel says "preparing image…", then "ready"); its embedding is cached by the engine. Each
prompt — a left click (object), a right or Alt+click (background), a left drag (a box) — runs
only the decoder, on the tool's own worker thread, and shows the mask's outline as a dashed
preview. Enter adds it as an ordinary polygon of the current class through ``AddInstance`` (so
Ctrl+Z removes it and autosave stores it); Esc drops the prompts.

Without a ready pair the tool's button is off and its tooltip (and the panel) say why and where
to get one (Tools → Segment Anything Models…).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QFileSystemWatcher, QObject, QPointF, QRectF, Qt, QTimer
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent, QPolygonF
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPolygonItem,
    QGraphicsRectItem,
    QLabel,
    QSizePolicy,
)

from ...services.annotations import AnnotationData, ImageInfo
from ...state.models import POLYGON
from ..datasets.background import BackgroundCalls
from .canvas import AnnotationCanvas
from .commands import AddInstance
from .geometry import Point, clip, to_normal
from .items import Dot, cosmetic_pen
from .tools import DRAG_PIXELS, MIN_BOX_PIXELS, OverlayItems, Tool

if TYPE_CHECKING:
    from engine.assist.sam import SamEmbedding, SamPredictor
    from engine.assist.sam_models import SamModel

    from ...workers.job import Job
    from .page import AnnotatePage

TOOL = "sam"
SETTLE_MS = 500
WORK_SIDE = 2048  # the longest side the encoder and the outlines work on
HOW_TO_GET = ("Nothing is bundled: put a Segment Anything encoder/decoder ONNX pair "
              "(MobileSAM or SAM 2.1, as X-AnyLabeling and samexporter publish them) in {folder}, "
              "or download one with Tools → Segment Anything Models…")
HINT = ("Segment Anything: click the object, right-click (or Alt+click) the background, drag a "
        "box; Enter adds the outline, Esc drops it")


def find_ready(folder: Path, chosen: str | None = None) -> tuple[SamModel | None, str]:
    """The ready pair named ``chosen`` in ``folder`` (else the first ready one) and a sentence
    about what was found (on a worker: checking a pair parses its ONNX graphs)."""
    from engine.assist.sam_models import find_models

    models = find_models(folder)
    ready = next((model for model in models if model.ready and model.name == chosen), None)
    ready = ready or next((model for model in models if model.ready), None)
    if ready is not None:
        return ready, f"Segment Anything: {ready.name} ({ready.encoder.parent})"
    if models:
        problems = "; ".join(f"{model.name}: {model.problem}" for model in models)
        return None, f"No usable Segment Anything pair. {problems}"
    return None, f"No Segment Anything model installed. {HOW_TO_GET.format(folder=folder)}"


@dataclass(frozen=True)
class Encoded:
    """An image's embedding and how document pixels map to the decoded image's pixels."""

    image_id: int
    embedding: SamEmbedding
    scale: tuple[float, float]  # image pixels per document pixel (x, y)


class SamTool(OverlayItems, Tool):
    """I: prompts → the decoder's mask outline as a preview; Enter adds it, Esc drops it."""

    name = TOOL

    def __init__(self, canvas: AnnotationCanvas, assist: PageSam) -> None:
        super().__init__(canvas)
        self.assist = assist
        self.points: list[tuple[float, float, int]] = []  # document pixels, label
        self.box: tuple[Point, Point] | None = None
        self.outline: list[Point] | None = None  # the preview, document pixels
        self._press: tuple[Point, bool] | None = None
        self._ticket = 0
        self._temp: list[QGraphicsItem] = []

    # -- the tool's life ------------------------------------------------------------------------
    def activate(self) -> None:
        self.assist.prepare_current()

    def cancel(self) -> None:
        super().cancel()
        self._press = None
        self.discard()

    def discard(self) -> None:
        """Drop the prompts and the preview (a decoder result on its way is not wanted)."""
        self._ticket += 1
        self.points, self.box, self.outline = [], None, None
        self._clear_temp()

    # -- mouse --------------------------------------------------------------------------------
    def press(self, event: QMouseEvent, point: Point) -> None:
        alt = bool(event.modifiers() & Qt.KeyboardModifier.AltModifier)
        if event.button() == Qt.MouseButton.RightButton:
            self._press = (point, True)
        elif event.button() == Qt.MouseButton.LeftButton:
            self._press = (point, alt)

    def move(self, event: QMouseEvent, point: Point) -> None:
        if self._press is not None and event.buttons() & Qt.MouseButton.LeftButton:
            start = self._press[0]
            if self.canvas.screen_distance(start, point) > DRAG_PIXELS:
                self._draw(dragging=(start, point))

    def release(self, event: QMouseEvent, point: Point) -> None:
        if self._press is None:
            return
        start, negative = self._press
        self._press = None
        if not self.has_class():
            return
        if not negative and self.canvas.screen_distance(start, point) > DRAG_PIXELS:
            small = (self.canvas.screen_distance(start, (start[0], point[1])) < MIN_BOX_PIXELS
                     or self.canvas.screen_distance(start, (point[0], start[1]))
                     < MIN_BOX_PIXELS)
            if small:
                self._draw()
                return
            self.box = (self._inside(start), self._inside(point))
        else:
            x, y = self._inside(start)
            self.points.append((x, y, 0 if negative else 1))
        self._draw()
        self.decode()

    # -- keys -----------------------------------------------------------------------------------
    def wants_key(self, event: QKeyEvent) -> bool:
        ends = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape)
        return self.has_prompts() and event.key() in ends

    def key_press(self, event: QKeyEvent) -> bool:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and self.has_prompts():
            self.accept()
            return True
        if event.key() == Qt.Key.Key_Escape and self.has_prompts():
            self.discard()
            self.canvas.say("Prompts dropped; click or drag a box to start again")
            return True
        return super().key_press(event)

    def has_prompts(self) -> bool:
        return bool(self.points or self.box or self.outline)

    def accept(self) -> None:
        """Enter: the preview becomes a polygon of the current class (one undo step)."""
        outline = self.outline
        if outline is None or len(outline) < 3:
            self.canvas.say("No outline yet to add: wait for the preview, or click the object")
            return
        if not self.has_class() or self.canvas.document is None:
            return
        canvas = self.canvas
        data = AnnotationData(kind=POLYGON, class_index=canvas.current_class,
                              polygon=to_normal(outline, *canvas.size_px))
        canvas.push(AddInstance(canvas.document, data, text="Segment Anything"))
        self.discard()
        canvas.select(data.key)
        canvas.say(f"Added ({len(outline)} vertices; Ctrl+Z takes it back). {HINT}")

    # -- the decoder ----------------------------------------------------------------------------
    def decode(self) -> None:
        """Run the decoder for the prompts on the worker (after the encoder, if it still runs)."""
        document = self.canvas.document
        if document is None:
            return
        encoded = self.assist.encoded_for(document.image)
        if encoded is None:
            self.canvas.say("Preparing the image for Segment Anything… the outline follows")
            self.assist.prepare_current()
            return
        self._ticket += 1
        ticket = self._ticket
        points, box = list(self.points), self.box

        def arrived(outline: list[Point] | None) -> None:
            if ticket != self._ticket or self.canvas.document is not document:
                return
            if outline is None:
                self.outline = None
                self.canvas.say("No object there: click inside it, or drag a box around it")
            else:
                self.outline = outline
                self.canvas.say(f"Preview: {len(outline)} vertices — Enter adds it, Esc "
                                "drops it; click to add or right-click to cut")
            self._draw()

        def failed(message: str, _details: str) -> None:
            if ticket == self._ticket:
                self.canvas.say(f"Segment Anything failed: {message}")

        self.assist.decode(encoded, points, box, arrived, failed)

    # -- drawing --------------------------------------------------------------------------------
    def _inside(self, point: Point) -> Point:
        width, height = self.canvas.size_px
        return clip(point[0], 0, width - 1), clip(point[1], 0, height - 1)

    def _draw(self, dragging: tuple[Point, Point] | None = None) -> None:
        color = QColor(self.canvas.class_color(self.canvas.current_class))
        items: list[QGraphicsItem] = []
        if self.outline:
            polygon = QGraphicsPolygonItem(QPolygonF([QPointF(*p) for p in self.outline]))
            polygon.setPen(cosmetic_pen(color, 2.0, Qt.PenStyle.DashLine))
            fill = QColor(color)
            fill.setAlphaF(0.25)
            polygon.setBrush(fill)
            items.append(polygon)
        for box in [b for b in (self.box, dragging) if b is not None]:
            rect = QGraphicsRectItem(QRectF(QPointF(*box[0]), QPointF(*box[1])).normalized())
            rect.setPen(cosmetic_pen(color, 2.0, Qt.PenStyle.DotLine))
            items.append(rect)
        items += [Dot((x, y), 4.5, QColor("#2e7d32" if label else "#c62828"), QColor("#ffffff"))
                  for x, y, label in self.points]
        self._show(items)



class PageSam(QObject):
    """Puts the Segment Anything tool on a segment project's page: finds a ready pair (on the
    worker), enables or disables the tool's button with the reason, encodes images on Jobs and
    runs the decoder on its one worker thread."""

    def __init__(self, page: AnnotatePage) -> None:
        super().__init__(page)
        self.page = page
        self.model: SamModel | None = None
        self.predictor: SamPredictor | None = None
        self.encoded: Encoded | None = None
        self.encoding: int | None = None  # the image id an encoder Job is running for
        self.job: Job | None = None
        self._wanted = False  # the image changed while the encoder ran: it goes next
        self.closed = False  # the page is going: a job ending late must not touch it
        self.calls = BackgroundCalls("annotate-sam", 1, self)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # a long folder path cannot wrap: it must not widen the dock (the tooltip has it all)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.watcher = QFileSystemWatcher(self)
        # a file being copied in changes for a while: look once it has settled
        self.settle = QTimer(self, singleShot=True, interval=SETTLE_MS)
        self.settle.timeout.connect(self.recheck)
        self.watcher.directoryChanged.connect(lambda _path: self.settle.start())
        self.watcher.fileChanged.connect(lambda _path: self.settle.start())
        if TOOL not in page.tool_buttons:
            return  # not a segment project
        page.tools[TOOL] = SamTool(page.canvas, self)
        page.panel.assist.layout().addWidget(self.status)
        page.imageChanged.connect(self._image_changed)
        self._set_state(None, "Looking for Segment Anything models…")
        self.recheck()

    @property
    def button(self):
        return self.page.tool_buttons.get(TOOL)

    # -- which pair -----------------------------------------------------------------------------
    def recheck(self) -> None:
        """Look at the models folder again (on the worker) and enable the tool if a pair is
        ready."""
        from engine.assist.sam_models import models_folder

        from ..app_settings import chosen_sam_model

        folder, chosen = models_folder(), chosen_sam_model()
        self._watch(folder)
        self.calls.call(lambda: find_ready(folder, chosen), lambda found: self._set_state(*found),
                        lambda message, _d: self._set_state(None, message))

    def _watch(self, folder: Path) -> None:
        """Watch the folder, so a pair dropped in or downloaded shows up; while it does not
        exist, its nearest existing parent (where it will be made)."""
        watched = folder
        while not watched.is_dir() and watched.parent != watched:
            watched = watched.parent
        wanted = {str(watched)}
        if watched == folder:  # the files too: a copy still being written changes them
            wanted |= {str(path) for path in folder.glob("*.onnx")}
        current = set(self.watcher.directories()) | set(self.watcher.files())
        if current - wanted:
            self.watcher.removePaths(sorted(current - wanted))
        if wanted - current:
            self.watcher.addPaths(sorted(wanted - current))

    def _set_state(self, model: SamModel | None, text: str) -> None:
        if model != self.model:
            self.predictor, self.encoded = None, None
        self.model = model
        button = self.button
        if button is not None:
            button.setEnabled(model is not None)
            button.setToolTip(f"Segment Anything — I\n{HINT}" if model is not None else
                              f"Segment Anything — I (off)\n{text}")
        self.status.setText(text if model is None else f"{text}. Choose the tool (I).")
        self.status.setToolTip(self.status.text())
        if model is not None and self.page.canvas.tool is self.page.tools.get(TOOL):
            self.prepare_current()

    # -- the encoder ----------------------------------------------------------------------------
    def encoded_for(self, image: ImageInfo) -> Encoded | None:
        encoded = self.encoded
        return encoded if encoded is not None and encoded.image_id == image.id else None

    def prepare_current(self) -> None:
        """Start the encoder for the image shown, unless it is done or running."""
        document = self.page.document
        if self.model is None:
            self.page.canvas.say(self.status.text() or "No Segment Anything model installed")
            self.recheck()
            return
        if document is None or self.encoded_for(document.image) or \
                self.encoding == document.image.id:
            return
        if self.job is not None:  # one encoder at a time: it takes every core
            self._wanted = True
            return
        image, model = document.image, self.model
        self.encoding = image.id
        self.status.setText("Segment Anything: preparing image…")
        self.page.canvas.say("Segment Anything: preparing image…")

        def work(progress, cancel) -> tuple[Any, Encoded]:
            from engine.assist.sam import image_key, load_sam
            from engine.data.images import read_image

            progress(0, 0, f"encoding {image.path.name}")
            predictor = self.predictor or load_sam(model.encoder, model.decoder)
            pixels = _working_copy(read_image(image.path))
            height, width = pixels.shape[:2]
            embedding = predictor.set_image(np.ascontiguousarray(pixels[..., ::-1]),
                                            key=image_key(image.path))
            scale = (width / max(image.width, 1), height / max(image.height, 1))
            return predictor, Encoded(image.id, embedding, scale)

        job = self.page.jobs.start(f"Segment Anything: {image.path.name}", work)
        self.job = job
        job.finished.connect(lambda result: self._encoded(model, result))
        job.failed.connect(lambda message, _d: self._encoding_failed(image.id, message))
        job.ended.connect(lambda: self._job_ended(job))

    def _encoded(self, model: SamModel, result: tuple[Any, Encoded]) -> None:
        if self.closed:
            return
        predictor, encoded = result
        if model != self.model:
            return
        self.predictor = predictor
        if self.encoding == encoded.image_id:
            self.encoding = None
        document = self.page.document
        if document is None or document.image.id != encoded.image_id:
            return  # the user moved on; the engine's cache keeps the embedding
        self.encoded = encoded
        self.status.setText(f"Segment Anything: ready ({model.name})")
        tool = self.page.tools.get(TOOL)
        if self.page.canvas.tool is tool and isinstance(tool, SamTool):
            if tool.points or tool.box:
                tool.decode()  # prompts given while the encoder ran
            else:
                self.page.canvas.say(f"Segment Anything ready. {HINT}")

    def _encoding_failed(self, image_id: int, message: str) -> None:
        if self.closed:
            return
        if self.encoding == image_id:
            self.encoding = None
        self.status.setText(f"Segment Anything could not prepare the image: {message}")

    def _job_ended(self, job: Job) -> None:
        if self.closed:
            return
        if self.job is job:
            self.job = None
            self.encoding = None  # done, failed or cancelled from the jobs indicator
            if self._wanted:
                self._wanted = False
                self.prepare_current()

    def _image_changed(self, _image_id: int) -> None:
        if self.page.canvas.tool is self.page.tools.get(TOOL):
            self.prepare_current()

    # -- the decoder ----------------------------------------------------------------------------
    def decode(self, encoded: Encoded, points: list[tuple[float, float, int]],
               box: tuple[Point, Point] | None, done, failed) -> None:
        """``done(outline in document pixels or None)`` from the decoder, on the GUI thread."""
        predictor = self.predictor
        if predictor is None:
            return
        sx, sy = encoded.scale

        def work() -> list[Point] | None:
            image_points = [(x * sx, y * sy, label) for x, y, label in points]
            image_box = None
            if box is not None:
                (x1, y1), (x2, y2) = box
                image_box = (min(x1, x2) * sx, min(y1, y2) * sy,
                             max(x1, x2) * sx, max(y1, y2) * sy)
            outer, _holes = predictor.predict_polygon(image_points, image_box,
                                                      embedding=encoded.embedding)
            return _largest(outer, (sx, sy))

        self.calls.call(work, done, failed)

    def close(self) -> None:
        """Stop the worker and the encoder job (before the project closes)."""
        self.closed = True
        if self.job is not None:
            self.job.cancel()
        self.calls.close(wait=True)


def _working_copy(pixels: np.ndarray) -> np.ndarray:
    """The image at most WORK_SIDE a side: the encoder sees 1024 pixels anyway, and a
    10,000-pixel photo would cost 300 MB twice over (BGR and RGB) and a slow outline trace."""
    import cv2

    height, width = pixels.shape[:2]
    shrink = WORK_SIDE / max(height, width)
    if shrink >= 1:
        return pixels
    size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def _largest(rings: tuple[np.ndarray, ...], scale: tuple[float, float]) -> list[Point] | None:
    """The ring of largest area (an ordinary polygon has one), in document pixels."""
    best, best_area = None, 0.0
    for ring in rings:
        ring = np.asarray(ring, np.float64).reshape(-1, 2)
        if len(ring) < 3:
            continue
        x, y = ring[:, 0], ring[:, 1]
        area = 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
        if area > best_area:
            best, best_area = ring, area
    if best is None:
        return None
    best = best / scale
    return [(float(x), float(y)) for x, y in best]
