"""The Annotate page on a segment project: draw polygons with the mouse, edit, undo, trash."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select

from studio.state import Annotation, Image
from tests.studio.ui.annotate_helpers import at, click, drag, shown_page

WIDTH, HEIGHT = 320, 240


def add_images(project, folder, count=3):
    ids = []
    with project.database.session() as session:
        for index in range(count):
            path = folder / f"image_{index}.png"
            picture = np.full((HEIGHT, WIDTH, 3), 40 * index + 30, np.uint8)
            cv2.imwrite(str(path), picture)
            row = Image(path=str(path), width=WIDTH, height=HEIGHT)
            session.add(row)
            session.flush()
            ids.append(row.id)
    return ids


def rows(project, image_id, deleted=False):
    with project.database.session() as session:
        state = Annotation.deleted_at.is_not(None) if deleted else Annotation.deleted_at.is_(None)
        return list(session.scalars(select(Annotation).where(Annotation.image_id == image_id,
                                                             state).order_by(Annotation.position)))


@pytest.fixture
def page(qtbot, make_project, tmp_path):
    project = make_project("segment", classes=("circle", "square", "triangle"))
    add_images(project, tmp_path)
    widget = shown_page(qtbot, project, (900, 600))
    yield widget
    widget.shutdown()





def draw_square(qtbot, page, x0=50, y0=50, x1=150, y1=150):
    for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1)):
        click(qtbot, page, x, y)
    click(qtbot, page, x0, y0)  # the first vertex closes it


def pixels(polygon):
    return [round(v * (WIDTH if i % 2 == 0 else HEIGHT)) for i, v in enumerate(polygon)]


def test_clicks_draw_a_polygon_that_is_saved_within_a_second(qtbot, page):
    draw_square(qtbot, page)
    document = page.document
    assert len(document.annotations) == 1
    assert pixels(document.annotations[0].polygon) == [50, 50, 150, 50, 150, 150, 50, 150]
    image_id = page.current_image_id
    qtbot.waitUntil(lambda: len(rows(page.project, image_id)) == 1, timeout=1000)
    row = rows(page.project, image_id)[0]
    assert row.kind == "polygon" and row.class_index == 0
    assert pixels(row.polygon) == [50, 50, 150, 50, 150, 150, 50, 150]
    qtbot.waitUntil(lambda: page.saved_label.text() == "Saved", timeout=1000)


def test_enter_and_double_click_close_ctrl_z_removes_a_vertex_and_esc_cancels(qtbot, page):
    canvas = page.canvas
    for x, y in ((20, 20), (100, 20), (100, 100), (60, 200)):
        click(qtbot, page, x, y)
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert page.tools["polygon"].points[-1] == pytest.approx((100, 100), abs=1)
    qtbot.keyClick(canvas, Qt.Key.Key_Return)
    assert len(page.document.annotations) == 1
    assert len(page.document.annotations[0].polygon) == 6

    for x, y in ((200, 20), (300, 20)):
        click(qtbot, page, x, y)
    qtbot.mouseDClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=at(page, 300, 120))
    assert len(page.document.annotations) == 2
    assert len(page.document.annotations[1].polygon) == 6

    click(qtbot, page, 10, 200)
    click(qtbot, page, 40, 200)
    qtbot.keyClick(canvas, Qt.Key.Key_Escape)
    assert page.tools["polygon"].points == []
    assert len(page.document.annotations) == 2


def test_undo_and_redo_restore_exact_geometry(qtbot, page):
    draw_square(qtbot, page)
    page.set_tool("edit")
    original = page.document.annotations[0].polygon
    drag(qtbot, page, (150, 150), (181.3, 197.7))  # a vertex
    moved = page.document.annotations[0].polygon
    assert moved != original and pixels(moved)[4:6] == [181, 198]
    drag(qtbot, page, (100, 80), (110, 90))  # the whole polygon
    shifted = page.document.annotations[0].polygon
    assert pixels(shifted)[:2] == [60, 60]
    canvas = page.canvas
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert page.document.annotations[0].polygon == moved
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert page.document.annotations[0].polygon == original
    qtbot.keyClick(canvas, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert page.document.annotations[0].polygon == moved
    qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    assert page.document.annotations[0].polygon == shifted
    for _ in range(3):
        qtbot.keyClick(canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert page.document.annotations == []
    image_id = page.current_image_id
    assert page.flush()
    qtbot.waitUntil(lambda: rows(page.project, image_id) == [], timeout=1000)


def test_shift_click_inserts_a_vertex_and_delete_removes_it(qtbot, page):
    draw_square(qtbot, page)
    page.set_tool("edit")
    click(qtbot, page, 100, 50, Qt.KeyboardModifier.ShiftModifier)  # on the top edge
    polygon = page.document.annotations[0].polygon
    assert pixels(polygon) == [50, 50, 100, 50, 150, 50, 150, 150, 50, 150]
    assert page.canvas.selected_vertex == 1
    drag(qtbot, page, (100, 50), (100, 20))
    assert pixels(page.document.annotations[0].polygon)[2:4] == [100, 20]
    qtbot.keyClick(page.canvas, Qt.Key.Key_Delete)
    assert pixels(page.document.annotations[0].polygon) == [50, 50, 150, 50, 150, 150, 50, 150]


def test_delete_goes_to_the_trash_and_restore_brings_it_back(qtbot, page):
    draw_square(qtbot, page)
    image_id = page.current_image_id
    assert page.flush()
    row_id = rows(page.project, image_id)[0].id
    page.set_tool("edit")
    click(qtbot, page, 100, 100)
    assert page.canvas.selected_key is not None
    qtbot.keyClick(page.canvas, Qt.Key.Key_Delete)
    assert page.document.annotations == []
    qtbot.waitUntil(lambda: [r.id for r in rows(page.project, image_id, deleted=True)]
                    == [row_id], timeout=1000)
    qtbot.waitUntil(lambda: page.panel.trash.list.count() == 1, timeout=1000)
    page.panel.trash.button.click()
    assert len(page.document.annotations) == 1
    qtbot.waitUntil(lambda: [r.id for r in rows(page.project, image_id)] == [row_id],
                    timeout=1000)
    assert pixels(rows(page.project, image_id)[0].polygon) == [50, 50, 150, 50, 150, 150,
                                                                50, 150]


def test_number_keys_set_the_class_and_navigation_keeps_each_images_work(qtbot, page):
    qtbot.keyClick(page.canvas, Qt.Key.Key_3)
    draw_square(qtbot, page)
    assert page.document.annotations[0].class_index == 2
    qtbot.keyClick(page.canvas, Qt.Key.Key_2)
    assert page.document.annotations[0].class_index == 1
    first = page.current_image_id
    qtbot.keyClick(page.canvas, Qt.Key.Key_D)
    assert page.current_image_id == page.image_ids[1]
    assert page.document.annotations == []
    qtbot.keyClick(page.canvas, Qt.Key.Key_Right)
    assert page.current_image_id == page.image_ids[2]
    qtbot.keyClick(page.canvas, Qt.Key.Key_Right)  # the last image: stays
    assert page.current_image_id == page.image_ids[2]
    qtbot.keyClick(page.canvas, Qt.Key.Key_A)
    qtbot.keyClick(page.canvas, Qt.Key.Key_Left)
    assert page.current_image_id == first
    assert page.document.annotations[0].class_index == 1
    qtbot.keyClick(page.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert page.document.annotations[0].class_index == 2  # this image's own undo history


def test_zoom_keeps_the_point_under_the_cursor_and_fit_restores(qtbot, page):
    canvas = page.canvas
    fitted = canvas.zoom()
    anchor = at(page, 100, 80)
    canvas.zoom_by(2.0, anchor)
    assert canvas.zoom() == pytest.approx(fitted * 2)
    point = canvas.mapToScene(anchor)
    assert (point.x(), point.y()) == pytest.approx((100, 80), abs=1.5)
    qtbot.keyClick(canvas, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom() == pytest.approx(1.0)
    qtbot.keyClick(canvas, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom() == pytest.approx(fitted)
    keys = dict(page.shortcuts())
    assert "P" in keys and "V" in keys and "D / Right" in keys
