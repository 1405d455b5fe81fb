"""The pose tool: drag a box, then click its keypoints in schema order (K), or boxes only (R)."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QGraphicsItem, QGraphicsLineItem

from ...services.annotations import AnnotationData
from .canvas import AnnotationCanvas
from .commands import AddInstance
from .geometry import Point, box_to_normal, clip, keypoint_triples
from .items import TagItem, cosmetic_pen
from .tools import DRAG_PIXELS, MIN_BOX_PIXELS, Tool, next_unplaced, with_keypoint


class PoseTool(Tool):
    """K: drag a box, then click its keypoints in schema order (the joint's name follows the
    cursor); Tab/Shift+Tab pick another keypoint, Q cycles visibility, keypoints drag.
    R (``place_keypoints=False``): boxes only."""

    name = "keypoints"

    def __init__(self, canvas: AnnotationCanvas, *, place_keypoints: bool = True) -> None:
        super().__init__(canvas)
        self.place_keypoints = place_keypoints
        self.name = "keypoints" if place_keypoints else "box"
        self._box_from: Point | None = None
        self._pressed: tuple[str, int, Point] | None = None
        self._cursor: Point | None = None
        self._temp: list[QGraphicsItem] = []

    @property
    def placing(self) -> bool:
        selected = self.canvas.selected()
        return (self.place_keypoints and selected is not None and selected.kind == "pose"
                and self.canvas.selected_keypoint is not None)

    def cancel(self) -> None:
        super().cancel()
        self._box_from = self._pressed = None
        self._redraw()

    def press(self, event: QMouseEvent, point: Point) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        canvas = self.canvas
        hit = canvas.hit_keypoint(point)
        if hit is not None:
            self._pressed = (hit[0], hit[1], point)  # a drag, or a click when it does not move
            return
        if self.placing:
            self.place(point)
            return
        corner = canvas.hit_box_corner(point)
        if corner is not None:
            self.start_drag("corner", canvas.document.get(corner[0]), corner[1], point)
            return
        self._box_from = point

    def move(self, event: QMouseEvent, point: Point) -> None:
        self._cursor = point
        if self._pressed is not None and self._drag is None:
            key, index, start = self._pressed
            if self.canvas.screen_distance(start, point) > DRAG_PIXELS:
                self.canvas.select(key, keypoint=index)
                self.start_drag("keypoint", self.canvas.document.get(key), index, start)
        super().move(event, point)
        self._redraw()

    def release(self, event: QMouseEvent, point: Point) -> None:
        if self._drag is not None:
            self._pressed = None
            self._end_drag()
            return
        if self._pressed is not None:
            key, index, start = self._pressed
            self._pressed = None
            if self.placing:
                self.place(start)
            else:
                self.canvas.select(key, keypoint=index)
            return
        if self._box_from is not None:
            start, self._box_from = self._box_from, None
            self._redraw()
            if self.canvas.screen_distance(start, (start[0], point[1])) >= MIN_BOX_PIXELS and \
                    self.canvas.screen_distance(start, (point[0], start[1])) >= MIN_BOX_PIXELS:
                self.add_box(start, point)
            else:
                self.canvas.select(self.canvas.hit_instance(point))

    def add_box(self, a: Point, b: Point) -> None:
        """A new instance with this box and every keypoint not labelled yet."""
        canvas = self.canvas
        count = len(canvas.schema.names) if canvas.schema else 0
        data = AnnotationData(kind="pose", class_index=canvas.current_class,
                              box=box_to_normal(*a, *b, *canvas.size_px),
                              keypoints=(0.0,) * (3 * count))
        canvas.push(AddInstance(canvas.document, data, text="Draw box"))
        canvas.select(data.key, keypoint=0 if self.place_keypoints and count else None)
        self._redraw()

    def place(self, point: Point) -> None:
        """Put the current keypoint at ``point`` and go on to the next one not placed."""
        canvas, selected = self.canvas, self.canvas.selected()
        index = canvas.selected_keypoint
        width, height = canvas.size_px
        v = keypoint_triples(selected.keypoints)[index][2]
        after = with_keypoint(selected, index, clip(point[0] / width), clip(point[1] / height),
                              v if v > 0 else 2.0)
        self.edit(selected, after, f"Place {self._joint_name(index)}")
        canvas.select(selected.key, keypoint=next_unplaced(after, index))
        self._redraw()

    def document_changed(self, key: str) -> None:
        selected = self.canvas.selected()
        if self.place_keypoints and selected is not None and selected.key == key \
                and selected.kind == "pose":
            self.canvas.select(key, keypoint=next_unplaced(selected, -1))
            self._redraw()

    def key_press(self, event: QKeyEvent) -> bool:
        if event.key() == Qt.Key.Key_Escape and (self.placing or self._box_from):
            key = self.canvas.selected_key
            self.cancel()
            self.canvas.select(key)
            return True
        handled = super().key_press(event)
        self._redraw()
        return handled

    def _joint_name(self, index: int | None) -> str:
        names = self.canvas.schema.names if self.canvas.schema else ()
        return names[index] if index is not None and index < len(names) else ""

    def _redraw(self) -> None:
        """The box being dragged, and while placing: the joint's name at the cursor and
        dashed lines to its neighbours already placed (the skeleton, live)."""
        scene = self.canvas.scene()
        for item in self._temp:
            scene.removeItem(item)
        self._temp = []
        color = QColor(self.canvas.class_color(self.canvas.current_class))
        if self._box_from is not None and self._cursor is not None:
            box = scene.addRect(QRectF(QPointF(*self._box_from),
                                       QPointF(*self._cursor)).normalized(),
                                cosmetic_pen(color, 2.0, Qt.PenStyle.DashLine))
            self._temp.append(box)
        elif self.placing and self._cursor is not None:
            index = self.canvas.selected_keypoint
            tag = TagItem(f"{index + 1} · {self._joint_name(index)}", QColor("#202225"))
            tag.setPos(QPointF(self._cursor[0], self._cursor[1]))
            tag.setTransform(tag.transform().translate(14, -4))
            scene.addItem(tag)
            self._temp.append(tag)
            points = self.canvas.keypoints_px(self.canvas.selected())
            for a, b in self.canvas.schema.skeleton if self.canvas.schema else ():
                other = b if a == index else a if b == index else None
                if other is not None and points[other][2] > 0:
                    line = QGraphicsLineItem(points[other][0], points[other][1], *self._cursor)
                    line.setPen(cosmetic_pen("#ffffff", 1.5, Qt.PenStyle.DashLine))
                    scene.addItem(line)
                    self._temp.append(line)
        for item in self._temp:
            item.setZValue(50)
