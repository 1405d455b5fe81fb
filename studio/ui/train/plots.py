"""Live training plots: losses per step (thin raw line, smoothed line on top), a metric per
epoch with markers and the best epoch of the selected run marked, and the learning rate;
several runs overlay in their own colours with a legend, the current run drawn heavier. The x
axis counts whole epochs; no axis goes below 0 (losses, metrics and rates never do).

Step values go into a :class:`RingBuffer` (O(1) per append); nothing is drawn per event. The
page calls :meth:`TrainPlots.redraw` from its ~10 Hz clock, which calls ``setData`` only when
something changed. Curves use clip-to-view and automatic peak downsampling for long runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from ...services.training import IS_BEST
from ..theme import style_plot

TOTAL = "total"


class EpochAxis(pg.AxisItem):
    """An x axis with ticks on whole epochs only (steps sit between them)."""

    def tickValues(self, minVal: float, maxVal: float, size: float):  # noqa: N802, N803
        levels = [(spacing, [v for v in values if float(v).is_integer()])
                  for spacing, values in super().tickValues(minVal, maxVal, size)
                  if spacing >= 1]
        if not any(values for _spacing, values in levels):
            low, high = math.ceil(minVal), math.floor(maxVal)
            levels = [(1.0, [float(v) for v in range(low, high + 1)])] if high >= low else []
        return levels

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph's name
        return [str(int(round(v * scale))) for v in values]


def best_epoch(epochs: Sequence[tuple[int, Mapping[str, float]]], metric: str) -> int | None:
    """The epoch ``best.pt`` holds: the last one the trainer flagged as best so far
    (:data:`IS_BEST`), else (runs recorded before the flag) the epoch with the highest
    ``metric``; None when neither is known."""
    flagged = [epoch for epoch, metrics in epochs if metrics.get(IS_BEST)]
    if flagged:
        return flagged[-1]
    scored = [(value, epoch) for epoch, metrics in epochs
              if (value := metrics.get(metric)) is not None and math.isfinite(value)]
    return max(scored, key=lambda pair: (pair[0], -pair[1]))[1] if scored else None


class RingBuffer:
    """The newest ``capacity`` rows of ``columns`` floats; ``append`` is O(1), ``view`` returns
    them oldest first (a copy, made only when the plots redraw)."""

    def __init__(self, columns: int, capacity: int = 50_000) -> None:
        self._data = np.zeros((capacity, columns), dtype=np.float64)
        self._start = 0
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, row: Sequence[float]) -> None:
        capacity = len(self._data)
        index = (self._start + self._size) % capacity
        self._data[index] = row
        if self._size < capacity:
            self._size += 1
        else:
            self._start = (self._start + 1) % capacity

    def view(self) -> np.ndarray:
        end = self._start + self._size
        if end <= len(self._data):
            return self._data[self._start:end].copy()
        return np.concatenate((self._data[self._start:], self._data[:end - len(self._data)]))


def smooth(values: np.ndarray, window: int | None = None) -> np.ndarray:
    """Trailing moving average (the first points average what there is so far); O(n)."""
    count = len(values)
    if count == 0:
        return values
    window = window or max(3, min(50, count // 10))
    sums = np.cumsum(np.insert(values, 0, 0.0))
    ends = np.arange(1, count + 1)
    starts = np.maximum(ends - window, 0)
    return (sums[ends] - sums[starts]) / (ends - starts)


def epoch_loss(metrics: Mapping[str, float], loss: str) -> float | None:
    """An epoch's train loss ``loss`` (``total``: the sum of every ``train/`` value)."""
    if loss == TOTAL:
        values = [v for k, v in metrics.items() if k.startswith("train/")]
        return float(sum(values)) if values else None
    value = metrics.get(f"train/{loss}")
    return None if value is None else float(value)


@dataclass
class RunCurves:
    """One run's data as the plots draw it."""

    run_id: int
    name: str
    color: str
    epochs: list[tuple[int, dict[str, float]]] = field(default_factory=list)


class TrainPlots(QWidget):
    """Three stacked plots with a loss and a metric chooser. ``set_runs`` says which runs to
    draw (and which is current); ``start_live``/``add_step``/``add_epoch`` feed the live run."""

    def __init__(self, primary_metric: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        pg.setConfigOptions(antialias=True)
        self.primary_metric = primary_metric
        self.runs: dict[int, RunCurves] = {}
        self.current: int | None = None
        self.live_run: int | None = None
        self.steps: RingBuffer | None = None
        self.loss_names: list[str] = []
        self._dirty = False
        self._items: dict[str, list[pg.PlotDataItem]] = {}
        self.loss_choice = QComboBox()
        self.loss_choice.addItem(TOTAL, TOTAL)
        self.loss_choice.setToolTip("Which training loss to draw")
        self.metric_choice = QComboBox()
        self.metric_choice.setToolTip("Which validation metric to draw")
        for combo in (self.loss_choice, self.metric_choice):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.loss_choice.currentTextChanged.connect(self._rebuild)
        self.metric_choice.currentTextChanged.connect(self._rebuild)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Loss"))
        bar.addWidget(self.loss_choice)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Metric"))
        bar.addWidget(self.metric_choice)
        bar.addStretch(1)
        self.loss_plot = self._plot("training loss")
        self.metric_plot = self._plot("metric")
        self.lr_plot = self._plot("learning rate")
        self.metric_plot.setXLink(self.loss_plot)
        self.lr_plot.setXLink(self.loss_plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.loss_plot, 3)
        layout.addWidget(self.metric_plot, 3)
        layout.addWidget(self.lr_plot, 2)
        # metrics are fractions: a fixed 0…1 axis (never below 0, runs compare at a glance),
        # with the legend top left, where metric curves start low
        # a little below 0, so the "0.0" label shows (the axis drops labels that cross its edge)
        self.metric_plot.setLimits(yMin=-0.08)
        self.metric_plot.setYRange(-0.08, 1.1, padding=0)
        self.metric_plot.getPlotItem().vb.enableAutoRange(axis="y", enable=False)
        self.metric_plot.getPlotItem().legend.setOffset((10, 10))
        self.best_line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen(
            "#888", width=1, style=Qt.PenStyle.DashLine))
        # its text near the bottom, on the side of the line with room (see _mark_best)
        self.best_text = pg.TextItem(color="#888", anchor=(0, 1))
        self.best_run: int | None = None
        self.hover = {plot: _Hover(plot) for plot in (self.loss_plot, self.metric_plot,
                                                       self.lr_plot)}

    def _plot(self, title: str) -> pg.PlotWidget:
        plot = pg.PlotWidget(background=None, axisItems={"bottom": EpochAxis("bottom")})
        plot.setLimits(xMin=0, yMin=0)
        plot.setLabel("left", title)
        plot.setLabel("bottom", "epoch")
        plot.showGrid(x=True, y=True, alpha=0.15)
        plot.addLegend(offset=(-10, 10))
        plot.setMinimumHeight(110)
        axis = plot.getAxis("left")
        axis.setWidth(74)  # the three plots' x axes line up
        axis.enableAutoSIPrefix(False)
        style_plot(plot, background=False)  # and again at each theme switch
        return plot

    # -- data ------------------------------------------------------------------------------
    def set_runs(self, runs: Sequence[RunCurves], current: int | None) -> None:
        """Draw ``runs``, the ``current`` one heavier (the live run's steps stay)."""
        self.runs = {run.run_id: run for run in runs}
        self.current = current
        self._refresh_choices()
        self._rebuild()

    def start_live(self, run_id: int | None, redraw: bool = True) -> None:
        """Step data from now on belongs to ``run_id`` (None: no live run; the steps go).
        ``redraw=False`` when ``set_runs`` follows."""
        self.live_run = run_id
        self.steps = None
        self.loss_names = []
        if redraw:
            self._rebuild()

    def _start_steps(self, loss_names: Sequence[str]) -> None:
        self.loss_names = list(loss_names)
        self.steps = RingBuffer(2 + len(self.loss_names))
        self._refresh_choices()

    def add_step(self, x: float, lr: float | None, losses: Mapping[str, float]) -> None:
        """One step of the live run: O(1); drawn on the next ``redraw``."""
        if self.steps is None or any(name not in self.loss_names for name in losses):
            self._start_steps(list(losses))
        row = [x, np.nan if lr is None else lr]
        row += [float(losses.get(name, np.nan)) for name in self.loss_names]
        if self.steps is not None:
            self.steps.append(row)
        self._dirty = True

    def add_epoch(self, run_id: int, epoch: int, metrics: Mapping[str, float]) -> None:
        run = self.runs.get(run_id)
        if run is None:
            return
        run.epochs = [e for e in run.epochs if e[0] != epoch] + [(epoch, dict(metrics))]
        if self.metric_choice.count() == 0 or any(
                k.startswith("metrics/") and self.metric_choice.findData(k) < 0 for k in metrics):
            self._refresh_choices()
        self._dirty = True

    @property
    def step_count(self) -> int:
        return 0 if self.steps is None else len(self.steps)

    # -- drawing ---------------------------------------------------------------------------
    def _refresh_choices(self) -> None:
        metrics, losses = [], list(self.loss_names)
        for run in self.runs.values():
            for _epoch, values in run.epochs:
                for key in values:
                    if key.startswith("metrics/") and key not in metrics:
                        metrics.append(key)
                    name = key[len("train/"):]
                    if key.startswith("train/") and name not in losses:
                        losses.append(name)
        for combo, wanted, first in ((self.metric_choice, metrics, self.primary_metric),
                                     (self.loss_choice, [TOTAL, *losses], TOTAL)):
            have = [combo.itemData(i) for i in range(combo.count())]
            if have == wanted:
                continue
            chosen = combo.currentData() or first
            combo.blockSignals(True)
            combo.clear()
            for key in wanted:
                combo.addItem(key.removeprefix("metrics/"), key)
            index = combo.findData(chosen) if chosen in wanted else combo.findData(first)
            combo.setCurrentIndex(max(index, 0))
            combo.blockSignals(False)

    def _rebuild(self, *_args: object) -> None:
        """Make the curve items for the runs shown (on a change of runs or choices only)."""
        for plot in (self.loss_plot, self.metric_plot, self.lr_plot):
            plot.clear()
            plot.getPlotItem().legend.clear()
            self.hover[plot].items = []
        self._items.clear()
        for run in self.runs.values():
            emphasised = run.run_id == self.current
            width = 2.6 if emphasised else 1.2
            color = QColor(run.color)
            if not emphasised:
                color.setAlpha(170)
            symbol_size = 7 if emphasised else 5
            curves = []
            for plot in (self.loss_plot, self.metric_plot, self.lr_plot):
                item = plot.plot([], [], pen=pg.mkPen(color, width=width), symbol="o",
                                 symbolSize=symbol_size, symbolBrush=color,
                                 symbolPen=pg.mkPen(color), name=run.name)
                item.setZValue(10 if emphasised else 1)
                self.hover[plot].items.append((run.name, item))
                curves.append(item)
            self._items[f"epochs:{run.run_id}"] = curves
        live = self.runs.get(self.live_run) if self.live_run is not None else None
        if live is not None:
            light = QColor(live.color)
            light.setAlpha(70)
            width = 2.0 if live.run_id == self.current else 1.2
            raw = self.loss_plot.plot([], [], pen=pg.mkPen(light, width=1))
            smoothed = self.loss_plot.plot([], [], pen=pg.mkPen(live.color, width=width))
            lr = self.lr_plot.plot([], [], pen=pg.mkPen(live.color, width=width))
            for item in (raw, smoothed, lr):
                item.setClipToView(True)
                item.setDownsampling(auto=True, method="peak")
                item.setZValue(5)
            self._items["steps"] = [raw, smoothed, lr]
        self.metric_plot.addItem(self.best_line)
        self.metric_plot.addItem(self.best_text, ignoreBounds=True)
        self.best_line.hide()
        self.best_text.hide()
        self._dirty = True
        self.redraw()

    def redraw(self) -> None:
        """Push the data into the curves, if anything changed since the last call."""
        if not self._dirty:
            return
        self._dirty = False
        loss = self.loss_choice.currentData() or TOTAL
        metric = self.metric_choice.currentData() or ""
        for run in self.runs.values():
            curves = self._items.get(f"epochs:{run.run_id}")
            if curves is None:
                continue
            xs = np.array([e for e, _m in run.epochs], dtype=float)
            for item, values in zip(curves, (
                    [epoch_loss(m, loss) for _e, m in run.epochs],
                    [m.get(metric) for _e, m in run.epochs],
                    [m.get("lr/pg0") for _e, m in run.epochs]), strict=True):
                ys = np.array([np.nan if v is None else v for v in values], dtype=float)
                keep = np.isfinite(ys)
                item.setData(xs[keep], ys[keep])
        current = self.runs.get(self.current) if self.current is not None else None
        if current is None:  # only the selected run is marked, never an overlaid one
            self.best_line.hide()
            self.best_text.hide()
            self.best_run = None
        else:
            self._mark_best(current, metric)
        self._draw_steps(loss)

    def _draw_steps(self, loss: str) -> None:
        items = self._items.get("steps")
        if items is None:
            return
        raw, smoothed, lr = items
        data = self.steps.view() if self.steps is not None else np.zeros((0, 2))
        if len(data) == 0:
            for item in items:
                item.setData([], [])
            return
        xs = data[:, 0]
        if loss == TOTAL:
            ys = np.nansum(data[:, 2:], axis=1)
        elif loss in self.loss_names:
            ys = data[:, 2 + self.loss_names.index(loss)]
        else:
            ys = np.full(len(xs), np.nan)
        raw.setData(xs, ys)
        smoothed.setData(xs, smooth(ys))
        lr.setData(xs, data[:, 1])

    def _mark_best(self, run: RunCurves, metric: str) -> None:
        epoch = best_epoch(run.epochs, metric)
        self.best_run = run.run_id if epoch is not None else None
        if epoch is None:
            self.best_line.hide()
            self.best_text.hide()
            return
        self.best_line.setValue(float(epoch))
        last = max((e for e, _m in run.epochs), default=epoch)
        right_half = epoch > (1 + last) / 2
        self.best_text.setAnchor((1, 1) if right_half else (0, 1))  # the text stays in view
        self.best_text.setText(f" best of {run.name}: epoch {epoch} ")
        self.best_text.setPos(float(epoch), 0.03)
        self.best_line.show()
        self.best_text.show()

    def request_redraw(self) -> None:
        self._dirty = True


class _Hover:
    """Shows the nearest point's run, epoch and value while the mouse is over a plot."""

    def __init__(self, plot: pg.PlotWidget) -> None:
        self.plot = plot
        self.items: list[tuple[str, pg.PlotDataItem]] = []
        self.text = pg.TextItem(color="#ddd", fill=pg.mkBrush(30, 30, 30, 200), anchor=(0, 1))
        self.text.setZValue(100)
        self.text.hide()
        plot.scene().sigMouseMoved.connect(self._moved)

    def _moved(self, position: QPointF) -> None:
        view = self.plot.getPlotItem().vb
        if not self.plot.sceneBoundingRect().contains(position):
            self.text.hide()
            return
        if self.text.scene() is None:
            self.plot.addItem(self.text, ignoreBounds=True)
        best, best_distance = None, 25.0  # pixels
        for name, item in self.items:
            xs, ys = item.getData()
            if xs is None or not len(xs):
                continue
            points = [view.mapViewToScene(QPointF(float(x), float(y))) for x, y in zip(xs, ys,
                                                                                       strict=True)]
            for (x, y), point in zip(zip(xs, ys, strict=True), points, strict=True):
                distance = (point - position).manhattanLength()
                if distance < best_distance:
                    best, best_distance = (name, x, y), distance
        if best is None:
            self.text.hide()
            return
        name, x, y = best
        self.text.setText(f"{name} · epoch {x:g} · {y:.4g}")
        self.text.setPos(float(x), float(y))
        self.text.show()
