"""The Annotate page on a classify project: number keys and buttons assign, then advance."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PySide6.QtCore import Qt
from sqlalchemy import select

from studio.state import Annotation, Image
from tests.studio.ui.annotate_helpers import shown_page


@pytest.fixture
def page(qtbot, make_project, tmp_path):
    project = make_project("classify", classes=("cat", "dog", "bird"))
    with project.database.session() as session:
        for index in range(4):
            path = tmp_path / f"photo_{index}.jpg"
            cv2.imwrite(str(path), np.full((48, 64, 3), 60 * index, np.uint8))
            session.add(Image(path=str(path), width=64, height=48))
    widget = shown_page(qtbot, project, (800, 500))
    yield widget
    widget.shutdown()


def labels(project):
    with project.database.session() as session:
        rows = session.scalars(select(Annotation).where(Annotation.deleted_at.is_(None)))
        return {row.image_id: (row.kind, row.class_index) for row in rows}


def test_number_keys_assign_the_class_and_advance(qtbot, page):
    ids = page.image_ids
    qtbot.keyClick(page.canvas, Qt.Key.Key_2)
    assert page.current_image_id == ids[1]
    qtbot.keyClick(page.canvas, Qt.Key.Key_3)
    assert page.current_image_id == ids[2]
    qtbot.keyClick(page.canvas, Qt.Key.Key_9)  # no ninth class: nothing happens
    assert page.current_image_id == ids[2]
    page.panel.classes.buttons[0].click()
    assert page.current_image_id == ids[3]
    qtbot.waitUntil(lambda: len(labels(page.project)) == 3, timeout=1000)
    assert labels(page.project) == {ids[0]: ("class", 1), ids[1]: ("class", 2),
                                    ids[2]: ("class", 0)}


def test_reassigning_replaces_the_class_and_auto_advance_can_be_off(qtbot, page):
    page.advance_box.setChecked(False)
    first = page.current_image_id
    qtbot.keyClick(page.canvas, Qt.Key.Key_1)
    qtbot.keyClick(page.canvas, Qt.Key.Key_3)
    assert page.current_image_id == first
    assert [(a.kind, a.class_index) for a in page.document.annotations] == [("class", 2)]
    assert page.panel.classes.buttons[2].isChecked()
    assert page.flush()
    qtbot.waitUntil(lambda: labels(page.project) == {first: ("class", 2)}, timeout=1000)
    qtbot.keyClick(page.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert page.document.annotations[0].class_index == 0
    keys = dict(page.shortcuts())
    assert keys["1–9"].startswith("Assign")
    assert "P" not in keys
