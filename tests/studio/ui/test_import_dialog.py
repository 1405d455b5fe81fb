"""The import dialog (source, detected format, copy option) and the problems table."""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from engine.data.shape_samples import make_shapes_dataset
from studio.ui.import_dialog import ImportChoice, ImportDialog
from studio.ui.problems_table import ProblemsTable


def ok_button(dialog: ImportDialog):
    return dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)


def test_dialog_detects_the_format_and_returns_the_choice(qtbot, tmp_path):
    source = make_shapes_dataset(tmp_path / "shapes", size=32, train=1, val=1)
    dialog = ImportDialog("segment")
    qtbot.addWidget(dialog)
    assert not ok_button(dialog).isEnabled() and dialog.choice() is None
    dialog.set_source(source)
    assert dialog.selected_format() == "yolo-segment"
    assert "Detected: YOLO segment" in dialog.detected_label.text()
    assert ok_button(dialog).isEnabled()
    dialog.copy_check.setChecked(True)
    assert dialog.choice() == ImportChoice(source, "yolo-segment", True)


def test_the_format_can_be_changed_and_a_misfit_is_explained(qtbot, tmp_path):
    folder = tmp_path / "loose"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.jpg"), np.zeros((8, 8, 3), np.uint8))
    dialog = ImportDialog("segment", source=folder)
    qtbot.addWidget(dialog)
    assert dialog.selected_format() == "images" and ok_button(dialog).isEnabled()
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData("yolo-classify"))
    assert dialog.selected_format() == "yolo-classify"
    assert not ok_button(dialog).isEnabled()
    assert "project is for segmentation" in dialog.problem_label.text()


def test_dialog_with_a_missing_source(qtbot, tmp_path):
    dialog = ImportDialog("segment")
    qtbot.addWidget(dialog)
    dialog.set_source(tmp_path / "nowhere")
    assert dialog.choice() is None and not ok_button(dialog).isEnabled()
    assert "Not found" in dialog.detected_label.text()


PROBLEMS = [
    {"path": "/data/labels/b.txt", "line": 12, "reason": "bad row", "severity": "error"},
    {"path": "/data/images/a.jpg", "line": None, "reason": "not an image", "severity": "error"},
    {"path": "/data/labels/c.txt", "line": 3, "reason": "clipped", "severity": "warning"},
]


def test_problems_table_shows_and_sorts(qtbot):
    table = ProblemsTable()
    qtbot.addWidget(table)
    table.set_problems(PROBLEMS)
    model = table.model()
    assert model.rowCount() == 3 and model.columnCount() == 3
    assert [model.headerData(i, Qt.Orientation.Horizontal) for i in range(3)] == [
        "File", "Line", "Reason"]
    assert table.path_at(0) == "/data/images/a.jpg"  # sorted by file path
    table.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    assert [model.index(r, 1).data() for r in range(3)] == ["12", "3", ""]
    assert model.index(1, 2).data().startswith("warning: ")


def test_problems_table_emits_the_path_on_double_click_and_enter(qtbot):
    table = ProblemsTable()
    qtbot.addWidget(table)
    table.set_problems(PROBLEMS)
    table.show()
    qtbot.waitExposed(table)
    index = table.model().index(1, 2)
    rect = table.visualRect(index)
    # QTest's double click needs the click before it, as a real double click has.
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    with qtbot.waitSignal(table.imageActivated) as signal:
        qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert signal.args == [table.path_at(1)]
    table.setCurrentIndex(table.model().index(2, 0))
    with qtbot.waitSignal(table.imageActivated) as signal:
        qtbot.keyClick(table, Qt.Key.Key_Return)
    assert signal.args == [table.path_at(2)]
