"""The annotation canvas: the image and its instances in a zoomable, pannable view.

Scene coordinates are the image's pixels; the document holds normalised geometry. The view
routes mouse and keys to the active tool (``tools.py``) after its own zoom and pan.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtCore import QEvent, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPixmap,
    QUndoCommand,
    QUndoStack,
    QWheelEvent,
)
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView

from ...services.annotations import AnnotationData
from ...services.keypoint_schemas import KeypointSchema
from ...services.palette import class_color
from ...services.projects import ClassInfo
from ...state.models import CLASS, KEYPOINTS, POLYGON
from .document import ImageDocument
from .geometry import (
    Point,
    box_to_pixels,
    keypoint_triples,
    to_pixels,
)
from .hit_tests import HitTests
from .items import PolygonItem, PoseItem, TagItem
from .keypoint_hover import KeypointHover

ZOOM_STEP = 1.25
ZOOM_RANGE = (0.02, 64.0)


class AnnotationCanvas(HitTests, QGraphicsView):
    """Shows a document's image and instances; zoom to the cursor with the wheel, pan with
    Space-drag or the middle button. ``selectionChanged(key or None)`` on (de)selection."""

    selectionChanged = Signal(object)
    spaceTapped = Signal()
    hint = Signal(str)  # what just happened, for the page to show beside the tools

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing
                            | QPainter.RenderHint.SmoothPixmapTransform)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setBackgroundBrush(QBrush(QColor("#2b2d31")))
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.document: ImageDocument | None = None
        self.undo_stack: QUndoStack | None = None
        self.classes: list[ClassInfo] = []
        self.schema: KeypointSchema | None = None
        self.current_class = 0
        self.selected_key: str | None = None
        self.selected_vertex: int | None = None
        self.selected_keypoint: int | None = None
        self.fill_opacity = 0.4
        self.hidden: set[str] = set()
        self.labels_hidden = False
        self.tool = None
        self._items: dict[str, QGraphicsItem] = {}
        self._pixmap_item: QGraphicsPixmapItem | None = None
        self._pan_from: QPoint | None = None
        self._space_down = self._space_panned = False
        self._fit_mode = True
        self._tool_editing = False
        self.hover = KeypointHover(self)  # the name of the keypoint under the cursor

    # -- document -----------------------------------------------------------------------
    def set_document(self, document: ImageDocument | None, pixmap: QPixmap | None) -> None:
        """Show ``document`` over ``pixmap`` (a grey placeholder when None), fitted."""
        if self.tool is not None:
            self.tool.cancel()
        if self.document is not None:
            self.document.structureChanged.disconnect(self.rebuild)
            self.document.instanceChanged.disconnect(self._on_instance_changed)
        self.document = document
        self.hover.forget()
        self.scene().clear()
        self._items, self._pixmap_item = {}, None
        self.selected_key = self.selected_vertex = self.selected_keypoint = None
        self.hidden.clear()
        if document is None:
            return
        width, height = document.image.width, document.image.height
        if pixmap is None or pixmap.isNull():
            pixmap = QPixmap(max(width, 1), max(height, 1))
            pixmap.fill(QColor("#55585e"))
        self._pixmap_item = self.scene().addPixmap(pixmap)
        self._pixmap_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        if pixmap.width() and (pixmap.width(), pixmap.height()) != (width, height):
            self._pixmap_item.setScale(width / pixmap.width())
        margin = max(width, height)
        self.scene().setSceneRect(self.image_rect().adjusted(-margin, -margin, margin, margin))
        document.structureChanged.connect(self.rebuild)
        document.instanceChanged.connect(self._on_instance_changed)
        self.rebuild()
        self.fit()
        self.selectionChanged.emit(None)

    def image_rect(self) -> QRectF:
        if self.document is None:
            return QRectF()
        return QRectF(0, 0, self.document.image.width, self.document.image.height)

    @property
    def size_px(self) -> tuple[int, int]:
        image = self.document.image  # type: ignore[union-attr]
        return image.width, image.height

    def rebuild(self) -> None:
        """Make the instance items again from the document (after adds and removes)."""
        for item in self._items.values():
            self.scene().removeItem(item)
        self._items = {}
        if self.document is None:
            return
        keys = set(self.document.keys())
        if self.selected_key not in keys:
            self._set_selection(None)
        for annotation in self.document.annotations:
            self._draw(annotation)

    def preview(self, annotation: AnnotationData) -> None:
        """Draw ``annotation`` in place of its instance without changing the document."""
        self._draw(annotation)

    def refresh(self, key: str | None = None) -> None:
        """Draw one instance (or all) again from the document."""
        if self.document is None:
            return
        for annotation in self.document.annotations:
            if key is None or annotation.key == key:
                self._draw(annotation)

    def _on_instance_changed(self, key: str) -> None:
        self.refresh(key)
        if self.tool is not None and not self._tool_editing:
            self.tool.document_changed(key)

    def class_name(self, index: int) -> str:
        for info in self.classes:
            if info.index == index:
                return info.name
        return f"class {index}"

    def class_color(self, index: int) -> str:
        for info in self.classes:
            if info.index == index:
                return info.color
        return class_color(index)

    def _label(self, annotation: AnnotationData) -> str:
        """The tag: a draft says so with the model's score; a label shows its class only."""
        label = self.class_name(annotation.class_index)
        if not annotation.draft:
            return label
        score = f" {annotation.score:.2f}" if annotation.score is not None else ""
        return f"draft · {label}{score}"

    def say(self, text: str) -> None:
        """Tell the user what a key or click just did (shown beside the tools)."""
        self.hint.emit(text)

    def item_for(self, key: str) -> QGraphicsItem | None:
        """The item drawing instance ``key`` (None when it has none)."""
        return self._items.get(key)

    def _draw(self, annotation: AnnotationData) -> None:
        old = self._items.pop(annotation.key, None)
        if old is not None:
            self.scene().removeItem(old)
        width, height = self.size_px
        selected = annotation.key == self.selected_key
        color, label = self.class_color(annotation.class_index), self._label(annotation)
        item: QGraphicsItem
        if annotation.kind == POLYGON and annotation.polygon:
            item = PolygonItem(annotation.key)
            item.set_state(to_pixels(annotation.polygon, width, height), color, label,
                           selected=selected, draft=annotation.draft,
                           selected_vertex=self.selected_vertex if selected else None,
                           fill_opacity=self.fill_opacity)
        elif annotation.kind == KEYPOINTS and annotation.box:
            item = PoseItem(annotation.key)
            names = self.schema.names if self.schema else ()
            skeleton = self.schema.skeleton if self.schema else ()
            item.set_state(box_to_pixels(annotation.box, width, height),
                           self.keypoints_px(annotation), names, skeleton, color, label,
                           selected=selected, draft=annotation.draft,
                           current=self.selected_keypoint if selected else None)
        elif annotation.kind == CLASS:
            item = TagItem(label, QColor(color), below=True)
            item.setPos(QPointF(0, 0))
            item.setZValue(20)
            item.setScale(1.6)
        else:
            return
        item.setVisible(not self.labels_hidden and annotation.key not in self.hidden)
        self.scene().addItem(item)
        self._items[annotation.key] = item

    def keypoints_px(self, annotation: AnnotationData) -> list[tuple[float, float, float]]:
        width, height = self.size_px
        return [(x * width, y * height, v)
                for x, y, v in keypoint_triples(annotation.keypoints or ())]

    # -- selection ------------------------------------------------------------------------
    def select(self, key: str | None, *, vertex: int | None = None,
               keypoint: int | None = None) -> None:
        """Select an instance (and one of its vertices or keypoints)."""
        previous = self.selected_key
        changed = key != previous
        self.selected_key, self.selected_vertex, self.selected_keypoint = key, vertex, keypoint
        self.hover.clear()  # the selected keypoint has its own name tag
        for each in {previous, key} - {None}:
            self.refresh(each)
        if changed:
            self.selectionChanged.emit(key)

    def _set_selection(self, key: str | None) -> None:
        if key != self.selected_key:
            self.selected_key = key
            self.selected_vertex = self.selected_keypoint = None
            self.selectionChanged.emit(key)

    def selected(self) -> AnnotationData | None:
        if self.document is None or self.selected_key is None:
            return None
        return self.document.get(self.selected_key)

    def set_hidden(self, keys: set[str], labels_hidden: bool) -> None:
        self.hidden, self.labels_hidden = set(keys), labels_hidden
        self.refresh()

    # -- edits ----------------------------------------------------------------------------
    @contextmanager
    def tool_edit(self) -> Iterator[None]:
        self._tool_editing = True
        try:
            yield
        finally:
            self._tool_editing = False

    def push(self, command: QUndoCommand) -> None:
        """Run an edit through the undo stack (so Ctrl+Z takes it back)."""
        with self.tool_edit():
            if self.undo_stack is not None:
                self.undo_stack.push(command)
            else:
                command.redo()

    def push_macro(self, text: str, commands: list[QUndoCommand]) -> None:
        """Run several edits as one undo step (one Ctrl+Z takes them all back)."""
        stack = self.undo_stack if len(commands) > 1 else None
        if stack is not None:
            stack.beginMacro(text)
        for command in commands:
            self.push(command)
        if stack is not None:
            stack.endMacro()

    # -- zoom and pan ---------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float, anchor: QPoint | None = None) -> None:
        """Zoom by ``factor`` keeping the scene point under ``anchor`` (view pixels) still."""
        anchor = anchor if anchor is not None else self.viewport().rect().center()
        low, high = ZOOM_RANGE
        factor = min(max(self.zoom() * factor, low), high) / self.zoom()
        before = self.mapToScene(anchor)
        self.scale(factor, factor)
        moved = self.mapFromScene(before) - anchor
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + moved.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + moved.y())
        self._fit_mode = False

    def zoom_in(self) -> None:
        self.zoom_by(ZOOM_STEP, self._cursor_anchor())

    def zoom_out(self) -> None:
        self.zoom_by(1 / ZOOM_STEP, self._cursor_anchor())

    def actual_size(self) -> None:
        """100 %: one image pixel per screen pixel."""
        self.zoom_by(1.0 / self.zoom(), self._cursor_anchor())

    def fit(self) -> None:
        """Fit the whole image in the view."""
        if self.document is not None:
            self.fitInView(self.image_rect(), Qt.AspectRatioMode.KeepAspectRatio)
        self._fit_mode = True

    def _cursor_anchor(self) -> QPoint | None:
        position = self.viewport().mapFromGlobal(self.cursor().pos())
        return position if self.viewport().rect().contains(position) else None

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120
        if steps:
            self.zoom_by(ZOOM_STEP ** steps, event.position().toPoint())
        event.accept()

    # -- events routed to the tool -----------------------------------------------------------
    def scene_point(self, event: QMouseEvent) -> Point:
        point = self.mapToScene(event.position().toPoint())
        return point.x(), point.y()

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (
                button == Qt.MouseButton.LeftButton and self._space_down):
            self._pan_from = event.position().toPoint()
            self._space_panned = True
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            return
        self.setFocus()
        if self.tool is not None and self.document is not None:
            self.tool.press(event, self.scene_point(event))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._pan_from is not None:
            position = event.position().toPoint()
            delta = position - self._pan_from
            self._pan_from = position
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            self._fit_mode = False
            return
        if self.tool is not None and self.document is not None:
            self.tool.move(event, self.scene_point(event))
        self.hover.update(self.scene_point(event) if self.document is not None else None)

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt's name
        self.hover.update(None)
        super().leaveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._pan_from is not None:
            self._pan_from = None
            self.viewport().unsetCursor()
            return
        if self.tool is not None and self.document is not None:
            self.tool.release(event, self.scene_point(event))

    def mouseDoubleClickEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self.tool is not None and self.document is not None:
            self.tool.double_click(event, self.scene_point(event))

    def event(self, event: QEvent) -> bool:
        if (event.type() == QEvent.Type.ShortcutOverride and self.tool is not None
                and self.tool.wants_key(event)):  # e.g. Ctrl+Z while drawing: a vertex
            event.accept()
            return True
        if event.type() == QEvent.Type.KeyPress and event.key() in (Qt.Key.Key_Tab,
                                                                     Qt.Key.Key_Backtab):
            self.keyPressEvent(event)
            return True
        return super().event(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space:
            if not event.isAutoRepeat():
                self._space_down, self._space_panned = True, False
            event.accept()
            return
        if self.tool is not None and self.document is not None and self.tool.key_press(event):
            event.accept()
            return
        event.ignore()  # not QGraphicsView's: arrows must not scroll

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            if not self._space_panned:
                self.spaceTapped.emit()
            event.accept()
            return
        event.ignore()

