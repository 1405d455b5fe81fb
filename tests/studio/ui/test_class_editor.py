"""The class editor on the real main window, driven by clicks and keys: the segment demo's
classes renamed and deleted (with the impact asked first), undone and redone."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QContextMenuEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QLineEdit
from sqlalchemy import func, select

from studio.services.classes import DELETED_CLASS
from studio.services.demo import demo_project
from studio.state import Annotation, Image
from studio.ui.datasets.class_editor import ClassEditor
from tests.studio.ui.annotate_helpers import annotate_in_window

DEMO_CLASSES = ["circle", "triangle", "rectangle", "star"]


def click(widget, position=None) -> None:
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     position if position is not None else widget.rect().center())


def click_row(editor: ClassEditor, row: int) -> None:
    """A click on the row's name, as a user picks a class."""
    item = editor.tree.topLevelItem(row)
    click(editor.tree.viewport(), editor.tree.visualItemRect(item).center())
    assert editor.selected_index() == row


def live_labels(project) -> list[tuple[int, int]]:
    """``(image_id, class_index)`` of every label not in the trash, in id order."""
    with project.database.session() as session:
        return [(int(image), int(index)) for image, index in session.execute(
            select(Annotation.image_id, Annotation.class_index)
            .where(Annotation.deleted_at.is_(None)).order_by(Annotation.id))]


def usage(project, index: int) -> tuple[int, int]:
    """Labels of class ``index`` on live images and how many images: counted here on purpose,
    not by the service, so the confirmation's figures are checked against the database."""
    with project.database.session() as session:
        labels, images = session.execute(
            select(func.count(Annotation.id), func.count(func.distinct(Annotation.image_id)))
            .join(Image, Annotation.image_id == Image.id)
            .where(Annotation.class_index == index, Annotation.deleted_at.is_(None),
                   Image.deleted_at.is_(None))).one()
        return int(labels), int(images)


@pytest.fixture
def demo_window(window, qtbot, tmp_path):
    folder = demo_project("segment", root=tmp_path)
    window.resize(1280, 720)
    window.show()
    window.open_folder(folder)
    qtbot.waitUntil(lambda: window.project is not None and "Datasets" in window.pages,
                    timeout=30000)
    page = window.pages["Datasets"]
    qtbot.waitUntil(lambda: page.classes_button.isVisible(), timeout=10000)
    return window


def open_editor(qtbot, window) -> ClassEditor:
    page = window.pages["Datasets"]
    click(page.classes_button)
    qtbot.waitUntil(lambda: getattr(page, "class_editor", None) is not None
                    and page.class_editor.isVisible(), timeout=5000)
    editor = page.class_editor
    editor.activateWindow()
    qtbot.waitUntil(editor.isActiveWindow, timeout=5000)
    return editor


def test_rename_and_delete_a_class_then_undo(qtbot, demo_window):
    window = demo_window
    project = window.project
    annotate = window.pages["Annotate"]
    assert [c.name for c in project.classes()] == DEMO_CLASSES
    start = live_labels(project)
    editor = open_editor(qtbot, window)
    assert [editor.tree.topLevelItem(i).text(1) for i in range(4)] == DEMO_CLASSES

    # rename 'star' with F2, typing over the name
    click_row(editor, 3)
    qtbot.keyClick(editor.tree, Qt.Key.Key_F2)
    name_field = QApplication.focusWidget()
    assert isinstance(name_field, QLineEdit) and name_field.text() == "star"
    name_field.selectAll()
    qtbot.keyClicks(name_field, "sun")
    qtbot.keyClick(name_field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: project.classes()[3].name == "sun", timeout=3000)
    assert "Done: Rename 'star' to 'sun'" in editor.message.text()
    assert [c.name for c in annotate.classes] == ["circle", "triangle", "rectangle", "sun"]
    assert live_labels(project) == start

    # a name another class has is refused, with the reason
    click_row(editor, 0)
    qtbot.keyClick(editor.tree, Qt.Key.Key_F2)
    field = QApplication.focusWidget()
    field.selectAll()
    qtbot.keyClicks(field, "Sun")
    qtbot.keyClick(field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "already called 'sun'" in editor.message.text(), timeout=3000)
    assert project.classes()[0].name == "circle" and editor.tree.topLevelItem(0).text(1) == \
        "circle"

    # delete 'triangle': the bar says what happens to its labels before anything happens
    labels, images = usage(project, 1)
    assert labels > 0
    click_row(editor, 1)
    click(editor.delete_button)
    assert editor.confirm_bar.isVisible()
    assert editor.confirm_text.text().startswith(
        f"Deleting 'triangle' moves its {labels} labels on {images} images to the trash; "
        "the 2 classes after it move up one.")
    assert live_labels(project) == start  # asked, not done
    click(editor.confirm_button)
    assert not editor.confirm_bar.isVisible()
    assert [c.name for c in project.classes()] == ["circle", "rectangle", "sun"]
    after = live_labels(project)
    renumber = {0: 0, 2: 1, 3: 2}
    assert after == [(image, renumber[index]) for image, index in start if index != 1]
    # the pages reloaded: the Annotate page's classes and its image's labels, renumbered
    assert [c.name for c in annotate.classes] == ["circle", "rectangle", "sun"]
    shown = sorted(a.class_index for a in annotate.document.annotations)
    image_id = annotate.current_image_id
    assert shown == sorted(index for image, index in after if image == image_id)
    assert [c.name for c in window.pages["Datasets"].classes] == ["circle", "rectangle", "sun"]
    with project.database.session() as session:
        trashed = session.scalar(select(func.count(Annotation.id)).where(
            Annotation.class_index == DELETED_CLASS, Annotation.deleted_at.is_not(None)))
    assert trashed == len(start) - len(after)

    # Ctrl+Z in the editor: triangle and its labels are back exactly; again: 'star' again
    qtbot.keyClick(editor.tree, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert [c.name for c in project.classes()] == ["circle", "triangle", "rectangle", "sun"]
    assert live_labels(project) == start
    assert editor.message.text() == "Undone: Delete 'triangle'."
    assert [c.name for c in annotate.classes] == ["circle", "triangle", "rectangle", "sun"]
    qtbot.keyClick(editor.tree, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert [c.name for c in project.classes()] == DEMO_CLASSES
    # Ctrl+Shift+Z redoes the rename, and the Redo button the delete
    qtbot.keyClick(editor.tree, Qt.Key.Key_Z,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert project.classes()[3].name == "sun"
    click(editor.redo_button)
    assert [c.name for c in project.classes()] == ["circle", "rectangle", "sun"]
    assert live_labels(project) == after

    # Esc closes the dialog
    qtbot.keyClick(editor.tree, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not editor.isVisible(), timeout=3000)


def test_add_move_and_merge_by_clicks(qtbot, demo_window):
    window = demo_window
    project = window.project
    start = live_labels(project)
    editor = open_editor(qtbot, window)

    click(editor.new_name)
    qtbot.keyClicks(editor.new_name, "  hexagon ")
    qtbot.keyClick(editor.new_name, Qt.Key.Key_Return)
    assert [c.name for c in project.classes()] == [*DEMO_CLASSES, "hexagon"]
    assert editor.selected_index() == 4 and editor.new_name.text() == ""

    click_row(editor, 3)  # star up: star 2, rectangle 3
    click(editor.up_button)
    assert [c.name for c in project.classes()][2:4] == ["star", "rectangle"]
    assert editor.selected_index() == 2
    swap = {2: 3, 3: 2}
    assert live_labels(project) == [(image, swap.get(index, index)) for image, index in start]

    # merge circle into star (now 2): the menu lists the other classes, the bar asks
    circles, _images = usage(project, 0)
    click_row(editor, 0)
    editor.merge_button.click()
    menu = editor.merge_menu
    qtbot.waitUntil(menu.isVisible, timeout=3000)
    target = next(a for a in menu.actions() if a.text().endswith("star"))
    click(menu, menu.actionGeometry(target).center())
    qtbot.waitUntil(editor.confirm_bar.isVisible, timeout=3000)
    assert editor.confirm_text.text().startswith(
        f"Merging 'circle' into 'star' makes its {circles} labels")
    click(editor.confirm_button)
    assert [c.name for c in project.classes()] == ["triangle", "star", "rectangle", "hexagon"]
    merged = {0: 1, 1: 0, 2: 1, 3: 2}  # after the move: circle -> star, the rest up one
    assert live_labels(project) == [(image, merged[swap.get(index, index)])
                                    for image, index in start]
    # recolour through the colour dialog's OK button
    click_row(editor, 3)
    click(editor.color_button)
    dialog = editor.color_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=3000)
    dialog.setCurrentColor(QColor("#123456"))
    ok = dialog.findChild(QDialogButtonBox).button(QDialogButtonBox.StandardButton.Ok)
    click(ok)
    assert project.classes()[3].color == "#123456"
    icon = editor.tree.topLevelItem(3).icon(0).pixmap(8, 8).toImage()
    assert icon.pixelColor(4, 4).name() == "#123456"
    for _ in range(4):
        click(editor.undo_button)
    assert [c.name for c in project.classes()] == DEMO_CLASSES
    assert live_labels(project) == start
    assert not editor.undo_button.isEnabled()


def test_the_editor_at_1280x720_in_the_dark_theme(qtbot, demo_window, tmp_path):
    """A look at the editor over the Datasets page (the PNG is kept under the test's folder)."""
    window = demo_window
    window.set_theme("dark")
    editor = open_editor(qtbot, window)
    click_row(editor, 3)
    click(editor.delete_button)
    qtbot.wait(50)
    editor.grab().save(str(tmp_path / "class_editor_dark.png"))
    window.grab().save(str(tmp_path / "window_dark.png"))
    assert editor.confirm_bar.isVisible()
    assert editor.geometry().width() <= 1280 and editor.geometry().height() <= 720


def image_labels(project, image_id: int) -> dict[int, int]:
    """``{annotation id: class}`` of the image's labels not in the trash."""
    with project.database.session() as session:
        return {int(label): int(index) for label, index in session.execute(
            select(Annotation.id, Annotation.class_index)
            .where(Annotation.image_id == image_id, Annotation.deleted_at.is_(None)))}


def choose_page(window, name: str) -> None:
    from studio.ui.main_window import PAGES

    rail = window.rail
    click(rail.viewport(), rail.visualItemRect(rail.item(PAGES.index(name))).center())
    assert window.stack.currentWidget() is window.pages[name]


def test_annotate_edits_after_a_class_change_keep_the_new_numbers(qtbot, window, tmp_path):
    """The Annotate page held the image with the old class numbers: an edit there after a
    delete must not write them back (nor bring the deleted class's labels back)."""
    page = annotate_in_window(qtbot, window, demo_project("segment", root=tmp_path))
    project = window.project
    image_id = page.current_image_id
    on_image = {a.class_index for a in page.document.annotations}
    gone = next(i for i in range(4) if i not in on_image and i < max(on_image))
    before = image_labels(project, image_id)

    choose_page(window, "Datasets")
    editor = open_editor(qtbot, window)
    click_row(editor, gone)
    click(editor.delete_button)
    click(editor.confirm_button)
    expected = {label: index - 1 if index > gone else index for label, index in before.items()}
    assert image_labels(project, image_id) == expected
    qtbot.keyClick(editor.tree, Qt.Key.Key_Escape)

    choose_page(window, "Annotate")
    assert page.current_image_id == image_id
    assert {a.id: a.class_index for a in page.document.annotations} == expected
    instances = page.instance_list
    removed = page.document.annotations[0].id
    click(instances.viewport(), instances.visualItemRect(instances.item(0)).center())
    qtbot.keyClick(instances, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: len(page.document.annotations) == len(expected) - 1, timeout=3000)
    assert page.flush()
    assert image_labels(project, image_id) == {
        label: index for label, index in expected.items() if label != removed}


def test_context_menu_delete_key_and_escape(qtbot, make_project):
    project = make_project("segment", classes=("circle", "square", "star"))
    editor = ClassEditor(project)
    qtbot.addWidget(editor)
    editor.show()
    qtbot.waitExposed(editor)
    editor.activateWindow()
    qtbot.waitUntil(editor.isActiveWindow, timeout=5000)
    rect = editor.tree.visualItemRect(editor.tree.topLevelItem(0))
    # a right click: the press, then the context-menu event the window system sends after it
    # (QTest's synthetic clicks skip the window that would make it)
    QTest.mouseClick(editor.tree.viewport(), Qt.MouseButton.RightButton,
                     Qt.KeyboardModifier.NoModifier, rect.center())
    viewport = editor.tree.viewport()
    QApplication.sendEvent(viewport, QContextMenuEvent(
        QContextMenuEvent.Reason.Mouse, rect.center(), viewport.mapToGlobal(rect.center())))
    menu = editor.context_menu
    qtbot.waitUntil(menu.isVisible, timeout=3000)
    assert [a.text() for a in menu.actions() if a.text()] == [
        "Rename", "Colour…", "Move up", "Move down", "Merge into", "Delete…"]
    move_down = next(a for a in menu.actions() if a.text() == "Move down")
    click(menu, menu.actionGeometry(move_down).center())
    assert [c.name for c in project.classes()] == ["square", "circle", "star"]
    assert editor.selected_index() == 1

    editor.tree.setFocus()
    qtbot.keyClick(editor.tree, Qt.Key.Key_Delete)
    assert editor.confirm_bar.isVisible()
    assert editor.confirm_text.text().startswith("Deleting 'circle' moves its 0 labels")
    qtbot.keyClick(editor.confirm_button, Qt.Key.Key_Escape)  # the bar goes, not the dialog
    assert not editor.confirm_bar.isVisible() and editor.isVisible()
    assert len(project.classes()) == 3
    qtbot.keyClick(editor.tree, Qt.Key.Key_Escape)
    assert not editor.isVisible()


def test_a_deleted_class_s_labels_are_not_offered_back_by_the_annotate_trash(
        qtbot, window, tmp_path):
    """They keep class -1 in the trash: restoring one would save a label of no class."""
    page = annotate_in_window(qtbot, window, demo_project("segment", root=tmp_path))
    image_id = page.current_image_id
    on_image = sorted({a.class_index for a in page.document.annotations})
    choose_page(window, "Datasets")
    editor = open_editor(qtbot, window)
    click_row(editor, on_image[0])
    click(editor.delete_button)
    click(editor.confirm_button)
    qtbot.keyClick(editor.tree, Qt.Key.Key_Escape)
    choose_page(window, "Annotate")
    assert page.current_image_id == image_id
    trash = page.panel.trash
    assert trash.list.count() == 0 and not trash.button.isEnabled()
