"""Issue 17 on the real main window: Evaluate opens on the final validation that training
computed (after a run ends, and after the project is opened again), an evaluation run on the
page is kept too; a classify project sees no thresholds, layers or Top-5 with 3 classes; the
side-by-side panes of Predict are captioned.

Set ISSUE17_SHOTS to a folder to keep the screenshots (1280 × 720, light and dark)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QPushButton, QWidget

from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.export.decisive import make_decisive
from engine.nn import build_model
from studio.services.evaluation_files import latest_evaluation_path
from studio.services.importers import import_dataset
from studio.services.keypoint_schemas import KeypointSchema
from studio.services.projects import create_project
from studio.services.runs import list_runs

from .test_predict_page import count_pixels
from .test_window_issue16 import (
    click_rail,
    open_in,
    project_with_images,
    show_active,
    type_key,
)

WAIT_MS = 120_000
COLOURS = {"red": (40, 40, 220), "green": (40, 200, 40), "blue": (220, 60, 40)}  # BGR


def colour_project(tmp_path: Path) -> Path:
    """A closed classify project with 3 classes: coloured discs on dark noise, 6 train and 2
    val images per class."""
    rng = np.random.default_rng(0)
    data = tmp_path / "colours"
    for split, count in (("train", 6), ("val", 2)):
        for name, colour in COLOURS.items():
            target = data / split / name
            target.mkdir(parents=True)
            for index in range(count):
                # dark noise: nothing in it looks like the light caption text
                image = rng.integers(30, 130, (64, 64, 3), dtype=np.uint8)
                cv2.circle(image, (32, 32), 18, colour, -1)
                cv2.imwrite(str(target / f"{name}_{index}.png"), image)
    folder = tmp_path / "colour_project"
    project = create_project(folder, name="Colours", task="classify", classes=[])
    try:
        import_dataset(project, data)
    finally:
        project.close()
    return folder


def shoot(window, name: str) -> None:
    """Keep a screenshot of the window when ISSUE17_SHOTS names a folder."""
    folder = os.environ.get("ISSUE17_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        QApplication.processEvents()
        window.grab().save(str(Path(folder) / f"{name}.png"))


def headers(table) -> list[str]:
    return [table.horizontalHeaderItem(i).text() for i in range(table.columnCount())]


def click_cell(page, row: int, column: int) -> None:
    """A real click on cell (row, column) of the confusion matrix."""
    view = page.confusion.plot
    scene = view.getViewBox().mapViewToScene(QPointF(column + 0.5, row + 0.5))
    QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, view.mapFromScene(scene))
    QApplication.processEvents()


def train_from_the_page(window, qtbot) -> str:
    """A tiny run started with a click on the Train page's Start; returns its name."""
    click_rail(window, "Train")
    page = window.pages["Train"]
    page.form.epochs.setValue(1)
    page.form.imgsz.setValue(32)
    page.form.batch.setValue(4)
    page.form.advanced.set_value("plots", False)
    page.form.advanced.set_value("workers", 0)
    qtbot.waitUntil(page.start_button.isEnabled, timeout=10000)
    with qtbot.waitSignal(page.trainingEnded, timeout=WAIT_MS) as ended:
        QTest.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    _run_id, status, message = ended.args
    assert status == "completed", message
    return list_runs(window.project)[0].name


def test_evaluate_opens_on_the_final_validation_and_keeps_its_own(window, qtbot, tmp_path):
    show_active(window, qtbot)
    folder = colour_project(tmp_path)
    open_in(window, qtbot, folder)
    click_rail(window, "Evaluate")
    page = window.pages["Evaluate"]
    assert page.stack.currentIndex() == 0  # nothing trained yet: the empty state

    run_name = train_from_the_page(window, qtbot)
    click_rail(window, "Evaluate")
    page = window.pages["Evaluate"]
    # the run's final validation is shown without pressing Evaluate
    assert page.job is None and page.stack.currentIndex() == 1
    assert page.result.source == "final validation of training"
    label = page.source_label.text()
    assert run_name in label and "final validation of training" in label and "best.pt" in label
    assert headers(page.table) == ["Class", "Images", "Top-1"]  # 3 classes: no Top-5
    names = [c.name for c in window.project.classes()]
    assert [page.table.item(r, 0).text() for r in range(4)] == ["all", *names]
    assert sorted(names) == ["blue", "green", "red"]
    assert page.table.item(0, 1).text() == "6"  # the 6 val images
    assert page.result.confusion.sum() == 6 and page.curves.items  # matrix and curves drawn
    click_cell(page, 0, 0)
    assert "press Evaluate" in page.strip.title.text() and page.strip.list.count() == 0
    shoot(window, "evaluate_final_validation_light")

    # after a restart (the project opened again) the same result is there
    window.close_project()
    open_in(window, qtbot, folder)
    click_rail(window, "Evaluate")
    page = window.pages["Evaluate"]
    assert page.stack.currentIndex() == 1 and run_name in page.source_label.text()
    assert page.result.source == "final validation of training"

    # F5 evaluates again; that result is kept and shown after the next opening
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    table = page.table.viewport()
    QTest.mouseClick(table, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     page.table.visualItemRect(page.table.item(1, 1)).center())
    type_key(qtbot, Qt.Key.Key_F5)  # from the table the user clicked
    assert page.job is not None
    with qtbot.waitSignal(page.job.ended, timeout=WAIT_MS):
        pass
    assert page.result.source == "evaluated", page.status.text()
    assert latest_evaluation_path(window.project).is_file()
    assert "evaluated on the val split" in page.source_label.text()
    window.close_project()
    open_in(window, qtbot, folder)
    click_rail(window, "Evaluate")
    page = window.pages["Evaluate"]
    assert page.result.source == "evaluated" and page.result.has_outcomes
    rows, columns = page.result.confusion.nonzero()
    click_cell(page, int(rows[0]), int(columns[0]))
    assert page.strip.list.count() == page.result.confusion[rows[0], columns[0]]
    window.set_theme("dark")
    shoot(window, "evaluate_evaluated_dark")


def test_a_broken_saved_result_is_a_message_not_a_crash(window, qtbot, tmp_path):
    folder = colour_project(tmp_path)
    saved = folder / "evaluations" / "latest.json"
    saved.parent.mkdir()
    saved.write_text('{"format": "yolo-studio-evaluation", "version": 1, "task": ')  # cut
    show_active(window, qtbot)
    open_in(window, qtbot, folder)
    click_rail(window, "Evaluate")
    page = window.pages["Evaluate"]
    assert page.stack.currentIndex() == 0  # the empty state, usable
    text = page.status.text()
    assert "latest.json" in text and "cannot be read" in text and "press Evaluate" in text


def _checkpoint(path: Path, config: str, classes: int, **kw) -> Path:
    model = make_decisive(build_model(config, num_classes=classes, **kw))
    return save_checkpoint(path, checkpoint_dict(model, train_args={"imgsz": 64}))


def _visible(widget: QWidget) -> bool:
    return widget.isVisibleTo(widget.window())


def test_a_classify_project_shows_no_thresholds_layers_or_top5(window, qtbot, tmp_path):
    show_active(window, qtbot)
    open_in(window, qtbot, colour_project(tmp_path))
    click_rail(window, "Predict")
    controls = window.pages["Predict"].controls
    for widget in (controls.conf, controls.iou, controls.opacity, controls.show_boxes,
                   controls.show_masks, controls.show_keypoints, controls.mark_errors,
                   controls.prelabel_conf):
        assert not _visible(widget), widget
    assert _visible(controls.mode) and _visible(controls.run_button)
    window.set_theme("light")
    shoot(window, "predict_classify_light")


@pytest.mark.parametrize("task", ["segment", "pose"])
def test_segment_has_no_keypoint_and_pose_no_mask_settings(window, qtbot, tmp_path, task):
    folder = project_with_images(tmp_path) if task == "segment" else tmp_path / "pose"
    if task == "pose":
        create_project(folder, name="Figures", task="pose", classes=["person"],
                       keypoints=KeypointSchema.build(["nose", "left_hand", "right_hand"],
                                                      [(0, 1), (0, 2)])).close()
    show_active(window, qtbot)
    open_in(window, qtbot, folder)
    click_rail(window, "Predict")
    controls = window.pages["Predict"].controls
    assert _visible(controls.conf) and _visible(controls.iou) and _visible(controls.show_boxes)
    assert _visible(controls.show_masks) == (task == "segment")
    assert _visible(controls.opacity) == (task == "segment")
    assert _visible(controls.show_keypoints) == (task == "pose")


def test_side_by_side_panes_are_captioned(window, qtbot, tmp_path):
    checkpoint = _checkpoint(tmp_path / "colours-cls.pt", "yolov8n-cls.yaml", 3)
    show_active(window, qtbot)
    open_in(window, qtbot, colour_project(tmp_path))
    click_rail(window, "Predict")
    page = window.pages["Predict"]
    page.set_model_path(checkpoint)
    page.set_source("project")
    QTest.mouseClick(page.controls.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.job is not None and not page.job.running, timeout=60000)
    qtbot.waitUntil(lambda: page.current == 0, timeout=10000)

    def caption_pixels() -> tuple[int, int]:
        """Caption-coloured pixels at the top centre of each half of the view (without
        captions, the ground-truth pane has nothing light there)."""
        image = page.view.grab().toImage()
        half = image.width() // 2
        return tuple(count_pixels(image.copy(start + half // 4, 0, half // 2, 30), "#e6e6e6",
                                  10) for start in (0, half))

    combo = page.controls.mode
    combo.setFocus()
    qtbot.keyClick(combo, Qt.Key.Key_End)  # the last mode: side by side
    assert page.view.options.mode == "side by side"
    left, right = caption_pixels()
    assert left > 20 and right > 20  # "Ground truth" | "Prediction · colours-cls.pt"
    assert page.view.options.prediction_title == "Prediction · colours-cls.pt"
    window.set_theme("dark")
    shoot(window, "predict_side_by_side_dark")


def test_the_classify_bars_say_top_5_only_with_more_than_5_classes():
    from studio.ui.predict.render import scores_title

    assert scores_title(3) == scores_title(5) == "Class scores"
    assert scores_title(6) == "Top 5 classes"


def test_the_file_dialogs_of_evaluate_and_predict_start_in_the_project(window, qtbot, tmp_path,
                                                                        monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    opened: list[tuple[str, str]] = []  # (caption, start folder); the user cancels each

    def open_file(_parent, caption, folder="", _filter="", *args, **kwargs):
        opened.append((caption, folder))
        return "", ""

    def open_folder(_parent, caption, folder="", *args, **kwargs):
        opened.append((caption, folder))
        return ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(open_file))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(open_folder))
    monkeypatch.chdir(tmp_path)  # the app's working folder is not where dialogs start
    show_active(window, qtbot)
    folder = colour_project(tmp_path)
    open_in(window, qtbot, folder)
    click_rail(window, "Evaluate")
    evaluate_page = window.pages["Evaluate"]
    for button in evaluate_page.findChildren(QPushButton):
        if button.text() in ("Choose file…", "Choose export folder…") and _visible(button):
            QTest.mouseClick(button, Qt.MouseButton.LeftButton)
    click_rail(window, "Predict")
    controls = window.pages["Predict"].controls
    for button in (controls.browse_model_file, controls.browse_model_folder,
                   controls.save_button):
        QTest.mouseClick(button, Qt.MouseButton.LeftButton)
    for kind in ("Folder", "Video file"):
        controls.source_kind.setCurrentText(kind)
        QTest.mouseClick(controls.browse_source, Qt.MouseButton.LeftButton)
    assert len(opened) == 7, opened
    assert all(Path(start) == folder.resolve() for _caption, start in opened), opened
