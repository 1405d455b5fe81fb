"""The pose tool: drag a box and the schema's template is placed in it whole (K, the default),
or, with T, click its keypoints in schema order; boxes only (R)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QGraphicsItem, QGraphicsLineItem

from ...services.annotations import AnnotationData
from ...services.keypoint_schemas import Layout, builtin_layout, circle_layout, layout_in_box
from ...state.models import KEYPOINTS
from .canvas import AnnotationCanvas
from .commands import AddInstance
from .geometry import Point, box_to_normal, clip, is_placed, keypoint_triples
from .items import Dot, TagItem, cosmetic_pen
from .tools import (
    DRAG_PIXELS,
    MIN_BOX_PIXELS,
    VISIBILITY_CYCLE,
    VISIBILITY_WORDS,
    Tool,
    next_unplaced,
    with_keypoint,
)


class PoseTool(Tool):
    """K: drag a box and the whole template is placed in it, scaled to the box, as one edit
    (``template_mode``, the default); then drag the joints that are off. With
    ``template_mode`` off (T): drag a box, then click its keypoints in schema order (the
    joint's name follows the cursor). Tab/Shift+Tab pick another keypoint, Q cycles
    visibility, keypoints drag; a keypoint selected (the joint panel) is placed by a click.
    Choosing or clicking an instance with K goes on at its first keypoint not placed.
    R (``place_keypoints=False``): boxes only.

    Q on a keypoint not placed yet sets how the next click places it (visible, occluded);
    "not labelled" leaves it out, and the click then places the next keypoint instead.
    """

    name = "keypoints"

    def __init__(self, canvas: AnnotationCanvas, *, place_keypoints: bool = True) -> None:
        super().__init__(canvas)
        self.place_keypoints = place_keypoints
        self.name = "keypoints" if place_keypoints else "box"
        self._box_from: Point | None = None
        self._pressed: tuple[str, int, Point] | None = None
        self._cursor: Point | None = None
        self._temp: list[QGraphicsItem] = []
        self._pending: tuple[str, int, float] | None = None  # key, keypoint, visibility
        self._skipped: set[tuple[str, int]] = set()  # said "not labelled" before placing
        self.template_mode = True
        # the page's template (the joint panel's: a custom schema's mean pose); None: the
        # built-in layout of the schema, or a circle
        self.layout: Callable[[], Layout | None] | None = None

    @property
    def placing(self) -> bool:
        selected = self.canvas.selected()
        return (self.place_keypoints and selected is not None and selected.kind == KEYPOINTS
                and self.canvas.selected_keypoint is not None)

    def cancel(self) -> None:
        super().cancel()
        # no cursor, so no name tag is drawn again: the canvas may be about to clear its
        # scene (another image), which would leave the tool holding deleted items
        self._box_from = self._pressed = self._pending = self._cursor = None
        self._redraw()

    def activate(self) -> None:
        selected = self.canvas.selected()
        if selected is not None:
            self.select_instance(selected.key)

    def select_instance(self, key: str | None) -> None:
        data = self.canvas.document.get(key) if key and self.canvas.document else None
        if not self.place_keypoints or data is None or data.kind != KEYPOINTS:
            self.canvas.select(key)
            return
        index = self._next_to_place(data, -1)
        self.canvas.select(key, keypoint=index)
        if index is not None:
            self.canvas.say(f"Click {self._joint_label(index)}; Q: occluded / not labelled, "
                            "Tab: another keypoint, Esc: stop")
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
        if canvas.hit_instance(point) is None and not self.has_class():
            return  # a click on an instance still selects it
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
            self._pressed, joint = None, self._drag[0] == "keypoint"
            self._end_drag()
            if joint:
                self._after_joint_drag()
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
                    self.canvas.screen_distance(start, (point[0], start[1])) >= MIN_BOX_PIXELS \
                    and self.has_class():
                self.add_box(start, point)
            else:
                self.select_instance(self.canvas.hit_instance(point))

    def template(self) -> Layout | None:
        """The layout a box places whole (None: the box gets no keypoints yet)."""
        count = len(self.canvas.schema.names) if self.canvas.schema else 0
        if not (self.place_keypoints and self.template_mode and count):
            return None
        layout = (self.layout() if self.layout is not None else None) \
            or builtin_layout(self.canvas.schema) or circle_layout(count)
        return layout if len(layout) == count else None

    def _after_joint_drag(self) -> None:
        """A dragged joint is in place: go on at the first joint not placed (none: the next
        drag draws the next object's box, rather than moving that joint again)."""
        selected = self.canvas.selected()
        if self.place_keypoints and selected is not None and selected.kind == KEYPOINTS:
            self.canvas.select(selected.key, keypoint=self._next_to_place(selected, -1))
            self._redraw()

    def add_box(self, a: Point, b: Point) -> None:
        """A new instance with this box and, in template mode, the whole template placed in
        it (one edit: Ctrl+Z takes the box and its skeleton back); otherwise every keypoint
        not labelled yet, to click in order."""
        canvas = self.canvas
        count = len(canvas.schema.names) if canvas.schema else 0
        box = box_to_normal(*a, *b, *canvas.size_px)
        layout = self.template()
        keypoints = layout_in_box(layout, box) if layout else (0.0,) * (3 * count)
        data = AnnotationData(kind=KEYPOINTS, class_index=canvas.current_class, box=box,
                              keypoints=keypoints)
        canvas.push(AddInstance(canvas.document, data,
                                text="Place skeleton" if layout else "Draw box"))
        if layout:
            canvas.select(data.key)
            canvas.say("Skeleton placed: drag any joint that is off (or click it in Joints, "
                       "then its place); Q: visibility; T: click each joint in order instead")
        elif self.place_keypoints and count:
            self.select_instance(data.key)
        else:
            canvas.select(data.key)
            canvas.say("Box drawn; K then gives it keypoints")
        self._redraw()

    def pending_visibility(self) -> float:
        """How the next click places the current keypoint (Q changes it before placing)."""
        pending, canvas = self._pending, self.canvas
        if pending is not None and pending[:2] == (canvas.selected_key, canvas.selected_keypoint):
            return pending[2]
        return 2.0

    def place(self, point: Point) -> None:
        """Put the current keypoint at ``point`` (or, when it was said to be not labelled, the
        next one) and go on to the next one not placed."""
        canvas, selected = self.canvas, self.canvas.selected()
        index = canvas.selected_keypoint
        x, y, v = keypoint_triples(selected.keypoints)[index]
        prefix, visibility = "", v if v > 0 else self.pending_visibility()
        self._pending = None
        if visibility == 0 and not is_placed(x, y, v):  # this one is not there: the next is
            prefix = f"{self._joint_name(index)} left not labelled; "
            index, visibility = self._next_to_place(selected, index), 2.0
            if index is None:
                canvas.select(selected.key)
                canvas.say(prefix + "no other keypoint is left to place")
                self._redraw()
                return
        self._skipped.discard((selected.key, index))
        width, height = canvas.size_px
        after = with_keypoint(selected, index, clip(point[0] / width), clip(point[1] / height),
                              visibility)
        self.edit(selected, after, f"Place {self._joint_name(index)}")
        following = self._next_to_place(after, index)
        canvas.select(selected.key, keypoint=following)
        placed = f"{prefix}placed {self._joint_name(index)} ({VISIBILITY_WORDS[visibility]})"
        canvas.say(f"{placed}; next: {self._joint_label(following)}" if following is not None
                   else f"{placed}; no keypoint is left to place")
        self._redraw()

    def cycle_visibility(self, selected: AnnotationData) -> None:
        index = self.canvas.selected_keypoint
        if index is None or is_placed(*keypoint_triples(selected.keypoints)[index]) \
                or not self.place_keypoints:
            super().cycle_visibility(selected)
            return
        visibility = VISIBILITY_CYCLE[self.pending_visibility()]
        self._pending = (selected.key, index, visibility)
        name = self._joint_name(index)
        if visibility == 0:
            self._skipped.add((selected.key, index))
            following = self._next_to_place(selected, index)
            then = f"a click places {self._joint_label(following)}" if following is not None \
                else "no other keypoint is left to place"
            self.canvas.say(f"{name}: not labelled — {then}; Q: visible again")
        else:
            self._skipped.discard((selected.key, index))
            self.canvas.say(f"{name}: {VISIBILITY_WORDS[visibility]} — click to place it")
        self._redraw()

    def step_keypoint(self, selected: AnnotationData, step: int) -> None:
        self._pending = None  # Q's choice was for the keypoint being left
        super().step_keypoint(selected, step)

    def _next_to_place(self, data: AnnotationData, after: int) -> int | None:
        skip = {index for key, index in self._skipped if key == data.key}
        return next_unplaced(data, after, skip)

    def document_changed(self, key: str) -> None:
        selected = self.canvas.selected()
        if self.place_keypoints and selected is not None and selected.key == key \
                and selected.kind == KEYPOINTS:
            self.canvas.select(key, keypoint=self._next_to_place(selected, -1))
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
        return self.joint_name(index)

    def _joint_label(self, index: int | None) -> str:
        """"left_eye (keypoint 2 of 17)"."""
        count = len(self.canvas.schema.names) if self.canvas.schema else 0
        return f"{self._joint_name(index)} (keypoint {(index or 0) + 1} of {count})"

    def _redraw(self) -> None:
        """The box being dragged, and while placing: the joint's name at the cursor and
        dashed lines to its neighbours already placed (the skeleton, live)."""
        scene = self.canvas.scene()
        for item in self._temp:
            scene.removeItem(item)
        self._temp = []
        color = QColor(self.canvas.class_color(self.canvas.current_class))
        if self._box_from is not None and self._cursor is not None:
            rect = QRectF(QPointF(*self._box_from), QPointF(*self._cursor)).normalized()
            box = scene.addRect(rect, cosmetic_pen(color, 2.0, Qt.PenStyle.DashLine))
            self._temp.append(box)
            self._temp += self._template_preview(rect, color)
        elif self.placing and self._cursor is not None:
            self._temp = self._placing_guides(self._cursor)
        for item in self._temp:
            item.setZValue(50)
            if item.scene() is None:
                scene.addItem(item)

    def _template_preview(self, rect: QRectF, color: QColor) -> list[QGraphicsItem]:
        """Where the template's joints will land in the box being dragged (small rings)."""
        layout = self.template()
        if not layout:
            return []
        return [Dot((rect.left() + u * rect.width(), rect.top() + v * rect.height()), 3.0, None,
                    color) for u, v in layout]

    def _placing_guides(self, cursor: Point) -> list[QGraphicsItem]:
        """The name of the keypoint a click places (with Q's choice), and dashed lines from
        its neighbours already placed to the cursor."""
        index, state = self.canvas.selected_keypoint, ""
        if self.pending_visibility() == 1.0:
            state = " · occluded"
        elif self.pending_visibility() == 0.0:  # the click places the next one
            state = f" ({self._joint_name(index)} not labelled)"
            index = self._next_to_place(self.canvas.selected(), index)
            if index is None:
                return []
        tag = TagItem(f"{index + 1} · {self._joint_name(index)}{state}", QColor("#202225"))
        tag.setPos(QPointF(*cursor))
        tag.setTransform(tag.transform().translate(14, -4))
        guides: list[QGraphicsItem] = [tag]
        points = self.canvas.keypoints_px(self.canvas.selected())
        for a, b in self.canvas.schema.skeleton if self.canvas.schema else ():
            other = b if a == index else a if b == index else None
            if other is not None and points[other][2] > 0:
                line = QGraphicsLineItem(points[other][0], points[other][1], *cursor)
                line.setPen(cosmetic_pen("#ffffff", 1.5, Qt.PenStyle.DashLine))
                guides.append(line)
        return guides
