"""The Annotate page's assists on a segment project, driven with real keys and mouse events:
box → polygon (B), the magic wand (W), refinement clicks, and edge snapping (S) in the
polygon tool. The outlines come from the real OpenCV assists on a generated image."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select

from engine.assist import classical
from studio.state import Annotation, Image
from studio.ui.app_settings import app_settings
from tests.studio.ui.annotate_helpers import at, click, drag, shown_page

WIDTH, HEIGHT = 480, 320
BACKGROUND = (90, 90, 90)
CIRCLE_A = ((90, 100), 45, (40, 120, 220))  # centre, radius, BGR: orange
BAR_B = ((130, 85), (220, 115), (90, 200, 60))  # attached to A's right side: green
SQUARE_C = ((260, 40), (360, 140), (200, 90, 40))  # blue
CIRCLE_D = ((130, 240), 55, (160, 40, 150))  # purple
SQUARE_E = ((370, 170), (470, 290), (60, 60, 200))  # red, split by a 2-px dark seam at x 420
TIMEOUT = 15000  # ms: GrabCut on a 2-core machine shared with others


def shapes_image() -> np.ndarray:
    """A grey image (with a little sensor noise) holding the four filled shapes."""
    rng = np.random.default_rng(0)
    image = np.full((HEIGHT, WIDTH, 3), BACKGROUND, np.uint8)
    noise = rng.integers(-4, 5, image.shape)
    (ax, ay), ar, acolor = CIRCLE_A
    cv2.circle(image, (ax, ay), ar, acolor, -1)
    cv2.rectangle(image, BAR_B[0], BAR_B[1], BAR_B[2], -1)
    cv2.rectangle(image, SQUARE_C[0], SQUARE_C[1], SQUARE_C[2], -1)
    (dx, dy), dr, dcolor = CIRCLE_D
    cv2.circle(image, (dx, dy), dr, dcolor, -1)
    cv2.rectangle(image, SQUARE_E[0], SQUARE_E[1], SQUARE_E[2], -1)
    image[170:291, 420:422] = (30, 30, 30)
    return np.clip(image.astype(int) + noise, 0, 255).astype(np.uint8)


def mask_of(shape: str) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    if shape == "square":
        cv2.rectangle(mask, SQUARE_C[0], SQUARE_C[1], 1, -1)
    elif shape == "circle_a":
        cv2.circle(mask, CIRCLE_A[0], CIRCLE_A[1], 1, -1)
    elif shape == "circle_d":
        cv2.circle(mask, CIRCLE_D[0], CIRCLE_D[1], 1, -1)
    elif shape == "square_e":
        cv2.rectangle(mask, SQUARE_E[0], SQUARE_E[1], 1, -1)
    return mask


def polygon_px(data) -> np.ndarray:
    values = np.asarray(data.polygon, np.float64).reshape(-1, 2)
    return values * (WIDTH, HEIGHT)


def polygon_mask(data) -> np.ndarray:
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.fillPoly(mask, [np.round(polygon_px(data)).astype(np.int32).reshape(-1, 1, 2)], 1)
    return mask


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def rows(project, image_id):
    with project.database.session() as session:
        return list(session.scalars(select(Annotation).where(
            Annotation.image_id == image_id, Annotation.deleted_at.is_(None))))


@pytest.fixture
def page(qtbot, make_project, tmp_path):
    project = make_project("segment", classes=("thing", "other"))
    path = tmp_path / "shapes.png"
    cv2.imwrite(str(path), shapes_image())
    with project.database.session() as session:
        session.add(Image(path=str(path), width=WIDTH, height=HEIGHT))
    widget = shown_page(qtbot, project, (1000, 700))
    yield widget
    widget.close_page()


def key(qtbot, page, name, modifier=Qt.KeyboardModifier.NoModifier):
    qtbot.keyClick(page.canvas, name, modifier)


def wait_count(qtbot, page, count):
    qtbot.waitUntil(lambda: len(page.document.annotations) == count, timeout=TIMEOUT)


def wait_changed(qtbot, page, before):
    qtbot.waitUntil(lambda: page.document.annotations[0] != before, timeout=TIMEOUT)
    return page.document.annotations[0]


def test_b_and_a_dragged_box_give_the_shapes_outline_on_a_worker_and_ctrl_z_removes_it(
        qtbot, page, monkeypatch):
    threads = []
    real = classical.box_to_polygon

    def recorded(*args, **kwargs):  # the real GrabCut; only where it ran is noted
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(classical, "box_to_polygon", recorded)
    key(qtbot, page, Qt.Key.Key_2)  # the class "other"
    key(qtbot, page, Qt.Key.Key_B)
    assert page.canvas.tool is page.tools["box_polygon"]
    assert page.tool_buttons["box_polygon"].isChecked()
    drag(qtbot, page, (245, 25), (375, 155))
    if not page.document.annotations:  # still outlining: the user sees so
        assert page.canvas.viewport().cursor().shape() == Qt.CursorShape.BusyCursor
        assert page.hint_label.text() == "Outlining…"
    wait_count(qtbot, page, 1)
    assert threads and threads[0] is not threading.main_thread()
    assert page.canvas.viewport().cursor().shape() != Qt.CursorShape.BusyCursor
    result = page.document.annotations[0]
    assert result.kind == "polygon" and result.class_index == 1
    assert iou(polygon_mask(result), mask_of("square")) >= 0.8
    assert page.canvas.selected_key == result.key
    assert not page.assists.worker.busy
    image_id = page.current_image_id
    qtbot.waitUntil(lambda: len(rows(page.project, image_id)) == 1, timeout=TIMEOUT)
    key(qtbot, page, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert page.document.annotations == []
    qtbot.waitUntil(lambda: rows(page.project, image_id) == [], timeout=TIMEOUT)


def test_w_click_makes_a_region_with_the_sliders_tolerance_which_is_remembered(qtbot, page,
                                                                               make_project):
    slider = page.panel.assist.tolerance
    assert slider.value() == 32 and "32" in page.panel.assist.tolerance_label.text()
    slider.setValue(40)
    assert int(app_settings().value("annotate/wand_tolerance")) == 40
    key(qtbot, page, Qt.Key.Key_W)
    assert page.canvas.tool is page.tools["wand"]
    click(qtbot, page, 80, 100)
    wait_count(qtbot, page, 1)
    result = page.document.annotations[0]
    assert result.kind == "polygon" and result.class_index == 0
    assert iou(polygon_mask(result), mask_of("circle_a")) >= 0.8
    key(qtbot, page, Qt.Key.Key_Return)  # ends refining: the next click is a new region
    assert page.tools["wand"].refining is None
    click(qtbot, page, 130, 240)
    wait_count(qtbot, page, 2)
    assert iou(polygon_mask(page.document.annotations[1]), mask_of("circle_d")) >= 0.8
    other = shown_page(qtbot, make_project("segment"))  # a new page reads the setting
    assert other.panel.assist.tolerance.value() == 40
    other.close_page()


def test_a_positive_click_adds_the_missed_part_and_ctrl_z_takes_the_refinement_back(
        qtbot, page):
    page.panel.assist.tolerance.setValue(20)
    key(qtbot, page, Qt.Key.Key_W)
    click(qtbot, page, 395, 230)  # the seam stops the wand: the left half only
    wait_count(qtbot, page, 1)
    first = page.document.annotations[0]
    area = polygon_mask(first).sum()
    assert area < 0.6 * mask_of("square_e").sum()
    click(qtbot, page, 445, 230)  # the right half: this is the object too
    refined = wait_changed(qtbot, page, first)
    assert refined.key == first.key and len(page.document.annotations) == 1
    assert polygon_mask(refined).sum() > area + 4000  # the right half is 49 × 121 pixels
    assert iou(polygon_mask(refined), mask_of("square_e")) >= 0.9
    key(qtbot, page, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert page.document.annotations == [first]  # the refinement was one more edit


@pytest.mark.parametrize("how", ["right", "shift", "alt"])
def test_a_negative_click_cuts_the_part_under_it(qtbot, page, monkeypatch, how):
    calls = []
    real = classical.refine

    def recorded(image, previous, positive=(), negative=(), **kwargs):  # the real refine
        calls.append((np.asarray(positive).reshape(-1, 2), np.asarray(negative).reshape(-1, 2)))
        return real(image, previous, positive=positive, negative=negative, **kwargs)

    monkeypatch.setattr(classical, "refine", recorded)
    key(qtbot, page, Qt.Key.Key_B)
    drag(qtbot, page, (35, 45), (235, 155))  # around the circle and the bar it touches
    wait_count(qtbot, page, 1)
    first = page.document.annotations[0]
    area = polygon_mask(first).sum()
    assert area > mask_of("circle_a").sum() + 1000  # the bar is in the outline
    viewport, point = page.canvas.viewport(), (190, 100)
    if how == "right":
        qtbot.mouseClick(viewport, Qt.MouseButton.RightButton, pos=at(page, *point))
    else:
        modifier = {"shift": Qt.KeyboardModifier.ShiftModifier,
                    "alt": Qt.KeyboardModifier.AltModifier}[how]
        click(qtbot, page, *point, modifier)
    refined = wait_changed(qtbot, page, first)
    positive, negative = calls[0]
    assert len(positive) == 0 and np.allclose(negative, [point], atol=1.0)
    assert polygon_mask(refined).sum() < area - 1000  # the bar is cut
    assert iou(polygon_mask(refined), mask_of("circle_a")) >= 0.8
    key(qtbot, page, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert page.document.annotations == [first]


def test_snapping_on_makes_the_new_edges_follow_the_drawn_edge(qtbot, page):
    (cx, cy), radius, _ = CIRCLE_D
    key(qtbot, page, Qt.Key.Key_P)
    key(qtbot, page, Qt.Key.Key_S)
    assert page.assists.snapper.enabled and page.panel.assist.snap.isChecked()
    assert str(app_settings().value("annotate/edge_snapping")).lower() == "true"
    tool, viewport = page.tools["polygon"], page.canvas.viewport()
    corners = [(cx + radius, cy), (cx, cy + radius), (cx - radius, cy), (cx, cy - radius)]
    click(qtbot, page, *corners[0])
    for point in [*corners[1:], corners[0]]:
        qtbot.mouseMove(viewport, at(page, *point))  # the live preview follows the edge
        qtbot.waitUntil(lambda p=point: tool._snapped is not None
                        and abs(tool._snapped[1][0] - p[0]) < 1.5
                        and abs(tool._snapped[1][1] - p[1]) < 1.5, timeout=TIMEOUT)
        click(qtbot, page, *point)
    wait_count(qtbot, page, 1)
    points = polygon_px(page.document.annotations[0])
    assert len(points) > 8  # four clicks, each edge a path of several vertices
    distances = np.hypot(points[:, 0] - cx, points[:, 1] - cy)
    off = np.abs(distances - radius)  # the circle's edge is a band of pixels: a pixel or two
    assert np.all(off <= 3.5) and np.median(off) <= 1.5  # every vertex on it
    assert iou(polygon_mask(page.document.annotations[0]), mask_of("circle_d")) >= 0.9


def test_snapping_off_keeps_straight_edges_and_a_click_before_the_preview_still_snaps(
        qtbot, page):
    (cx, cy), radius, _ = CIRCLE_D
    corners = [(cx + radius, cy), (cx, cy + radius), (cx - radius, cy), (cx, cy - radius)]
    key(qtbot, page, Qt.Key.Key_P)
    for point in corners:
        click(qtbot, page, *point)
    key(qtbot, page, Qt.Key.Key_Return)
    assert len(polygon_px(page.document.annotations[0])) == 4  # snapping is off by default
    key(qtbot, page, Qt.Key.Key_S)
    tool = page.tools["polygon"]
    for point in corners[:2]:  # no mouse move: the edge's path comes after the click
        click(qtbot, page, *point)
    qtbot.waitUntil(lambda: len(tool.points) > 2, timeout=TIMEOUT)
    distances = np.hypot(*(np.asarray(tool.points) - (cx, cy)).T)
    assert np.all(np.abs(distances - radius) <= 3.5)
    key(qtbot, page, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # the whole edge
    assert tool.points == [pytest.approx(corners[0], abs=0.5)] and tool.anchors == [0]


def test_the_f1_list_and_the_tool_buttons_say_what_each_assist_does_and_its_key(qtbot, page):
    rows = dict(page.shortcuts())
    assert "Outline" in rows["B"] and "box" in rows["B"]
    assert "wand" in rows["W"].lower()
    assert "snapping" in rows["S"].lower()
    assert any("right-click" in key.lower() and "cut" in text for key, text in rows.items())
    for name, letter in (("box_polygon", "B"), ("wand", "W"), ("polygon", "P")):
        button = page.tool_buttons[name]
        assert f"({letter})" in button.text() and button.toolTip()
    qtbot.mouseClick(page.tool_buttons["wand"], Qt.MouseButton.LeftButton)
    assert page.canvas.tool is page.tools["wand"]
    qtbot.mouseClick(page.panel.assist.snap, Qt.MouseButton.LeftButton)
    assert page.assists.snapper.enabled
