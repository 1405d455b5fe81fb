"""The main window: projects open in a job, the pages and the rail, import from the menu, one
clear dialog per failure, shortcuts, themes, remembered state, and quitting while work runs."""

from __future__ import annotations

import sys
import threading

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QDialog, QMessageBox

from engine.data.shape_samples import make_shapes_dataset
from studio.services.demo import demo_project
from studio.services.projects import create_project, open_project
from studio.ui import error_dialog
from studio.ui.app_settings import recent_projects
from studio.ui.import_dialog import ImportDialog
from studio.ui.main_window import PAGES, MainWindow
from studio.ui.new_project_wizard import NewProjectWizard
from studio.ui.shortcuts_dialog import ShortcutsDialog


def closed_project(tmp_path, task="segment", name="Shapes"):
    create_project(tmp_path / "proj", name=name, task=task, classes=["circle"]).close()
    return tmp_path / "proj"


def open_in(window, qtbot, folder):
    window.open_folder(folder)
    qtbot.waitUntil(lambda: window.project is not None, timeout=10000)


def test_without_a_project_the_welcome_page_offers_what_to_do(window):
    assert window.stack.currentWidget() is window.welcome
    labels = [button.text() for button in window.welcome.empty.buttons]
    assert labels == ["New project…", "Open project…", "Open the demo project"]
    assert not window.rail.isEnabled()
    assert not any(action.isEnabled() for action in window.project_actions)


def test_a_project_opens_in_a_job_with_every_page(window, qtbot, tmp_path):
    folder = closed_project(tmp_path)
    open_in(window, qtbot, folder)
    assert window.windowTitle() == "Shapes — YOLO Studio"
    assert list(window.pages) == list(PAGES) and window.rail.isEnabled()
    assert str(folder.resolve()) in recent_projects()
    assert "segment" in window.project_label.text()
    window.rail.setCurrentRow(PAGES.index("Annotate"))
    assert window.stack.currentWidget() is window.pages["Annotate"]
    assert window.context_dock.isVisible() or window.context_dock.widget() is not None
    for name in PAGES:
        window.rail.setCurrentRow(PAGES.index(name))
        assert window.stack.currentWidget() is window.pages[name]


def test_import_from_the_menu_runs_in_the_background_and_fills_the_pages(
        window, qtbot, tmp_path, monkeypatch):
    folder = closed_project(tmp_path)
    data = make_shapes_dataset(tmp_path / "shapes", size=64, train=3, val=2)
    open_in(window, qtbot, folder)
    monkeypatch.setattr(ImportDialog, "exec", lambda self: QDialog.DialogCode.Accepted)
    window.import_dataset(str(data))
    assert window.jobs.running and window.jobs_indicator.isVisibleTo(window)
    qtbot.waitUntil(lambda: not window.jobs.running, timeout=20000)
    qtbot.waitUntil(lambda: "5 images" in window.statusBar().currentMessage(), timeout=5000)
    assert [c.name for c in window.project.classes()][:1] == ["circle"]
    assert window.pages["Annotate"].image_ids  # the Annotate page reloaded its images


def test_a_project_open_elsewhere_gets_one_clear_dialog(window, qtbot, tmp_path):
    folder = closed_project(tmp_path)
    holder = open_project(folder)
    try:
        window.open_folder(folder)
        window.open_folder(folder)  # twice: still one dialog, counting the repeat
        qtbot.waitUntil(lambda: len(error_dialog.open_error_dialogs()) == 1
                        and "2 times" in error_dialog.open_error_dialogs()[0].informativeText(),
                        timeout=10000)
        (box,) = error_dialog.open_error_dialogs()
        assert "is open in another YOLO Studio" in box.text() and "process" in box.text()
        assert window.project is None
    finally:
        holder.close()


def test_an_unexpected_exception_becomes_a_dialog_with_details(window, qtbot):
    error_dialog.install_excepthook(lambda: window)
    try:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            sys.excepthook(*sys.exc_info())
    finally:
        sys.excepthook = sys.__excepthook__
    (box,) = error_dialog.open_error_dialogs()
    assert "boom" in box.text() and "saved as of your last edit" in box.text()
    assert "RuntimeError: boom" in box.detailedText()


def test_f1_lists_the_shortcuts_of_the_window_and_its_pages(window, qtbot, tmp_path,
                                                            monkeypatch):
    open_in(window, qtbot, closed_project(tmp_path))
    shown = []
    monkeypatch.setattr(ShortcutsDialog, "exec", lambda self: shown.append(self) or 0)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    qtbot.keyClick(window.focusWidget() or window, Qt.Key.Key_F1)
    (dialog,) = shown
    rows = [(dialog.table.item(r, 0).text(), dialog.table.item(r, 1).text())
            for r in range(dialog.table.rowCount())]
    assert ("Window", "Ctrl+N") in rows
    assert any(where == "Annotate" and "Ctrl+Z" in key for where, key in rows)


def test_the_last_page_and_the_window_layout_are_remembered(qtbot, tmp_path):
    folder = closed_project(tmp_path)
    first = MainWindow()
    qtbot.addWidget(first)
    open_in(first, qtbot, folder)
    first.rail.setCurrentRow(PAGES.index("Annotate"))
    first.resize(720, 540)  # inside the offscreen screen (800x600)
    first.close()
    assert first.project is None  # closing released the project
    second = MainWindow()
    qtbot.addWidget(second)
    assert (second.width(), second.height()) == (720, 540)
    open_in(second, qtbot, folder)
    assert second.rail.currentRow() == PAGES.index("Annotate")
    second.close()


def test_quitting_while_a_job_runs_asks_first(window, qtbot, monkeypatch):
    started = threading.Event()

    def work(_progress, cancel):
        started.set()
        while not cancel.cancelled:
            threading.Event().wait(0.01)

    job = window.jobs.start("Long work", work)
    started.wait(5)
    answers = [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes]
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: answers.pop(0))
    assert not window.close() and job.running  # "No": the window stays, the job runs
    assert window.close()  # "Yes": the job was stopped, then the window closed
    qtbot.waitUntil(lambda: not job.running, timeout=2000)


def test_themes_switch_the_palette(window):
    window.set_theme("dark")
    assert QApplication.instance().palette().color(QPalette.ColorRole.Window).lightness() < 60
    window.set_theme("light")
    assert QApplication.instance().palette().color(QPalette.ColorRole.Window).lightness() > 200


def test_the_demo_project_opens(qtbot, tmp_path):
    window = MainWindow(demo_provider=lambda task, progress, cancel: demo_project(
        task, root=tmp_path, progress=progress, cancel=cancel), demo_task="pose")
    qtbot.addWidget(window)
    window.open_demo()
    qtbot.waitUntil(lambda: window.project is not None, timeout=30000)
    assert window.project.task == "pose" and window.pages["Annotate"].image_ids
    assert window.project.keypoint_schema().names[:1] == ("head",)
    window.close()


def test_the_wizard_builds_a_pose_project_with_derived_flip_pairs(qtbot, tmp_path):
    wizard = NewProjectWizard(default_folder=tmp_path)
    qtbot.addWidget(wizard)
    wizard.basics.name.setText("Hands")
    wizard.basics.tasks.button(2).setChecked(True)
    wizard.keypoints.template.setCurrentText("Custom…")
    wizard.keypoints.names.setPlainText("wrist\nleft_thumb\nright_thumb")
    wizard.keypoints.edges.setText("0-1, 0-2")
    assert wizard.keypoints.flips.text() == "left_thumb ↔ right_thumb"
    values = wizard.values()
    assert values["task"] == "pose" and values["keypoints"].flip_idx == (0, 2, 1)
    wizard.keypoints.edges.setText("0-7")
    assert not wizard.keypoints.isComplete() and "edge" in wizard.keypoints.error.text()
    wizard.keypoints.template.setCurrentIndex(0)
    assert len(wizard.values()["keypoints"].names) == 17


def test_the_demo_project_suggests_a_training_of_about_a_minute(qtbot, tmp_path):
    from studio.ui.train.page import TrainPage
    from studio.workers import JobManager

    project = open_project(demo_project("classify", root=tmp_path))
    try:
        page = TrainPage(project, JobManager(), None)
        qtbot.addWidget(page)
        form = page.form
        assert (form.epochs.value(), form.imgsz.value(), form.batch.value()) == (10, 64, 16)
        page.close_page()
    finally:
        project.close()


def _demo_action(window, title):
    file_menu = window.menuBar().actions()[0].menu()
    demos = next(a.menu() for a in file_menu.actions() if a.text() == "Open a &Demo Project")
    return next(a for a in demos.actions() if a.text() == title)


def test_the_file_menu_opens_each_task_s_demo_and_the_open_one_stays(qtbot, tmp_path):
    from studio.services.keypoint_schemas import KeypointSchema

    create_project(tmp_path / "pose", name="Demo (pose)", task="pose", classes=["figure"],
                   keypoints=KeypointSchema.build(["head", "left_hand", "right_hand"],
                                                  [(0, 1), (0, 2)])).close()
    asked = []

    def provider(task, progress, cancel):
        asked.append(task)
        if task == "pose":  # a stand-in: building the real one takes a while
            return tmp_path / "pose"
        return demo_project(task, root=tmp_path / "demos", progress=progress, cancel=cancel)

    window = MainWindow(demo_provider=provider, demo_task="classify")
    qtbot.addWidget(window)
    window.show()
    window.open_demo()
    qtbot.waitUntil(lambda: window.project is not None, timeout=30000)
    first = window.project
    # the demo already open, chosen again: it stays open, no "open in another studio" error
    _demo_action(window, "Classification (digits)").trigger()
    qtbot.waitUntil(lambda: "already open" in window.statusBar().currentMessage(),
                    timeout=10000)
    assert window.project is first and error_dialog.open_error_dialogs() == []
    _demo_action(window, "Pose (figures)").trigger()
    qtbot.waitUntil(lambda: window.project is not first, timeout=10000)
    assert window.project.task == "pose" and asked == ["classify", "classify", "pose"]
    window.close()
