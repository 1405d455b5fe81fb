"""The statistics panel: images per split, a bar chart of labels per class (class colours),
a chart of labels per image, and the image sizes."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from ...services.dataset_stats import DatasetStats, instances_histogram_bins
from ...services.image_queries import UNASSIGNED
from ...services.projects import ClassInfo
from ...services.thumbnails import OverlayStyle
from ...services.wording import plural
from ..theme import style_plot

CHART_HEIGHT = 150
_BAR_GREY = "#7f7f7f"


def _chart(title: str, palette: QPalette) -> pg.PlotWidget:
    plot = pg.PlotWidget()
    plot.setMinimumHeight(CHART_HEIGHT)
    plot.setMaximumHeight(CHART_HEIGHT + 40)
    plot.setMenuEnabled(False)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    plot.setTitle(title, color=palette.color(QPalette.ColorRole.Text).name(), size="9pt")
    style_plot(plot)  # and again at each theme switch
    return plot


def _short(name: str, limit: int = 10) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"


class StatsPanel(QWidget):
    """Shows a ``DatasetStats``; ``set_stats`` redraws it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.summary = QLabel("Counting…")
        self.summary.setWordWrap(True)
        self.summary.setToolTip("Labelled: with objects · Background: marked as having no "
                                "objects, trained on as negatives · Unlabelled: neither, left "
                                "out of training")
        self.class_chart = _chart("Labels per class", self.palette())
        self.instances_chart = _chart("Images by number of labels", self.palette())
        self.sizes = QLabel()
        self.sizes.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.summary)
        layout.addWidget(self.class_chart)
        layout.addWidget(self.instances_chart)
        layout.addWidget(self.sizes)
        self.stats: DatasetStats | None = None
        self.class_bars: pg.BarGraphItem | None = None

    def set_stats(self, stats: DatasetStats, classes: list[ClassInfo],
                  style: OverlayStyle) -> None:
        """Redraw the panel for ``stats`` with the project's classes and colours."""
        self.stats = stats
        splits = stats.splits
        self.summary.setText(
            f"<b>{plural(stats.images, 'image')}</b> · {stats.labelled:,} labelled · "
            f"{stats.background:,} background · {stats.unlabelled:,} unlabelled · "
            f"{plural(stats.instances, 'label')}"
            + (f" · <span style='color:#d55e00'>{stats.with_issues:,} with problems</span>"
               if stats.with_issues else "")
            + (f" · {stats.trash:,} in the trash" if stats.trash else "")
            + f"<br>train {splits.get('train', 0):,} · val {splits.get('val', 0):,} · "
              f"test {splits.get('test', 0):,} · no split {splits.get(UNASSIGNED, 0):,}")
        self._draw_classes(stats, classes, style)
        self._draw_instances(stats)
        self._show_sizes(stats)

    def _draw_classes(self, stats: DatasetStats, classes: list[ClassInfo],
                      style: OverlayStyle) -> None:
        plot = self.class_chart
        plot.clear()
        indices = sorted({c.index for c in classes} | set(stats.class_instances))
        names = {c.index: c.name for c in classes}
        heights = [stats.class_instances.get(i, 0) for i in indices]
        brushes = [pg.mkBrush(style.color(i)) for i in indices]
        if indices:
            self.class_bars = pg.BarGraphItem(x=list(range(len(indices))), height=heights,
                                              width=0.7, brushes=brushes,
                                              pens=[pg.mkPen(b.color()) for b in brushes])
            plot.addItem(self.class_bars)
            self._class_names = [names.get(i, str(i)) for i in indices]
            self._fit_class_ticks()
            plot.setXRange(-0.6, len(indices) - 0.4, padding=0)
            plot.setYRange(0, max(heights + [1]) * 1.1, padding=0)
        tips = []
        for i in indices:
            by_split = stats.class_splits.get(i, {})
            tips.append(f"{names.get(i, i)}: {plural(stats.class_instances.get(i, 0), 'label')} in "
                        f"{plural(stats.class_images.get(i, 0), 'image')} (train "
                        f"{by_split.get('train', 0):,}, val {by_split.get('val', 0):,}, "
                        f"test {by_split.get('test', 0):,})")
        plot.setToolTip("\n".join(tips))

    def _fit_class_ticks(self) -> None:
        """Class names under the bars, each cut to the room its bar has (at most 10
        characters), so that neighbours never run into each other."""
        names = getattr(self, "_class_names", [])
        if not names:
            return
        shown = names if len(names) <= 12 else names[::2]
        step = 1 if len(names) <= 12 else 2
        slot = self.class_chart.width() * 0.85 / max(1, len(shown))  # the axis leaves ~15%
        char = max(1, self.class_chart.fontMetrics().horizontalAdvance("n"))
        limit = max(3, min(10, int(slot / char) - 1))
        ticks = [(n * step, _short(name, limit)) for n, name in enumerate(shown)]
        self.class_chart.getAxis("bottom").setTicks([ticks, []])

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's naming
        super().resizeEvent(event)
        self._fit_class_ticks()

    def _draw_instances(self, stats: DatasetStats) -> None:
        plot = self.instances_chart
        plot.clear()
        bars = instances_histogram_bins(stats.instances_per_image)
        if not bars:
            return
        heights = [count for _, count in bars]
        plot.addItem(pg.BarGraphItem(x=list(range(len(bars))), height=heights, width=0.7,
                                     brush=_BAR_GREY, pen=_BAR_GREY))
        plot.getAxis("bottom").setTicks([[(n, label) for n, (label, _) in enumerate(bars)], []])
        plot.setXRange(-0.6, len(bars) - 0.4, padding=0)
        plot.setYRange(0, max(heights + [1]) * 1.1, padding=0)
        plot.setToolTip("\n".join(f"{label} labels: {plural(count, 'image')}"
                                  for label, count in bars))

    def _show_sizes(self, stats: DatasetStats) -> None:
        sizes = stats.sizes
        if stats.images == 0:
            self.sizes.setText("")
        elif sizes.uniform:
            self.sizes.setText(f"Image size: all {sizes.max_width} × {sizes.max_height} px")
        else:
            common = ", ".join(f"{w}×{h} ({n:,})" for w, h, n in sizes.common[:3])
            self.sizes.setText(
                f"Image sizes: {sizes.min_width}×{sizes.min_height} to "
                f"{sizes.max_width}×{sizes.max_height} px, median "
                f"{sizes.median_width:g}×{sizes.median_height:g}<br>Most common: {common}")
