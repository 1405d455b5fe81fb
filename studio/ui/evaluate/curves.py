"""PR curves per class in the class colours, the mean over classes in bold; a part selector
(Box / Mask / Pose) for detection tasks. Clicking a curve emits ``classClicked(index)``."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ...services.evaluation import PrCurves
from ..theme import style_plot


class PrCurvesView(QWidget):
    """``set_curves({part: PrCurves}, names, colors)``; ``classClicked(class index)``."""

    classClicked = Signal(int)  # noqa: N815 - Qt signal naming

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        palette = self.palette()
        self._text = palette.color(QPalette.ColorRole.Text)
        self.part = QComboBox()
        self.part.currentTextChanged.connect(self._draw)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setXRange(0, 1, padding=0.02)
        self.plot.setYRange(0, 1.02, padding=0.02)
        self.plot.setLabel("bottom", "recall")
        self.plot.setLabel("left", "precision")
        self.plot.showGrid(x=True, y=True, alpha=0.15)
        self.legend = self.plot.addLegend(offset=(-8, 8))
        style_plot(self.plot)  # and again at each theme switch
        top = QHBoxLayout()
        self.part_label = QLabel("Curves of")
        top.addWidget(self.part_label)
        top.addWidget(self.part)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.plot)
        self.curves: dict[str, PrCurves] = {}
        self.names: list[str] = []
        self.colors: list[str] = []
        self.items: dict[int, pg.PlotDataItem] = {}
        self.mean_item: pg.PlotDataItem | None = None

    def set_curves(self, curves: dict[str, PrCurves], names: list[str],
                   colors: list[str]) -> None:
        """Show ``curves`` (one entry per part) for classes ``names`` in ``colors``."""
        self.curves, self.names, self.colors = curves, names, colors
        self.part.blockSignals(True)
        self.part.clear()
        self.part.addItems(list(curves))
        self.part.blockSignals(False)
        self.part.setVisible(len(curves) > 1)  # one part (classify): nothing to choose
        self.part_label.setVisible(len(curves) > 1)
        self._draw(self.part.currentText())

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt's name
        """A theme switch: the mean curve is drawn in the text colour."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            self._text = self.palette().color(QPalette.ColorRole.Text)
            if self.mean_item is not None:
                self.mean_item.setPen(pg.mkPen(self._text, width=4))

    def highlight(self, index: int | None) -> None:
        """Emphasise class ``index``'s curve (None: all alike)."""
        for class_index, item in self.items.items():
            width = 3.0 if class_index == index else 1.5
            color = QColor(self._color(class_index))
            if index is not None and class_index != index:
                color.setAlpha(90)
            item.setPen(pg.mkPen(color, width=width))

    def _color(self, index: int) -> str:
        return self.colors[index] if index < len(self.colors) else "#7f7f7f"

    def _draw(self, part: str) -> None:
        self.plot.clear()
        self.legend.clear()
        self.items = {}
        curves = self.curves.get(part)
        if curves is None:
            return
        for row, index in enumerate(curves.classes):
            name = self.names[index] if index < len(self.names) else str(index)
            item = self.plot.plot(curves.recall, curves.precision[row],
                                  pen=pg.mkPen(self._color(index), width=1.5),
                                  name=f"{name}  AP {curves.ap50[row]:.3f}")
            item.setCurveClickable(True, width=6)
            item.sigClicked.connect(lambda _item, _event, i=index: self.classClicked.emit(i))
            self.items[index] = item
        if curves.classes:
            mean_ap = sum(curves.ap50) / len(curves.ap50)
            pen = pg.mkPen(self._text, width=4, style=Qt.PenStyle.SolidLine)
            self.mean_item = self.plot.plot(curves.recall, curves.mean, pen=pen,
                                            name=f"all classes  {mean_ap:.3f}")
