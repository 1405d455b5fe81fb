"""The Annotate page on a pose project: a box, keypoints clicked in order, Tab, Q, drags."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select

from studio.services.keypoint_schemas import KeypointSchema
from studio.state import Annotation, Image
from tests.studio.ui.annotate_helpers import click, drag, shown_page

WIDTH, HEIGHT = 400, 300
SCHEMA = KeypointSchema.build(["nose", "left_eye", "right_eye", "left_hand"],
                              [(0, 1), (0, 2), (1, 3)])


@pytest.fixture
def page(qtbot, make_project, tmp_path):
    project = make_project("pose", classes=("person",), keypoints=SCHEMA)
    with project.database.session() as session:
        for index in range(2):
            path = tmp_path / f"pose_{index}.png"
            cv2.imwrite(str(path), np.full((HEIGHT, WIDTH, 3), 90, np.uint8))
            session.add(Image(path=str(path), width=WIDTH, height=HEIGHT))
    widget = shown_page(qtbot, project, (900, 600))
    widget.joints.template_box.click()  # these tests click each joint in order (not template)
    yield widget
    widget.shutdown()





def keypoints_px(data):
    values = data.keypoints
    return [(round(values[i] * WIDTH), round(values[i + 1] * HEIGHT), values[i + 2])
            for i in range(0, len(values), 3)]


def test_box_then_keypoints_clicked_in_schema_order_are_saved(qtbot, page):
    assert page.canvas.tool.name == "keypoints"
    drag(qtbot, page, (100, 50), (300, 250))
    data = page.document.annotations[0]
    assert data.kind == "pose"
    assert data.box == pytest.approx((0.5, 0.5, 0.5, 0.667), abs=0.005)
    assert page.canvas.selected_keypoint == 0
    targets = [(200, 80), (180, 70), (220, 70), (150, 200)]
    for index, (x, y) in enumerate(targets):
        assert page.canvas.selected_keypoint == index
        click(qtbot, page, x, y)
    assert page.canvas.selected_keypoint is None  # all placed
    data = page.document.annotations[0]
    assert keypoints_px(data) == [(x, y, 2.0) for x, y in targets]
    image_id = page.current_image_id
    with page.project.database.session() as session:
        qtbot.waitUntil(lambda: session.scalars(select(Annotation.id)).first() is not None,
                        timeout=1000)
    assert page.flush()
    with page.project.database.session() as session:
        row = session.scalars(select(Annotation).where(Annotation.image_id == image_id)).one()
        assert row.kind == "pose" and len(row.keypoints) == 12
        assert row.keypoints[2::3] == [2, 2, 2, 2]
    # undo takes the last keypoint back, and the next click places it again
    qtbot.keyClick(page.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert keypoints_px(page.document.annotations[0])[3] == (0, 0, 0.0)
    assert page.canvas.selected_keypoint == 3
    click(qtbot, page, 160, 210)
    assert keypoints_px(page.document.annotations[0])[3] == (160, 210, 2.0)


def test_tab_moves_between_keypoints_and_q_cycles_visibility(qtbot, page):
    drag(qtbot, page, (100, 50), (300, 250))
    canvas = page.canvas
    click(qtbot, page, 200, 80)  # nose
    assert canvas.selected_keypoint == 1
    qtbot.keyClick(canvas, Qt.Key.Key_Tab)
    assert canvas.selected_keypoint == 2
    click(qtbot, page, 220, 70)  # right_eye, then the first one still missing: left_eye
    assert canvas.selected_keypoint == 3
    qtbot.keyClick(canvas, Qt.Key.Key_Tab, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(canvas, Qt.Key.Key_Backtab)
    assert canvas.selected_keypoint == 1
    qtbot.keyClick(canvas, Qt.Key.Key_Backtab)
    assert canvas.selected_keypoint == 0
    visibility = []
    for _ in range(3):
        qtbot.keyClick(canvas, Qt.Key.Key_Q)
        visibility.append(keypoints_px(page.document.annotations[0])[0][2])
    assert visibility == [1.0, 0.0, 2.0]
    assert keypoints_px(page.document.annotations[0])[0][:2] == (200, 80)  # position kept
    qtbot.keyClick(canvas, Qt.Key.Key_Q)  # occluded: drawn hollow, saved as 1
    assert page.flush()
    qtbot.waitUntil(lambda: page.saved_label.text() == "Saved", timeout=1000)
    with page.project.database.session() as session:
        row = session.scalars(select(Annotation)).one()
        assert row.keypoints[2::3] == [1, 0, 2, 0]


def test_keypoints_drag_and_the_edit_tool_moves_the_instance(qtbot, page):
    drag(qtbot, page, (100, 50), (300, 250))
    click(qtbot, page, 200, 80)
    click(qtbot, page, 180, 70)
    qtbot.keyClick(page.canvas, Qt.Key.Key_Escape)  # stop placing
    drag(qtbot, page, (200, 80), (210, 95))
    assert keypoints_px(page.document.annotations[0])[0] == (210, 95, 2.0)
    page.set_tool("edit")
    before = page.document.annotations[0]
    drag(qtbot, page, (250, 200), (260, 210))  # inside the box: moves it all
    after = page.document.annotations[0]
    assert keypoints_px(after)[1] == (190, 80, 2.0)
    assert keypoints_px(after)[3] == (0, 0, 0.0)  # not placed: stays unplaced
    qtbot.keyClick(page.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert page.document.annotations[0] == before


def test_box_tool_draws_boxes_only(qtbot, page):
    qtbot.keyClick(page.canvas, Qt.Key.Key_R)
    assert page.canvas.tool.name == "box"
    drag(qtbot, page, (20, 20), (120, 140))
    assert page.canvas.selected_keypoint is None
    assert page.document.annotations[0].keypoints == (0.0,) * 12
