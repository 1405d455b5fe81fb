"""Drawing predictions over an image: masks (fill + dashed outline), boxes with class and
confidence tags, keypoints with the skeleton, top-5 bars for classify; ground truth drawn
solid by ``paint_ground_truth``; false positives and misses marked in red.

Plain QPainter work on any paint device, so the view (GUI thread) and the overlay export
(a Job's thread, on QImages) draw exactly the same picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QImage, QPainter, QPainterPath, QPen

from ...services.image_queries import Shape
from ...services.palette import KEYPOINT_SIDES, class_color
from ...services.predictions import (
    KEYPOINT_MIN_CONF,
    FramePrediction,
    Match,
    filter_detections,
    match_ground_truth,
    shape_box,
    top_classes,
)
from ...services.thumbnails import OverlayStyle, paint_ground_truth

MARK_COLOR = QColor("#e4002b")
MODES = ("overlay", "prediction", "ground truth", "side by side")


@dataclass(frozen=True)
class OverlayOptions:
    """What to draw: thresholds, opacity, visible classes, mode, and which layers."""

    conf: float = 0.25
    iou: float = 0.7
    opacity: float = 0.4
    hidden_classes: frozenset[int] = frozenset()
    mode: str = "overlay"
    show_boxes: bool = True
    show_masks: bool = True
    show_keypoints: bool = True
    mark_errors: bool = True
    prediction_title: str = "Prediction"
    """The right pane's caption side by side (the page adds the model's name)."""


@dataclass(frozen=True)
class Palette:
    """Names and colours of the classes, and the keypoints' skeleton and side colours."""

    names: dict[int, str]
    colors: dict[int, str] = field(default_factory=dict)
    skeleton: tuple[tuple[int, int], ...] = ()
    keypoint_colors: tuple[str, ...] = ()

    def color(self, index: int) -> QColor:
        return QColor(self.colors.get(index, class_color(index)))

    def name(self, index: int) -> str:
        return self.names.get(index, f"class {index}")


@dataclass(frozen=True)
class Shown:
    """The filtered predictions of a frame and their match to the ground truth."""

    indices: np.ndarray
    match: Match | None = None


def select(frame: FramePrediction, options: OverlayOptions, truth: Sequence[Shape] | None,
           class_count: int) -> Shown:
    """Filter the cached candidates at the options' thresholds and match them to ``truth``."""
    if frame.probs is not None:
        return Shown(np.zeros(0, np.int64))
    visible = [i for i in range(max(class_count, int(frame.classes.max(initial=-1)) + 1))
               if i not in options.hidden_classes]
    indices = filter_detections(frame, options.conf, options.iou, visible)
    match = None
    if truth is not None:
        truth = [s for s in truth if s.class_index not in options.hidden_classes]
        match = match_ground_truth(frame, indices, truth)
    return Shown(indices, match)


def decode(frame: FramePrediction) -> QImage:
    """The frame's display copy as a QImage."""
    image = QImage.fromData(frame.jpeg)
    if image.isNull():
        image = QImage(max(frame.width, 1), max(frame.height, 1), QImage.Format.Format_RGB32)
        image.fill(QColor("#55585e"))
    return image.convertToFormat(QImage.Format.Format_RGB32)


def paint_frame(painter: QPainter, area: QRectF, image: QImage, frame: FramePrediction,
                shown: Shown, truth: Sequence[Shape] | None, palette: Palette,
                style: OverlayStyle, options: OverlayOptions) -> None:
    """Draw the image in ``area`` (fitted, centred) with the layers the mode asks for."""
    if options.mode == "side by side":
        half = area.width() / 2
        band = caption_height()
        left = QRectF(area.left(), area.top() + band, half - 2, area.height() - band)
        right = QRectF(area.left() + half + 2, area.top() + band, half - 2,
                       area.height() - band)
        for pane, title in ((left, "Ground truth"), (right, options.prediction_title)):
            caption(painter, QRectF(pane.left(), area.top(), pane.width(), band), title)
        paint_frame(painter, left, image, frame, shown, truth, palette, style,
                    replace(options, mode="ground truth"))
        paint_frame(painter, right, image, frame, shown, truth, palette, style,
                    replace(options, mode="prediction"))
        return
    target = fitted(area, image.width(), image.height())
    painter.save()
    painter.setClipRect(target)  # predictions past the border stay off the neighbours
    painter.drawImage(target, image)
    with_truth = options.mode in ("overlay", "ground truth") and truth is not None
    with_prediction = options.mode in ("overlay", "prediction")
    if with_truth:
        visible = [s for s in truth if s.class_index not in options.hidden_classes]
        paint_ground_truth(painter, visible, target, replace(style, fill_opacity=(
            options.opacity / 2 if with_prediction else options.opacity)))
    if with_prediction:
        paint_predictions(painter, target, frame, shown, palette, options)
    if with_truth and with_prediction and options.mark_errors and shown.match is not None:
        paint_misses(painter, target, [s for s in truth
                                       if s.class_index not in options.hidden_classes],
                     shown.match)
    painter.restore()


def _caption_font() -> QFont:
    font = QFont()
    font.setPointSizeF(10)
    font.setBold(True)
    return font


def caption_height() -> float:
    """The height of a pane's caption band (side by side)."""
    return QFontMetricsF(_caption_font()).height() + 8


def caption(painter: QPainter, band: QRectF, text: str) -> None:
    """A pane's title, centred in ``band`` (light on the view's dark background), elided."""
    painter.save()
    font = _caption_font()
    painter.setFont(font)
    painter.setPen(QColor("#e6e6e6"))
    elided = QFontMetricsF(font).elidedText(text, Qt.TextElideMode.ElideMiddle, band.width())
    painter.drawText(band, Qt.AlignmentFlag.AlignCenter, elided)
    painter.restore()


def fitted(area: QRectF, width: int, height: int) -> QRectF:
    """The largest rectangle of the image's aspect inside ``area``, centred."""
    scale = min(area.width() / max(width, 1), area.height() / max(height, 1))
    w, h = width * scale, height * scale
    return QRectF(area.center().x() - w / 2, area.center().y() - h / 2, w, h)


def _pen(color: QColor, width: float = 2.0, dashed: bool = True) -> QPen:
    pen = QPen(color, width, Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine)
    pen.setCosmetic(True)
    return pen


def _to(target: QRectF, x: float, y: float) -> QPointF:
    return QPointF(target.left() + x * target.width(), target.top() + y * target.height())


def paint_predictions(painter: QPainter, target: QRectF, frame: FramePrediction, shown: Shown,
                      palette: Palette, options: OverlayOptions) -> None:
    """Masks, boxes, keypoints (dashed: predictions) or the top-5 bars."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    if frame.probs is not None:
        paint_top5(painter, target, frame.probs, palette, options)
        painter.restore()
        return
    false_positives = set(shown.match.false_positives) if shown.match and \
        options.mark_errors and options.mode == "overlay" else set()
    order = [int(i) for i in shown.indices[::-1]]  # best last: on top
    if options.show_masks and frame.contours is not None:
        for index in order:  # every fill first, so no mask hides a tag
            _paint_mask(painter, target, frame.contours[index],
                        palette.color(int(frame.classes[index])), options.opacity)
    for index in order:
        color = palette.color(int(frame.classes[index]))
        if options.show_keypoints and frame.keypoints is not None:
            _paint_keypoints(painter, target, frame.keypoints[index], palette, color)
        x0, y0, x1, y1 = (float(v) for v in frame.boxes[index])
        rect = QRectF(_to(target, x0, y0), _to(target, x1, y1))
        if options.show_boxes:
            painter.setPen(_pen(color))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect)
        text = f"{palette.name(int(frame.classes[index]))} {float(frame.scores[index]):.2f}"
        wrong = index in false_positives
        if wrong:
            painter.setPen(_pen(MARK_COLOR, 2.0, dashed=False))
            painter.drawRect(rect)
        tag(painter, rect.topLeft(), f"FP  {text}" if wrong else text,
            MARK_COLOR if wrong else color)
    painter.restore()


def _paint_mask(painter: QPainter, target: QRectF, contours: list[np.ndarray], color: QColor,
                opacity: float) -> None:
    path = QPainterPath()
    path.setFillRule(Qt.FillRule.OddEvenFill)  # holes stay open
    for contour in contours:
        points = [_to(target, float(x), float(y)) for x, y in contour]
        path.moveTo(points[0])
        for point in points[1:]:
            path.lineTo(point)
        path.closeSubpath()
    fill = QColor(color)
    fill.setAlphaF(opacity)
    painter.setPen(_pen(color))
    painter.setBrush(QBrush(fill))
    painter.drawPath(path)


def _paint_keypoints(painter: QPainter, target: QRectF, points: np.ndarray, palette: Palette,
                     color: QColor) -> None:
    seen = [(_to(target, float(x), float(y)) if c >= KEYPOINT_MIN_CONF else None)
            for x, y, c in points]
    painter.setPen(_pen(color, 2.0, dashed=False))
    for a, b in palette.skeleton:
        if a < len(seen) and b < len(seen) and seen[a] is not None and seen[b] is not None:
            painter.drawLine(seen[a], seen[b])
    for k, point in enumerate(seen):
        if point is None:
            continue
        side = QColor(palette.keypoint_colors[k] if k < len(palette.keypoint_colors)
                      else KEYPOINT_SIDES["centre"])
        painter.setPen(_pen(QColor("#ffffff"), 1.0, dashed=False))
        painter.setBrush(QBrush(side))
        painter.drawEllipse(point, 4.0, 4.0)


def tag(painter: QPainter, corner: QPointF, text: str, color: QColor) -> None:
    """A filled label above ``corner`` (below when there is no room), readable on anything."""
    font = QFont()
    font.setPointSizeF(8.5)
    metrics = QFontMetricsF(font)
    rect = QRectF(0, 0, metrics.horizontalAdvance(text) + 8, metrics.height() + 4)
    top = corner.y() - rect.height() if corner.y() - rect.height() >= 0 else corner.y()
    rect.moveTo(corner.x(), top)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(color)
    painter.drawRoundedRect(rect, 3, 3)
    luminance = 0.299 * color.red() + 0.587 * color.green() + 0.114 * color.blue()
    painter.setPen(QColor("#000000") if luminance > 150 else QColor("#ffffff"))
    painter.setFont(font)
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


def scores_title(num_classes: int) -> str:
    """The heading of the classify bars: "Top 5" only when there are more than 5 classes."""
    return "Top 5 classes" if num_classes > 5 else "Class scores"


def paint_top5(painter: QPainter, target: QRectF, probs: np.ndarray, palette: Palette,
               options: OverlayOptions) -> None:
    """Classify: the five best classes as bars (class colour, name, score) at the top left."""
    font = QFont()
    font.setPointSizeF(9)
    painter.setFont(font)
    row = QFontMetricsF(font).height() + 6
    width = min(260.0, target.width() - 16)
    left, top = target.left() + 8, target.top() + 8
    rows = [(i, p) for i, p in top_classes(probs) if i not in options.hidden_classes]
    painter.fillRect(QRectF(left - 4, top - 4, width + 8, row * (len(rows) + 1) + 8),
                     QColor(0, 0, 0, 150))
    painter.setPen(QColor("#ffffff"))
    painter.drawText(QRectF(left + 4, top, width - 8, row - 4), Qt.AlignmentFlag.AlignVCenter,
                     scores_title(len(probs)))
    for n, (index, score) in enumerate(rows, start=1):
        y = top + n * row
        painter.fillRect(QRectF(left, y, width * score, row - 4), palette.color(index))
        painter.setPen(QColor("#ffffff"))
        painter.drawText(QRectF(left + 4, y, width - 8, row - 4),
                         Qt.AlignmentFlag.AlignVCenter, f"{palette.name(index)}  {score:.2f}")


def paint_misses(painter: QPainter, target: QRectF, truth: Sequence[Shape], match: Match) -> None:
    """Ground truth no prediction found: a red box and a MISS tag."""
    painter.save()
    for gt_index in match.missed:
        box = shape_box(truth[gt_index])
        if box is None:
            continue
        rect = QRectF(_to(target, box[0], box[1]), _to(target, box[2], box[3]))
        painter.setPen(_pen(MARK_COLOR, 2.0, dashed=False))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRect(rect)
        tag(painter, QPointF(rect.left(), rect.bottom() + 18), "MISS", MARK_COLOR)
    painter.restore()


def render(frame: FramePrediction, truth: Sequence[Shape] | None, palette: Palette,
           style: OverlayStyle, options: OverlayOptions, class_count: int) -> QImage:
    """The frame with its overlays at the display copy's size (for saving)."""
    image = decode(frame)
    shown = select(frame, options, truth, class_count)
    side_by_side = options.mode == "side by side"
    width = image.width() * (2 if side_by_side else 1)
    height = image.height() + (round(caption_height()) if side_by_side else 0)
    canvas = QImage(width, height, QImage.Format.Format_RGB32)
    canvas.fill(QColor("#000000"))
    painter = QPainter(canvas)
    paint_frame(painter, QRectF(canvas.rect()), image, frame, shown, truth, palette, style,
                options)
    painter.end()
    return canvas
