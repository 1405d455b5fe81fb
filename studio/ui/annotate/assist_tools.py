"""Assist tools of a segment project's Annotate page: box → polygon (B), the magic wand (W),
refinement of their last result by clicks, and edge snapping for the polygon tool (S).

The OpenCV work (``engine.assist.classical``) runs on the assists' worker thread
(``assist_worker``); the window stays usable and shows a busy cursor and "Outlining…" until
the outline arrives. Each outline becomes an ordinary polygon of the current class through
``AddInstance`` (a refinement through ``EditInstance``), so Ctrl+Z takes it back and autosave
stores it like a drawn one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QGraphicsItem, QGraphicsRectItem

from ...services.annotations import AnnotationData
from ...state.models import POLYGON
from ..app_settings import app_settings, int_setting
from .assist_worker import AssistWorker, EdgeSnapper, ImageView
from .canvas import AnnotationCanvas
from .commands import AddInstance
from .geometry import Point, clip, to_normal, to_pixels
from .items import Dot, cosmetic_pen
from .tools import DRAG_PIXELS, MIN_BOX_PIXELS, OverlayItems, Tool

if TYPE_CHECKING:
    from .page import AnnotatePage

TOLERANCE_KEY = "annotate/wand_tolerance"
SNAP_KEY = "annotate/edge_snapping"
DEFAULT_TOLERANCE = 32
NEAR_RESULT = 0.5  # a click this far (× the result's size) beyond it still refines it
REFINE_HINT = "click adds a part, right-click (or Shift/Alt+click) cuts one, Enter ends"


def _classical() -> Any:
    from engine.assist import classical  # on the worker: OpenCV loads off the GUI thread

    return classical


class AssistTool(OverlayItems, Tool):
    """What the assist tools share: running an assist on the worker, adding its outline as a
    polygon of the current class, and refining that last result with clicks until Enter, Esc
    or another tool. A result arriving after the image or the tool changed is dropped."""

    takes_drags = False  # whether a left drag means something (else it is a click)

    def __init__(self, canvas: AnnotationCanvas, worker: AssistWorker) -> None:
        super().__init__(canvas)
        self.worker = worker
        self.refining: str | None = None  # the key of the last result
        self.positive: list[Point] = []
        self.negative: list[Point] = []
        self._ticket = 0
        self._class = 0  # the current class when the last assist started: its result's
        self._press: tuple[Point, bool] | None = None  # where, and whether it cuts
        self._temp: list[QGraphicsItem] = []

    # -- refining -----------------------------------------------------------------------------
    def cancel(self) -> None:
        super().cancel()
        self._ticket += 1  # an outline still on its way is not wanted any more
        self._press = None
        self.stop_refining()

    def stop_refining(self) -> None:
        self.refining = None
        self.positive, self.negative = [], []
        self._clear_temp()

    def refine_target(self) -> AnnotationData | None:
        """The last result, while it is still on the image (Ctrl+Z may have taken it)."""
        if self.refining is None or self.canvas.document is None:
            return None
        data = self.canvas.document.get(self.refining)
        if data is None or data.kind != POLYGON or not data.polygon:
            self.stop_refining()
            return None
        return data

    def near_target(self, point: Point) -> bool:
        """Whether ``point`` is close enough to the last result to refine it (a click far
        away means another object)."""
        data = self.refine_target()
        if data is None:
            return False
        points = to_pixels(data.polygon, *self.canvas.size_px)
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        reach = NEAR_RESULT * max(max(xs) - min(xs), max(ys) - min(ys), 1.0)
        return (min(xs) - reach <= point[0] <= max(xs) + reach
                and min(ys) - reach <= point[1] <= max(ys) + reach)

    def refine_click(self, point: Point, cuts: bool) -> None:
        """Refine the last result: the part under ``point`` is (``cuts``: is not) the object."""
        data = self.refine_target()
        if data is None:
            return
        point = self._inside(point)
        (self.negative if cuts else self.positive).append(point)
        polygon = to_pixels(data.polygon, *self.canvas.size_px)
        positive, negative = list(self.positive), list(self.negative)

        def work(view: ImageView) -> list[Point] | None:
            return view.to_document(_classical().refine(
                view.image, view.to_image(polygon), positive=view.to_image(positive),
                negative=view.to_image(negative)))

        self._draw_clicks()
        self.run("Refining", work, lambda outline: self._refined(data.key, outline))

    def _refined(self, key: str, outline: list[Point] | None) -> None:
        document = self.canvas.document
        before = document.get(key) if document is not None else None
        if before is None:
            return
        if outline is None or len(outline) < 3:
            self.canvas.say("Refining found no outline there; the last one stays (Ctrl+Z "
                            "takes back a click's change)")
            return
        after = replace(before, polygon=to_normal(outline, *self.canvas.size_px))
        if after == before:
            self.canvas.say(f"That click changed nothing: {REFINE_HINT}")
            return
        self.edit(before, after, "Refine outline")
        self.canvas.select(key)
        self.canvas.say(f"Refined ({len(self.positive)} added, {len(self.negative)} cut): "
                        f"{REFINE_HINT}")

    # -- running an assist --------------------------------------------------------------------
    def run(self, describe: str, work: Callable[[ImageView], Any],
            done: Callable[[Any], None]) -> None:
        """Run ``work`` on the worker for this image; ``done(result)`` when it comes back,
        unless the image or the tool changed meanwhile."""
        document = self.canvas.document
        if document is None:
            return
        self._ticket += 1
        ticket, self._class = self._ticket, self.canvas.current_class

        def arrived(result: Any) -> None:
            if ticket == self._ticket and self.canvas.document is document:
                done(result)

        def failed(message: str, _details: str) -> None:
            if ticket == self._ticket and self.canvas.document is document:
                self._clear_temp()  # the pending box goes
                self.canvas.say(f"{describe} failed: {message}")

        self.canvas.say(f"{describe}…")
        self.worker.run(document.image, work, arrived, failed)

    def add_result(self, outline: list[Point] | None, text: str, nothing: str) -> None:
        """Add ``outline`` (document pixels) as a polygon of the current class and refine it
        next; say ``nothing`` when the assist found no outline."""
        self._clear_temp()
        canvas = self.canvas
        if outline is None or len(outline) < 3:
            canvas.say(nothing)
            return
        if not self.has_class():
            return
        data = AnnotationData(kind=POLYGON, class_index=self._class,
                              polygon=to_normal(outline, *canvas.size_px))
        canvas.push(AddInstance(canvas.document, data, text=text))
        canvas.select(data.key)
        self.refining, self.positive, self.negative = data.key, [], []
        canvas.say(f"{text} ({len(outline)} vertices): {REFINE_HINT}")

    # -- mouse and keys -----------------------------------------------------------------------
    def press(self, event: QMouseEvent, point: Point) -> None:
        button, modifiers = event.button(), event.modifiers()
        cut_modifier = modifiers & (Qt.KeyboardModifier.ShiftModifier
                                    | Qt.KeyboardModifier.AltModifier)
        if button == Qt.MouseButton.RightButton:
            self._press = (point, True) if self.refine_target() is not None else None
        elif button == Qt.MouseButton.LeftButton:
            self._press = (point, bool(cut_modifier))
            self.start(point)

    def start(self, point: Point) -> None:
        """A left press that may become a drag (the box tool's box)."""

    def release(self, event: QMouseEvent, point: Point) -> None:
        if self._press is None:
            return
        start, cuts = self._press
        self._press = None
        if self.takes_drags and self.canvas.screen_distance(start, point) > DRAG_PIXELS:
            self.dragged(start, point)
        elif cuts and self.refine_target() is not None:
            self.refine_click(start, cuts=True)
        elif self.near_target(start):
            self.refine_click(start, cuts=False)
        else:
            self.stop_refining()
            self.clicked(start)

    def dragged(self, start: Point, end: Point) -> None:
        """A left drag from ``start`` to ``end`` (image pixels)."""

    def clicked(self, point: Point) -> None:
        """A left click that does not refine the last result."""

    def wants_key(self, event: QKeyEvent) -> bool:
        ends = (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Escape)
        return self.refine_target() is not None and event.key() in ends

    def key_press(self, event: QKeyEvent) -> bool:
        if self.refining is not None and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter,
                                                         Qt.Key.Key_Escape):
            self.stop_refining()
            self.canvas.say("Done refining; the outline stays (V edits its vertices)")
            return True
        return super().key_press(event)

    # -- drawing ------------------------------------------------------------------------------
    def _inside(self, point: Point) -> Point:
        width, height = self.canvas.size_px
        return clip(point[0], 0, width - 1), clip(point[1], 0, height - 1)


    def _draw_clicks(self) -> None:
        """The refining clicks: green dots add, red ones cut."""
        dots: list[QGraphicsItem] = [Dot(p, 4.5, QColor("#2e7d32"), QColor("#ffffff"))
                                     for p in self.positive]
        dots += [Dot(p, 4.5, QColor("#c62828"), QColor("#ffffff")) for p in self.negative]
        self._show(dots)


class BoxPolygonTool(AssistTool):
    """B: drag a box around one object; GrabCut gives its outline as a polygon."""

    name = "box_polygon"
    takes_drags = True

    def __init__(self, canvas: AnnotationCanvas, worker: AssistWorker) -> None:
        super().__init__(canvas, worker)
        self._from: Point | None = None

    def cancel(self) -> None:
        self._from = None
        super().cancel()

    def start(self, point: Point) -> None:
        self._from = point

    def move(self, event: QMouseEvent, point: Point) -> None:
        if self._from is not None and event.buttons() & Qt.MouseButton.LeftButton:
            self._show([self._box_item(self._from, point)])

    def release(self, event: QMouseEvent, point: Point) -> None:
        self._from = None
        super().release(event, point)

    def dragged(self, start: Point, end: Point) -> None:
        canvas = self.canvas
        small = (canvas.screen_distance(start, (start[0], end[1])) < MIN_BOX_PIXELS
                 or canvas.screen_distance(start, (end[0], start[1])) < MIN_BOX_PIXELS)
        if small or not self.has_class():
            self._clear_temp()
            return
        self.stop_refining()
        a, b = self._inside(start), self._inside(end)
        self._show([self._box_item(a, b, pending=True)])  # stays until the outline comes

        def work(view: ImageView) -> list[Point] | None:
            box = view.to_image([a, b]).reshape(-1)
            return view.to_document(_classical().box_to_polygon(view.image, box))

        self.run("Outlining", work, lambda outline: self.add_result(
            outline, "Box → polygon", "No object found in that box: drag it closer around "
            "one object, or draw the polygon (P)"))

    def clicked(self, point: Point) -> None:
        self.canvas.select(self.canvas.hit_instance(point))
        self.canvas.say("Drag a box around an object to outline it")

    def _box_item(self, a: Point, b: Point, pending: bool = False) -> QGraphicsRectItem:
        color = QColor(self.canvas.class_color(self.canvas.current_class))
        item = QGraphicsRectItem(QRectF(QPointF(*a), QPointF(*b)).normalized())
        item.setPen(cosmetic_pen(color, 2.0, Qt.PenStyle.DashLine if pending
                                 else Qt.PenStyle.SolidLine))
        return item


class MagicWandTool(AssistTool):
    """W: click a region; the pixels around it within the tolerance become a polygon."""

    name = "wand"

    def __init__(self, canvas: AnnotationCanvas, worker: AssistWorker,
                 tolerance: Callable[[], int]) -> None:
        super().__init__(canvas, worker)
        self.tolerance = tolerance

    def clicked(self, point: Point) -> None:
        if not self.has_class():
            return
        tolerance, point = self.tolerance(), self._inside(point)

        def work(view: ImageView) -> list[Point] | None:
            xy = view.to_image([point])[0]
            return view.to_document(_classical().magic_wand(view.image, xy, tolerance))

        self._show([Dot(point, 4.5, QColor("#ffffff"), QColor("#000000"))])
        self.run("Selecting the region", work, lambda outline: self.add_result(
            outline, "Magic wand", f"No region there at tolerance {tolerance}: raise the "
            "tolerance in the side panel, or click inside the object"))


class PageAssists(QObject):
    """Puts the assists on a segment project's page: the B and W tools, edge snapping for the
    polygon tool (S and the side panel's check box), the wand's tolerance slider (both kept
    in the app settings) and the busy cursor while an assist runs."""

    def __init__(self, page: AnnotatePage) -> None:
        super().__init__(page)
        self.page = page
        canvas, controls = page.canvas, page.panel.assist
        self.worker = AssistWorker(self)
        self.snapper = EdgeSnapper(self.worker, self)
        self.worker.busyChanged.connect(self._busy)
        settings = app_settings()
        controls.tolerance.setValue(int_setting(TOLERANCE_KEY, DEFAULT_TOLERANCE))
        controls.tolerance_label.setText(f"Wand tolerance {controls.tolerance.value()}")
        controls.tolerance.valueChanged.connect(
            lambda value: app_settings().setValue(TOLERANCE_KEY, value))
        self.snapper.set_enabled(str(settings.value(SNAP_KEY, "false")).lower() == "true")
        controls.snap.setChecked(self.snapper.enabled)
        controls.snap.toggled.connect(self.set_snapping)
        self.snapper.toggled.connect(controls.snap.setChecked)
        if "wand" not in page.tool_buttons:
            return  # not a segment project: no assists
        page.tools["box_polygon"] = BoxPolygonTool(canvas, self.worker)
        page.tools["wand"] = MagicWandTool(canvas, self.worker, controls.tolerance.value)
        page.tools["polygon"].snapper = self.snapper
        page.add_shortcut(["S"], "Edge snapping on / off (polygon tool: edges follow the "
                          "image)", self.toggle_snapping)

    def set_snapping(self, on: bool) -> None:
        self.snapper.set_enabled(on)
        app_settings().setValue(SNAP_KEY, on)
        polygon = self.page.tools.get("polygon")
        if polygon is not None:
            polygon.snapping_changed()

    def toggle_snapping(self) -> None:
        self.set_snapping(not self.snapper.enabled)
        self.page.canvas.say("Edge snapping on: each new polygon edge follows the image's "
                             "edges (S turns it off)" if self.snapper.enabled
                             else "Edge snapping off: polygon edges are straight")

    def close(self) -> None:
        """Stop the worker (before the project closes)."""
        self.worker.close()

    def _busy(self, busy: bool) -> None:
        viewport = self.page.canvas.viewport()
        if busy:
            viewport.setCursor(Qt.CursorShape.BusyCursor)
        else:
            viewport.unsetCursor()
