"""Issue 17, on the real main window with real clicks and keys: the Export page's usage snippet
is previewed and copied (and the copied script runs), the wrong-task import message is whole
and in people's words, and the Recent list names its projects."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QCheckBox, QLabel, QStyle, QStyleOptionButton

from engine.data.shape_samples import make_shapes_dataset
from studio.services.importers import import_dataset
from studio.services.projects import create_project
from studio.ui.app_settings import remember_project
from studio.ui.export.snippet_dialog import SnippetDialog
from studio.ui.import_dialog import ImportDialog
from studio.ui.main_window import PAGES, MainWindow
from tests.studio.ui.test_window_issue16 import add_finished_run


def click(widget, point: QPoint | None = None) -> None:
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     point if point is not None else widget.rect().center())
    QApplication.processEvents()


def click_rail(window: MainWindow, name: str) -> None:
    item = window.rail.item(PAGES.index(name))
    click(window.rail.viewport(), window.rail.visualItemRect(item).center())


def show_active(window: MainWindow, qtbot) -> None:
    window.resize(1280, 720)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)


def open_in(window: MainWindow, qtbot, folder: Path) -> None:
    window.open_folder(folder)
    qtbot.waitUntil(lambda: window.project is not None, timeout=15000)


def segment_project_with_a_run(tmp_path: Path) -> Path:
    """A segment project with a few shapes images and a finished run (a tiny real model)."""
    folder = tmp_path / "proj"
    project = create_project(folder, name="Shapes", task="segment", classes=["circle"])
    try:
        data = make_shapes_dataset(tmp_path / "shapes", size=64, train=3, val=2)
        import_dataset(project, data, "yolo-segment")
        add_finished_run(project, folder, "yolov8n-seg.yaml", imgsz=64)
    finally:
        project.close()
    return folder


def click_check_box(box: QCheckBox) -> None:
    """A click on the box's indicator (where a user aims)."""
    option = QStyleOptionButton()
    box.initStyleOption(option)
    area = box.style().subElementRect(QStyle.SubElement.SE_CheckBoxIndicator, option, box)
    click(box, area.center())


# ----- Export: the snippet is shown, then copied, and the copied script runs ----------------------
def test_the_usage_snippet_is_previewed_and_the_copied_script_runs(window, qtbot, tmp_path):
    folder = segment_project_with_a_run(tmp_path)
    open_in(window, qtbot, folder)
    show_active(window, qtbot)
    click_rail(window, "Export")
    page = window.pages["Export"]
    click_check_box(page.checks["onnx"])
    assert page.selected_formats() == ["onnx"]
    click(page.export_button)
    qtbot.waitUntil(lambda: page.job is not None and not page.job.running, timeout=180000)
    assert page.outcomes["onnx"].status == "passed", page.outcomes["onnx"].message
    row = page.results.visualRect(page.results.model().index(0, 0)).center()
    click(page.results.viewport(), row)
    assert page.copy_button.isEnabled()
    QApplication.clipboard().setText("")
    click(page.copy_button)
    dialog = page.snippet_dialog
    assert isinstance(dialog, SnippetDialog) and dialog.isVisible()
    assert QApplication.clipboard().text() == ""  # shown first, nothing copied yet
    titles = [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    assert titles == ["Command line", "Python (engine)", "ONNX Runtime (no engine)"]
    bar = dialog.tabs.tabBar()
    click(bar, bar.tabRect(2).center())
    view = dialog.views[2]
    assert view.isVisible() and view.isReadOnly()
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)  # Enter copies the tab
    copied = QApplication.clipboard().text()
    assert copied == view.toPlainText() == dialog.current_text()
    export = folder / "runs" / "train" / "weights" / "best.onnx"
    assert f'MODEL = r"{export}"' in copied and ".cache" not in copied
    assert "copied" in dialog.note.text()
    click(dialog.copy_all_button)
    assert QApplication.clipboard().text().count("# ---- ") == 3
    # the copied script runs as it is, with onnxruntime alone, on one of the project's images
    script = tmp_path / "run_onnx.py"
    script.write_text(copied)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() and "box [" in done.stdout
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()


# ----- Import: the wrong-task message is whole, wrapped and in people's words --------------------
def test_the_wrong_task_import_message_is_whole_and_readable(window, qtbot, tmp_path):
    folder = tmp_path / "pose"
    create_project(folder, name="People", task="pose", classes=["person"],
                   keypoints=_five_points()).close()
    data = make_shapes_dataset(tmp_path / "shapes", size=64, train=2, val=1)
    open_in(window, qtbot, folder)
    show_active(window, qtbot)
    seen: dict = {}

    def act() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, ImportDialog) or not dialog.isActiveWindow():
            if isinstance(dialog, ImportDialog):
                dialog.activateWindow()
            QTimer.singleShot(20, act)
            return
        qtbot.keyClicks(dialog.path_edit, str(data.parent))
        QApplication.processEvents()
        label: QLabel = dialog.problem_label
        seen["text"] = label.text()
        seen["visible"] = label.isVisible()
        seen["whole"] = label.height() >= label.heightForWidth(label.width())
        seen["inside"] = dialog.rect().contains(label.geometry())
        seen["import"] = dialog.buttons.buttons()[0].isEnabled()
        dialog.grab().save(str(tmp_path / "wrong_task.png"))
        qtbot.keyClick(dialog, Qt.Key.Key_Escape)

    QTimer.singleShot(0, act)
    qtbot.keyClick(QApplication.focusWidget() or window, Qt.Key.Key_I,
                   Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: "text" in seen, timeout=10000)
    text = seen["text"]
    assert text.startswith("This folder is a YOLO segmentation dataset, but the project is for "
                           "pose estimation.")
    assert "segmentation project" in text and "kpt_shape" in text and "yolo-" not in text
    assert seen["visible"] and seen["whole"] and seen["inside"]


def _five_points():
    from studio.services.keypoint_schemas import KeypointSchema

    return KeypointSchema.build(["head", "left_hand", "right_hand", "left_foot", "right_foot"],
                                [(0, 1), (0, 2)])


# ----- Recent: names with their folders; a missing folder is said -------------------------------
def test_the_recent_list_shows_names_and_paths(qtbot, tmp_path):
    kept = tmp_path / "street-cats"
    create_project(kept, name="Street cats", task="segment", classes=["cat"]).close()
    gone = tmp_path / "old-project"
    create_project(gone, name="Old", task="segment", classes=["x"]).close()
    remember_project(gone)
    remember_project(kept)
    shutil.rmtree(gone)
    window = MainWindow()
    qtbot.addWidget(window)
    show_active(window, qtbot)
    recent = window.welcome.recent
    assert recent.isVisible() and recent.count() == 2
    first, second = (recent.item(i).data(Qt.ItemDataRole.AccessibleTextRole) for i in (0, 1))
    assert first == f"Street cats — {kept.resolve()}"
    label = recent.itemWidget(recent.item(0))
    assert "<b>Street cats</b>" in label.text() and str(kept.resolve()) in label.text()
    assert "folder not found" in second and "Old" not in second
    assert not recent.item(1).flags() & Qt.ItemFlag.ItemIsEnabled
    assert "folder not found" in recent.itemWidget(recent.item(1)).text()
    window.grab().save(str(tmp_path / "welcome.png"))
    # the menu lists the same, the missing one disabled
    window.recent_menu.aboutToShow.emit()
    actions = window.recent_menu.actions()
    assert [a.text() for a in actions] == [first, second]
    assert actions[0].isEnabled() and not actions[1].isEnabled()
    # Enter on the first opens it
    recent.setFocus()
    recent.setCurrentRow(0)
    qtbot.keyClick(recent, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: window.project is not None, timeout=15000)
    assert window.project.name == "Street cats"
    window.close_project()
