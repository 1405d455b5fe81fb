"""Issue 17, Train page, on the real main window driven by real key and mouse events: a
classify project shows no mask settings, a disabled Start says why, a run is renamed and
deleted from the list, the log and settings follow the selected run, and the optimizer line
shows the learning rate the trainer then uses."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QObject, QPoint, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit, QMessageBox, QWidget
from sqlalchemy import update

from engine.data.shape_samples import make_shapes_dataset
from studio.services.demo import demo_project
from studio.services.importers import import_dataset
from studio.services.projects import create_project, open_project
from studio.services.runs import finish_run, list_runs, record_epoch, save_run_log, start_run
from studio.services.training import IS_BEST
from studio.state.models import Annotation, utc_now
from studio.ui.main_window import PAGES, MainWindow

LEFT = Qt.MouseButton.LeftButton
NO_KEYS = Qt.KeyboardModifier.NoModifier


def shapes_folder(tmp_path: Path, *, labelled: bool = True) -> Path:
    folder = tmp_path / "proj"
    project = create_project(folder, name="Shapes", task="segment", classes=["circle"])
    try:
        import_dataset(project, make_shapes_dataset(tmp_path / "shapes", size=64, train=4,
                                                    val=2), "yolo-segment")
        if not labelled:
            with project.database.session() as session:
                session.execute(update(Annotation).values(deleted_at=utc_now()))
    finally:
        project.close()
    return folder


def add_runs(folder: Path) -> list[int]:
    """Two finished runs (folders, epochs, logs) recorded as the Train page records them."""
    project = open_project(folder)
    ids = []
    try:
        for name, imgsz, best in (("first", 64, 1), ("second", 96, 3)):
            run_folder = folder / "runs" / name
            run_folder.mkdir(parents=True)
            run_id = start_run(project, name=name, folder=run_folder, model="yolov8n-seg.yaml",
                               settings={"model": "yolov8n-seg.yaml", "epochs": 3,
                                         "imgsz": imgsz, "batch": 4})
            for epoch in (1, 2, 3):
                metrics = {"metrics/mAP50-95(M)": 0.1 * epoch, "train/box_loss": 1.0 / epoch}
                record_epoch(project, run_id, epoch,
                             {**metrics, **({IS_BEST: 1.0} if epoch == best else {})})
            finish_run(project, run_id, "completed")
            (run,) = [r for r in list_runs(project) if r.id == run_id]
            save_run_log(run, [f"10:00:0{epoch}\tinfo\tlog line of {name}" for epoch in (1, 2)])
            ids.append(run_id)
    finally:
        project.close()
    return ids


def open_train_page(window: MainWindow, qtbot, folder: Path):
    window.resize(1280, 720)
    window.show()
    window.activateWindow()
    window.open_folder(folder)
    qtbot.waitUntil(lambda: window.project is not None, timeout=30_000)
    item = window.rail.item(PAGES.index("Train"))
    QTest.mouseClick(window.rail.viewport(), LEFT, NO_KEYS,
                     window.rail.visualItemRect(item).center())
    page = window.pages["Train"]
    qtbot.waitUntil(page.isVisible)
    # the default starting weights may be the shipped ones, read off the GUI thread first
    qtbot.waitUntil(lambda: not page.form.model_source.listing(), timeout=30_000)
    return page


def click(widget: QWidget) -> None:
    QTest.mouseClick(widget, LEFT, NO_KEYS, widget.rect().center())
    QApplication.processEvents()


def click_run(page, run_id: int) -> None:
    """A click on the run's name in the list (right of its overlay check box)."""
    runs = page.run_list.list
    row = next(r for r in range(runs.count())
               if runs.item(r).data(Qt.ItemDataRole.UserRole) == run_id)
    rect = runs.visualItemRect(runs.item(row))
    QTest.mouseClick(runs.viewport(), LEFT, NO_KEYS, QPoint(rect.left() + rect.width() // 2,
                                                            rect.center().y()))
    QApplication.processEvents()


def type_into(qtbot, widget: QWidget, text: str) -> None:
    """Select what the field holds and type ``text`` (real key events)."""
    click(widget)
    qtbot.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(widget, text)
    QApplication.processEvents()


def test_a_classify_project_shows_no_mask_or_detection_settings(window, qtbot, tmp_path):
    page = open_train_page(window, qtbot, demo_project("classify", root=tmp_path))
    click(page.form.advanced_toggle)
    assert page.form.advanced.isVisible()
    for key in ("overlap_mask", "mask_ratio", "box", "dfl", "mosaic", "pose", "kobj"):
        assert page.form.findChild(QWidget, f"advanced_{key}") is None, key
    for key in ("dropout", "erasing", "lr0", "workers"):
        assert page.form.findChild(QWidget, f"advanced_{key}").isVisible(), key
    assert page.form.advanced.editors["workers"].text() == str(min(8, os.cpu_count() or 1))
    choice = page.form.optimizer_choice()  # auto's lr shown beside optimizer and lr0 too
    assert page.form.advanced.notes["lr0"].text() == f"not used: auto picks lr {choice.lr:.3g}"
    assert page.form.advanced.notes["optimizer"].isVisible()


def test_the_duration_estimate_follows_the_settings(window, qtbot, tmp_path):
    page = open_train_page(window, qtbot, shapes_folder(tmp_path))
    type_into(qtbot, page.form.epochs, "10")
    short = page.start_note.text()
    assert page.start_note.isVisible() and short.startswith("Duration: about ")
    assert "estimate" in short
    type_into(qtbot, page.form.epochs, "1000")
    assert page.start_note.text() != short and "Duration: about " in page.start_note.text()


class _Opened(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:  # noqa: A003 - QDesktopServices calls it by name
        self.urls.append(url)


def test_open_folder_opens_the_selected_runs_folder(window, qtbot, tmp_path):
    folder = shapes_folder(tmp_path)
    first, _second = add_runs(folder)
    page = open_train_page(window, qtbot, folder)
    opened = _Opened()
    QDesktopServices.setUrlHandler("file", opened, "open")  # instead of a file manager
    try:
        click_run(page, first)
        click(page.run_list.folder_button)
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [Path(url.toLocalFile()) for url in opened.urls] == [folder / "runs" / "first"]


def test_a_disabled_start_says_why(window, qtbot, tmp_path):
    page = open_train_page(window, qtbot, shapes_folder(tmp_path, labelled=False))
    reason = "Add polygons to at least one image in the train split"
    assert not page.start_button.isEnabled()
    assert reason in page.start_button.toolTip()
    assert page.start_note.isVisible() and reason in page.start_note.text()
    click(page.plots)  # the page has the keyboard: Ctrl+Enter says why instead of starting
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return,
                   Qt.KeyboardModifier.ControlModifier)
    assert not page.running and reason in page.banner.text() and page.banner.isVisible()
    click(page.form.advanced_toggle)  # a bad setting is named once labels are there
    type_into(qtbot, page.form.advanced.editors["lr0"], "-1")
    assert reason in page.start_note.text()  # the first thing to fix comes first


def test_a_run_is_renamed_and_deleted_from_the_list(window, qtbot, tmp_path):
    folder = shapes_folder(tmp_path)
    first, second = add_runs(folder)
    page = open_train_page(window, qtbot, folder)
    click_run(page, first)
    assert page.run_list.current_id() == first
    qtbot.keyClick(page.run_list.list, Qt.Key.Key_F2)
    qtbot.waitUntil(lambda: page.findChild(QInputDialog, "rename_run") is not None
                    and page.findChild(QInputDialog, "rename_run").isVisible())
    dialog = page.findChild(QInputDialog, "rename_run")
    field = dialog.findChild(QLineEdit)
    qtbot.keyClick(field, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(field, "circles v2")
    qtbot.keyClick(field, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "circles v2" in page.run_list.list.currentItem().text())
    assert {run.name for run in list_runs(window.project)} == {"circles v2", "second"}
    assert "circles v2" in page.title.text()

    click(page.run_list.delete_button)
    qtbot.waitUntil(lambda: page.findChild(QMessageBox, "delete_run") is not None)
    box = page.findChild(QMessageBox, "delete_run")
    assert "circles v2" in box.text()
    click(box.button(QMessageBox.StandardButton.Yes))
    qtbot.waitUntil(lambda: [r.id for r in list_runs(window.project)] == [second])
    assert (folder / ".trash" / "runs" / f"first-{first}").is_dir()
    assert not (folder / "runs" / "first").exists()
    assert page.run_list.list.count() == 1


def test_the_log_settings_and_best_mark_follow_the_selected_run(window, qtbot, tmp_path):
    folder = shapes_folder(tmp_path)
    first, second = add_runs(folder)
    page = open_train_page(window, qtbot, folder)
    click_run(page, first)
    assert "log line of first" in page.log.toPlainText()
    assert "log line of second" not in page.log.toPlainText()
    assert page.plots.best_run == first and page.plots.best_line.value() == 1
    tabs = page.details.tabBar()
    QTest.mouseClick(tabs, LEFT, NO_KEYS, tabs.tabRect(1).center())
    assert "imgsz: 64" in page.run_settings.toPlainText()
    click_run(page, second)
    assert "imgsz: 96" in page.run_settings.toPlainText()
    assert "log line of second" in page.log.toPlainText()
    assert "log line of first" not in page.log.toPlainText()
    assert page.plots.best_run == second and page.plots.best_line.value() == 3
    assert "second: epoch 3" in page.plots.best_text.toPlainText()
    click(page.use_settings)
    assert page.form.imgsz.value() == 96 and page.form.batch.value() == 4


def test_the_optimizer_line_shows_the_lr_the_trainer_uses(window, qtbot, tmp_path):
    page = open_train_page(window, qtbot, shapes_folder(tmp_path))
    form = page.form
    type_into(qtbot, form.epochs, "20000")  # 1 step an epoch: more than 10,000 iterations
    assert form.optimizer_note.text() == "auto → SGD, lr 0.01"
    type_into(qtbot, form.epochs, "1")
    type_into(qtbot, form.imgsz, "32")
    type_into(qtbot, form.batch, "2")
    choice = form.optimizer_choice()
    assert choice.name == "AdamW" and form.optimizer_note.text() == f"auto → AdamW, lr {choice.lr:.3g}"
    form.advanced.set_value("plots", False)  # faster; not what this test is about
    with qtbot.waitSignal(page.trainingEnded, timeout=120_000) as ended:
        click(page.start_button)
        assert not page.start_button.isEnabled()
        assert "A run is in progress" in page.start_note.text()
        qtbot.waitUntil(lambda: page.live_run is not None
                        and page.run_list.current_id() == page.live_run, timeout=60_000)
        assert not page.run_list.delete_button.isEnabled()  # never the run that trains
        assert "cannot be deleted" in page.run_list.delete_button.toolTip()
    assert ended.args[1] == "completed", page.log.toPlainText()
    assert f"AdamW(lr={choice.lr:g})" in page.log.toPlainText()
    (run,) = list_runs(window.project)
    args = (run.folder / "args.yaml").read_text()
    assert "optimizer: auto" in args
