"""The overlay view: one frame with its filtered predictions (and ground truth), fitted."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from ...services.image_queries import Shape
from ...services.predictions import FramePrediction
from ...services.thumbnails import OverlayStyle
from .render import OverlayOptions, Palette, Shown, decode, paint_frame, select


class OverlayView(QWidget):
    """Paints ``frame`` with the current options; ``shown`` holds what is drawn (tests).

    The display copy (at most 1280 px, made by the Job) is decoded once per frame; slider
    changes only re-filter the cached candidates and repaint.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # a click gives D / A / arrows to it
        self.frame: FramePrediction | None = None
        self.truth: Sequence[Shape] | None = None
        self.palette_info = Palette({})
        self.style = OverlayStyle({})
        self.options = OverlayOptions()
        self.class_count = 0
        self.shown = Shown(self._empty())
        self._image: QImage | None = None
        self.message = "Choose a model and a source, then Run."

    @staticmethod
    def _empty():
        import numpy as np

        return np.zeros(0, np.int64)

    def set_frame(self, frame: FramePrediction | None, truth: Sequence[Shape] | None) -> None:
        """Show ``frame`` (None: the message) with its ground truth (None: none known)."""
        if frame is None or self.frame is None or frame.key != self.frame.key:
            self._image = decode(frame) if frame is not None else None
        self.frame, self.truth = frame, truth
        self.update_overlay()

    def set_options(self, options: OverlayOptions) -> None:
        self.options = options
        self.update_overlay()

    def update_overlay(self) -> None:
        """Re-filter the cached candidates (no model run) and repaint."""
        if self.frame is not None:
            self.shown = select(self.frame, self.options, self.truth, self.class_count)
        else:
            self.shown = Shown(self._empty())
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#2b2d31"))
        if self.frame is None or self._image is None:
            painter.setPen(QColor("#c8c8c8"))
            painter.drawText(self.rect(), 0x0084, self.message)  # AlignCenter | TextWordWrap
            painter.end()
            return
        area = QRectF(self.rect()).adjusted(6, 6, -6, -6)
        paint_frame(painter, area, self._image, self.frame, self.shown, self.truth,
                    self.palette_info, self.style, self.options)
        painter.end()
