"""Labels drawn on Annotate show on the Datasets page when the user goes back to it: the counts,
the grid's row details and the preview, in the real main window driven by mouse and keys."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from studio.ui.main_window import PAGES
from tests.studio.ui.annotate_helpers import annotate_in_window, click, project_folder


def _rail_click(window, name):
    rail = window.rail
    rect = rail.visualItemRect(rail.item(PAGES.index(name)))
    QTest.mouseClick(rail.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.stack.currentWidget() is window.pages[name]


def test_a_polygon_drawn_on_annotate_is_counted_when_datasets_shows_again(qtbot, window,
                                                                         tmp_path):
    folder = project_folder(tmp_path, images=2)
    page = annotate_in_window(qtbot, window, folder)
    _rail_click(window, "Datasets")
    datasets = window.pages["Datasets"]
    summary = datasets.stats_panel.summary
    qtbot.waitUntil(lambda: "0 labelled" in summary.text(), timeout=10000)

    _rail_click(window, "Annotate")
    page.canvas.setFocus()
    QTest.keyClick(page.canvas, Qt.Key.Key_P)
    for x, y in ((100, 100), (200, 100), (200, 200)):
        click(qtbot, page, x, y)
    QTest.keyClick(page.canvas, Qt.Key.Key_Return)
    assert len(page.document.annotations) == 1
    qtbot.waitUntil(lambda: bool(page.edited_images), timeout=10000)  # saved by the autosave
    edited = set(page.edited_images)

    _rail_click(window, "Datasets")
    qtbot.waitUntil(lambda: "1 labelled" in summary.text(), timeout=10000)
    assert "1 labels" in summary.text() or "1 label" in summary.text()
    assert page.edited_images == set()  # taken: going back and forth does not reload again
    qtbot.waitUntil(lambda: all(datasets.model.loaded_row(i) is not None for i in edited),
                    timeout=10000)
    (image_id,) = edited
    assert datasets.model.loaded_row(image_id).shapes  # the thumbnail draws the new polygon
