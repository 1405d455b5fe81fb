"""At 1280 × 720 no page change makes the window wider: going from Annotate (the widest page)
to a page with a wider side panel (Train, Predict) must not add the new panel to the old
page's width."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from studio.ui.main_window import PAGES
from tests.studio.ui.annotate_helpers import project_folder


def test_going_from_page_to_page_keeps_the_window_at_1280(qtbot, window, tmp_path):
    classes = ("circle", "triangle", "rectangle", "star")  # the demo's: Annotate's panel
    window.resize(1280, 720)
    window.show()
    qtbot.waitExposed(window)
    window.open_folder(project_folder(tmp_path, classes=classes, images=1))
    qtbot.waitUntil(lambda: window.project is not None, timeout=10000)
    widths = []
    for name in ("Annotate", "Train", "Annotate", "Predict", "Annotate", "Datasets", "Export"):
        rect = window.rail.visualItemRect(window.rail.item(PAGES.index(name)))
        QTest.mouseClick(window.rail.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        qtbot.wait(50)
        widths.append((name, window.width()))
    assert widths == [(name, 1280) for name, _width in widths]
