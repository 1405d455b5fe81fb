"""The Annotate page as a new user meets it (issue 17): it opens on the image chosen in the
Datasets grid and names its file; the filmstrip shows each image's status; "next unlabelled"
(U) and go-to (Ctrl+G); keypoint names on hover and beside the selected joint, occluded and
not-labelled joints drawn apart; the Edit menu's Undo / Redo; the open-project dialog's folder.

Everything runs on the real ``MainWindow`` with real key and mouse events."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog

from studio.services.image_status import BACKGROUND, DRAFTS, LABELLED, UNLABELLED
from studio.services.keypoint_schemas import KeypointSchema
from studio.services.palette import KEYPOINT_SIDES
from studio.state import Annotation
from studio.ui.annotate.items import Dot, GhostCross, OccludedRing, TagItem
from studio.ui.main_window import PAGES

from .annotate_helpers import at, click, project_folder

WIDTH, HEIGHT = 400, 300
SCHEMA = KeypointSchema(names=("nose", "left_eye", "right_eye", "left_ear", "right_ear"),
                        skeleton=((0, 1), (0, 2), (1, 3), (2, 4)), flip_idx=(0, 2, 1, 4, 3))


def show_window(window, qtbot, folder):
    window.resize(1280, 720)
    window.show()
    qtbot.waitExposed(window)
    window.open_folder(folder)
    qtbot.waitUntil(lambda: window.project is not None, timeout=15000)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)


def click_rail(window, name):
    rail = window.rail
    centre = rail.visualItemRect(rail.item(PAGES.index(name))).center()
    QTest.mouseClick(rail.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    QApplication.processEvents()
    assert window.stack.currentWidget() is window.pages[name]


def press(qtbot, key, modifier=Qt.KeyboardModifier.NoModifier):
    """A key where the keyboard sends it: an open popup (the go-to field's completions),
    else the focus widget."""
    target = QApplication.activePopupWidget() or QApplication.focusWidget()
    assert target is not None, "nothing has keyboard focus"
    qtbot.keyClick(target, key, modifier)
    QApplication.processEvents()


def annotate(window, qtbot):
    page = window.pages["Annotate"]
    qtbot.waitUntil(lambda: page.canvas.isVisible() and page.canvas.width() > 100,
                    timeout=3000)
    qtbot.waitUntil(page.canvas.hasFocus, timeout=3000)
    # the statuses are read off the GUI thread: the filmstrip fills a moment later
    qtbot.waitUntil(lambda: page.strip.model.rowCount() == len(page.image_ids), timeout=5000)
    return page


def grid_click(window, qtbot, row):
    """A real click on the Datasets grid's thumbnail ``row``."""
    datasets = window.pages["Datasets"]
    grid = datasets.grid
    qtbot.waitUntil(lambda: grid.model().rowCount() > row, timeout=10000)
    rect = grid.visualRect(grid.model().index(row, 0))
    QTest.mouseClick(grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    QApplication.processEvents()
    return datasets.current_image_id()


# ----- opens on the grid's image, with its file name ---------------------------------------------
def test_annotate_opens_on_the_image_chosen_in_the_grid(window, qtbot, tmp_path):
    show_window(window, qtbot, project_folder(tmp_path, images=5))
    click_rail(window, "Datasets")
    ids = window.pages["Annotate"].image_ids
    assert grid_click(window, qtbot, 2) == ids[2]  # one click: chosen, not opened
    assert window.stack.currentWidget() is window.pages["Datasets"]
    press(qtbot, Qt.Key.Key_2, Qt.KeyboardModifier.AltModifier)  # Alt+2: Annotate
    page = annotate(window, qtbot)
    assert page.current_image_id == ids[2]
    assert page.file_label.text() == "image_2.png"
    assert page.position_label.text() == "Image 3 / 5"
    qtbot.waitUntil(lambda: page.strip.list.currentIndex().row() == 2)  # the strip marks it
    press(qtbot, Qt.Key.Key_D)  # on to image 4 ...
    assert page.current_image_id == ids[3] and page.file_label.text() == "image_3.png"
    click_rail(window, "Datasets")
    click_rail(window, "Annotate")  # ... which stays: the grid's choice did not change
    assert page.current_image_id == ids[3]
    click_rail(window, "Datasets")
    assert grid_click(window, qtbot, 0) == ids[0]
    click_rail(window, "Annotate")  # by the rail, too
    assert page.current_image_id == ids[0] and page.file_label.text() == "image_0.png"


# ----- filmstrip statuses and "next unlabelled" --------------------------------------------------
def mixed_project(tmp_path):
    """image_0 unlabelled, image_1 labelled, image_2 background, image_3 drafts only,
    image_4 unlabelled."""
    from studio.services.projects import open_project
    from studio.state import Image

    def rows(index):
        square = [0.1, 0.1, 0.3, 0.1, 0.3, 0.3]
        if index == 1:
            return [Annotation(kind="polygon", class_index=0, polygon=square)]
        if index == 3:
            return [Annotation(kind="polygon", class_index=1, polygon=square, draft=True,
                               score=0.4)]
        return []

    folder = project_folder(tmp_path, images=5, drafts=rows)
    project = open_project(folder)
    with project.database.session() as session:
        session.query(Image).filter(Image.path.like("%image_2.png")).one().background = True
    project.close()
    return folder


def states(page):
    return [status.state for status in page.strip.model.statuses]


def test_the_filmstrip_shows_statuses_and_u_finds_the_next_unlabelled(window, qtbot, tmp_path):
    show_window(window, qtbot, mixed_project(tmp_path))
    click_rail(window, "Annotate")
    page = annotate(window, qtbot)
    ids = page.image_ids
    assert states(page) == [UNLABELLED, LABELLED, BACKGROUND, DRAFTS, UNLABELLED]
    model = page.strip.model
    tooltip = model.data(model.index(2), Qt.ItemDataRole.ToolTipRole)
    assert "image_2.png" in tooltip and "background" in tooltip
    assert page.strip.summary.text() == "2 of 5 labelled · 1 with drafts only"
    assert page.current_image_id == ids[0]
    press(qtbot, Qt.Key.Key_U)  # skips the labelled and the background image
    assert page.current_image_id == ids[3]
    assert page.canvas.hasFocus()
    QTest.mouseClick(page.strip.next_button, Qt.MouseButton.LeftButton)  # the button
    assert page.current_image_id == ids[4]
    press(qtbot, Qt.Key.Key_U)  # round to the start
    assert page.current_image_id == ids[0]
    press(qtbot, Qt.Key.Key_P)
    for x, y in ((50, 50), (150, 50), (150, 150)):
        click(qtbot, page, x, y)
    press(qtbot, Qt.Key.Key_Return)  # a polygon: image_0 is labelled at once
    assert states(page)[0] == LABELLED
    assert page.strip.summary.text() == "3 of 5 labelled · 1 with drafts only"
    press(qtbot, Qt.Key.Key_U)
    assert page.current_image_id == ids[3]
    press(qtbot, Qt.Key.Key_U)
    press(qtbot, Qt.Key.Key_U)  # image_0 is labelled now: 4, then 3 again
    assert page.current_image_id == ids[3]
    strip = page.strip.list  # a click on the filmstrip opens that image
    QTest.mouseClick(strip.viewport(), Qt.MouseButton.LeftButton,
                     pos=strip.visualRect(model.index(1)).center())
    assert page.current_image_id == ids[1] and page.file_label.text() == "image_1.png"
    assert page.canvas.hasFocus()  # the keyboard stays with the canvas


def test_u_is_the_annotate_pages_key_only(window, qtbot, tmp_path):
    show_window(window, qtbot, mixed_project(tmp_path))
    click_rail(window, "Train")
    before = window.pages["Annotate"].current_image_id
    target = QApplication.focusWidget() or window  # the Train page may leave it unfocused
    QTest.keyClick(target, Qt.Key.Key_U)
    QTest.keyClick(target, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    QApplication.processEvents()
    assert window.stack.currentWidget() is window.pages["Train"]
    assert window.pages["Annotate"].current_image_id == before


# ----- go to (Ctrl+G) ----------------------------------------------------------------------------
def enter_in_go_to(window, qtbot, page):
    """Enter in the go-to field (through its list of matching names when that is open); the
    offscreen platform leaves a closed popup the active window, so the main window is
    activated again as a window manager would."""
    press(qtbot, Qt.Key.Key_Return)
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None, timeout=3000)


def test_ctrl_g_goes_to_a_number_or_a_file_name(window, qtbot, tmp_path):
    show_window(window, qtbot, project_folder(tmp_path, images=9))
    click_rail(window, "Annotate")
    page = annotate(window, qtbot)
    ids = page.image_ids
    press(qtbot, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    assert page.strip.go_to.hasFocus()
    qtbot.keyClicks(page.strip.go_to, "4")
    enter_in_go_to(window, qtbot, page)
    assert page.current_image_id == ids[3] and page.file_label.text() == "image_3.png"
    assert page.canvas.hasFocus() and page.strip.go_to.text() == ""
    press(qtbot, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(page.strip.go_to, "IMAGE_8")  # a name, any case; letters are typed
    assert page.strip.go_to.text().lower().startswith("image_8")
    assert page.current_image_id == ids[3]  # no letter shortcut fired while typing
    enter_in_go_to(window, qtbot, page)
    assert page.current_image_id == ids[8] and page.file_label.text() == "image_8.png"
    press(qtbot, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(page.strip.go_to, "zebra")
    enter_in_go_to(window, qtbot, page)
    assert page.current_image_id == ids[8]
    assert "No image" in page.hint_label.text() and "zebra" in page.hint_label.text()
    press(qtbot, Qt.Key.Key_Escape)  # back to the image
    assert page.canvas.hasFocus()
    press(qtbot, Qt.Key.Key_A)
    assert page.current_image_id == ids[7]


# ----- keypoints: names and visibility styles ----------------------------------------------------
def pose_project(tmp_path):
    """One figure: nose visible, left_eye occluded, right_eye not labelled but kept at its
    place, the ears never placed."""
    keypoints = [100 / WIDTH, 100 / HEIGHT, 2, 140 / WIDTH, 90 / HEIGHT, 1,
                 60 / WIDTH, 90 / HEIGHT, 0, 0, 0, 0, 0, 0, 0]
    box = [0.25, 1 / 3, 0.3, 0.4]
    return project_folder(tmp_path, task="pose", classes=("person",), images=1,
                          size=(WIDTH, HEIGHT), keypoints=SCHEMA,
                          drafts=lambda _i: [Annotation(kind="pose", class_index=0, box=box,
                                                        keypoints=keypoints)])


def items_at(page, x, y, kind):
    return [item for item in page.canvas.scene().items()
            if isinstance(item, kind) and item.scenePos() == QPointF(x, y)]


def test_keypoint_names_on_hover_and_beside_the_selected_joint(window, qtbot, tmp_path):
    show_window(window, qtbot, pose_project(tmp_path))
    click_rail(window, "Annotate")
    page = annotate(window, qtbot)
    viewport = page.canvas.viewport()
    QTest.mouseMove(viewport, at(page, 140, 90))
    assert page.canvas.hover.text() == "2 · left_eye · occluded"
    QTest.mouseMove(viewport, at(page, 60, 90))
    assert page.canvas.hover.text() == "3 · right_eye · not labelled"
    QTest.mouseMove(viewport, at(page, 100, 100))
    assert page.canvas.hover.text() == "1 · nose"
    QTest.mouseMove(viewport, at(page, 300, 250))  # away from every joint
    assert page.canvas.hover.text() is None
    press(qtbot, Qt.Key.Key_V)  # edit tool: a click selects the joint ...
    click(qtbot, page, 140, 90)
    assert page.canvas.selected_keypoint == 1
    tags = [item.text for item in page.canvas.scene().items() if isinstance(item, TagItem)]
    assert "2 · left_eye · occluded" in tags  # ... and names it beside it
    press(qtbot, Qt.Key.Key_Tab)
    tags = [item.text for item in page.canvas.scene().items() if isinstance(item, TagItem)]
    assert "3 · right_eye · not labelled" in tags and "2 · left_eye · occluded" not in tags


def test_occluded_and_not_labelled_joints_look_different(window, qtbot, tmp_path):
    show_window(window, qtbot, pose_project(tmp_path))
    click_rail(window, "Annotate")
    page = annotate(window, qtbot)
    (visible,) = items_at(page, 100, 100, Dot)
    (occluded,) = items_at(page, 140, 90, OccludedRing)
    assert visible.brush().color().alpha() == 255  # filled in the side's colour
    assert visible.pen().style() == Qt.PenStyle.SolidLine
    assert not items_at(page, 140, 90, Dot)  # no filled dot: a hollow ring ...
    assert occluded.pen().style() == Qt.PenStyle.CustomDashLine  # ... dashed ...
    assert occluded.pen().color() == QColor(KEYPOINT_SIDES["left"])  # ... in its side's colour
    assert items_at(page, 60, 90, GhostCross) and not items_at(page, 60, 90, Dot)
    assert not items_at(page, 0, 0, Dot) and not items_at(page, 0, 0, GhostCross)


# ----- Edit menu ---------------------------------------------------------------------------------
def edit_menu(window, qtbot):
    """The Edit menu, opened with a real click on the menu bar."""
    bar = window.menuBar()
    action = next(a for a in bar.actions() if a.text() == "&Edit")
    QTest.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.actionGeometry(action).center())
    menu = action.menu()
    qtbot.waitUntil(menu.isVisible, timeout=3000)
    return menu


def click_entry(menu, name):
    entry = next(a for a in menu.actions() if a.text().replace("&", "").startswith(name))
    QTest.mouseClick(menu, Qt.MouseButton.LeftButton, pos=menu.actionGeometry(entry).center())
    QApplication.processEvents()
    return entry


def back_from_menu(window, qtbot, menu, page):
    """The menu closed: the offscreen platform leaves it the active window, where a window
    manager activates the main window again (the canvas then has the keyboard back)."""
    qtbot.waitUntil(lambda: not menu.isVisible(), timeout=3000)
    window.activateWindow()
    qtbot.waitUntil(page.canvas.hasFocus, timeout=3000)


def test_edit_undo_undoes_a_drawn_polygon(window, qtbot, tmp_path):
    show_window(window, qtbot, project_folder(tmp_path, images=2))
    click_rail(window, "Annotate")
    page = annotate(window, qtbot)
    for x, y in ((50, 50), (150, 50), (150, 150)):
        click(qtbot, page, x, y)
    press(qtbot, Qt.Key.Key_Return)
    assert len(page.document.annotations) == 1
    menu = edit_menu(window, qtbot)
    undo = window.edit_actions["undo"]
    assert undo.isEnabled() and undo.text() == "&Undo Draw polygon"
    assert undo.shortcut().toString() == "Ctrl+Z"  # shown in the menu
    click_entry(menu, "Undo")
    back_from_menu(window, qtbot, menu, page)
    assert page.document.annotations == []
    press(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier
          | Qt.KeyboardModifier.ShiftModifier)  # the keys still work: not ambiguous
    assert len(page.document.annotations) == 1
    press(qtbot, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert page.document.annotations == []
    menu = edit_menu(window, qtbot)
    click_entry(menu, "Redo")
    back_from_menu(window, qtbot, menu, page)
    assert len(page.document.annotations) == 1
    for x, y in ((200, 200), (250, 200)):  # while drawing, Undo takes the last vertex
        click(qtbot, page, x, y)
    menu = edit_menu(window, qtbot)
    assert undo.text() == "&Undo the last vertex"
    click_entry(menu, "Undo")
    back_from_menu(window, qtbot, menu, page)
    assert [tuple(round(v) for v in p) for p in page.canvas.tool.points] == [(200, 200)]
    assert len(page.document.annotations) == 1
    press(qtbot, Qt.Key.Key_Escape)
    press(qtbot, Qt.Key.Key_3, Qt.KeyboardModifier.AltModifier)  # the Train page
    menu = edit_menu(window, qtbot)
    assert not undo.isEnabled() and "Train page" in undo.text()
    assert not window.edit_actions["go_to"].isEnabled()
    menu.close()


# ----- the open-project dialog's folder ----------------------------------------------------------
def test_open_project_dialog_starts_beside_the_open_project(window, qtbot, tmp_path,
                                                             monkeypatch):
    asked: list[str] = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        lambda _parent, _title, folder, *a, **k: asked.append(folder) or "")
    folder = project_folder(tmp_path, images=1)
    show_window(window, qtbot, folder)
    QTest.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    window.close_project()
    window.activateWindow()
    QTest.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    assert asked == [str(folder.parent)] * 2  # no project open: beside the last one


def test_marks_made_on_another_page_show_when_annotate_comes_back(window, qtbot, tmp_path):
    from studio.services.image_edits import set_background, trash_images

    show_window(window, qtbot, project_folder(tmp_path, images=4))
    click_rail(window, "Annotate")
    page = annotate(window, qtbot)
    ids = page.image_ids
    click_rail(window, "Datasets")  # where images are marked and trashed
    set_background(window.project.database, [ids[0]], True)
    trash_images(window.project.database, [ids[2]])
    click_rail(window, "Annotate")
    qtbot.waitUntil(lambda: states(page) == [BACKGROUND, UNLABELLED, UNLABELLED], timeout=5000)
    assert page.image_ids == [ids[0], ids[1], ids[3]]
    press(qtbot, Qt.Key.Key_U)  # the background image is not "unlabelled"
    assert page.current_image_id == ids[1]
    press(qtbot, Qt.Key.Key_U)
    assert page.current_image_id == ids[3]
    press(qtbot, Qt.Key.Key_U)
    assert page.current_image_id == ids[1]


def test_no_hover_tag_while_placing_keypoints(window, qtbot, tmp_path):
    show_window(window, qtbot, pose_project(tmp_path))
    click_rail(window, "Annotate")
    page = annotate(window, qtbot)
    press(qtbot, Qt.Key.Key_K)
    click(qtbot, page, 120, 150)  # inside the box: on at its first keypoint not placed
    assert page.canvas.tool.placing
    QTest.mouseMove(page.canvas.viewport(), at(page, 140, 90))
    assert page.canvas.hover.text() is None  # the cursor names the ear to place instead
    tags = [item.text for item in page.canvas.scene().items() if isinstance(item, TagItem)]
    assert "4 · left_ear" in tags
    press(qtbot, Qt.Key.Key_Escape)
    QTest.mouseMove(page.canvas.viewport(), at(page, 100, 100))
    assert page.canvas.hover.text() == "1 · nose"
