"""Pre-label from the Predict page, then review on the Annotate page: Enter accepts, Delete
rejects, editing accepts, and the review mode walks the most unsure image first."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt

from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.export.decisive import make_decisive
from engine.nn import build_model
from studio.services.annotations import load_annotations
from studio.services.prelabel import review_queue
from studio.state import Image
from studio.ui.annotate import AnnotatePage
from studio.ui.predict import PredictPage
from studio.workers.job import JobManager


def tiny(folder, config):
    torch.manual_seed(0)  # the layers make_decisive leaves as built: some seeds give empty masks
    model = make_decisive(build_model(config, num_classes=2))
    return save_checkpoint(folder / "model.pt", checkpoint_dict(model, train_args={"imgsz": 64}))


def setup(qtbot, make_project, tmp_path, task, config):
    project = make_project(task)
    with project.database.session() as session:
        for i in range(3):
            path = tmp_path / f"img_{i}.png"
            image = (np.random.default_rng(i).random((96, 128, 3)) * 255).astype(np.uint8)
            cv2.imwrite(str(path), image)
            session.add(Image(path=str(path), width=128, height=96))
    jobs = JobManager()
    predict = PredictPage(project, jobs)
    qtbot.addWidget(predict)
    predict.set_model_path(tiny(tmp_path, config))
    predict.controls.prelabel_conf.setValue(0.1)
    with qtbot.waitSignal(predict.draftsCreated, timeout=30000) as created:
        predict.prelabel()
    assert created.args[0] > 0
    annotate = AnnotatePage(project, jobs)
    qtbot.addWidget(annotate)
    annotate.resize(900, 600)
    annotate.show()
    qtbot.waitExposed(annotate)
    annotate.drafts_changed()
    annotate.activateWindow()
    qtbot.waitUntil(annotate.isActiveWindow, timeout=3000)
    annotate.canvas.setFocus()
    qtbot.waitUntil(annotate.canvas.hasFocus, timeout=3000)
    return project, annotate


def drafts(project, image_id):
    return [a for a in load_annotations(project.database, image_id) if a.draft]


def test_segment_drafts_accept_reject_edit(qtbot, make_project, tmp_path):
    project, page = setup(qtbot, make_project, tmp_path, "segment", "yolov8n-seg.yaml")
    try:
        page.drafts.button.setChecked(True)
        queue = review_queue(project)
        assert page.current_image_id == queue[0]
        assert page.position_label.text().startswith("Draft review 1 /")
        image_id = page.current_image_id
        before = drafts(project, image_id)
        first, second, third = page.document.annotations[:3]
        page.canvas.select(first.key)
        qtbot.keyClick(page.canvas, Qt.Key.Key_Return)          # accept
        page.canvas.select(second.key)
        qtbot.keyClick(page.canvas, Qt.Key.Key_Delete)          # reject
        page.canvas.select(third.key)
        qtbot.keyClick(page.canvas, Qt.Key.Key_2)               # an edit accepts it
        page.flush()
        rows = {a.id: a for a in load_annotations(project.database, image_id)}
        assert rows[first.id].draft is False and second.id not in rows
        assert rows[third.id].draft is False and rows[third.id].class_index == 1
        assert len(drafts(project, image_id)) == len(before) - 3
        qtbot.keyClick(page.canvas, Qt.Key.Key_Return)          # the rest at once
        page.flush()
        assert drafts(project, image_id) == []
        assert page.current_image_id == queue[1]                # Enter moved on (issue 16)
        assert any("Accept" in text for _key, text in page.shortcuts())
    finally:
        page.shutdown()


@pytest.mark.parametrize("key", [Qt.Key.Key_Return, Qt.Key.Key_Delete])
def test_classify_draft_keys(qtbot, make_project, tmp_path, key):
    project, page = setup(qtbot, make_project, tmp_path, "classify", "yolov8n-cls.yaml")
    try:
        image_id = page.current_image_id
        assert len(drafts(project, image_id)) == 1
        qtbot.keyClick(page.canvas, key)
        page.flush()
        live = load_annotations(project.database, image_id)
        assert drafts(project, image_id) == []
        assert len(live) == (1 if key == Qt.Key.Key_Return else 0)
    finally:
        page.shutdown()
