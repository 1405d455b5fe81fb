"""The new-project wizard's keypoint page (issue 17), driven with real clicks and keys: Custom
starts without the COCO skeleton, joints are numbered beside their names, the error text is
wrapped and whole, and showing it moves nothing."""

from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QWizard

from studio.ui.new_project_wizard import CUSTOM, NewProjectWizard


def click(widget, point: QPoint | None = None) -> None:
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     point if point is not None else widget.rect().center())
    QApplication.processEvents()


def keypoint_page(qtbot, tmp_path):
    wizard = NewProjectWizard(default_folder=tmp_path)
    qtbot.addWidget(wizard)
    wizard.show()
    qtbot.waitExposed(wizard)
    click(wizard.basics.tasks.button(2))  # pose
    next_button = wizard.button(QWizard.WizardButton.NextButton)
    click(next_button)
    click(next_button)
    assert wizard.currentPage() is wizard.keypoints
    return wizard, wizard.keypoints


def choose_template(qtbot, page, text: str) -> None:
    combo = page.template
    combo.setFocus()
    target = combo.findText(text)
    while combo.currentIndex() != target:
        key = Qt.Key.Key_Down if combo.currentIndex() < target else Qt.Key.Key_Up
        qtbot.keyClick(combo, key)


def type_lines(qtbot, editor, lines: list[str]) -> None:
    editor.setFocus()
    for index, line in enumerate(lines):
        if index:
            qtbot.keyClick(editor, Qt.Key.Key_Return)
        qtbot.keyClicks(editor, line)


def test_custom_keeps_no_coco_skeleton(qtbot, tmp_path):
    _wizard, page = keypoint_page(qtbot, tmp_path)
    assert len(page.names.toPlainText().split()) == 17 and page.edges.text()
    choose_template(qtbot, page, CUSTOM)
    assert page.names.toPlainText() == "" and page.edges.text() == ""
    assert page.error.text() == ""  # nothing typed yet is no error
    # what the user typed stays when the template is chosen again
    type_lines(qtbot, page.names, ["wrist", "left_thumb", "right_thumb"])
    choose_template(qtbot, page, "COCO person (17 keypoints)")
    choose_template(qtbot, page, CUSTOM)
    assert page.edges.text() == ""


def test_joints_are_numbered_beside_their_names(qtbot, tmp_path):
    _wizard, page = keypoint_page(qtbot, tmp_path)
    choose_template(qtbot, page, CUSTOM)
    type_lines(qtbot, page.names, ["head", "left_hand", "", "right_hand"])
    assert page.names.indices() == [0, 1, None, 2]  # a blank line is no keypoint
    gutter = page.names.gutter
    assert gutter.isVisible() and gutter.width() > 0
    assert page.names.viewport().x() >= gutter.width()  # the text starts after the numbers
    # the numbers are drawn: the gutter's row of "2" (4th line) has ink, the blank row none
    image = gutter.grab().toImage()
    line = page.names.fontMetrics().lineSpacing()
    top = page.names.contentsRect().top()
    background = QColor(image.pixel(1, 1))

    def ink(row: int) -> bool:
        y0 = int(top + row * line + 4)
        return any(QColor(image.pixel(x, y)) != background
                   for x in range(image.width()) for y in range(y0, y0 + line - 6))

    assert ink(0) and ink(1) and not ink(2) and ink(3)


def test_the_error_is_whole_and_moves_nothing(qtbot, tmp_path):
    wizard, page = keypoint_page(qtbot, tmp_path)
    wizard.resize(620, 480)
    choose_template(qtbot, page, CUSTOM)
    type_lines(qtbot, page.names, ["head", "left_hand", "right_hand"])
    page.edges.setFocus()
    qtbot.keyClicks(page.edges, "0-1")
    QApplication.processEvents()
    assert page.error.text() == "" and page.isComplete()
    before = [w.geometry() for w in (page.names, page.edges, page.flips, page.error)]
    qtbot.keyClicks(page.edges, ", 1-7")  # joint 7 does not exist
    QApplication.processEvents()
    error = page.error
    assert "1, 7" in error.text() and not page.isComplete()
    assert error.wordWrap() and error.height() >= error.heightForWidth(error.width())
    after = [w.geometry() for w in (page.names, page.edges, page.flips, page.error)]
    assert after == before
    assert wizard.button(QWizard.WizardButton.FinishButton).isEnabled() is False
