"""The project's own trained model as an Annotate tool (M): segment — click an object and the
model's mask under the cursor becomes a draft polygon; pose — drag a box and the model's
instance that overlaps it becomes a draft with its box and keypoints.

The model runs once per image on a Job (``services.model_assist``); later clicks on that image
only look up the cached masks. Each result is a draft (``draft=True`` with the model's score)
added through ``AddInstance``, so it is saved like any edit, Ctrl+Z takes it back, and the draft
review accepts it (Enter) or rejects it (Delete) as it does pre-labelled drafts. Without a
trained run the tool's button stays disabled and says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QMouseEvent
from PySide6.QtWidgets import QGraphicsRectItem, QToolButton

from ...services.annotations import AnnotationData, new_key
from ...services.model_assist import AssistModel, ImagePrediction, ModelAssist, assist_model
from ...workers.job import Job
from .canvas import AnnotationCanvas
from .commands import AddInstance
from .document import ImageDocument
from .geometry import Point, clip
from .items import cosmetic_pen
from .tools import DRAG_PIXELS, MIN_BOX_PIXELS, Tool

if TYPE_CHECKING:
    from .page import AnnotatePage

TOOL = "model"
KEY = "M"
ACCEPT_HINT = "Enter accepts, Delete rejects, an edit accepts it"
Question = Callable[[ImagePrediction], AnnotationData | None]


class ModelAssistTool(Tool):
    """M: a click (segment) or a dragged box (pose) asks the project's model."""

    name = TOOL

    def __init__(self, canvas: AnnotationCanvas, assist: PageModelAssist) -> None:
        super().__init__(canvas)
        self.assist = assist
        self._from: Point | None = None
        self._box: QGraphicsRectItem | None = None

    def cancel(self) -> None:
        super().cancel()
        self._from = None
        self._clear_box()

    def activate(self) -> None:
        self.assist.prepare()

    def press(self, event: QMouseEvent, point: Point) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._from = point

    def move(self, event: QMouseEvent, point: Point) -> None:
        if self._from is not None and self.assist.task == "pose":
            self._show_box(self._from, point)

    def release(self, event: QMouseEvent, point: Point) -> None:
        start, self._from = self._from, None
        self._clear_box()
        if start is None:
            return
        canvas = self.canvas
        dragged = canvas.screen_distance(start, point) > DRAG_PIXELS
        if self.assist.task == "segment":
            if dragged:
                canvas.say("Model assist: click on an object to take the model's mask there")
            else:
                self.assist.mask_at(self._inside(start))
            return
        small = (canvas.screen_distance(start, (start[0], point[1])) < MIN_BOX_PIXELS
                 or canvas.screen_distance(start, (point[0], start[1])) < MIN_BOX_PIXELS)
        if not dragged or small:
            canvas.select(canvas.hit_instance(start))
            canvas.say("Model assist: drag a box around a figure to take the model's keypoints")
            return
        self.assist.pose_in(self._inside(start), self._inside(point))

    def _inside(self, point: Point) -> Point:
        width, height = self.canvas.size_px
        return clip(point[0], 0, width), clip(point[1], 0, height)

    def _show_box(self, a: Point, b: Point) -> None:
        self._clear_box()
        color = QColor(self.canvas.class_color(self.canvas.current_class))
        self._box = QGraphicsRectItem(QRectF(QPointF(*a), QPointF(*b)).normalized())
        self._box.setPen(cosmetic_pen(color, 2.0, Qt.PenStyle.DashLine))
        self._box.setZValue(50)
        self.canvas.scene().addItem(self._box)

    def _clear_box(self) -> None:
        if self._box is not None and self._box.scene() is self.canvas.scene():
            self.canvas.scene().removeItem(self._box)
        self._box = None


class PageModelAssist(QObject):
    """Puts the model assist on a segment or pose page: the "Model" button (M) names the run
    it uses, or is disabled with the reason; predictions run on Jobs, once per image."""

    def __init__(self, page: AnnotatePage) -> None:
        super().__init__(page)
        self.page = page
        self.task = page.task
        self.model: AssistModel | None = None
        self.service: ModelAssist | None = None
        self.reason = ""
        self.broken: str | None = None  # why the run's model cannot serve (checked once)
        self._running: set[Path] = set()  # images a prediction Job is running for
        self._jobs: list[Job] = []
        self._waiting: dict[Path, list[tuple[Question, str, str]]] = {}  # asked before it came
        self.button: QToolButton | None = None
        if self.task not in ("segment", "pose"):
            return
        self.tool = ModelAssistTool(page.canvas, self)
        page.tools[TOOL] = self.tool
        self.button = QToolButton(checkable=True)
        self.button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.button.clicked.connect(lambda _=False: self.choose())
        toolbar = page.toolbar
        toolbar.insertWidget(toolbar.indexOf(page.advance_box), self.button)
        page.tool_buttons[TOOL] = self.button  # set_tool unchecks it when another is chosen
        what = "click an object: its predicted mask" if self.task == "segment" else \
            "drag a box: the predicted keypoints"
        page.add_shortcut([KEY], f"Model assist ({what}, as a draft)", self.choose)
        page.imageChanged.connect(self._image_changed)
        self.recheck()

    def _image_changed(self, _image_id: int) -> None:
        self.recheck()
        if self.page.canvas.tool is self.tool and self.broken is None:
            self.prepare()  # the next image is predicted while the user looks at it

    # -- which run ------------------------------------------------------------------------------
    def recheck(self) -> None:
        """Look for the project's newest trained run again (one small query)."""
        model, self.reason = assist_model(self.page.project)
        if model != self.model:
            self.model, self.broken = model, None
            self.service = ModelAssist(self.page.project, model.checkpoint) if model else None
        button = self.button
        if button is None:
            return
        if model is not None and self.broken is not None:
            model, self.reason = None, self.broken
        button.setEnabled(model is not None)
        button.setText(f"Model: {model.run} ({KEY})" if model else f"Model ({KEY})")
        how = ("Click an object: the model's mask under the cursor becomes a draft polygon."
               if self.task == "segment" else
               "Drag a box around a figure: the model's keypoints for it become a draft.")
        button.setToolTip(f"Model assist — {KEY}\n{self.reason}\n{how} {ACCEPT_HINT}."
                          if model else f"Model assist — {KEY} (off)\n{self.reason}")

    def choose(self) -> None:
        """Make the model assist the active tool (or say why it is off)."""
        self.recheck()
        page = self.page
        if self.model is None or self.broken is not None:
            page.canvas.say(self.reason)
            return
        page.set_tool(None)  # the current tool's work is dropped, every button unchecked
        page.canvas.tool = self.tool
        self.button.setChecked(True)
        font = self.button.font()
        font.setBold(True)
        self.button.setFont(font)
        if page.document is not None:
            self.tool.activate()
        page.canvas.say(f"{self.reason}: " + ("click an object" if self.task == "segment"
                                             else "drag a box around a figure"))

    def close(self) -> None:
        """Stop the predictions still running (before the page goes)."""
        for job in list(self._jobs):
            job.cancel()
            job.wait(30000)

    # -- asking the model -----------------------------------------------------------------------
    def prepare(self) -> None:
        """Start predicting the current image, so that the first click is answered at once."""
        self._ask(None, "", "")

    def mask_at(self, point: Point) -> None:
        """Segment: the model's mask under ``point`` (image pixels) as a draft polygon."""
        width, height = self.page.canvas.size_px
        normal = (point[0] / max(width, 1), point[1] / max(height, 1))
        self._ask(lambda prediction: prediction.mask_at(normal), "Model mask",
                  "The model sees no object there: click inside an object, or draw it")

    def pose_in(self, a: Point, b: Point) -> None:
        """Pose: the model's instance best overlapping the box ``a``–``b`` (image pixels)."""
        width, height = (max(v, 1) for v in self.page.canvas.size_px)
        box = (min(a[0], b[0]) / width, min(a[1], b[1]) / height,
               max(a[0], b[0]) / width, max(a[1], b[1]) / height)
        self._ask(lambda prediction: prediction.pose_in(box), "Model keypoints",
                  "The model finds no figure in that box: drag it closer around one, or place "
                  "the keypoints (K)")

    def _ask(self, question: Question | None, text: str, nothing: str) -> None:
        """Answer ``question`` from the image's prediction: at once when it is cached, else
        when the image's one prediction Job arrives (``None``: only start that Job)."""
        service, document = self.service, self.page.document
        if service is None or document is None:
            return
        path = document.image.path
        known = service.cached(path)
        if known is not None:
            if question is not None:
                self._answer(question(known), text, nothing)
            return
        if question is not None:
            self._waiting.setdefault(path, []).append((question, text, nothing))
            self.page.canvas.say(f"Model assist: predicting this image with {self.model.label}…")
        if path not in self._running:
            self._start(service, path, document)

    def _start(self, service: ModelAssist, path: Path, document: ImageDocument) -> None:
        self._running.add(path)
        job = self.page.jobs.start("Model assist", lambda _progress, cancel:
                                   service.predict(path, cancel))
        self._jobs.append(job)
        job.ended.connect(lambda: self._jobs.remove(job) if job in self._jobs else None)

        def arrived(prediction: ImagePrediction) -> None:
            self._running.discard(path)
            asked = self._waiting.pop(path, [])
            if self.page.document is not document:
                return
            for question, text, nothing in asked:
                self._answer(question(prediction), text, nothing)
            if not asked:
                self.page.canvas.say(f"{self.reason}: ready")

        def failed(message: str, _details: str) -> None:
            self._running.discard(path)
            self._waiting.pop(path, None)
            if not service.loaded:  # the model itself: asking again would fail again
                self.broken = f"{self.model.label} cannot serve as the assist: {message}"
                if self.page.canvas.tool is self.tool:  # back to the task's drawing tool
                    self.page.set_tool("polygon" if self.task == "segment" else "keypoints")
                self.recheck()
            if self.page.document is document:
                self.page.canvas.say(f"Model assist failed: {message}")

        def cancelled() -> None:
            self._running.discard(path)
            self._waiting.pop(path, None)

        job.finished.connect(arrived)
        job.failed.connect(failed)
        job.cancelled.connect(cancelled)

    def _answer(self, data: AnnotationData | None, text: str, nothing: str) -> None:
        canvas = self.page.canvas
        if data is None:
            canvas.say(nothing)
            return
        data = replace(data, key=new_key())  # a fresh instance each time it is taken
        canvas.push(AddInstance(canvas.document, data, text=text))
        canvas.select(data.key)
        score = f" (score {data.score:.2f})" if data.score is not None else ""
        canvas.say(f"{text}{score} added as a draft: {ACCEPT_HINT}")
