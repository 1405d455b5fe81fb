"""The Predict page says which runtime ran the model (issue 21 item 1): a checkpoint runs on the
fast CPU path (OpenVINO, built once into the cache, in child processes) unless PyTorch is asked
for; Run is clicked as a user clicks it."""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import Qt

from studio.state import Image
from studio.ui.predict import PredictPage
from tests.conftest import OFFICIAL
from tests.studio.ui.test_predict_page import open_page

DIGITS = OFFICIAL / "yolov8n-cls-digits.pt"  # the reference's digits classifier, 32 px


def click_run(qtbot, page: PredictPage) -> None:
    qtbot.mouseClick(page.controls.run_button, Qt.MouseButton.LeftButton)
    assert page.job is not None
    with qtbot.waitSignal(page.job.ended, timeout=240_000):
        pass
    qtbot.waitUntil(lambda: page.last_run is not None, timeout=5000)


def test_the_predict_page_shows_which_runtime_ran(qtbot, make_project, tmp_path, monkeypatch):
    monkeypatch.delenv("YOLO_STUDIO_RUNTIME")  # the user's default: runtime=auto
    project = make_project("classify", classes=[str(i) for i in range(10)])
    path = tmp_path / "digit.png"
    cv2.imwrite(str(path), (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8))
    with project.database.session() as session:
        session.add(Image(path=str(path), width=32, height=32))
    page = open_page(qtbot, project)
    label = page.controls.runtime_label
    assert not label.isVisible()  # nothing ran yet
    page.set_model_path(DIGITS)
    page.set_source("project")
    click_run(qtbot, page)
    assert len(page.last_run.frames) == 1
    assert label.isVisible() and label.text() == "Ran on OpenVINO", page.controls.status.text()
    monkeypatch.setenv("YOLO_STUDIO_RUNTIME", "torch")  # the same model, PyTorch asked for
    page.last_run = None
    click_run(qtbot, page)
    assert label.text() == "Ran on PyTorch"
