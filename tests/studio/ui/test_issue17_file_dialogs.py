"""File dialogs open in the project or home folder, never the app's working folder (issue 17):
the import dialog's browse buttons, the dataset exports of the main window, the new-project
wizard and the Export page's checkpoint picker, each reached with a real click or key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog

from studio.services.projects import create_project
from studio.ui.import_dialog import ImportDialog
from studio.ui.new_project_wizard import NewProjectWizard


@pytest.fixture
def asked(monkeypatch, tmp_path) -> list[tuple[str, str]]:
    """Each file dialog's (kind, start folder); the dialogs answer "cancelled". The process
    runs from a folder that is neither home nor the project, as an app started anywhere."""
    elsewhere = tmp_path / "started-here"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    seen: list[tuple[str, str]] = []

    def folder(_parent, _caption, start="", *_a, **_k):
        seen.append(("folder", start))
        return ""

    def open_file(_parent, _caption, start="", *_a, **_k):
        seen.append(("open", start))
        return "", ""

    def save_file(_parent, _caption, start="", *_a, **_k):
        seen.append(("save", start))
        return "", ""

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", folder)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", open_file)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_file)
    return seen


def click(widget) -> None:
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton)
    QApplication.processEvents()


def test_the_import_dialog_browses_from_the_project(qtbot, asked, tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    dialog = ImportDialog("segment", project_folder=project)
    qtbot.addWidget(dialog)
    click(dialog.file_button)
    click(dialog.folder_button)
    assert asked == [("open", str(project)), ("folder", str(project))]
    # a source typed already: its folder
    source = tmp_path / "data"
    source.mkdir()
    dialog.path_edit.setText(str(source / "data.yaml"))
    click(dialog.folder_button)
    assert asked[-1] == ("folder", str(source))
    assert not any(start == os.getcwd() for _, start in asked)


def test_the_wizard_browses_from_home(qtbot, asked, tmp_path):
    wizard = NewProjectWizard()  # default: ~/YOLO Studio projects, which does not exist yet
    qtbot.addWidget(wizard)
    wizard.show()
    browse = next(b for b in wizard.basics.findChildren(type(wizard.button(
        wizard.WizardButton.NextButton))) if b.text() == "Browse…")
    click(browse)
    assert asked == [("folder", str(tmp_path / "home"))]


def test_the_windows_dataset_exports_and_checkpoint_picker_start_in_the_project(
        window, qtbot, asked, tmp_path):
    folder = tmp_path / "proj"
    create_project(folder, name="Shapes", task="segment", classes=["circle"]).close()
    window.open_folder(folder)
    qtbot.waitUntil(lambda: window.project is not None, timeout=15000)
    window.resize(1280, 720)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    target = QApplication.focusWidget() or window
    qtbot.keyClick(target, Qt.Key.Key_E,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    coco = next(a for a in window.project_actions if "COCO" in a.text())
    coco.trigger()
    page = window.pages["Export"]
    window.rail.setCurrentRow(5)
    QApplication.processEvents()
    choose = next(b for b in page.findChildren(type(page.copy_button))
                  if b.text() == "Choose checkpoint…")
    click(choose)
    project = str(folder.resolve())
    assert asked == [("folder", project), ("save", str(Path(project) / "proj.json")),
                     ("open", project)]
