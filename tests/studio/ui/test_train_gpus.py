"""Issue 22, Train page on the real main window: with several CUDA GPUs (torch's count
monkeypatched) the Device choice offers "All GPUs (N)" and "Choose GPUs…" (a dialog with a check
box per GPU, at least 2), stores "0,2" and shows "GPUs 0, 2"; with 0 or 1 GPU nothing changes.
Also the service side: the device check and the duration estimate of a run on several GPUs."""

from __future__ import annotations

import pytest
import torch
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QCheckBox, QComboBox, QDialogButtonBox

from engine.cancel import CancelToken
from studio.services.runs import finish_run, start_run
from studio.services.training import (
    STARTUP_SECONDS,
    TrainingData,
    TrainingError,
    TrainingFeed,
    TrainPlan,
    estimate_duration,
    run_training,
)
from studio.ui.main_window import MainWindow

from .test_train_window_issue17 import click, click_run, open_train_page, shapes_folder


@pytest.fixture
def gpus(monkeypatch):
    """``gpus(n)``: torch sees ``n`` CUDA GPUs named "Test GPU i" (none really run)."""

    def make(count: int) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: f"Test GPU {index}")

    return make


def items(combo: QComboBox) -> list[str]:
    return [combo.itemText(i) for i in range(combo.count())]


def listed(qtbot, page, count: int) -> QComboBox:
    """The device list once the page's probe (a thread) has filled it."""
    combo = page.form.device
    qtbot.waitUntil(lambda: combo.count() == count, timeout=30_000)
    return combo


def pick(qtbot, combo: QComboBox, text: str) -> None:
    """Move the (closed) list to ``text`` with the arrow keys, as a keyboard user does."""
    combo.setFocus()
    key = Qt.Key.Key_Down if combo.findText(text) > combo.currentIndex() else Qt.Key.Key_Up
    for _ in range(combo.count()):
        if combo.currentText() == text:
            return
        qtbot.keyClick(combo, key)
    assert combo.currentText() == text


def dialog_box(page, index: int) -> QCheckBox:
    return page.form.gpu_dialog.boxes[index]


def tick(box: QCheckBox) -> None:
    """A click on the box's square (a wide check box's middle may be past its text)."""
    QTest.mouseClick(box, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     QPoint(6, box.height() // 2))


def test_several_gpus_offer_all_of_them_and_a_choice(window: MainWindow, qtbot, tmp_path, gpus):
    gpus(3)
    page = open_train_page(window, qtbot, shapes_folder(tmp_path))
    combo = listed(qtbot, page, 6)
    assert items(combo) == ["CPU", "GPU 0: Test GPU 0", "GPU 1: Test GPU 1", "GPU 2: Test GPU 2",
                            "All GPUs (3)", "Choose GPUs…"]
    pick(qtbot, combo, "All GPUs (3)")
    assert page.form.plan().device == "0,1,2"

    pick(qtbot, combo, "Choose GPUs…")  # opens the dialog, all three checked (the choice so far)
    qtbot.waitUntil(lambda: page.form.gpu_dialog is not None and page.form.gpu_dialog.isVisible())
    dialog = page.form.gpu_dialog
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert [box.isChecked() for box in dialog.boxes.values()] == [True, True, True]
    tick(dialog_box(page, 1))
    assert ok.isEnabled()
    tick(dialog_box(page, 0))  # one GPU left: not a multi-GPU run
    assert not ok.isEnabled() and dialog.hint.isVisible()
    tick(dialog_box(page, 0))
    click(ok)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    assert combo.currentText() == "GPUs 0, 2"
    assert page.form.plan().device == "0,2"
    assert combo.itemText(combo.count() - 1) == "Choose GPUs…"  # still offered, last

    pick(qtbot, combo, "Choose GPUs…")  # Cancel keeps the choice as it was
    qtbot.waitUntil(lambda: page.form.gpu_dialog is not dialog and page.form.gpu_dialog.isVisible())
    assert [box.isChecked() for box in page.form.gpu_dialog.boxes.values()] == [True, False, True]
    click(page.form.gpu_dialog.buttons.button(QDialogButtonBox.StandardButton.Cancel))
    qtbot.waitUntil(lambda: not page.form.gpu_dialog.isVisible())
    assert combo.currentText() == "GPUs 0, 2" and page.form.plan().device == "0,2"


def test_a_run_on_chosen_gpus_is_restored_with_their_label(window, qtbot, tmp_path, gpus):
    gpus(3)
    folder = shapes_folder(tmp_path)
    from studio.services.projects import open_project

    project = open_project(folder)
    try:
        run_folder = folder / "runs" / "multi"
        run_folder.mkdir(parents=True)
        run_id = start_run(project, name="multi", folder=run_folder, model="yolov8n-seg.yaml",
                           settings={"model": "yolov8n-seg.yaml", "epochs": 3, "imgsz": 64,
                                     "batch": 4, "device": "0,2"})
        finish_run(project, run_id, "completed")
    finally:
        project.close()
    page = open_train_page(window, qtbot, folder)
    combo = listed(qtbot, page, 6)
    click_run(page, run_id)
    click(page.use_settings)
    assert combo.currentText() == "GPUs 0, 2" and page.form.plan().device == "0,2"


@pytest.mark.parametrize("count, expected", [(0, ["CPU"]), (1, ["CPU", "GPU 0: Test GPU 0"])])
def test_one_gpu_or_none_leaves_the_device_list_as_it_was(window, qtbot, tmp_path, gpus, count,
                                                          expected):
    gpus(count)
    page = open_train_page(window, qtbot, shapes_folder(tmp_path))
    combo = listed(qtbot, page, len(expected))
    QApplication.processEvents()
    assert items(combo) == expected
    page.form.set_device("0,1")  # a run of another machine: shown as it is, not as GPUs
    assert combo.currentText() == "0,1 (not found)"


def test_a_missing_gpu_of_several_is_named_before_the_run(shapes_project, gpus):
    gpus(2)
    plan = TrainPlan(model="yolov8n-seg.yaml", epochs=1, imgsz=32, batch=2, device="0,7",
                     overrides={"plots": False, "workers": 0})
    with pytest.raises(TrainingError) as error:
        run_training(shapes_project, plan, TrainingFeed(), lambda *a: None, CancelToken())
    assert "not available now" in str(error.value)
    assert "torch sees 2: 0 (Test GPU 0), 1 (Test GPU 1)" in str(error.value)


def test_the_rough_duration_divides_the_gpu_time_by_the_gpu_count():
    data = TrainingData(train_images=100, labelled_train_images=100, num_classes=2)

    def seconds(device: str) -> float:
        plan = TrainPlan(model="yolov8n-seg.yaml", epochs=10, imgsz=640, batch=16,
                         device=device, overrides={})
        return estimate_duration("segment", plan, data, []).seconds - STARTUP_SECONDS

    assert seconds("0,1") == pytest.approx(seconds("0") / 2)
    assert seconds("0,1,2,3") == pytest.approx(seconds("0") / 4)
    assert seconds("cpu") > seconds("0")
