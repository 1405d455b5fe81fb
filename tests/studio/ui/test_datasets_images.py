"""The Datasets page's image actions (issue 17, "Images"): the current image, the trash,
background images and tags, driven with real key and mouse events."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMessageBox

from studio.services.projects import create_project
from tests.studio.services.test_image_queries import SQUARE, add_images
from tests.studio.ui.test_window_issue16 import click_rail, open_in, show_active, type_key

SCREENSHOTS = os.environ.get("STUDIO_SCREENSHOTS")
"""A folder to save the tests' screenshots in (to look at them); unset: none are saved."""


def _dark_for_screenshots(window) -> None:
    """The dark theme (as View ▸ Theme sets it) when screenshots are asked for."""
    if SCREENSHOTS:
        window.set_theme("dark")


def _screenshot(widget, qtbot, name: str) -> None:
    """Save ``widget`` as ``name``.png under ``STUDIO_SCREENSHOTS`` (when set)."""
    if SCREENSHOTS:
        qtbot.wait(300)
        widget.grab().save(str(Path(SCREENSHOTS) / f"{name}.png"))


def _project(make_project, tmp_path, count=6):
    project = make_project("segment", classes=("circle", "square"))
    add_images(project, tmp_path / "images", [
        {"name": f"img_{i:02d}.jpg", "split": "train" if i % 2 else "val",
         "labels": [(0, SQUARE)] if i < 3 else []} for i in range(count)])
    return project


def _click(qtbot, page, row, modifier=Qt.KeyboardModifier.NoModifier):
    rect = page.grid.visualRect(page.model.index(row))
    qtbot.mouseClick(page.grid.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center())


def test_current_image_id_follows_the_clicked_thumbnail(qtbot, make_project, open_datasets_page,
                                                        tmp_path):
    page = open_datasets_page(_project(make_project, tmp_path))
    qtbot.waitUntil(lambda: page.model.rowCount() == 6)
    assert page.current_image_id() is None
    _click(qtbot, page, 2)
    assert page.current_image_id() == page.model.image_id(2)
    qtbot.keyClick(page.grid, Qt.Key.Key_Right)
    assert page.current_image_id() == page.model.image_id(3)


def test_the_context_menu_moves_the_selection_to_the_trash(qtbot, make_project, open_datasets_page,
                                                          tmp_path):
    page = open_datasets_page(_project(make_project, tmp_path))
    qtbot.waitUntil(lambda: page.model.rowCount() == 6 and page.stats is not None)
    gone = page.model.image_id(4)
    rect = page.grid.visualRect(page.model.index(4))

    def choose() -> None:
        menu = page.context_menu
        if menu is None or not menu.isVisible():
            QTimer.singleShot(20, choose)
            return
        _screenshot(menu, qtbot, "datasets_images_context_menu")
        action = next(a for a in menu.actions() if a.text() == "Move to trash")
        assert action.isEnabled() and "Del" in action.shortcut().toString()
        QTest.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(action).center())

    viewport = page.grid.viewport()
    QTest.mouseClick(viewport, Qt.MouseButton.RightButton, pos=rect.center())  # selects it
    QTimer.singleShot(20, choose)
    # the context-menu event the window system sends after a right click (QTest's widget
    # clicks do not make one)
    QApplication.sendEvent(viewport, QContextMenuEvent(
        QContextMenuEvent.Reason.Mouse, rect.center(), viewport.mapToGlobal(rect.center())))
    qtbot.waitUntil(lambda: page.stats.trash == 1)
    assert gone not in [page.model.image_id(r) for r in range(page.model.rowCount())]


def test_letter_keys_act_on_the_grid_only(qtbot, make_project, open_datasets_page, tmp_path):
    """B and Delete typed in the search field edit the text, not the selected images."""
    page = open_datasets_page(_project(make_project, tmp_path))
    qtbot.waitUntil(lambda: page.model.rowCount() == 6 and page.stats is not None)
    _click(qtbot, page, 4)
    page.filter_bar.search.setFocus()
    qtbot.keyClicks(page.filter_bar.search, "b")
    qtbot.keyClick(page.filter_bar.search, Qt.Key.Key_Delete)
    qtbot.keyClick(page.filter_bar.search, Qt.Key.Key_Backspace)
    qtbot.wait(400)
    assert page.stats.background == 0 and page.stats.trash == 0
    page.grid.setFocus()
    qtbot.keyClick(page.grid, Qt.Key.Key_B)
    qtbot.waitUntil(lambda: page.stats.background == 1)


def test_ctrl_z_takes_back_the_last_trash_or_background_edit(qtbot, make_project, open_datasets_page,
                                                            tmp_path):
    page = open_datasets_page(_project(make_project, tmp_path))
    qtbot.waitUntil(lambda: page.model.rowCount() == 6 and page.stats is not None)
    assert page.undo_text() is None
    _click(qtbot, page, 3)
    _click(qtbot, page, 4, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(page.grid, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: page.stats.trash == 2)
    assert page.undo_text() == "Move to Trash"
    qtbot.keyClick(page.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: page.stats.trash == 0 and page.model.rowCount() == 6)
    assert page.undo_text() is None and "back from the trash" in page.notice.text()

    _click(qtbot, page, 0)  # labelled: stays as it is
    _click(qtbot, page, 4, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(page.grid, Qt.Key.Key_B)
    qtbot.waitUntil(lambda: page.stats.background == 1)
    assert "1 image with labels left as they are" in page.notice.text()
    qtbot.keyClick(page.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: page.stats.background == 0)


def test_a_classify_project_offers_no_background(qtbot, make_project, open_datasets_page, tmp_path):
    project = make_project("classify", classes=("cat", "dog"))
    add_images(project, tmp_path / "images", [
        {"name": "a.jpg", "labels": [{"kind": "class", "class_index": 0}]},
        {"name": "b.jpg"}])
    page = open_datasets_page(project)
    qtbot.waitUntil(lambda: page.model.rowCount() == 2 and page.stats is not None)
    _click(qtbot, page, 1)
    qtbot.keyClick(page.grid, Qt.Key.Key_B)
    qtbot.wait(300)
    assert page.stats.background == 0 and not page.image_actions.background.isVisible()
    assert all(key != "B" for key, _text in page.shortcuts())


# ----- helpers for the real window -------------------------------------------------------------
def _answer_modal(qtbot, answer) -> None:
    """Run ``answer(widget)`` on the next modal dialog, as a person would answer it."""
    def check() -> None:
        widget = QApplication.activeModalWidget()
        if widget is None:
            QTimer.singleShot(20, check)
            return
        answer(widget)

    QTimer.singleShot(20, check)


def _press_button(box: QMessageBox, text: str) -> None:
    button = next(b for b in box.buttons() if b.text() == text)
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)


def _window_project(tmp_path) -> Path:
    folder = tmp_path / "proj"
    project = create_project(folder, name="Images", task="segment", classes=["circle", "square"])
    try:
        add_images(project, tmp_path / "images", [
            {"name": f"img_{i:02d}.jpg", "split": "train" if i % 3 else "val",
             "labels": [(i % 2, SQUARE)] if i < 4 else []} for i in range(8)])
    finally:
        project.close()
    return folder


def test_trash_restore_empty_background_and_tags_on_the_main_window(window, qtbot, tmp_path):
    """Delete sends the clicked image to the trash (gone from the stats and the Annotate page);
    the Trash view restores it; B marks an unlabelled image as background (its own count); T
    tags the selection and the tag filter finds it; Empty trash asks first."""
    _dark_for_screenshots(window)
    show_active(window, qtbot)
    open_in(window, qtbot, _window_project(tmp_path))
    click_rail(window, "Datasets")
    page = window.pages["Datasets"]
    qtbot.waitUntil(lambda: page.model.rowCount() == 8 and page.stats is not None
                    and page.model.loaded_row(page.model.image_id(7)) is not None)
    first = page.model.image_id(1)
    keys = dict(page.shortcuts())  # what F1 lists for the page
    assert {"Delete / Backspace", "B", "T"} <= set(keys)

    _click(qtbot, page, 1)
    type_key(qtbot, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: page.stats.trash == 1 and page.model.rowCount() == 7)
    assert page.stats.images == 7 and first not in [page.model.image_id(r) for r in range(7)]
    assert "moved to the trash" in page.notice.text()
    assert page.filter_bar.trash.text() == "Trash (1)"
    assert first not in window.pages["Annotate"].image_ids  # not annotated any more

    QTest.mouseClick(page.filter_bar.trash, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.model.rowCount() == 1 and page.restore_button.isVisible())
    assert not page.split_box.isVisible() and "Trash:</b> 1 image" in page.count_label.text()
    assert page.filter_bar.trash.text() == "Leave trash"
    _screenshot(window, qtbot, "datasets_images_in_trash")
    _click(qtbot, page, 0)
    QTest.mouseClick(page.restore_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.stats.trash == 0 and page.model.rowCount() == 0)
    qtbot.waitUntil(lambda: page.grid_stack.currentWidget() is page.trash_empty)
    assert first in window.pages["Annotate"].image_ids
    QTest.mouseClick(page.trash_empty.buttons[0], Qt.MouseButton.LeftButton)  # back
    qtbot.waitUntil(lambda: page.model.rowCount() == 8 and page.split_box.isVisible())

    qtbot.waitUntil(lambda: page.model.loaded_row(page.model.image_id(6)) is not None)
    _click(qtbot, page, 6)  # no labels
    _click(qtbot, page, 7, Qt.KeyboardModifier.ControlModifier)
    type_key(qtbot, Qt.Key.Key_B)
    qtbot.waitUntil(lambda: page.stats.background == 2)
    assert (page.stats.labelled, page.stats.unlabelled) == (4, 2)
    assert "2 background · 2 unlabelled" in page.stats_panel.summary.text()
    qtbot.waitUntil(lambda: page.model.loaded_row(page.model.image_id(7)) is not None
                    and page.model.loaded_row(page.model.image_id(7)).background)
    _screenshot(window, qtbot, "datasets_images_background")
    background, to_do = [page.model.image_id(r) for r in (6, 7)], [
        page.model.image_id(r) for r in (4, 5)]
    shown = lambda: [page.model.image_id(r) for r in range(page.model.rowCount())]  # noqa: E731
    labels = page.filter_bar.labelled
    labels.setFocus()
    qtbot.keyClick(labels, Qt.Key.Key_Down)
    qtbot.keyClick(labels, Qt.Key.Key_Down)  # "Background"
    qtbot.waitUntil(lambda: shown() == background)
    qtbot.keyClick(labels, Qt.Key.Key_Down)  # "Unlabelled": neither labelled nor background
    qtbot.waitUntil(lambda: shown() == to_do)
    qtbot.keyClick(labels, Qt.Key.Key_Home)
    qtbot.waitUntil(lambda: page.model.rowCount() == 8)

    _click(qtbot, page, 2)
    _click(qtbot, page, 3, Qt.KeyboardModifier.ControlModifier)

    def add_night(dialog) -> None:
        QTest.keyClicks(dialog.new_tags, "night, rain")
        _screenshot(dialog, qtbot, "datasets_images_tag_dialog")
        QTest.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok),
                         Qt.MouseButton.LeftButton)

    _answer_modal(qtbot, add_night)
    type_key(qtbot, Qt.Key.Key_T)
    qtbot.waitUntil(lambda: page.tags == [("night", 2), ("rain", 2)])
    window.activateWindow()  # back from the dialog (offscreen, nothing does this for us)
    qtbot.waitUntil(window.isActiveWindow)
    combo = page.filter_bar.tags
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_Down)  # "night (2)"
    qtbot.waitUntil(lambda: page.model.rowCount() == 2)
    assert combo.currentText() == "night (2)"
    _click(qtbot, page, 0)
    qtbot.waitUntil(lambda: "night" in page.preview.facts.text())
    _screenshot(window, qtbot, "datasets_images_tag_filter")

    type_key(qtbot, Qt.Key.Key_Delete)  # a tagged image goes to the trash, then for good
    qtbot.waitUntil(lambda: page.stats.trash == 1)
    QTest.mouseClick(page.filter_bar.trash, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.model.rowCount() == 1 and page.empty_trash_button.isEnabled())
    _answer_modal(qtbot, lambda box: _press_button(box, "Cancel"))
    QTest.mouseClick(page.empty_trash_button, Qt.MouseButton.LeftButton)
    qtbot.wait(100)
    assert page.stats.trash == 1  # the question was answered "no"
    def confirm(box) -> None:
        _screenshot(box, qtbot, "datasets_images_empty_trash")
        _press_button(box, "Delete for good")

    _answer_modal(qtbot, confirm)
    QTest.mouseClick(page.empty_trash_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.stats.trash == 0 and page.stats.images == 7)
    assert (tmp_path / "images" / "img_02.jpg").is_file()  # the user's file stays
    _screenshot(window, qtbot, "datasets_images_trash")


def test_the_tag_editor_removes_unticked_tags_and_completes_half_ticked_ones(qtbot):
    from studio.ui.datasets.tag_dialog import TagDialog

    dialog = TagDialog({"night": 3, "rain": 1, "snow": 3}, 3, ["night", "rain", "snow", "fog"])
    qtbot.addWidget(dialog)
    dialog.show()
    assert [dialog.list.item(r).text() for r in range(3)] == ["night", "rain  (1 of 3)", "snow"]
    dialog.list.setFocus()
    dialog.list.setCurrentRow(0)
    qtbot.keyClick(dialog.list, Qt.Key.Key_Space)  # night: off every image
    dialog.list.setCurrentRow(1)
    qtbot.keyClick(dialog.list, Qt.Key.Key_Space)  # rain: some -> all
    qtbot.keyClicks(dialog.new_tags, "fog,  low light ")
    assert dialog.changes() == (["fog", "low light", "rain"], ["night"])
    qtbot.keyClicks(dialog.new_tags, ", " + "x" * 101)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert not ok.isEnabled() and "at most 100" in dialog.error.text()


def test_split_keys_beat_the_menu_mnemonics_on_the_grid(window, qtbot, tmp_path):
    """Alt+V and Alt+E are also the View and Edit menus' mnemonics; on the grid they set the
    split (before, Alt+V opened the View menu and the split stayed)."""
    show_active(window, qtbot)
    open_in(window, qtbot, _window_project(tmp_path))
    click_rail(window, "Datasets")
    page = window.pages["Datasets"]
    qtbot.waitUntil(lambda: page.model.rowCount() == 8 and page.stats is not None)
    _click(qtbot, page, 1)  # train
    type_key(qtbot, Qt.Key.Key_V, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: page.stats.splits["val"] == 4)
    assert QApplication.activePopupWidget() is None  # no menu opened
    type_key(qtbot, Qt.Key.Key_E, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: page.stats.splits["test"] == 1 and page.stats.splits["val"] == 3)
    type_key(qtbot, Qt.Key.Key_T, Qt.KeyboardModifier.AltModifier)
    qtbot.waitUntil(lambda: page.stats.splits["train"] == 5 and page.stats.splits["test"] == 0)


def test_edit_menu_undo_takes_back_a_delete_on_the_datasets_page(window, qtbot, tmp_path):
    show_active(window, qtbot)
    open_in(window, qtbot, _window_project(tmp_path))
    click_rail(window, "Datasets")
    page = window.pages["Datasets"]
    qtbot.waitUntil(lambda: page.model.rowCount() == 8 and page.stats is not None)
    _click(qtbot, page, 2)
    type_key(qtbot, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: page.stats.trash == 1)
    bar = window.menuBar()
    edit = next(a for a in bar.actions() if a.text() == "&Edit")
    QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.actionGeometry(edit).center())
    menu = edit.menu()
    qtbot.waitUntil(menu.isVisible)
    undo = window.edit_actions["undo"]
    assert undo.isEnabled() and undo.text() == "&Undo Move to Trash"
    QTest.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(undo).center())
    qtbot.waitUntil(lambda: page.stats.trash == 0 and page.stats.images == 8)
