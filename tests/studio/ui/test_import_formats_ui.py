"""File → Import Dataset and File → Export Dataset for other tools' formats (issue 19), on the
real main window with real keys: the detected format with its reason, the rectangles choice of
a segmentation project, and the joint-mapping dialog of a pose import whose joints do not all
match the project's schema by name."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QFileDialog
from sqlalchemy import select

from engine.formats.cvat import read_cvat
from studio.services.keypoint_schemas import COCO_PERSON
from studio.services.projects import create_project, open_project
from studio.state.models import Image
from studio.ui.dataset_transfer import ImportReport
from studio.ui.import_dialog import ImportDialog
from studio.ui.joint_map_dialog import LEAVE_OUT, JointMapDialog

from ..services.test_import_labelset import cvat_folder, labelme_folder


def when_modal(kind: type, act: Callable, seen: list) -> None:
    """When a modal dialog of ``kind`` is up and active: note it in ``seen`` and ``act``."""

    def poll() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, kind) or not dialog.isActiveWindow():
            if isinstance(dialog, kind):
                dialog.activateWindow()
            QTimer.singleShot(20, poll)
            return
        seen.append(dialog)
        act(dialog)

    QTimer.singleShot(0, poll)


def open_window_on(window, qtbot, folder: Path) -> None:
    window.open_folder(folder)
    qtbot.waitUntil(lambda: window.project is not None, timeout=15000)
    window.resize(1280, 720)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)


def press_ctrl_i(qtbot) -> None:
    target = QApplication.focusWidget()
    assert target is not None, "nothing has keyboard focus"
    qtbot.keyClick(target, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    QApplication.processEvents()


def keypoints_of(folder: Path) -> dict[str, list]:
    project = open_project(folder)
    try:
        with project.database.session() as session:
            return {Path(image.path).name: [a.keypoints for a in image.annotations]
                    for image in session.scalars(select(Image))}
    finally:
        project.close()


# -- the dialog alone --------------------------------------------------------------------------


def test_the_dialog_names_the_format_and_why_and_asks_about_rectangles(qtbot, tmp_path):
    source = labelme_folder(tmp_path / "voc")
    dialog = ImportDialog("segment", source=source)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.selected_format() == "labelme"
    assert dialog.detected_label.text() == (
        "Detected: labelme JSON (a folder of .json files), from 2011_000003.json: JSON with "
        "shapes")
    assert dialog.rectangles_combo.isVisible()
    assert dialog.choice().rectangles == "polygon"
    dialog.rectangles_combo.setFocus()
    qtbot.keyClick(dialog.rectangles_combo, Qt.Key.Key_Down)
    assert dialog.rectangles_combo.currentText() == "Skip rectangles"
    assert dialog.choice().rectangles == "skip"
    # a pose project has no outlines to make of rectangles: no such question
    pose = ImportDialog("pose", source=cvat_folder(tmp_path / "cvat"))
    qtbot.addWidget(pose)
    pose.show()
    assert pose.selected_format() == "cvat" and not pose.rectangles_combo.isVisible()
    assert "annotations.xml" in pose.detected_label.text()
    # a zip's images can only be copied (it is unpacked into a temporary folder)
    assert pose.copy_check.isEnabled() and not pose.copy_check.isChecked()
    archive = tmp_path / "task.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(tmp_path / "cvat" / "annotations.xml", "annotations.xml")
    pose.set_source(archive)
    assert pose.selected_format() == "cvat" and pose.choice().copy
    assert not pose.copy_check.isEnabled()


def test_the_joint_dialog_prefills_matches_and_refuses_one_joint_twice(qtbot):
    dialog = JointMapDialog(["Nose", "left_eye", "neck"], list(COCO_PERSON.names))
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.joint_map() == {"Nose": "nose", "left_eye": "left_eye", "neck": None}
    assert "(neck) does not match" in dialog.intro.text()
    assert dialog.focusWidget() is dialog.combos[2]  # the first joint to decide
    assert dialog.combos[2].currentText() == LEAVE_OUT
    qtbot.keyClicks(dialog.combos[2], "left_e")  # typed letters pick from the list
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert dialog.joint_map()["neck"] == "left_eye" and not ok.isEnabled()
    assert "left_eye is chosen for more than one joint" in dialog.conflict_label.text()
    qtbot.wait(QApplication.keyboardInputInterval() + 100)  # a new search, as a user pauses
    qtbot.keyClicks(dialog.combos[2], "left_s")
    assert dialog.joint_map()["neck"] == "left_shoulder" and ok.isEnabled()


# -- the real window ---------------------------------------------------------------------------


def test_a_pose_import_of_a_cvat_skeleton_asks_for_the_unmatched_joint(window, qtbot,
                                                                       tmp_path):
    folder = tmp_path / "proj"
    create_project(folder, name="People", task="pose", classes=[],
                   keypoints=COCO_PERSON).close()
    source = cvat_folder(tmp_path / "cvat")
    open_window_on(window, qtbot, folder)
    seen: list = []

    def fill_source(dialog: ImportDialog) -> None:
        dialog.path_edit.setFocus()
        qtbot.keyClicks(dialog.path_edit, str(source))
        assert dialog.selected_format() == "cvat"
        qtbot.keyClick(dialog.path_edit, Qt.Key.Key_Return)

    def map_neck(dialog: JointMapDialog) -> None:
        combo = QApplication.focusWidget()  # the first joint without a match: neck
        assert combo is dialog.combos[3]
        qtbot.keyClicks(combo, "left_s")
        qtbot.keyClick(combo, Qt.Key.Key_Return)

    when_modal(ImportDialog, fill_source, seen)
    press_ctrl_i(qtbot)
    when_modal(JointMapDialog, map_neck, seen)
    qtbot.waitUntil(lambda: len(seen) == 2, timeout=20000)
    assert seen[1].joint_map()["neck"] == "left_shoulder" and seen[1].result()
    qtbot.waitUntil(lambda: not window.jobs.running, timeout=20000)
    window.close_project()
    found = keypoints_of(folder)
    (frame,) = found["frame_01.jpg"][:1]
    assert frame[15:18] == pytest.approx([321 / 640, 160 / 480, 2], abs=1e-12)
    assert frame[3:6] == pytest.approx([310 / 640, 90.75 / 480, 1], abs=1e-12)  # occluded


def test_a_segment_import_skips_rectangles_then_exports_as_cvat(window, qtbot, tmp_path,
                                                                monkeypatch):
    folder = tmp_path / "proj"
    create_project(folder, name="Shapes", task="segment", classes=[]).close()
    source = labelme_folder(tmp_path / "prims", ("primitives.json",))
    open_window_on(window, qtbot, folder)
    seen: list = []

    def skip_rectangles(dialog: ImportDialog) -> None:
        dialog.path_edit.setFocus()
        qtbot.keyClicks(dialog.path_edit, str(source))
        qtbot.keyClick(dialog.path_edit, Qt.Key.Key_Tab)
        while QApplication.focusWidget() is not dialog.rectangles_combo:
            qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Tab)
        qtbot.keyClick(dialog.rectangles_combo, Qt.Key.Key_Down)
        qtbot.keyClick(dialog.rectangles_combo, Qt.Key.Key_Return)

    when_modal(ImportDialog, skip_rectangles, seen)
    press_ctrl_i(qtbot)
    qtbot.waitUntil(lambda: bool(seen) and not window.jobs.running, timeout=20000)
    names = [c.name for c in window.project.classes()]
    assert "rectangle" not in names and {"circle", "polygon", "octagon"} <= set(names)
    # the report opened: one line per shape left out, naming the file and the shape
    (report,) = [w for w in QApplication.topLevelWidgets()
                 if isinstance(w, ImportReport) and w.isVisible()]
    model = report.table.model()
    lines = [model.index(row, 2).data() for row in range(model.rowCount())]
    assert sum("a rectangle: left out" in line for line in lines) == 2
    assert all(report.table.path_at(row).endswith("primitives.json")
               for row in range(model.rowCount()))
    report.close()

    out = tmp_path / "exports"
    out.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(out))
    action = next(a for a in window.project_actions if "CVAT" in a.text().replace("&", ""))
    action.trigger()
    qtbot.waitUntil(lambda: not window.jobs.running, timeout=20000)
    back = read_cvat(out / "proj-cvat")
    (image,) = back.images
    assert sorted(o.label for o in image.objects) == ["circle", "octagon", "polygon"]
