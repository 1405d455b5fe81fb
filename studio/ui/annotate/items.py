"""What the canvas draws: polygons (filled ~40 % with a 2 px outline), pose instances (box,
skeleton, keypoints coloured by side) and label tags. Pens are cosmetic and handles ignore
the view's zoom, so outlines and keypoints keep their size on screen."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import (
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsPolygonItem,
    QGraphicsRectItem,
    QStyleOptionGraphicsItem,
    QWidget,
)

from ...services.palette import KEYPOINT_SIDES, keypoint_side
from .geometry import Point, is_placed

DRAFT_FILL_SHARE = 0.4
"""A draft's fill is this share of a label's, with a dashed outline: a model's proposal
reads as unfinished at a glance, and accepting it visibly makes it a normal label."""
KEYPOINT_RADIUS = 4.0
HANDLE_RADIUS = 4.0
INSTANCE_Z = 10


def cosmetic_pen(color: QColor | str, width: float = 2.0,
                 style: Qt.PenStyle = Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(QColor(color), width, style)
    pen.setCosmetic(True)
    return pen


def readable_text_color(color: QColor) -> QColor:
    """Black or white, whichever reads better on ``color``."""
    luminance = 0.299 * color.red() + 0.587 * color.green() + 0.114 * color.blue()
    return QColor("#000000") if luminance > 150 else QColor("#ffffff")


class Dot(QGraphicsEllipseItem):
    """A round marker of constant size on screen (vertex handle or keypoint)."""

    def __init__(self, center: Point, radius: float, fill: QColor | None, outline: QColor,
                 parent: QGraphicsItem | None = None, width: float = 1.5) -> None:
        super().__init__(-radius, -radius, 2 * radius, 2 * radius, parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setPos(QPointF(*center))
        self.setPen(cosmetic_pen(outline, width))
        self.setBrush(QBrush(fill) if fill is not None else Qt.BrushStyle.NoBrush)


class TagItem(QGraphicsItem):
    """A label tag (class name, confidence) in the class colour, readable on any image."""

    def __init__(self, text: str, color: QColor, parent: QGraphicsItem | None = None,
                 *, below: bool = False) -> None:
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.text, self.color = text, QColor(color)
        self.font = QFont()
        self.font.setPointSizeF(8.5)
        metrics = QFontMetricsF(self.font)
        top = 0.0 if below else -metrics.height() - 4
        self._rect = QRectF(0, top, metrics.horizontalAdvance(text) + 8, metrics.height() + 4)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        return self._rect

    def paint(self, painter: QPainter, _option: QStyleOptionGraphicsItem,
              _widget: QWidget | None = None) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(self.color)
        painter.drawRoundedRect(self._rect, 3, 3)
        painter.setPen(readable_text_color(self.color))
        painter.setFont(self.font)
        painter.drawText(self._rect, Qt.AlignmentFlag.AlignCenter, self.text)


class PolygonItem(QGraphicsPolygonItem):
    """A segment instance; its vertex handles show while it is selected."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.label, self.draft = "", False
        self.setZValue(INSTANCE_Z)
        self._children: list[QGraphicsItem] = []

    def set_state(self, points: Sequence[Point], color: str, label: str, *, selected: bool,
                  selected_vertex: int | None, draft: bool, fill_opacity: float) -> None:
        self.label, self.draft = label, draft
        for child in self._children:
            child.setParentItem(None)
            if child.scene() is not None:
                child.scene().removeItem(child)
        self._children = []
        qcolor = QColor(color)
        self.setPolygon(QPolygonF([QPointF(x, y) for x, y in points]))
        style = Qt.PenStyle.DashLine if draft else Qt.PenStyle.SolidLine
        self.setPen(cosmetic_pen(qcolor, 3.0 if selected else 2.0, style))
        fill = QColor(qcolor)
        opacity = fill_opacity * (DRAFT_FILL_SHARE if draft else 1.0)
        fill.setAlphaF(min(1.0, opacity + (0.15 if selected else 0.0)))
        self.setBrush(fill)
        if points:
            top = min(points, key=lambda p: (p[1], p[0]))
            tag = TagItem(label, qcolor, self)
            tag.setPos(QPointF(*top))
            self._children.append(tag)
        if selected:
            for index, point in enumerate(points):
                chosen = index == selected_vertex
                handle = Dot(point, HANDLE_RADIUS + (1 if chosen else 0),
                             qcolor if chosen else QColor("#ffffff"), qcolor, self)
                self._children.append(handle)


class PoseItem(QGraphicsRectItem):
    """A pose instance: its box, skeleton lines and keypoints (``keypoint_marker``: visible
    filled, occluded a dashed hollow ring, not labelled a grey cross or nothing); the current
    keypoint ringed and named where it has a position (one not placed yet is at (0, 0) in the
    data, which is no place to draw it)."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.label, self.draft = "", False
        self.setZValue(INSTANCE_Z)
        self._children: list[QGraphicsItem] = []

    def set_state(self, rect: tuple[float, ...], keypoints: Sequence[tuple[float, float, float]],
                  names: Sequence[str], skeleton: Sequence[tuple[int, int]], color: str,
                  label: str, *, selected: bool, current: int | None, draft: bool) -> None:
        self.label, self.draft = label, draft
        for child in self._children:
            child.setParentItem(None)
            if child.scene() is not None:
                child.scene().removeItem(child)
        self._children = []
        qcolor = QColor(color)
        x0, y0, x1, y1 = rect
        self.setRect(QRectF(QPointF(x0, y0), QPointF(x1, y1)).normalized())
        style = Qt.PenStyle.DashLine if draft else Qt.PenStyle.SolidLine
        self.setPen(cosmetic_pen(qcolor, 3.0 if selected else 2.0, style))
        self.setBrush(Qt.BrushStyle.NoBrush)
        tag = TagItem(label, qcolor, self)
        tag.setPos(QPointF(min(x0, x1), min(y0, y1)))
        self._children.append(tag)
        if selected:
            for corner in ((x0, y0), (x1, y0), (x0, y1), (x1, y1)):
                self._children.append(Dot(corner, 3.0, QColor("#ffffff"), qcolor, self))
        for line in skeleton_lines(keypoints, names, skeleton):
            self._children.append(line)
            line.setParentItem(self)
        for index, (x, y, v) in enumerate(keypoints):
            if index == current and is_placed(x, y, v):  # a keypoint not placed has no spot
                ring = Dot((x, y), KEYPOINT_RADIUS + 4, None, QColor("#ffffff"), self, 2.0)
                self._children.append(ring)
                self._children.append(joint_tag((x, y), index, names, v, self))
            side = QColor(KEYPOINT_SIDES[keypoint_side(names[index])]
                          if index < len(names) else KEYPOINT_SIDES["centre"])
            marker = keypoint_marker((x, y, v), side, self)
            if marker is not None:
                marker.setZValue(2)
                self._children.append(marker)


VISIBILITY_NAMES = {2: "visible", 1: "occluded", 0: "not labelled"}
GHOST_COLOR = "#b0b4ba"
"""Not-labelled keypoints that keep a position: a small grey cross, readable on dark and
light images, unlike any visible (filled) or occluded (dashed ring) keypoint."""


class GhostCross(QGraphicsItem):
    """A small × of constant size on screen: a keypoint marked not labelled that keeps its
    last position (Q cycles back to visible there)."""

    def __init__(self, center: Point, parent: QGraphicsItem | None = None,
                 half: float = 3.5) -> None:
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setPos(QPointF(*center))
        self.half = half

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        extent = self.half + 2
        return QRectF(-extent, -extent, 2 * extent, 2 * extent)

    def paint(self, painter: QPainter, _option: QStyleOptionGraphicsItem,
              _widget: QWidget | None = None) -> None:
        h = self.half
        for color, width in (("#000000", 3.0), (GHOST_COLOR, 1.5)):  # a dark halo first
            pen = QPen(QColor(color), width)
            pen.setCapStyle(Qt.PenCapStyle.RoundCap)
            painter.setPen(pen)
            painter.drawLine(QPointF(-h, -h), QPointF(h, h))
            painter.drawLine(QPointF(-h, h), QPointF(h, -h))


class OccludedRing(QGraphicsItem):
    """An occluded keypoint: a hollow ring, dashed in the side's colour over a dark halo (seen
    on light and dark images alike), larger than a visible keypoint's dot."""

    RADIUS = KEYPOINT_RADIUS + 2

    def __init__(self, center: Point, color: QColor, parent: QGraphicsItem | None = None
                 ) -> None:
        super().__init__(parent)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setPos(QPointF(*center))
        self.color = QColor(color)

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt's name
        extent = self.RADIUS + 3
        return QRectF(-extent, -extent, 2 * extent, 2 * extent)

    def pen(self) -> QPen:
        """The dashed ring's pen."""
        pen = QPen(self.color, 2.0)
        pen.setDashPattern([2.0, 1.5])
        return pen

    def paint(self, painter: QPainter, _option: QStyleOptionGraphicsItem,
              _widget: QWidget | None = None) -> None:
        radius = self.RADIUS
        halo = QColor("#000000")
        halo.setAlphaF(0.7)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(QPen(halo, 4.0))
        painter.drawEllipse(QPointF(0, 0), radius, radius)
        painter.setPen(self.pen())
        painter.drawEllipse(QPointF(0, 0), radius, radius)


def keypoint_marker(keypoint: tuple[float, float, float], side: QColor,
                    parent: QGraphicsItem | None = None) -> QGraphicsItem | None:
    """Visible: a dot filled in the side's colour with a white rim. Occluded: a larger,
    hollow, dashed ring in the side's colour. Not labelled: a grey cross where it has a
    position, nothing where it has none."""
    x, y, v = keypoint
    if v >= 2:
        return Dot((x, y), KEYPOINT_RADIUS, side, QColor("#ffffff"), parent, 1.0)
    if v >= 1:
        return OccludedRing((x, y), side, parent)
    if is_placed(x, y, v):
        return GhostCross((x, y), parent)
    return None


def joint_label(index: int, names: Sequence[str], visibility: float | None = None) -> str:
    """"5 · left_shoulder" (with " · occluded" / " · not labelled" when not visible)."""
    name = names[index] if index < len(names) else f"keypoint {index + 1}"
    text = f"{index + 1} · {name}"
    if visibility is not None and visibility < 2:
        text += f" · {VISIBILITY_NAMES[int(visibility)]}"
    return text


def joint_tag(at: Point, index: int, names: Sequence[str], visibility: float | None,
              parent: QGraphicsItem | None = None) -> TagItem:
    """The joint's name on a dark tag to the right of ``at`` (beside the selected joint, and
    under the cursor on hover)."""
    tag = TagItem(joint_label(index, names, visibility), QColor("#202225"), parent)
    tag.setPos(QPointF(*at))
    tag.setTransform(tag.transform().translate(KEYPOINT_RADIUS + 8, 9))
    tag.setZValue(1.5)  # under the keypoints (z 2): a neighbour it covers still shows
    return tag


def skeleton_lines(keypoints: Sequence[tuple[float, float, float]], names: Sequence[str],
                   skeleton: Sequence[tuple[int, int]]) -> list[QGraphicsLineItem]:
    """2 px lines between labelled keypoints, coloured by side (mixed sides: centre)."""
    lines: list[QGraphicsLineItem] = []
    for a, b in skeleton:
        if a >= len(keypoints) or b >= len(keypoints):
            continue
        (xa, ya, va), (xb, yb, vb) = keypoints[a], keypoints[b]
        if va <= 0 or vb <= 0:
            continue
        side_a, side_b = keypoint_side(names[a]), keypoint_side(names[b])
        color = KEYPOINT_SIDES[side_a if side_a == side_b else "centre"]
        line = QGraphicsLineItem(xa, ya, xb, yb)
        # a bone to an occluded joint is a guess: dashed, as the joint's ring is
        style = Qt.PenStyle.DashLine if min(va, vb) < 2 else Qt.PenStyle.SolidLine
        line.setPen(cosmetic_pen(color, 2.0, style))
        line.setZValue(1)
        lines.append(line)
    return lines
