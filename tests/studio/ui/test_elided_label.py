"""ElidedLabel: a long text ends in "…" at the label's width, the whole text is the tooltip."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QWidget

from studio.ui.elided_label import ElidedLabel

LONG = ("Box → polygon (7 vertices): click adds a part, right-click (or Shift/Alt+click) cuts "
        "one, Enter ends")


def test_a_long_text_is_cut_with_an_ellipsis_and_never_widens_the_row(qtbot):
    row = QWidget()
    layout = QHBoxLayout(row)
    label = ElidedLabel()
    layout.addWidget(label, 1)
    qtbot.addWidget(row)
    row.resize(240, 40)
    row.show()
    qtbot.waitExposed(row)
    label.setText(LONG)
    assert row.width() == 240  # the text did not push the row wider
    shown = label.shown_text()
    assert shown.endswith("…") and LONG.startswith(shown[:-1])
    assert label.toolTip() == LONG
    row.resize(1200, 40)
    qtbot.waitUntil(lambda: label.width() > 900, timeout=3000)
    assert label.shown_text() == LONG  # room enough: all of it
