"""Canvas tools: draw polygons (P) and edit (V); the pose tool (K, R) is in ``pose_tool``.

A tool turns mouse and keys into undo commands on the canvas's document; while a drag is on,
it only previews, and one command is pushed on release, so undo restores exact geometry.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QColor, QKeyEvent, QKeySequence, QMouseEvent, QPainterPath
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem

from ...services.annotations import AnnotationData
from ...state.models import KEYPOINTS, POLYGON
from .canvas import AnnotationCanvas
from .commands import AddInstance, EditInstance, RemoveInstance
from .geometry import (
    Point,
    box_to_normal,
    box_to_pixels,
    clip,
    is_placed,
    keypoint_triples,
    to_normal,
    to_pixels,
)
from .items import Dot, cosmetic_pen

if TYPE_CHECKING:
    from .assist_worker import EdgeSnapper

DRAG_PIXELS = 3.0
MIN_BOX_PIXELS = 4.0
VISIBILITY_CYCLE = {2.0: 1.0, 1.0: 0.0, 0.0: 2.0}
VISIBILITY_WORDS = {2.0: "visible", 1.0: "occluded", 0.0: "not labelled"}
NO_CLASSES = ("This project has no classes yet, so nothing was drawn: add one on the Datasets "
              "page, or import a dataset")


def _is_undo(event: QEvent) -> bool:
    return isinstance(event, QKeyEvent) and event.matches(QKeySequence.StandardKey.Undo)


class OverlayItems:
    """For a tool that draws passing items over the image (a box being dragged, clicks, a
    preview): ``_show(items)`` replaces them, ``_clear_temp()`` removes them. The tool sets
    ``self._temp = []`` in its ``__init__``."""

    canvas: AnnotationCanvas
    _temp: list[QGraphicsItem]

    def _clear_temp(self) -> None:
        scene = self.canvas.scene()
        for item in self._temp:
            if item.scene() is scene:
                scene.removeItem(item)
        self._temp = []

    def _show(self, items: list[QGraphicsItem]) -> None:
        self._clear_temp()
        for item in items:
            item.setZValue(50)
            self.canvas.scene().addItem(item)
        self._temp = items


class Tool:
    """Base: selection keys every tool shares (Delete, Tab, Q, Esc)."""

    name = ""
    nudges = False

    def __init__(self, canvas: AnnotationCanvas) -> None:
        self.canvas = canvas
        self._drag: tuple[str, str, int, AnnotationData, Point] | None = None
        self._dragged: AnnotationData | None = None

    # -- to override --------------------------------------------------------------------------
    def cancel(self) -> None:
        """Drop unfinished work (a half-drawn shape, a drag)."""
        if self._drag is not None:
            self.canvas.refresh(self._drag[1])
        self._drag = self._dragged = None

    def press(self, event: QMouseEvent, point: Point) -> None:
        pass

    def move(self, event: QMouseEvent, point: Point) -> None:
        self._drag_to(point)

    def release(self, event: QMouseEvent, point: Point) -> None:
        self._end_drag()

    def double_click(self, event: QMouseEvent, point: Point) -> None:
        pass

    def document_changed(self, key: str) -> None:
        """An undo or redo changed instance ``key``."""

    def activate(self) -> None:
        """The tool was just chosen (the selection may be another tool's)."""

    def select_instance(self, key: str | None) -> None:
        """Select instance ``key`` as this tool would after a click on it."""
        self.canvas.select(key)

    def has_class(self) -> bool:
        """Whether new shapes can get a class; when not, says so (never a silent class 0)."""
        if self.canvas.classes:
            return True
        self.canvas.say(NO_CLASSES)
        return False

    def joint_name(self, index: int | None) -> str:
        names = self.canvas.schema.names if self.canvas.schema else ()
        return names[index] if index is not None and index < len(names) else ""

    def wants_key(self, event: QKeyEvent) -> bool:
        """Whether the tool takes a key that is also a window shortcut (Ctrl+Z, arrows)."""
        arrows = (Qt.Key.Key_Left, Qt.Key.Key_Right, Qt.Key.Key_Up, Qt.Key.Key_Down)
        return self.nudges and event.key() in arrows and self.canvas.selected() is not None

    def key_press(self, event: QKeyEvent) -> bool:
        key, selected = event.key(), self.canvas.selected()
        if key == Qt.Key.Key_Escape:
            self.cancel()
            self.canvas.select(None)
            return True
        if selected is None:
            return False
        if key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.delete_selection(selected)
            return True
        if key in (Qt.Key.Key_Tab, Qt.Key.Key_Backtab) and selected.kind == KEYPOINTS:
            backwards = key == Qt.Key.Key_Backtab or bool(
                event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            self.step_keypoint(selected, -1 if backwards else 1)
            return True
        if key == Qt.Key.Key_Q and selected.kind == KEYPOINTS:
            self.cycle_visibility(selected)
            return True
        if self.nudges and self.wants_key(event):
            step = 10 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1
            dx = {Qt.Key.Key_Left: -step, Qt.Key.Key_Right: step}.get(Qt.Key(key), 0)
            dy = {Qt.Key.Key_Up: -step, Qt.Key.Key_Down: step}.get(Qt.Key(key), 0)
            self.edit(selected, self.translated(selected, dx, dy), "Nudge")
            return True
        return False

    # -- shared edits -------------------------------------------------------------------------
    def edit(self, before: AnnotationData, after: AnnotationData, text: str) -> None:
        if after != before:
            self.canvas.push(EditInstance(self.canvas.document, before, after, text))

    def delete_selection(self, selected: AnnotationData) -> None:
        canvas = self.canvas
        vertex, keypoint = canvas.selected_vertex, canvas.selected_keypoint
        if selected.kind == POLYGON and vertex is not None and len(selected.polygon) > 6:
            values = list(selected.polygon)
            del values[2 * vertex:2 * vertex + 2]
            self.edit(selected, replace(selected, polygon=tuple(values)), "Delete vertex")
            canvas.select(selected.key)
            return
        if selected.kind == KEYPOINTS and keypoint is not None:
            x, y, v = keypoint_triples(selected.keypoints)[keypoint]
            if is_placed(x, y, v):
                self.edit(selected, with_keypoint(selected, keypoint, 0.0, 0.0, 0.0),
                          "Delete keypoint")
                return
        canvas.push(RemoveInstance(canvas.document, selected.key))
        canvas.select(None)

    def step_keypoint(self, selected: AnnotationData, step: int) -> None:
        count = len(selected.keypoints or ()) // 3
        if count:
            current = self.canvas.selected_keypoint
            index = (0 if step > 0 else count - 1) if current is None else (current + step) % count
            self.canvas.select(selected.key, keypoint=index)

    def cycle_visibility(self, selected: AnnotationData) -> None:
        """Q: the current keypoint visible → occluded → not labelled (its place is kept)."""
        index = self.canvas.selected_keypoint
        if index is None:
            return
        x, y, v = keypoint_triples(selected.keypoints)[index]
        name = self.joint_name(index)
        if not is_placed(x, y, v):
            self.canvas.say(f"{name} is not placed yet: place it with the keypoint tool (K)")
            return
        visibility = VISIBILITY_CYCLE.get(v, 2.0)
        after = with_keypoint(selected, index, x, y, visibility)
        self.edit(selected, after, "Keypoint visibility")
        self.canvas.select(selected.key, keypoint=index)
        self.canvas.say(f"{name}: {VISIBILITY_WORDS[visibility]} (Q cycles visible → "
                        "occluded → not labelled)")

    def translated(self, data: AnnotationData, dx: float, dy: float) -> AnnotationData:
        """``data`` moved by (dx, dy) image pixels, kept inside the image."""
        width, height = self.canvas.size_px
        if data.kind == POLYGON and data.polygon:
            points = to_pixels(data.polygon, width, height)
            dx, dy = _clamp_shift(points, dx, dy, width, height)
            return replace(data, polygon=to_normal([(x + dx, y + dy) for x, y in points],
                                                   width, height))
        if data.kind == KEYPOINTS and data.box:
            x0, y0, x1, y1 = box_to_pixels(data.box, width, height)
            dx, dy = _clamp_shift([(x0, y0), (x1, y1)], dx, dy, width, height)
            points: list[float] = []
            for x, y, v in keypoint_triples(data.keypoints or ()):
                if is_placed(x, y, v):
                    x, y = clip(x + dx / width), clip(y + dy / height)
                points += [x, y, v]
            box = box_to_normal(x0 + dx, y0 + dy, x1 + dx, y1 + dy, width, height)
            return replace(data, box=box, keypoints=tuple(points))
        return data

    # -- drags --------------------------------------------------------------------------------
    def start_drag(self, kind: str, data: AnnotationData, index: int, point: Point) -> None:
        self._drag, self._dragged = (kind, data.key, index, data, point), None

    def _drag_to(self, point: Point) -> None:
        if self._drag is None:
            return
        kind, _key, index, before, start = self._drag
        width, height = self.canvas.size_px
        x, y = clip(point[0], 0, width), clip(point[1], 0, height)
        if kind == "vertex":
            values = list(before.polygon)
            values[2 * index:2 * index + 2] = [x / width, y / height]
            after = replace(before, polygon=tuple(values))
        elif kind == "keypoint":
            v = keypoint_triples(before.keypoints)[index][2]
            after = with_keypoint(before, index, x / width, y / height, v or 2.0)
        elif kind == "corner":
            x0, y0, x1, y1 = box_to_pixels(before.box, width, height)
            corners = [[x0, y0], [x1, y0], [x0, y1], [x1, y1]]
            corners[index] = [x, y]
            opposite = corners[3 - index]
            after = replace(before, box=box_to_normal(x, y, *opposite, width, height))
        else:
            after = self.translated(before, point[0] - start[0], point[1] - start[1])
        self._dragged = after
        self.canvas.preview(after)

    def _end_drag(self) -> None:
        if self._drag is None:
            return
        before, after = self._drag[3], self._dragged
        self._drag = self._dragged = None
        if after is not None and after != before:
            self.edit(before, after, "Move")
        else:
            self.canvas.refresh(before.key)


class EditTool(Tool):
    """V: select; drag vertices, keypoints, box corners or whole instances; Shift+click on
    an edge inserts a vertex; arrows nudge."""

    name = "edit"
    nudges = True

    def press(self, event: QMouseEvent, point: Point) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        canvas = self.canvas
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            edge = canvas.hit_edge(point)
            if edge is not None:
                key, index, nearest = edge
                data = canvas.document.get(key)
                width, height = canvas.size_px
                values = list(data.polygon)
                values[2 * index:2 * index] = [nearest[0] / width, nearest[1] / height]
                self.edit(data, replace(data, polygon=tuple(values)), "Insert vertex")
                canvas.select(key, vertex=index)
                return
        corner = canvas.hit_box_corner(point)
        keypoint = canvas.hit_keypoint(point) if corner is None else None
        vertex = canvas.hit_vertex(point) if corner is None and keypoint is None else None
        if corner is not None:
            canvas.select(corner[0])
            self.start_drag("corner", canvas.document.get(corner[0]), corner[1], point)
        elif keypoint is not None:
            canvas.select(keypoint[0], keypoint=keypoint[1])
            self.start_drag("keypoint", canvas.document.get(keypoint[0]), keypoint[1], point)
        elif vertex is not None:
            canvas.select(vertex[0], vertex=vertex[1])
            self.start_drag("vertex", canvas.document.get(vertex[0]), vertex[1], point)
        else:
            key = canvas.hit_instance(point)
            canvas.select(key)
            if key is not None:
                self.start_drag("move", canvas.document.get(key), 0, point)


class PolygonTool(Tool):
    """P: click vertices; close with Enter, a double-click or a click on the first vertex;
    Ctrl+Z removes the last vertex while drawing; Esc cancels.

    With edge snapping on (``snapper``, S), each new edge follows the image's edges from the
    last vertex to the click: the path is computed on the assists' worker while the cursor
    moves (shown live) and its vertices join the polygon on the click; Ctrl+Z then removes
    the whole snapped edge."""

    name = "polygon"

    def __init__(self, canvas: AnnotationCanvas) -> None:
        super().__init__(canvas)
        self.points: list[Point] = []
        self.anchors: list[int] = []  # where in ``points`` the clicked vertices are
        self.snapper: EdgeSnapper | None = None  # the page's, when it has assists
        self._snapped: tuple[Point, Point, list[Point]] | None = None  # from, to, path
        self._cursor: Point | None = None
        self._temp: list[QGraphicsItem] = []

    @property
    def drawing(self) -> bool:
        return bool(self.points)

    @property
    def snapping(self) -> bool:
        return self.snapper is not None and self.snapper.enabled

    def cancel(self) -> None:
        super().cancel()
        self.points, self.anchors, self._snapped = [], [], None
        self._redraw()

    def snapping_changed(self) -> None:
        """Edge snapping was switched: the preview follows at once."""
        self._snapped = None
        self._request_path()
        self._redraw()

    def press(self, event: QMouseEvent, point: Point) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if not self.points and not self.has_class():
            return
        if len(self.points) >= 3 and self.canvas.screen_distance(point, self.points[0]) <= 8:
            path = self._path_to(self.points[0])
            if path is not None:
                self.points += path[1:-1]  # the closing edge follows the image too
            self.finish()
            return
        width, height = self.canvas.size_px
        self.add_vertex((clip(point[0], 0, width), clip(point[1], 0, height)))

    def add_vertex(self, point: Point) -> None:
        """A clicked vertex; snapping, the edge to it follows the image (the path shown, or
        the one computed now, spliced in when it arrives)."""
        path = self._path_to(point) if self.points else None
        start = self.points[-1] if self.points else None
        self.points += path[1:-1] if path is not None else []
        self.points.append(point)
        self.anchors.append(len(self.points) - 1)
        self._snapped = None
        if path is None and start is not None and self.snapping:
            self.snapper.request(self.canvas.document.image, start, point, self._path_arrived,
                                 edge=True)
        self._redraw()

    def move(self, event: QMouseEvent, point: Point) -> None:
        self._cursor = point
        if self.points:
            self._request_path()
            self._redraw()

    def _request_path(self) -> None:
        if self.snapping and self.points and self._cursor is not None:
            self.snapper.request(self.canvas.document.image, self.points[-1], self._cursor,
                                 self._path_arrived)

    def _path_to(self, point: Point) -> list[Point] | None:
        """The snapped path from the last vertex to ``point`` when the preview has it."""
        if not self.snapping or self._snapped is None or not self.points:
            return None
        start, end, path = self._snapped
        if start != self.points[-1] or self.canvas.screen_distance(end, point) > DRAG_PIXELS:
            return None
        return [*path[:-1], point]

    def _path_arrived(self, start: Point, end: Point, path: list[Point]) -> None:
        """A path from the worker: the preview from the last vertex, or the edge to a vertex
        clicked before its path was ready."""
        if not self.snapping or not self.points:
            return
        if len(self.anchors) >= 2 and self.anchors[-1] == self.anchors[-2] + 1 and \
                self.points[-2] == start and self.points[-1] == end:
            self.points[-1:-1] = path[1:-1]
            self.anchors[-1] = len(self.points) - 1
        elif self.points[-1] == start:
            self._snapped = (start, end, path)
        else:
            return
        self._redraw()

    def release(self, event: QMouseEvent, point: Point) -> None:
        pass

    def double_click(self, event: QMouseEvent, point: Point) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if not self.points or self.canvas.screen_distance(point, self.points[-1]) > 3:
            self.press(event, point)  # its first click's vertex, when it did not arrive
        if len(self.points) >= 3:
            self.finish()

    def wants_key(self, event: QKeyEvent) -> bool:
        return self.drawing and (_is_undo(event) or event.key() in (
            Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Backspace))

    def key_press(self, event: QKeyEvent) -> bool:
        if not self.drawing:
            return super().key_press(event)
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.finish()
        elif event.key() == Qt.Key.Key_Escape:
            self.cancel()
        elif _is_undo(event) or event.key() == Qt.Key.Key_Backspace:
            self.remove_last_vertex()
        else:
            return False
        return True

    def remove_last_vertex(self) -> None:
        """Ctrl+Z (or Edit → Undo) while drawing: the last vertex clicked goes (with the
        snapped edge that led to it)."""
        if self.points:
            self.anchors.pop()
            del self.points[self.anchors[-1] + 1 if self.anchors else 0:]
            self._snapped = None
            self._redraw()

    def finish(self) -> None:
        """Close the polygon (three vertices or more) as a new instance of the current class."""
        if len(self.points) < 3:
            return
        canvas = self.canvas
        polygon = to_normal(self.points, *canvas.size_px)
        data = AnnotationData(kind=POLYGON, class_index=canvas.current_class, polygon=polygon)
        self.points, self.anchors, self._snapped = [], [], None
        self._redraw()
        canvas.push(AddInstance(canvas.document, data, text="Draw polygon"))
        canvas.select(data.key)

    def _redraw(self) -> None:
        scene = self.canvas.scene()
        for item in self._temp:
            scene.removeItem(item)
        self._temp = []
        if not self.points:
            return
        color = QColor(self.canvas.class_color(self.canvas.current_class))
        path = QPainterPath(QPointF(*self.points[0]))
        for point in self.points[1:]:
            path.lineTo(QPointF(*point))
        line = QGraphicsPathItem(path)
        line.setPen(cosmetic_pen(color, 2.0))
        self._temp.append(line)
        preview = QPainterPath(QPointF(*self.points[-1]))  # to the cursor: not placed yet
        for point in self._preview():
            preview.lineTo(QPointF(*point))
        ahead = QGraphicsPathItem(preview)
        ahead.setPen(cosmetic_pen(color, 2.0, Qt.PenStyle.DashLine))
        self._temp.append(ahead)
        for index in self.anchors:  # the clicked vertices (a snapped edge's own are many)
            self._temp.append(Dot(self.points[index], 6.0 if index == 0 else 3.5,
                                  QColor("#ffffff"), color))
        for item in self._temp:
            item.setZValue(50)
            scene.addItem(item)


    def _preview(self) -> list[Point]:
        """The points from the last vertex to the cursor: the snapped path while snapping
        (a straight line meanwhile)."""
        if self._cursor is None:
            return []
        snapped = self._snapped
        if self.snapping and snapped is not None and snapped[0] == self.points[-1]:
            return [*snapped[2][1:], self._cursor]
        return [self._cursor]


def with_keypoint(data: AnnotationData, index: int, x: float, y: float,
                  v: float) -> AnnotationData:
    values = list(data.keypoints or ())
    values[3 * index:3 * index + 3] = [x, y, v]
    return replace(data, keypoints=tuple(values))


def next_unplaced(data: AnnotationData, after: int,
                  skip: set[int] | frozenset[int] = frozenset()) -> int | None:
    """The first keypoint after ``after`` (then from the start) that has no position and is
    not in ``skip`` (those the user said are not there)."""
    triples = keypoint_triples(data.keypoints or ())
    order = [*range(after + 1, len(triples)), *range(0, max(after, 0))]
    for index in order:
        if not is_placed(*triples[index]) and index not in skip:
            return index
    return None


def _clamp_shift(points: list[Point], dx: float, dy: float, width: int,
                 height: int) -> tuple[float, float]:
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    dx = clip(dx, -min(xs), width - max(xs))
    dy = clip(dy, -min(ys), height - max(ys))
    return dx, dy
