"""One-click skeletons (issue 20): a box places the whole template, the joint panel, the
in-order mode kept, and the templates themselves (COCO person, hand, face, custom)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from studio.services.keypoint_schemas import (
    COCO_PERSON,
    COCO_PERSON_LAYOUT,
    FACE,
    HAND,
    TEMPLATES,
    KeypointSchema,
    builtin_layout,
    circle_layout,
    labelled_poses,
    mean_layout,
)
from studio.state import Annotation, Image
from tests.studio.ui.annotate_helpers import at, click, drag, shown_page

WIDTH, HEIGHT = 400, 300
BOX = ((100, 40), (220, 280))  # a standing person's box, scene (image) pixels
CUSTOM = KeypointSchema.build(["head", "left_hand", "right_hand", "tail"],
                              [(0, 1), (0, 2), (0, 3)])


def add_images(project, tmp_path, count=2, rows=()):
    """Grey images; ``rows`` (Annotation) go on the first one."""
    with project.database.session() as session:
        for index in range(count):
            path = tmp_path / f"pose_{index}.png"
            cv2.imwrite(str(path), np.full((HEIGHT, WIDTH, 3), 90, np.uint8))
            image = Image(path=str(path), width=WIDTH, height=HEIGHT)
            session.add(image)
            session.flush()
            for row in rows if index == 0 else ():
                row.image_id = image.id
                session.add(row)


@pytest.fixture
def page(qtbot, make_project, tmp_path):
    project = make_project("pose", classes=("person",), keypoints=COCO_PERSON)
    add_images(project, tmp_path)
    widget = shown_page(qtbot, project, (1000, 700))
    qtbot.waitUntil(widget.isActiveWindow, timeout=3000)  # the page's keys (T) need it
    yield widget
    widget.shutdown()


def joints_px(data):
    values = data.keypoints
    return [(values[i] * WIDTH, values[i + 1] * HEIGHT, values[i + 2])
            for i in range(0, len(values), 3)]


def row_text(page, index):
    return page.joints.list.item(index).text()


def click_joint_row(qtbot, page, index):
    listing = page.joints.list
    rect = listing.visualItemRect(listing.item(index))
    QTest.mouseClick(listing.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_a_box_places_all_17_joints_inside_it_as_one_undo_step(qtbot, page):
    assert page.canvas.tool.name == "keypoints" and page.joints.template_box.isChecked()
    drag(qtbot, page, *BOX)
    (data,) = page.document.annotations
    joints = joints_px(data)
    assert len(joints) == 17 and all(v == 2.0 for _, _, v in joints)
    (x0, y0), (x1, y1) = BOX
    assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y, _ in joints)
    # scaled to the box: each joint where the layout puts it in the box's frame
    for (x, y, _), (u, v) in zip(joints, COCO_PERSON_LAYOUT, strict=True):
        assert x == pytest.approx(x0 + u * (x1 - x0), abs=0.6)
        assert y == pytest.approx(y0 + v * (y1 - y0), abs=0.6)
    nose, left_ankle = joints[0], joints[15]
    assert nose[1] < left_ankle[1] and left_ankle[0] > nose[0]  # head up; subject's left right
    assert page.canvas.tool.placing is False  # the next drag draws another box
    qtbot.keyClick(page.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert page.document.annotations == []  # one Ctrl+Z: the box and its whole skeleton
    qtbot.keyClick(page.canvas, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert page.document.annotations == [data]


def test_the_box_being_dragged_shows_where_the_joints_will_land(qtbot, page):
    from studio.ui.annotate.items import Dot

    def rings():
        return sorted((round(item.scenePos().x()), round(item.scenePos().y()))
                      for item in page.canvas.scene().items()
                      if isinstance(item, Dot) and item.parentItem() is None)

    viewport, (start, end) = page.canvas.viewport(), BOX
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=at(page, *start))
    qtbot.mouseMove(viewport, at(page, *end))
    (x0, y0), (x1, y1) = start, end
    expected = sorted((round(x0 + u * (x1 - x0)), round(y0 + v * (y1 - y0)))
                      for u, v in COCO_PERSON_LAYOUT)
    assert len(rings()) == 17
    assert all(abs(a[0] - b[0]) <= 1 and abs(a[1] - b[1]) <= 1
               for a, b in zip(rings(), expected, strict=True))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=at(page, *end))
    assert rings() == []  # the preview goes; the instance draws its own joints


def test_a_placed_joint_drags_and_the_panel_picks_one_to_place(qtbot, page):
    drag(qtbot, page, *BOX)
    (data,) = page.document.annotations
    wrist = joints_px(data)[9]  # left_wrist
    drag(qtbot, page, wrist[:2], (240, 150))
    moved = joints_px(page.document.annotations[0])
    assert moved[9][:2] == pytest.approx((240, 150), abs=0.6)
    assert moved[:9] == joints_px(data)[:9]  # the others stay
    click_joint_row(qtbot, page, 0)  # nose, then a click on the canvas puts it there
    assert page.canvas.selected_keypoint == 0
    qtbot.waitUntil(lambda: page.joints.list.currentRow() == 0, timeout=1000)
    click(qtbot, page, 300, 30)
    after = joints_px(page.document.annotations[0])
    assert after[0] == pytest.approx((300, 30, 2.0), abs=0.6)
    assert after[9][:2] == pytest.approx((240, 150), abs=0.6)
    qtbot.keyClick(page.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert joints_px(page.document.annotations[0])[0] == pytest.approx(joints_px(data)[0])


def test_the_panel_shows_each_joints_state_live(qtbot, page):
    assert page.joints.title() == "Joints (select or draw an instance)"
    drag(qtbot, page, *BOX)
    qtbot.waitUntil(lambda: row_text(page, 0) == "1 · nose — placed", timeout=1000)
    assert page.joints.title() == "Joints: 17 of 17 placed"
    click_joint_row(qtbot, page, 3)  # left_ear, then Q: occluded, Q again: not labelled
    qtbot.keyClick(page.canvas, Qt.Key.Key_Q)
    qtbot.waitUntil(lambda: row_text(page, 3) == "4 · left_ear — occluded", timeout=1000)
    qtbot.keyClick(page.canvas, Qt.Key.Key_Q)
    qtbot.waitUntil(lambda: row_text(page, 3) == "4 · left_ear — not labelled", timeout=1000)
    assert page.joints.title() == "Joints: 16 of 17 placed"
    assert page.joints.list.item(3).foreground().color().name() == "#8a8f98"
    assert row_text(page, 4) == "5 · right_ear — placed"
    qtbot.keyClick(page.canvas, Qt.Key.Key_Escape)  # stops placing: no joint current
    qtbot.waitUntil(lambda: page.joints.list.currentRow() == -1, timeout=1000)
    qtbot.keyClick(page.canvas, Qt.Key.Key_Escape)  # nothing selected: names only
    qtbot.waitUntil(lambda: row_text(page, 0) == "1 · nose", timeout=1000)


def test_t_and_the_checkbox_switch_to_clicking_each_joint_in_order(qtbot, page):
    qtbot.keyClick(page.canvas, Qt.Key.Key_T)
    assert not page.joints.template_box.isChecked()
    assert "in order" in page.joints.source_label.text()
    drag(qtbot, page, *BOX)
    assert page.canvas.selected_keypoint == 0
    assert all(v == 0 for _, _, v in joints_px(page.document.annotations[0]))
    for index, point in enumerate([(160, 60), (165, 55), (155, 55)]):
        assert page.canvas.selected_keypoint == index
        click(qtbot, page, *point)
    joints = joints_px(page.document.annotations[0])
    placed = [value for joint in joints[:3] for value in joint[:2]]
    assert placed == pytest.approx([160, 60, 165, 55, 155, 55], abs=0.6)
    assert joints[3][2] == 0 and page.canvas.selected_keypoint == 3
    qtbot.waitUntil(lambda: row_text(page, 3) == "4 · left_ear — not labelled", timeout=1000)
    qtbot.waitUntil(lambda: page.joints.list.currentRow() == 3, timeout=1000)  # next to place
    page.joints.template_box.click()  # the checkbox: the template again
    assert page.canvas.tool.template_mode
    qtbot.keyClick(page.canvas, Qt.Key.Key_Escape)
    drag(qtbot, page, (250, 40), (370, 280))
    assert all(v == 2.0 for _, _, v in joints_px(page.document.annotations[1]))


def test_a_custom_schema_uses_a_circle_then_the_mean_pose_of_labelled_objects(
        qtbot, make_project, tmp_path):
    # one labelled object with a tail at the bottom right of its box; "right_hand" left out
    labelled = Annotation(kind="pose", class_index=0, position=0, box=[0.5, 0.5, 0.4, 0.4],
                          keypoints=[0.5, 0.35, 2, 0.66, 0.5, 2, 0, 0, 0, 0.66, 0.68, 1])
    project = make_project("pose", classes=("animal",), keypoints=CUSTOM)
    add_images(project, tmp_path, rows=[labelled])
    page = shown_page(qtbot, project, (1000, 700))
    page.show_image(page.image_ids[1])
    drag(qtbot, page, (100, 100), (200, 200))
    joints = joints_px(page.document.annotations[0])
    mean = [(0.5, 0.125), (0.9, 0.5), circle_layout(4)[2], (0.9, 0.95)]
    for (x, y, _), (u, v) in zip(joints, mean, strict=True):
        assert (x, y) == pytest.approx((100 + 100 * u, 100 + 100 * v), abs=0.6)
    assert "mean pose of 1 labelled object" in page.joints.source_label.text()
    page.shutdown()


def test_a_custom_schema_with_nothing_labelled_gets_a_circle(qtbot, make_project, tmp_path):
    project = make_project("pose", classes=("animal",), keypoints=CUSTOM)
    add_images(project, tmp_path)
    page = shown_page(qtbot, project, (1000, 700))
    drag(qtbot, page, (100, 100), (200, 200))
    joints = joints_px(page.document.annotations[0])
    for (x, y, _), (u, v) in zip(joints, circle_layout(4), strict=True):
        assert (x, y) == pytest.approx((100 + 100 * u, 100 + 100 * v), abs=0.6)
    assert joints[0][1] < joints[2][1]  # the first joint on top
    assert "circle" in page.joints.source_label.text()
    page.shutdown()


def test_built_in_templates_have_a_layout_inside_their_frame():
    assert set(TEMPLATES.values()) == {COCO_PERSON, HAND, FACE}
    assert len(HAND.names) == 21 and HAND.names[0] == "wrist"
    assert HAND.names[4] == "thumb_tip" and HAND.names[20] == "pinky_tip"
    assert FACE.flip_pairs == [("left_eye", "right_eye"),
                               ("left_mouth_corner", "right_mouth_corner")]
    for schema in TEMPLATES.values():
        layout = builtin_layout(schema)
        assert len(layout) == len(schema.names)
        assert all(0 <= u <= 1 and 0 <= v <= 1 for u, v in layout)
        assert len(set(layout)) == len(layout)  # no two joints on one spot
        pairs = [(i, j) for i, j in enumerate(schema.flip_idx) if i != j]
        for i, j in pairs:  # left/right pairs mirror about the middle
            assert layout[i][0] + layout[j][0] == pytest.approx(1.0, abs=0.02)
            assert layout[i][1] == pytest.approx(layout[j][1], abs=0.02)
    assert builtin_layout(CUSTOM) is None


def test_mean_layout_skips_unusable_rows_and_reads_two_value_keypoints():
    assert mean_layout([], 2) is None
    assert mean_layout([([0.5, 0.5, 0.0, 0.2], [0.5, 0.5, 2, 0.5, 0.5, 2])], 2) is None
    layout, used = mean_layout([([0.5, 0.5, 0.2, 0.2], [0.4, 0.4, 0.6, 0.6]),
                                ([0.5, 0.5, 0.2, 0.2], [0.5, 0.5, 2, 0, 0, 0])], 2)
    assert used == 2
    assert [value for point in layout for value in point] == pytest.approx([0.25, 0.25, 1, 1])


def test_labelled_poses_leave_out_drafts_deleted_and_skipped_images(make_project, tmp_path):
    from studio.state.models import utc_now

    project = make_project("pose", classes=("animal",), keypoints=CUSTOM)
    box, points = [0.5, 0.5, 0.2, 0.2], [0.5, 0.5, 2] * 4
    rows = [Annotation(kind="pose", class_index=0, position=0, box=box, keypoints=points),
            Annotation(kind="pose", class_index=0, position=1, box=box, keypoints=points,
                       draft=True),
            Annotation(kind="pose", class_index=0, position=2, box=box, keypoints=points,
                       deleted_at=utc_now())]
    add_images(project, tmp_path, rows=rows)
    assert labelled_poses(project.database) == [(box, points)]
    assert labelled_poses(project.database, skip_images=[1]) == []


def test_the_mean_pose_learns_from_objects_labelled_in_this_session(qtbot, make_project,
                                                                    tmp_path):
    project = make_project("pose", classes=("animal",), keypoints=CUSTOM)
    add_images(project, tmp_path)
    page = shown_page(qtbot, project, (1000, 700))
    qtbot.waitUntil(page.isActiveWindow, timeout=3000)
    drag(qtbot, page, (100, 100), (200, 200))  # a circle: the tail (4th) at the left middle
    tail = joints_px(page.document.annotations[0])[3]
    drag(qtbot, page, tail[:2], (180, 190))  # the tail goes to the bottom right
    qtbot.keyClick(page.canvas, Qt.Key.Key_D)  # the next image (the edit not saved yet)
    assert page.current_image_id == page.image_ids[1]
    drag(qtbot, page, (200, 50), (300, 250))
    joints = joints_px(page.document.annotations[0])
    assert joints[3][:2] == pytest.approx((200 + 0.8 * 100, 50 + 0.9 * 200), abs=0.6)
    assert joints[0][:2] == pytest.approx((250, 50 + 0.1 * 200), abs=0.6)  # as on the circle
    assert page.joints.source_label.text() == "Template: the mean pose of 1 labelled object"
    page.shutdown()


def test_next_image_while_placing_then_a_new_box_there(qtbot, page):
    """Bug: D while placing a joint left the name tag at the cursor in the old image's scene,
    which the canvas then cleared; the next mouse move removed the deleted tag: a crash."""
    page.joints.template_box.click()  # click each joint in order
    drag(qtbot, page, *BOX)
    QTest.mouseMove(page.canvas.viewport(), at(page, 150, 60))  # "1 · nose" at the cursor
    assert page.canvas.tool.placing
    qtbot.keyClick(page.canvas, Qt.Key.Key_D)
    assert page.current_image_id == page.image_ids[1]
    drag(qtbot, page, (50, 50), (150, 250))
    assert len(page.document.annotations) == 1


def test_after_a_joint_drag_the_next_drag_draws_a_box(qtbot, page):
    """A joint dragged into place is not then "selected for placing": the next drag on the
    image is the next object's box, not that joint moved again."""
    drag(qtbot, page, *BOX)
    nose = joints_px(page.document.annotations[0])[0]
    drag(qtbot, page, nose[:2], (165, 70))
    assert not page.canvas.tool.placing
    drag(qtbot, page, (250, 40), (370, 280))
    assert len(page.document.annotations) == 2
    assert joints_px(page.document.annotations[0])[0][:2] == pytest.approx((165, 70), abs=0.6)
