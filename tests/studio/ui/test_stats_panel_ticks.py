"""The labels-per-class chart's names fit under their bars at the panel's width: neighbours
never run into each other (the demo's "triangle" and "rectangle" did at 1280 × 720)."""

from __future__ import annotations

from studio.services.dataset_stats import DatasetStats
from studio.services.projects import ClassInfo
from studio.services.thumbnails import OverlayStyle
from studio.ui.datasets.stats_panel import StatsPanel

NAMES = ("circle", "triangle", "rectangle", "star")


def _ticks(panel):
    axis = panel.class_chart.getAxis("bottom")
    return [text for _x, text in axis._tickLevels[0]]


def _fits(panel, texts) -> bool:
    metrics = panel.class_chart.fontMetrics()
    slot = panel.class_chart.width() * 0.85 / len(texts)
    return all(metrics.horizontalAdvance(text) < slot for text in texts)


def test_class_names_are_cut_to_their_bars_room_and_whole_when_there_is_room(qtbot):
    panel = StatsPanel()
    qtbot.addWidget(panel)
    panel.resize(230, 500)
    panel.show()
    qtbot.waitExposed(panel)
    classes = [ClassInfo(i, name, "#336699") for i, name in enumerate(NAMES)]
    stats = DatasetStats(images=4, labelled=4, class_instances={0: 3, 1: 4, 2: 5, 3: 4})
    panel.set_stats(stats, classes, OverlayStyle({i: "#336699" for i in range(4)}))
    narrow = _ticks(panel)
    assert _fits(panel, narrow) and any(text.endswith("…") for text in narrow)
    assert [t.rstrip("…") for t in narrow] == [n[:len(t.rstrip("…"))] for n, t in
                                                zip(NAMES, narrow, strict=True)]
    panel.resize(700, 500)
    qtbot.waitUntil(lambda: panel.class_chart.width() > 600, timeout=3000)
    assert _ticks(panel) == list(NAMES)
