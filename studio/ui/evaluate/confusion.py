"""The confusion matrix as an interactive heat map: true class down, predicted across, each cell
with its count and its share of the row; class colours marked beside the names; hovering says
what a cell means and clicking one emits ``cellClicked(true, predicted)``."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ..theme import style_plot

_BACKGROUND_GREY = "#8a8a8a"


def row_normalised(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum (a row of zeros stays zero): the share of each true class
    that went to each prediction."""
    totals = matrix.sum(axis=1, keepdims=True).astype(np.float64)
    return np.divide(matrix, totals, out=np.zeros(matrix.shape, np.float64), where=totals > 0)


def _short(name: str, limit: int = 12) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


class ConfusionMatrixView(QWidget):
    """``set_matrix(counts, labels, colors)`` draws; ``cellClicked(true, predicted)``."""

    cellClicked = Signal(int, int)  # noqa: N815 - Qt signal naming

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        palette = self.palette()
        self._text = palette.color(QPalette.ColorRole.Text)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.getViewBox().invertY(True)
        self.plot.setLabel("left", "true class")
        self.plot.setLabel("bottom", "predicted class")
        style_plot(self.plot)  # and again at each theme switch
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setColorMap(pg.colormap.get("viridis"))
        self.plot.addItem(self.image)
        self.selection = pg.QtWidgets.QGraphicsRectItem()
        self.selection.setPen(pg.mkPen("#ff3b30", width=3))
        self.selection.setZValue(10)
        self.selection.hide()
        self.plot.addItem(self.selection)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        self.counts = np.zeros((0, 0), np.int64)
        self.labels: list[str] = []
        self.texts: list[pg.TextItem] = []
        self._markers: list[pg.GraphicsObject] = []
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        self.plot.scene().sigMouseMoved.connect(self._hovered)

    def set_matrix(self, counts: np.ndarray, labels: list[str], colors: list[str]) -> None:
        """Show ``counts`` (rows true, columns predicted) with axis ``labels`` and each class's
        colour (the background row/column, if any, gets grey)."""
        self.counts, self.labels = np.asarray(counts, np.int64), list(labels)
        size = len(labels)
        shares = row_normalised(self.counts)
        self.image.setImage(shares, levels=(0.0, 1.0))
        self.image.setRect(0, 0, size, size)
        for item in [*self.texts, *self._markers]:
            self.plot.removeItem(item)
        self.texts, self._markers = [], []
        ticks = [(i + 0.5, _short(name)) for i, name in enumerate(labels)]
        self.plot.getAxis("bottom").setTicks([ticks])
        self.plot.getAxis("left").setTicks([ticks])
        for row in range(size):
            for column in range(size):
                self._add_text(row, column, shares[row, column])
        self._add_markers(size, [*colors[:size], *[_BACKGROUND_GREY] * (size - len(colors))])
        self.plot.setXRange(-0.25, size, padding=0.02)
        self.plot.setYRange(-0.25, size, padding=0.02)
        self.selection.hide()

    def _add_text(self, row: int, column: int, share: float) -> None:
        count = int(self.counts[row, column])
        color = "#000000" if share > 0.6 else "#ffffff"
        text = pg.TextItem(f"{count}\n{share:.2f}" if count else "·", color=color,
                           anchor=(0.5, 0.5))
        text.setPos(column + 0.5, row + 0.5)
        self.plot.addItem(text)
        self.texts.append(text)

    def _add_markers(self, size: int, colors: list[str]) -> None:
        """A strip of class colours along the top and the left of the matrix."""
        brushes = [pg.mkBrush(QColor(c)) for c in colors]
        positions = np.arange(size) + 0.5
        top = pg.ScatterPlotItem(positions, np.full(size, -0.14), symbol="s", size=10,
                                 brush=brushes, pen=None)
        left = pg.ScatterPlotItem(np.full(size, -0.14), positions, symbol="s", size=10,
                                  brush=brushes, pen=None)
        for item in (top, left):
            self.plot.addItem(item)
            self._markers.append(item)

    def cell_at(self, scene_pos: QPointF) -> tuple[int, int] | None:
        """The (true, predicted) cell under a scene position, or None."""
        point = self.plot.getViewBox().mapSceneToView(scene_pos)
        row, column = int(np.floor(point.y())), int(np.floor(point.x()))
        size = len(self.labels)
        return (row, column) if 0 <= row < size and 0 <= column < size else None

    def select(self, row: int, column: int) -> None:
        """Outline a cell and emit ``cellClicked`` for it."""
        self.selection.setRect(column, row, 1, 1)
        self.selection.show()
        self.cellClicked.emit(row, column)

    def _clicked(self, event) -> None:
        cell = self.cell_at(event.scenePos())
        if cell is not None:
            self.select(*cell)

    def _hovered(self, scene_pos: QPointF) -> None:
        cell = self.cell_at(scene_pos)
        if cell is None:
            self.plot.setToolTip("")
            return
        row, column = cell
        count = int(self.counts[row, column])
        total = int(self.counts[row].sum())
        self.plot.setToolTip(f"true {self.labels[row]}, predicted {self.labels[column]}: "
                             f"{count} of {total} — click to see the images")
