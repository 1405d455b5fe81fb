"""The Model assist on the Annotate page, with real keys and mouse: segment — a click on an
object gives the model's mask there as a draft polygon; pose — a dragged box gives the model's
keypoints as a draft; Enter accepts a draft; without a trained run the tool is off and says why."""

from __future__ import annotations

import threading

import cv2
import numpy as np
from PySide6.QtCore import Qt
from sqlalchemy import select

from studio.services.model_assist import ModelAssist
from studio.state import Annotation, Image
from tests.studio.services.test_model_assist import (
    SCHEMA,
    image,
    inside_point,
    rasterise,
    reference_masks,
    trained_run,
)
from tests.studio.ui.annotate_helpers import click, drag, shown_page

WIDTH, HEIGHT = 128, 96
TIMEOUT = 30000  # ms: the first prediction loads the model on a 2-core machine


def add_image(project, path):
    with project.database.session() as session:
        session.add(Image(path=str(path), width=WIDTH, height=HEIGHT))


def rows(project):
    with project.database.session() as session:
        return [(row.kind, row.draft) for row in session.scalars(
            select(Annotation).where(Annotation.deleted_at.is_(None)))]


def focused_page(qtbot, project):
    page = shown_page(qtbot, project)
    qtbot.waitUntil(page.isActiveWindow, timeout=3000)
    page.canvas.setFocus()
    qtbot.waitUntil(page.canvas.hasFocus, timeout=3000)
    return page


def key(qtbot, page, name):
    qtbot.keyClick(page.canvas, name)


def test_a_click_on_an_object_gives_the_models_mask_as_a_draft_enter_accepts(
        qtbot, make_project, tmp_path, monkeypatch):
    runs = []
    real = ModelAssist._from_result

    def recorded(self, result):  # the real conversion; only where the model ran is noted
        runs.append(threading.current_thread())
        return real(self, result)

    monkeypatch.setattr(ModelAssist, "_from_result", recorded)
    project = make_project("segment")
    checkpoint = trained_run(project, tmp_path, "yolov8n-seg.yaml")
    path, second = image(tmp_path), image(tmp_path, seed=1)
    add_image(project, path)
    add_image(project, second)
    masks, _scores = reference_masks(checkpoint, path)
    page = focused_page(qtbot, project)
    try:
        button = page.tool_buttons["model"]
        assert button.isEnabled() and "train" in button.text()
        key(qtbot, page, Qt.Key.Key_M)
        assert page.canvas.tool is page.tools["model"] and button.isChecked()
        only_top = masks[0] & ~masks[1:].any(axis=0)
        x, y = inside_point(only_top)
        click(qtbot, page, x * WIDTH, y * HEIGHT)
        qtbot.waitUntil(lambda: len(page.document.annotations) == 1, timeout=TIMEOUT)
        draft = page.document.annotations[0]
        assert draft.draft and draft.kind == "polygon" and draft.score > 0
        _n, parts = cv2.connectedComponents(masks[0].astype(np.uint8))
        part = parts == parts[int(y * HEIGHT), int(x * WIDTH)]
        drawn = rasterise(draft.polygon, WIDTH, HEIGHT)
        assert (drawn & part).sum() / (drawn | part).sum() > 0.7
        assert "draft" in page.hint_label.text()
        # background: nothing added, and the page says so
        bx, by = inside_point(~masks.any(axis=0))
        click(qtbot, page, bx * WIDTH, by * HEIGHT)
        assert len(page.document.annotations) == 1
        assert "no object there" in page.hint_label.text()
        assert len(runs) == 1 and runs[0] is not threading.main_thread()  # once, on a Job
        # the draft is saved as one, and Enter accepts it as a pre-label draft is accepted
        qtbot.waitUntil(lambda: rows(project) == [("polygon", True)], timeout=TIMEOUT)
        key(qtbot, page, Qt.Key.Key_Return)
        assert page.document.annotations[0].draft is False
        qtbot.waitUntil(lambda: rows(project) == [("polygon", False)], timeout=TIMEOUT)
        key(qtbot, page, Qt.Key.Key_D)  # the next image is predicted before any click
        assert page.document.image.path == second
        qtbot.waitUntil(lambda: page.model_assist.service.cached(second) is not None,
                        timeout=TIMEOUT)
        assert len(runs) == 2
        key(qtbot, page, Qt.Key.Key_P)  # another tool unchecks the model's button
        assert not button.isChecked()
    finally:
        page.close_page()


def test_a_box_around_a_figure_gives_the_models_keypoints_as_a_draft(qtbot, make_project,
                                                                    tmp_path):
    project = make_project("pose", classes=("person", "dog"), keypoints=SCHEMA)
    checkpoint = trained_run(project, tmp_path, "yolov8n-pose.yaml", keypoint_shape=(4, 3))
    path = image(tmp_path)
    add_image(project, path)
    expected = ModelAssist(project, checkpoint).predict(path).boxes[0]
    page = focused_page(qtbot, project)
    try:
        key(qtbot, page, Qt.Key.Key_M)
        assert page.canvas.tool is page.tools["model"]
        x0, y0, x1, y1 = expected * (WIDTH, HEIGHT, WIDTH, HEIGHT)
        drag(qtbot, page, (x0 - 2, y0 - 2), (x1 + 2, y1 + 2))
        qtbot.waitUntil(lambda: len(page.document.annotations) == 1, timeout=TIMEOUT)
        draft = page.document.annotations[0]
        assert draft.draft and draft.kind == "pose" and len(draft.keypoints) == 12
        assert abs(draft.box[0] - (expected[0] + expected[2]) / 2) < 0.05
        key(qtbot, page, Qt.Key.Key_Return)
        assert page.document.annotations[0].draft is False
        qtbot.keyClick(page.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
        assert page.document.annotations[0].draft is True  # undo: a draft again
    finally:
        page.close_page()


def test_without_a_trained_run_the_model_assist_is_off_and_says_why(qtbot, make_project,
                                                                   tmp_path):
    project = make_project("segment")
    add_image(project, image(tmp_path))
    page = focused_page(qtbot, project)
    try:
        button = page.tool_buttons["model"]
        assert not button.isEnabled() and "Train page" in button.toolTip()
        before = page.canvas.tool
        key(qtbot, page, Qt.Key.Key_M)
        assert page.canvas.tool is before
        assert "No trained model yet" in page.hint_label.text()
    finally:
        page.close_page()


def test_a_run_of_another_task_turns_the_assist_off_with_the_models_message(
        qtbot, make_project, tmp_path):
    project = make_project("pose", classes=("person", "dog"), keypoints=SCHEMA)
    trained_run(project, tmp_path, "yolov8n-seg.yaml")  # a segment model in a pose project
    add_image(project, image(tmp_path))
    page = focused_page(qtbot, project)
    try:
        button = page.tool_buttons["model"]
        key(qtbot, page, Qt.Key.Key_M)
        qtbot.waitUntil(lambda: not button.isEnabled(), timeout=TIMEOUT)
        assert "segment model, but this is a pose project" in page.hint_label.text()
        assert "segment model" in button.toolTip()
        assert page.canvas.tool is page.tools["keypoints"]
        key(qtbot, page, Qt.Key.Key_M)  # asked again: the reason, no second load
        assert page.canvas.tool is page.tools["keypoints"]
        assert "cannot serve" in page.hint_label.text()
    finally:
        page.close_page()
