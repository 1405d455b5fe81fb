"""What a new user hit with the main window (issue 16): shortcuts right after a rail click, every
page usable at 1280 × 720, pages refreshed after an import, the import action and dialog,
reopening the open project, earlier exports listed after a restart, and the dark theme.

Everything runs on the real ``MainWindow`` with real key and mouse events."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect, Qt, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QApplication,
    QPushButton,
    QScrollArea,
    QWidget,
)

from engine.data.shape_samples import make_shapes_dataset
from studio.services.importers import import_dataset
from studio.services.projects import create_project
from studio.ui import error_dialog
from studio.ui.app_settings import remember_project
from studio.ui.import_dialog import ImportDialog
from studio.ui.main_window import PAGES, MainWindow


def project_with_images(tmp_path: Path, task: str = "segment", classes=("circle",)) -> Path:
    """A closed project holding a few generated shapes images (segment)."""
    folder = tmp_path / "proj"
    project = create_project(folder, name="Shapes", task=task, classes=list(classes))
    try:
        data = make_shapes_dataset(tmp_path / "shapes", size=64, train=3, val=2)
        import_dataset(project, data, "yolo-segment")
    finally:
        project.close()
    return folder


def open_project_here(folder: Path):
    from studio.services.projects import open_project

    return open_project(folder)


def open_in(window: MainWindow, qtbot, folder: Path) -> None:
    window.open_folder(folder)
    qtbot.waitUntil(lambda: window.project is not None, timeout=15000)


def show_active(window: MainWindow, qtbot, size=(1280, 720)) -> None:
    window.resize(*size)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)


def click_rail(window: MainWindow, name: str) -> None:
    """A real mouse click on the rail's item ``name``."""
    item = window.rail.item(PAGES.index(name))
    centre = window.rail.visualItemRect(item).center()
    QTest.mouseClick(window.rail.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, centre)
    QApplication.processEvents()


def type_key(qtbot, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A key press where the keyboard sends it: to the focus widget."""
    target = QApplication.focusWidget()
    assert target is not None, "nothing has keyboard focus"
    qtbot.keyClick(target, key, modifier)
    QApplication.processEvents()


# ----- 1. shortcuts right after choosing a page with the mouse ------------------------------------
def test_page_shortcuts_work_right_after_a_rail_click(window, qtbot, tmp_path):
    open_in(window, qtbot, project_with_images(tmp_path))
    show_active(window, qtbot)
    click_rail(window, "Datasets")
    click_rail(window, "Annotate")
    annotate = window.pages["Annotate"]
    assert window.stack.currentWidget() is annotate
    type_key(qtbot, Qt.Key.Key_V)  # the edit tool
    assert annotate.canvas.tool is annotate.tools["edit"]
    type_key(qtbot, Qt.Key.Key_P)  # back to the polygon tool, not a jump to Predict
    assert window.stack.currentWidget() is annotate
    assert annotate.canvas.tool is annotate.tools["polygon"]
    first = annotate.current_image_id
    for key in (Qt.Key.Key_D, Qt.Key.Key_T, Qt.Key.Key_E, Qt.Key.Key_A):
        type_key(qtbot, key)
        assert window.rail.currentRow() == PAGES.index("Annotate"), key
    assert annotate.current_image_id == first  # D went on, A came back
    assert window.rail.focusPolicy() == Qt.FocusPolicy.NoFocus


def test_every_page_takes_the_keyboard_when_chosen(window, qtbot, tmp_path):
    open_in(window, qtbot, project_with_images(tmp_path))
    show_active(window, qtbot)
    for name in [*PAGES, *PAGES]:
        click_rail(window, name)
        focus = QApplication.focusWidget()
        assert focus is not None and window.pages[name].isAncestorOf(focus), name
        # not a push button, where Space (mark reviewed, pan) would press Start or Run
        assert not isinstance(focus, QPushButton), (name, focus)


# ----- 2. every page fits 1280 × 720 --------------------------------------------------------------
def reachable(widget: QWidget, window: MainWindow) -> bool:
    """Shown inside the window, or inside a scroll area that can bring it into view."""
    parent = widget.parentWidget()
    while parent is not None and not isinstance(parent, QScrollArea):
        parent = parent.parentWidget()
    if parent is not None:
        parent.ensureWidgetVisible(widget)
    QApplication.processEvents()  # the dock just shown lays out
    if not widget.isVisible() or widget.visibleRegion().isEmpty():
        return False
    top_left = widget.mapTo(window, QPoint(0, 0))
    return window.rect().contains(QRect(top_left, widget.size()))


def key_controls(window: MainWindow, name: str) -> list[QWidget]:
    pages = window.pages
    if name == "Train":
        return [pages["Train"].start_button, pages["Train"].form.epochs]
    if name == "Predict":
        controls = pages["Predict"].controls
        return [controls.run_button, controls.conf, controls.iou, controls.opacity,
                controls.prelabel_button, pages["Predict"].frame_slider]
    if name == "Evaluate":
        return [pages["Evaluate"].run_button]
    if name == "Export":
        return [pages["Export"].all_button, pages["Export"].results]
    if name == "Annotate":
        return [pages["Annotate"].canvas]
    return [pages["Datasets"].grid, pages["Datasets"].random_button]


@pytest.mark.parametrize("size", [(1280, 720), (1366, 768)])
def test_every_page_fits_a_small_screen(window, qtbot, tmp_path, size):
    open_in(window, qtbot, project_with_images(tmp_path))
    show_active(window, qtbot, size)
    for name in [*PAGES, *reversed(PAGES)]:
        click_rail(window, name)
        hint = window.minimumSizeHint()
        assert hint.width() <= size[0] and hint.height() <= size[1], (name, hint)
        assert window.width() <= size[0] and window.height() <= size[1], (name, window.size())
        for control in key_controls(window, name):
            assert reachable(control, window), (name, control)


def test_a_new_window_starts_inside_the_screen(qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    window.show()
    available = window.screen().availableGeometry()
    assert window.width() <= available.width() and window.height() <= available.height()
    window.close()


# ----- 4. the import action and its dialog -------------------------------------------------------
def drive_import_dialog(qtbot, seen: list, source: Path | None) -> None:
    """When the import dialog opens: note what it shows, type ``source`` and press Enter
    (or Esc without a source)."""

    def act() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, ImportDialog) or not dialog.isActiveWindow():
            if isinstance(dialog, ImportDialog):
                dialog.activateWindow()
            QTimer.singleShot(20, act)
            return
        seen.append((dialog.path_edit.text(), dialog.detected_label.text()))
        if source is None:
            qtbot.keyClick(dialog, Qt.Key.Key_Escape)
            return
        dialog.path_edit.setFocus()
        qtbot.keyClicks(dialog.path_edit, str(source))
        # a dialog that Enter did not close would block the test: close it, and say so
        QTimer.singleShot(1000, dialog, lambda: dialog.isVisible() and (
            seen.append("still open after Enter"), dialog.reject()))
        qtbot.keyClick(dialog.path_edit, Qt.Key.Key_Return)

    QTimer.singleShot(0, act)


def test_ctrl_i_and_the_menu_open_an_empty_import_dialog(window, qtbot, tmp_path):
    open_in(window, qtbot, project_with_images(tmp_path))
    show_active(window, qtbot)
    seen: list = []
    drive_import_dialog(qtbot, seen, None)
    type_key(qtbot, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    action = next(a for a in window.project_actions if a.text() == "&Import Dataset…")
    drive_import_dialog(qtbot, seen, None)
    action.trigger()
    assert seen == [("", "Choose a file or folder")] * 2


def test_enter_in_the_import_dialog_imports(window, qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    folder = tmp_path / "empty"
    create_project(folder, name="Empty", task="segment", classes=[]).close()
    data = make_shapes_dataset(tmp_path / "shapes", size=64, train=3, val=2)
    pickers: list = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda *a, **k: pickers.append(a) or ("", ""))
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        lambda *a, **k: pickers.append(a) or "")
    open_in(window, qtbot, folder)
    show_active(window, qtbot)
    seen: list = []
    drive_import_dialog(qtbot, seen, data)
    type_key(qtbot, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    assert not pickers and "still open after Enter" not in seen  # Enter imported
    qtbot.waitUntil(lambda: not window.jobs.running, timeout=20000)
    assert len(window.pages["Annotate"].image_ids) == 5


# ----- 3. pages follow the project's classes and images -------------------------------------------
def test_an_import_into_a_project_without_classes_refreshes_the_pages(window, qtbot, tmp_path):
    folder = tmp_path / "empty"
    create_project(folder, name="Empty", task="segment", classes=[]).close()
    data = make_shapes_dataset(tmp_path / "shapes", size=64, train=3, val=2)
    open_in(window, qtbot, folder)
    show_active(window, qtbot)
    click_rail(window, "Annotate")
    annotate = window.pages["Annotate"]
    assert annotate.classes == [] and annotate.image_ids == []
    drive_import_dialog(qtbot, [], data)
    type_key(qtbot, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.jobs.running, timeout=20000)
    qtbot.waitUntil(lambda: bool(annotate.image_ids), timeout=5000)
    names = [c.name for c in window.project.classes()]
    assert names and [c.name for c in annotate.classes] == names
    assert annotate.canvas.current_class in [c.index for c in window.project.classes()]
    assert [c.name for c in window.pages["Predict"].classes] == names
    assert [c.name for c in window.pages["Datasets"].classes] == names


# ----- 5. reopening the open project -------------------------------------------------------------
def test_reopening_the_open_project_from_open_recent_keeps_it(window, qtbot, tmp_path):
    folder = project_with_images(tmp_path)
    open_in(window, qtbot, folder)
    show_active(window, qtbot)
    opened = window.project
    remember_project(folder)
    window.recent_menu.aboutToShow.emit()
    (action,) = [a for a in window.recent_menu.actions() if str(folder.resolve()) in a.text()]
    action.trigger()
    qtbot.wait(50)
    window.jobs.wait_all()
    QApplication.processEvents()
    assert not error_dialog.open_error_dialogs()
    assert window.project is opened and window.pages
    assert "already open" in window.statusBar().currentMessage()


# ----- 7. the dark theme -------------------------------------------------------------------------
def rail_background(window: MainWindow) -> QColor:
    image = window.rail.grab().toImage()
    return QColor(image.pixel(image.width() - 4, image.height() - 4))


def test_the_rail_follows_the_theme_at_every_switch(window, qtbot, tmp_path):
    open_in(window, qtbot, project_with_images(tmp_path))
    show_active(window, qtbot)
    for theme in ("dark", "light", "dark", "light", "dark"):
        window.set_theme(theme)
        QApplication.processEvents()
        background = rail_background(window)
        if theme == "dark":
            assert background.lightness() < 80, (theme, background.name())
        else:
            assert background.lightness() > 200, (theme, background.name())
    window.set_theme("light")


def unticked_checkbox_contrast(checkbox: QWidget) -> int:
    """The largest lightness difference between the indicator's pixels and the page behind
    (a check box's or a radio button's)."""
    from PySide6.QtWidgets import QRadioButton, QStyle, QStyleOptionButton

    option = QStyleOptionButton()
    option.initFrom(checkbox)
    element = (QStyle.SubElement.SE_RadioButtonIndicator if isinstance(checkbox, QRadioButton)
               else QStyle.SubElement.SE_CheckBoxIndicator)
    rect = checkbox.style().subElementRect(element, option, checkbox)
    image = checkbox.grab().toImage()
    behind = QColor(image.pixel(checkbox.width() - 1, checkbox.height() - 1)).lightness()
    return max(abs(QColor(image.pixel(x, y)).lightness() - behind)
               for x in range(rect.left(), rect.right() + 1)
               for y in range(rect.top(), rect.bottom() + 1))


def test_unticked_checkboxes_show_a_border_in_the_dark_theme(window, qtbot, tmp_path):
    open_in(window, qtbot, project_with_images(tmp_path))
    show_active(window, qtbot)
    window.set_theme("dark")
    click_rail(window, "Predict")
    check = window.pages["Predict"].controls.show_boxes
    check.setChecked(False)
    QApplication.processEvents()
    assert unticked_checkbox_contrast(check) >= 60  # was 12: the box was invisible
    window.set_theme("light")
    QApplication.processEvents()
    assert unticked_checkbox_contrast(check) >= 40  # Fusion's own grey border


def test_unticked_radio_buttons_show_a_border_in_the_dark_theme(window, qtbot):
    from studio.ui.new_project_wizard import NewProjectWizard

    window.set_theme("dark")
    wizard = NewProjectWizard(window)
    qtbot.addWidget(wizard)
    wizard.show()
    QApplication.processEvents()
    unticked = [b for b in wizard.basics.tasks.buttons() if not b.isChecked()]
    assert unticked and all(unticked_checkbox_contrast(b) >= 60 for b in unticked)
    wizard.close()
    window.set_theme("light")


def test_the_plots_follow_the_theme(window, qtbot, tmp_path):
    import pyqtgraph as pg

    from studio.services.runs import finish_run, record_epoch, start_run

    folder = project_with_images(tmp_path)
    project = open_project_here(folder)
    run_id = start_run(project, name="train", folder=folder / "runs" / "train",
                       model="yolov8n-seg.yaml", settings={})
    for epoch in (1, 2):
        record_epoch(project, run_id, epoch, {"train/box_loss": 2.0 / epoch,
                                              "metrics/mAP50-95(M)": 0.1 * epoch})
    finish_run(project, run_id, "completed")
    project.close()
    open_in(window, qtbot, folder)
    show_active(window, qtbot)
    click_rail(window, "Train")
    assert any(plot.getPlotItem().legend.items for plot in (
        window.pages["Train"].plots.loss_plot, window.pages["Train"].plots.metric_plot))
    for theme in ("dark", "light", "dark"):
        window.set_theme(theme)
        QApplication.processEvents()
        palette = QApplication.instance().palette()
        text = palette.color(QPalette.ColorRole.WindowText)
        plots = [w for w in QApplication.allWidgets() if isinstance(w, pg.PlotWidget)
                 and window.isAncestorOf(w)]
        assert len(plots) >= 4  # train (3), evaluate (2), datasets (2)
        for plot in plots:
            background = plot.backgroundBrush().color()
            if plot.backgroundBrush().style() != Qt.BrushStyle.NoBrush:
                assert abs(background.lightness()
                           - palette.color(QPalette.ColorRole.Base).lightness()) < 30, theme
            for side in ("left", "bottom"):
                axis = plot.getAxis(side)
                assert abs(axis.textPen().color().lightness() - text.lightness()) < 60, theme
            legend = plot.getPlotItem().legend
            for _sample, label in legend.items if legend is not None else ():
                assert f"color:{text.name()}" in label.item.toHtml(), (theme, label.text)
    window.set_theme("light")


def test_no_widget_scrolls_the_whole_page_needlessly(window, qtbot, tmp_path):
    """At 1280 × 720 the Annotate canvas gets the space, not a scroll bar."""
    open_in(window, qtbot, project_with_images(tmp_path))
    show_active(window, qtbot)
    click_rail(window, "Annotate")
    canvas = window.pages["Annotate"].canvas
    assert isinstance(canvas, QAbstractScrollArea)
    assert canvas.width() >= 600 and canvas.height() >= 450


# ----- 6. earlier exports after a restart ----------------------------------------------------------
def classify_project_with_a_run(tmp_path: Path) -> Path:
    """A classify project with one finished run whose best.pt is a tiny real model."""
    folder = tmp_path / "cls"
    project = create_project(folder, name="Pets", task="classify", classes=["cat", "dog"])
    try:
        add_finished_run(project, folder, "yolov8n-cls.yaml", imgsz=32)
    finally:
        project.close()
    return folder


def add_finished_run(project, folder: Path, model_yaml: str, *, imgsz: int) -> None:
    """Record a completed run "train" whose best.pt is a tiny real model of the project's
    classes (decisive: its predictions do not hover at the threshold)."""
    from engine.checkpoints import checkpoint_dict, save_checkpoint
    from engine.export.decisive import make_decisive
    from engine.nn import build_model
    from studio.services.runs import finish_run, start_run

    run_folder = folder / "runs" / "train"
    model = build_model(model_yaml, num_classes=len(project.classes()))
    model.names = {c.index: c.name for c in project.classes()}
    make_decisive(model)
    save_checkpoint(run_folder / "weights" / "best.pt",
                    checkpoint_dict(model, train_args={"imgsz": imgsz}))
    run_id = start_run(project, name="train", folder=run_folder, model=model_yaml,
                       settings={"imgsz": imgsz})
    finish_run(project, run_id, "completed")


def result_rows(page) -> list[tuple[str, ...]]:
    return [tuple(page.results.item(row, column).text() if page.results.item(row, column)
                  else "" for column in range(3))
            for row in range(page.results.rowCount())]


def test_earlier_exports_are_listed_after_a_restart(qtbot, tmp_path):
    folder = classify_project_with_a_run(tmp_path)
    first = MainWindow()
    qtbot.addWidget(first)
    open_in(first, qtbot, folder)
    show_active(first, qtbot)
    click_rail(first, "Export")
    page = first.pages["Export"]
    job = page.export(["torchscript", "onnx"])
    with qtbot.waitSignal(job.ended, timeout=120000):
        pass
    assert {o.format: o.status for o in page.outcomes.values()} == {
        "torchscript": "passed", "onnx": "passed"}
    weights = folder / "runs" / "train" / "weights"
    first.close()
    (weights / "best.torchscript").unlink()  # gone since: not offered any more

    second = MainWindow()
    qtbot.addWidget(second)
    open_in(second, qtbot, folder)
    show_active(second, qtbot)
    click_rail(second, "Export")
    page = second.pages["Export"]
    assert result_rows(page) == [("ONNX", "passed", "best.onnx")]
    page.results.selectRow(0)
    outcome = page.selected_outcome()
    assert outcome.path == weights / "best.onnx" and "top-1 equal" in outcome.figures
    assert page.open_button.isEnabled() and page.copy_button.isEnabled()
    assert "yolo classify predict model=" in outcome.snippet()
    second.close()


# ----- Ctrl+W and Ctrl+Q reach their actions on every platform -----------------------------------


def test_ctrl_w_closes_the_project_and_ctrl_q_quits(window, qtbot, tmp_path):
    show_active(window, qtbot)
    open_in(window, qtbot, project_with_images(tmp_path))
    click_rail(window, "Datasets")
    type_key(qtbot, Qt.Key.Key_W, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.project is None, timeout=5000)
    type_key(qtbot, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)


# ----- Predict: the frame keys work right after Run ---------------------------------------------


def test_d_and_arrows_step_the_frames_right_after_run(window, qtbot, tmp_path):
    import torch

    from engine.checkpoints import checkpoint_dict, save_checkpoint
    from engine.export.decisive import make_decisive
    from engine.nn import build_model

    torch.manual_seed(0)
    model = make_decisive(build_model("yolov8n-seg.yaml", num_classes=1))
    checkpoint = save_checkpoint(tmp_path / "seg.pt",
                                 checkpoint_dict(model, train_args={"imgsz": 64}))
    show_active(window, qtbot)
    open_in(window, qtbot, project_with_images(tmp_path))
    click_rail(window, "Predict")
    page = window.pages["Predict"]
    page.set_model_path(checkpoint)
    page.set_source("project")
    button = page.controls.run_button
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.job is not None and not page.job.running, timeout=60000)
    qtbot.waitUntil(lambda: len(page.frames) > 1 and page.current == 0, timeout=10000)
    confidence = page.controls.conf.value()
    type_key(qtbot, Qt.Key.Key_D)
    assert page.current == 1
    type_key(qtbot, Qt.Key.Key_Left)
    assert page.current == 0 and page.controls.conf.value() == confidence
