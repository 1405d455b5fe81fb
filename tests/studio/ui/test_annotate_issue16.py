"""Issue 16: what a new user hit on the Annotate page, driven in the real main window with
real keys and clicks: reviewing drafts with Enter, keypoints for a box drawn with R, Q while
placing keypoints, Delete in the Instances list, and classes that arrive after the page opened.
"""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QDialog

from engine.data.shape_samples import make_shapes_dataset
from studio.services.annotations import load_annotations
from studio.services.keypoint_schemas import KeypointSchema
from studio.state import Annotation
from studio.ui import error_dialog
from studio.ui.annotate.items import Dot
from studio.ui.import_dialog import ImportDialog
from studio.ui.main_window import PAGES, MainWindow
from tests.studio.ui.annotate_helpers import annotate_in_window, click, drag, project_folder

WIDTH, HEIGHT = 400, 300
SCHEMA = KeypointSchema.build(["nose", "left_eye", "right_eye", "left_hand"],
                              [(0, 1), (0, 2), (1, 3)])


@pytest.fixture
def window(qtbot):
    made = MainWindow()
    qtbot.addWidget(made)
    yield made
    # the window's "saved" label is cleared by a 2.5 s timer that can outlive the window
    made.saved_label.setParent(None)
    made.jobs.cancel_all()
    made.jobs.wait_all()
    made.close_project()
    for box in error_dialog.open_error_dialogs():
        box.done(0)


def square(x0, y0, side=100):
    """A square polygon in normalised coordinates, from its top-left corner in pixels."""
    corners = [(x0, y0), (x0 + side, y0), (x0 + side, y0 + side), (x0, y0 + side)]
    return [value for x, y in corners for value in (x / WIDTH, y / HEIGHT)]


def key_to_focus(qtbot, key, modifier=Qt.KeyboardModifier.NoModifier):
    """Type ``key`` where the keyboard is now, as a user would."""
    widget = QApplication.focusWidget()
    assert widget is not None
    qtbot.keyClick(widget, key, modifier)


def drafts_in_database(page):
    page.flush()
    return [a for image_id in page.image_ids
            for a in load_annotations(page.project.database, image_id) if a.draft]


# -- drafts: Enter accepts, restyles, moves on, counts ------------------------------------------
def three_images_of_drafts(index):
    scores = [(0.3, 0.4), (0.6,), (0.9,)][index]
    return [Annotation(kind="polygon", class_index=0, polygon=square(50 + 150 * n, 50),
                       position=n, draft=True, score=score) for n, score in enumerate(scores)]


def test_enter_accepts_a_draft_restyles_it_and_walks_the_queue_to_an_end(
        qtbot, window, tmp_path):
    folder = project_folder(tmp_path, images=3, drafts=three_images_of_drafts)
    page = annotate_in_window(qtbot, window, folder)
    QTest.mouseClick(page.drafts.button, Qt.MouseButton.LeftButton)
    assert page.position_label.text() == "Draft review 1 / 3"
    first_image = page.current_image_id
    first, second = page.document.annotations
    item = page.canvas.item_for(first.key)
    assert item.pen().style() == Qt.PenStyle.DashLine and item.label.startswith("draft")
    key_to_focus(qtbot, Qt.Key.Key_V)
    click(qtbot, page, 100, 100)  # the first draft, with the edit tool
    assert page.canvas.selected_key == first.key
    key_to_focus(qtbot, Qt.Key.Key_Return)
    accepted = page.document.get(first.key)
    assert not accepted.draft
    item = page.canvas.item_for(first.key)
    assert item.pen().style() == Qt.PenStyle.SolidLine  # drawn as a normal label now
    assert item.label == "circle"  # no "draft", no model score
    assert "draft" not in page.instance_list.item(0).text()
    assert page.canvas.selected_key == second.key  # on to the next draft of the image
    assert "Accepted" in page.hint_label.text() and "1 draft left" in page.hint_label.text()
    key_to_focus(qtbot, Qt.Key.Key_Return)  # the image's last draft: on to the next image
    assert page.current_image_id != first_image
    assert page.position_label.text() == "Draft review 2 / 3"
    assert page.canvas.selected() is not None and page.canvas.selected().draft
    key_to_focus(qtbot, Qt.Key.Key_Return)
    assert page.position_label.text() == "Draft review 3 / 3"
    key_to_focus(qtbot, Qt.Key.Key_Return)
    assert page.position_label.text() == "All drafts reviewed"
    assert "reviewed" in page.hint_label.text()
    assert drafts_in_database(page) == []
    key_to_focus(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo: a draft
    assert len(drafts_in_database(page)) == 1


def test_enter_with_nothing_selected_accepts_the_image_and_moves_on(qtbot, window, tmp_path):
    folder = project_folder(tmp_path, images=3, drafts=three_images_of_drafts)
    page = annotate_in_window(qtbot, window, folder)
    QTest.mouseClick(page.drafts.button, Qt.MouseButton.LeftButton)
    first_image = page.current_image_id
    assert page.canvas.selected() is None
    key_to_focus(qtbot, Qt.Key.Key_Return)
    page.flush()
    assert not any(a.draft for a in load_annotations(page.project.database, first_image))
    assert page.position_label.text() == "Draft review 2 / 3"


# -- pose: keypoints for a box drawn with R; Q while placing --------------------------------------
@pytest.fixture
def pose_page(qtbot, window, tmp_path):
    folder = project_folder(tmp_path, task="pose", classes=("person",), images=1,
                            keypoints=SCHEMA)
    return annotate_in_window(qtbot, window, folder)


def placed(page, index):
    values = page.document.annotations[0].keypoints[3 * index:3 * index + 3]
    return round(values[0] * WIDTH), round(values[1] * HEIGHT), values[2]


def test_a_box_drawn_with_r_gets_keypoints_with_k(qtbot, pose_page):
    page = pose_page
    key_to_focus(qtbot, Qt.Key.Key_R)
    drag(qtbot, page, (100, 50), (300, 250))
    assert page.canvas.selected_keypoint is None
    key_to_focus(qtbot, Qt.Key.Key_K)  # the selected box: on at its first unplaced keypoint
    assert page.canvas.tool.name == "keypoints"
    assert page.canvas.selected_keypoint == 0
    click(qtbot, page, 200, 80)
    assert placed(page, 0) == (200, 80, 2.0)
    key_to_focus(qtbot, Qt.Key.Key_Escape)  # stop placing
    key_to_focus(qtbot, Qt.Key.Key_Escape)  # and select nothing
    assert page.canvas.selected() is None
    click(qtbot, page, 250, 200)  # a click on the box with K selects it ...
    assert page.canvas.selected_key == page.document.annotations[0].key
    assert page.canvas.selected_keypoint == 1  # ... at its first unplaced keypoint
    click(qtbot, page, 180, 70)
    assert placed(page, 1) == (180, 70, 2.0)


def rings_at_origin(page):
    return [item for item in page.canvas.scene().items()
            if isinstance(item, Dot) and item.scenePos() == QPointF(0, 0)]


def test_q_while_placing_cycles_the_current_keypoint_and_says_so(qtbot, pose_page):
    page = pose_page
    key_to_focus(qtbot, Qt.Key.Key_T)  # click each joint in order (not the template)
    drag(qtbot, page, (100, 50), (300, 250))
    assert page.canvas.selected_keypoint == 0
    assert rings_at_origin(page) == []  # nothing drawn for a keypoint not placed yet
    key_to_focus(qtbot, Qt.Key.Key_Q)
    assert page.canvas.selected_keypoint == 0  # not skipped
    assert "nose" in page.hint_label.text() and "occluded" in page.hint_label.text()
    assert rings_at_origin(page) == []
    click(qtbot, page, 200, 80)
    assert placed(page, 0) == (200, 80, 1.0)  # placed occluded (drawn hollow)
    assert page.canvas.selected_keypoint == 1
    key_to_focus(qtbot, Qt.Key.Key_Q)
    key_to_focus(qtbot, Qt.Key.Key_Q)
    assert page.canvas.selected_keypoint == 1
    assert "left_eye" in page.hint_label.text() and "not labelled" in page.hint_label.text()
    assert rings_at_origin(page) == []
    click(qtbot, page, 220, 70)  # left_eye stays not labelled; the click places right_eye
    assert placed(page, 1) == (0, 0, 0.0)
    assert placed(page, 2) == (220, 70, 2.0)
    assert page.canvas.selected_keypoint == 3  # left_eye is not asked for again
    click(qtbot, page, 150, 200)
    assert placed(page, 3) == (150, 200, 2.0)
    assert page.canvas.selected_keypoint is None
    assert rings_at_origin(page) == []
    page.canvas.select(page.document.annotations[0].key, keypoint=2)  # a placed one
    visibility = []
    for _ in range(3):
        key_to_focus(qtbot, Qt.Key.Key_Q)
        visibility.append(placed(page, 2)[2])
        assert "right_eye" in page.hint_label.text()
    assert visibility == [1.0, 0.0, 2.0]
    assert "visible" in page.hint_label.text()
    assert rings_at_origin(page) == []
    page.flush()
    row = load_annotations(page.project.database, page.current_image_id)[0]
    assert row.keypoints[2::3] == (1.0, 0.0, 2.0, 2.0)


# -- Delete in the Instances list -----------------------------------------------------------------
def two_labels(_index):
    return [Annotation(kind="polygon", class_index=n, polygon=square(50 + 150 * n, 50),
                       position=n) for n in range(2)]


def click_list_row(list_widget, row, modifier=Qt.KeyboardModifier.NoModifier):
    rect = list_widget.visualItemRect(list_widget.item(row))
    QTest.mouseClick(list_widget.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center())


@pytest.mark.parametrize("key", [Qt.Key.Key_Delete, Qt.Key.Key_Backspace])
def test_delete_in_the_instances_list_deletes_and_undoes(qtbot, window, tmp_path, key):
    folder = project_folder(tmp_path, images=1, drafts=two_labels)
    page = annotate_in_window(qtbot, window, folder, focus_canvas=False)  # after a rail click
    instances = page.instance_list
    assert instances.isVisible() and instances.count() == 2
    click_list_row(instances, 0)
    assert QApplication.focusWidget() is instances
    key_to_focus(qtbot, key)
    assert [a.class_index for a in page.document.annotations] == [1]
    key_to_focus(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert [a.class_index for a in page.document.annotations] == [0, 1]
    click_list_row(instances, 0)
    click_list_row(instances, 1, Qt.KeyboardModifier.ControlModifier)  # both selected
    key_to_focus(qtbot, key)
    assert page.document.annotations == []
    assert "Deleted 2" in page.hint_label.text()
    page.flush()
    assert load_annotations(page.project.database, page.current_image_id) == []
    key_to_focus(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    page.flush()
    assert len(load_annotations(page.project.database, page.current_image_id)) == 2


# -- classes that arrive after the page opened ----------------------------------------------------
def draw_square(qtbot, page):
    for x, y in ((60, 60), (160, 60), (160, 160), (60, 160)):
        click(qtbot, page, x, y)
    key_to_focus(qtbot, Qt.Key.Key_Return)


def test_an_import_brings_its_classes_to_the_open_annotate_page(
        qtbot, window, tmp_path, monkeypatch):
    folder = project_folder(tmp_path, classes=(), images=1)
    page = annotate_in_window(qtbot, window, folder)
    assert not page.panel.classes.buttons
    assert "No classes yet" in page.panel.classes.empty_label.text()
    draw_square(qtbot, page)
    assert page.document.annotations == []  # never class 0 of no class
    assert "no classes" in page.hint_label.text().lower()
    data = make_shapes_dataset(tmp_path / "shapes", size=64, train=2, val=1)
    monkeypatch.setattr(ImportDialog, "exec", lambda self: QDialog.DialogCode.Accepted)
    window.import_dataset(str(data))
    qtbot.waitUntil(lambda: not window.jobs.running, timeout=20000)
    names = [info.name for info in window.project.classes()]
    qtbot.waitUntil(lambda: len(page.panel.classes.buttons) == len(names), timeout=3000)
    assert not page.panel.classes.empty_label.isVisibleTo(page.panel)
    page.canvas.setFocus()
    draw_square(qtbot, page)
    drawn = page.document.annotations[-1]
    assert page.canvas.class_name(drawn.class_index) == names[0]


def test_reload_project_classes_keeps_the_image_and_its_undo_history(qtbot, window, tmp_path):
    folder = project_folder(tmp_path, classes=("circle",), images=2)
    page = annotate_in_window(qtbot, window, folder)
    page.next_image()
    image_id = page.current_image_id
    draw_square(qtbot, page)
    assert page.undo_stack.count() == 1
    window.project.set_classes(["disc", "square"])
    page.reload_project_classes()
    assert page.current_image_id == image_id and page.undo_stack.count() == 1
    assert [b.text() for b in page.panel.classes.buttons.values()] == ["1  disc", "2  square"]
    assert page.canvas.item_for(page.document.annotations[0].key).label == "disc"
    key_to_focus(qtbot, Qt.Key.Key_2)  # the new class is one key away
    assert page.document.annotations[0].class_index == 1
    key_to_focus(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    key_to_focus(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert page.document.annotations == []  # the polygon drawn before the reload: undone


def test_showing_the_page_reads_the_classes_again(qtbot, window, tmp_path):
    folder = project_folder(tmp_path, classes=("circle",), images=1)
    page = annotate_in_window(qtbot, window, folder)
    rail = window.rail
    for name in ("Datasets", "Annotate"):
        if name == "Annotate":
            window.project.set_classes(["circle", "square", "star"])
        rect = rail.visualItemRect(rail.item(PAGES.index(name)))
        QTest.mouseClick(rail.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert window.stack.currentWidget() is page
    assert len(page.panel.classes.buttons) == 3


def test_a_class_key_without_classes_says_so(qtbot, window, tmp_path):
    folder = project_folder(tmp_path, task="classify", classes=(), images=2)
    page = annotate_in_window(qtbot, window, folder)
    first = page.current_image_id
    key_to_focus(qtbot, Qt.Key.Key_1)
    assert page.document.annotations == [] and page.current_image_id == first
    assert "no classes" in page.hint_label.text().lower()
