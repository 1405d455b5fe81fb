"""A user's journey through the real main window, driven by real mouse clicks and key presses.

One window: a pose project, where a box and its keypoints are drawn; then a segment project,
where a polygon is drawn, two epochs are trained in the training child process (Ctrl+Enter),
the run is evaluated (F5), predicted (the Run button, then ▶ and D for the next frames) and
exported to every format this machine can build ("Export all available"). Each page is chosen
with a mouse click on the rail and its own letter keys typed right after: they must act on the
page and never jump to another one. Then the window is quit with File > Quit, clicked (Qt binds
no Quit key on the offscreen platform; tests/studio/test_studio_console.py types Ctrl+Q on a
real X server); a new window reopens both projects from its recent list and finds the labels,
the run and the exports again.

Timing: 3.5 to 5 minutes on 2 shared cores, of which "Export all available" takes 3 to 4.5 (the
TF-family converters take 25-35 s each); the rest is under 30 s (training 2 epochs about 10 s).
The test prints each step's time.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QCheckBox,
    QStyle,
    QStyleOptionButton,
    QWidget,
)
from sqlalchemy import select

from engine.data.shape_samples import make_shapes_dataset
from studio.services.importers import import_dataset
from studio.services.keypoint_schemas import KeypointSchema
from studio.services.model_export import STATUS_TEXT
from studio.services.projects import create_project
from studio.services.runs import list_runs
from studio.state import Annotation, ExportRecord
from studio.ui import error_dialog
from studio.ui.main_window import PAGES, MainWindow
from tests.studio.ui.annotate_helpers import at, project_folder

SCHEMA = KeypointSchema.build(["head", "neck", "hip", "left_foot", "right_foot"],
                              [(0, 1), (1, 2), (2, 3), (2, 4)], flip_idx=(0, 1, 2, 4, 3))
KEYPOINTS = [(200, 60), (200, 100), (200, 170), (170, 240), (230, 240)]  # image pixels
POSE_BOX = ((140, 40), (260, 260))
POLYGON = [(8, 8), (40, 8), (40, 40), (8, 40)]  # on a 64 x 64 image
FINAL_STATUSES = set(STATUS_TEXT.values())
TRAIN_MS = 240_000
EXPORT_MS = 600_000


class Clock:
    """Seconds per step of the journey, printed at the end (figures for the report)."""

    def __init__(self) -> None:
        self.start = self.last = time.monotonic()
        self.steps: list[tuple[str, float]] = []

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.steps.append((name, now - self.last))
        self.last = now

    def report(self) -> str:
        rows = [f"  {name:<28} {seconds:6.1f} s" for name, seconds in self.steps]
        return "\n".join(["journey:", *rows,
                          f"  {'total':<28} {time.monotonic() - self.start:6.1f} s"])


# ----- the user's hands -----------------------------------------------------------------------
def type_key(qtbot, key: Qt.Key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    """A key press where a keyboard sends it: to the widget with the keyboard focus."""
    target = QApplication.focusWidget()
    assert target is not None, "nothing has the keyboard focus"
    qtbot.keyClick(target, key, modifier)
    QApplication.processEvents()


def click(widget: QWidget, pos: QPoint | None = None) -> None:
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     pos if pos is not None else widget.rect().center())
    QApplication.processEvents()


def check_box_click_point(box: QCheckBox) -> QPoint:
    """Where a click toggles ``box``: its box and text (a form may stretch it wider)."""
    option = QStyleOptionButton()
    box.initStyleOption(option)
    return box.style().subElementRect(QStyle.SubElement.SE_CheckBoxClickRect, option,
                                      box).center()


def click_rail(window: MainWindow, name: str) -> QWidget:
    """A mouse click on the rail's page ``name``; the page it shows."""
    rail = window.rail
    click(rail.viewport(), rail.visualItemRect(rail.item(PAGES.index(name))).center())
    page = window.pages[name]
    assert window.stack.currentWidget() is page, name
    return page


def click_canvas(qtbot, page, x: float, y: float) -> None:
    qtbot.mouseClick(page.canvas.viewport(), Qt.MouseButton.LeftButton, pos=at(page, x, y))


def drag_canvas(qtbot, page, start, end) -> None:
    viewport = page.canvas.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=at(page, *start))
    qtbot.mouseMove(viewport, at(page, (start[0] + end[0]) / 2, (start[1] + end[1]) / 2))
    qtbot.mouseMove(viewport, at(page, *end))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=at(page, *end))


def type_number(qtbot, spin: QAbstractSpinBox, value: int) -> None:
    """Click into a spin box, select its text and type ``value``, as a user sets a number."""
    editor = spin.lineEdit()
    click(editor)
    qtbot.keyClick(editor, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(editor, str(value))
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    assert spin.value() == value


def choose_from_menu(qtbot, window: MainWindow, menu_name: str, item_name: str) -> None:
    """Click the menu bar's ``menu_name``, then its item ``item_name``, with the mouse."""
    bar = window.menuBar()
    (opener,) = [a for a in bar.actions() if a.text().replace("&", "") == menu_name]
    click(bar, bar.actionGeometry(opener).center())
    menu = opener.menu()
    qtbot.waitUntil(menu.isVisible, timeout=3000)
    (item,) = [a for a in menu.actions() if a.text().replace("&", "") == item_name]
    click(menu, menu.actionGeometry(item).center())


def wait_job(qtbot, job, timeout: int) -> None:
    assert job is not None
    if job.running:
        with qtbot.waitSignal(job.ended, timeout=timeout):
            pass


def assert_on(window: MainWindow, name: str) -> None:
    """The window still shows page ``name`` (a typed letter did not jump elsewhere)."""
    assert window.rail.currentRow() == PAGES.index(name)
    assert window.stack.currentWidget() is window.pages[name]


def no_error_dialogs() -> list[str]:
    return [f"{box.text()}\n{box.informativeText()}" for box in error_dialog.open_error_dialogs()]


# ----- the data -----------------------------------------------------------------------------
def segment_project(tmp_path: Path) -> Path:
    """A closed segment project with a few generated 64 px shapes images and their labels."""
    folder = tmp_path / "shapes_project"
    project = create_project(folder, name="Shapes", task="segment", classes=[])
    try:
        data = make_shapes_dataset(tmp_path / "shapes", size=64, train=6, val=3)
        import_dataset(project, data, "yolo-segment")
    finally:
        project.close()
    return folder


@pytest.fixture
def windows(qtbot):
    made: list[MainWindow] = []

    def make() -> MainWindow:
        window = MainWindow()
        qtbot.addWidget(window)
        window.resize(1280, 720)
        window.show()
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow)
        made.append(window)
        return window

    yield make
    for window in made:
        window.jobs.cancel_all()
        window.jobs.wait_all()
        window.close_project()
    for box in error_dialog.open_error_dialogs():
        box.done(0)


def open_recent(qtbot, window: MainWindow, folder: Path) -> None:
    """Double-click ``folder`` in the welcome page's recent projects."""
    assert window.stack.currentWidget() is window.welcome
    recent = window.welcome.recent
    rows = [recent.item(row).toolTip() for row in range(recent.count())]
    assert str(folder.resolve()) in rows, rows
    item = recent.item(rows.index(str(folder.resolve())))
    position = recent.visualItemRect(item).center()
    # a double-click is a click, then a second press that Qt reports as a double-click
    QTest.mouseClick(recent.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, position)
    QTest.mouseDClick(recent.viewport(), Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier, position)
    qtbot.waitUntil(lambda: window.project is not None, timeout=30_000)
    assert window.project.folder.resolve() == folder.resolve()


# ----- the journey ----------------------------------------------------------------------------
@pytest.mark.timeout(900)
def test_a_users_journey_through_the_main_window(qtbot, windows, tmp_path):
    clock = Clock()
    pose_folder = project_folder(tmp_path / "pose", task="pose", classes=("person",),
                                 images=2, size=(400, 300), keypoints=SCHEMA)
    shapes_folder = segment_project(tmp_path)
    clock.lap("data")

    window = windows()
    pose = draw_a_pose(qtbot, window, pose_folder)
    clock.lap("pose drawn")
    polygon = draw_a_polygon(qtbot, window, shapes_folder)
    clock.lap("polygon drawn")
    run_id = train_two_epochs(qtbot, window)
    clock.lap("trained 2 epochs")
    evaluate(qtbot, window)
    clock.lap("evaluated")
    predict(qtbot, window)
    clock.lap("predicted")
    exported = export_all(qtbot, window)
    clock.lap(f"exported {len(exported)} formats")
    assert no_error_dialogs() == []

    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)
    choose_from_menu(qtbot, window, "File", "Quit")
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=10_000)
    assert window.project is None  # quitting closed the project (its lock is free)
    clock.lap("quit")

    again = windows()
    check_segment_reopened(qtbot, again, shapes_folder, polygon, run_id, exported)
    choose_from_menu(qtbot, again, "File", "Close Project")
    qtbot.waitUntil(lambda: again.project is None, timeout=10_000)
    check_pose_reopened(qtbot, again, pose_folder, pose)
    clock.lap("reopened and checked")
    assert no_error_dialogs() == []
    print("\n" + clock.report())


def draw_a_pose(qtbot, window: MainWindow, folder: Path) -> tuple[int, list[float]]:
    """Box then keypoints with the keypoint tool; then File > Close Project."""
    window.open_folder(folder)
    qtbot.waitUntil(lambda: window.project is not None, timeout=30_000)
    click_rail(window, "Datasets")
    page = click_rail(window, "Annotate")
    qtbot.waitUntil(lambda: page.canvas.isVisible() and page.canvas.width() > 100, timeout=5000)
    type_key(qtbot, Qt.Key.Key_R)  # the box tool
    assert page.canvas.tool is page.tools["box"]
    type_key(qtbot, Qt.Key.Key_K)  # the keypoint tool
    assert page.canvas.tool is page.tools["keypoints"]
    type_key(qtbot, Qt.Key.Key_T)  # click each joint in order (not the whole template)
    assert not page.canvas.tool.template_mode
    type_key(qtbot, Qt.Key.Key_D)  # the next image, not the Datasets page
    assert_on(window, "Annotate")
    image_id = page.current_image_id
    assert image_id == page.image_ids[1]
    drag_canvas(qtbot, page, *POSE_BOX)
    for index, (x, y) in enumerate(KEYPOINTS):
        assert page.canvas.selected_keypoint == index
        click_canvas(qtbot, page, x, y)
    assert page.canvas.selected_keypoint is None  # all placed
    (data,) = page.document.annotations
    assert data.kind == "pose" and keypoint_pixels(data.keypoints) == [
        (x, y, 2) for x, y in KEYPOINTS]
    assert_on(window, "Annotate")
    qtbot.waitUntil(lambda: len(saved_rows(window, image_id)) == 1, timeout=5000)
    keypoints = list(data.keypoints)
    choose_from_menu(qtbot, window, "File", "Close Project")
    qtbot.waitUntil(lambda: window.project is None, timeout=10_000)
    return image_id, keypoints


def keypoint_pixels(values, size=(400, 300)) -> list[tuple[int, int, int]]:
    return [(round(values[i] * size[0]), round(values[i + 1] * size[1]), int(values[i + 2]))
            for i in range(0, len(values), 3)]


def saved_rows(window: MainWindow, image_id: int) -> list[Annotation]:
    with window.project.database.session() as session:
        return list(session.scalars(select(Annotation).where(
            Annotation.image_id == image_id, Annotation.deleted_at.is_(None))))


def draw_a_polygon(qtbot, window: MainWindow, folder: Path) -> tuple[int, list[float]]:
    """V, P, D typed after a rail click act on the Annotate page; four clicks and a click on
    the first vertex draw a polygon, saved by itself."""
    window.open_folder(folder)
    qtbot.waitUntil(lambda: window.project is not None, timeout=30_000)
    click_rail(window, "Train")
    page = click_rail(window, "Annotate")
    qtbot.waitUntil(lambda: page.canvas.isVisible() and page.canvas.width() > 100, timeout=5000)
    type_key(qtbot, Qt.Key.Key_V)  # the edit tool
    assert page.canvas.tool is page.tools["edit"]
    type_key(qtbot, Qt.Key.Key_P)  # the polygon tool, not the Predict page
    assert page.canvas.tool is page.tools["polygon"]
    type_key(qtbot, Qt.Key.Key_D)  # the next image, not the Datasets page
    type_key(qtbot, Qt.Key.Key_D)
    type_key(qtbot, Qt.Key.Key_A)  # back one
    assert_on(window, "Annotate")
    image_id = page.current_image_id
    assert image_id == page.image_ids[1]
    before = len(page.document.annotations)
    page.canvas.fit()
    for x, y in POLYGON:
        click_canvas(qtbot, page, x, y)
    click_canvas(qtbot, page, *POLYGON[0])  # the first vertex closes it
    assert len(page.document.annotations) == before + 1
    polygon = list(page.document.annotations[-1].polygon)
    assert [round(v * 64) for v in polygon] == [v for point in POLYGON for v in point]
    assert_on(window, "Annotate")
    qtbot.waitUntil(lambda: len(saved_rows(window, image_id)) == before + 1, timeout=5000)
    return image_id, polygon


def train_two_epochs(qtbot, window: MainWindow) -> int:
    """Settings typed into the dock's form; Ctrl+Enter there starts the run in the child
    process."""
    page = click_rail(window, "Train")
    form = page.form
    assert window.context_dock.isVisible() and form.isVisibleTo(window)
    type_number(qtbot, form.epochs, 2)
    type_number(qtbot, form.imgsz, 64)
    type_number(qtbot, form.batch, 4)
    click(form.advanced_toggle)  # the Advanced settings: no plots, no loader threads
    plots, workers = form.advanced.editors["plots"], form.advanced.editors["workers"]
    form.ensureWidgetVisible(plots)
    assert plots.isChecked()
    click(plots, check_box_click_point(plots))
    assert not plots.isChecked()
    form.ensureWidgetVisible(workers)
    click(workers)
    qtbot.keyClick(workers, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(workers, "0")
    assert form.advanced.value("workers") == 0 and not form.advanced.errors
    assert form.plan().isolated  # the run trains in the child process
    # the demo starts from the studio's own weights, read off the GUI thread first
    qtbot.waitUntil(lambda: not form.model_source.listing(), timeout=30_000)
    assert form.model_source.current().kind == "bundled"
    with qtbot.waitSignal(page.trainingEnded, timeout=TRAIN_MS) as ended:
        type_key(qtbot, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
        assert page.running, "Ctrl+Enter did not start training"
        assert_on(window, "Train")
    run_id, status, message = ended.args
    assert status == "completed", f"{message}\n{page.log.toPlainText()}"
    (run,) = list_runs(window.project)
    assert (run.id, run.epochs_done) == (run_id, 2) and run.best.is_file()
    return run_id


def evaluate(qtbot, window: MainWindow) -> None:
    """F5 on the Evaluate page evaluates the run just trained."""
    page = click_rail(window, "Evaluate")
    assert page.model.currentData().endswith("best.pt")
    type_key(qtbot, Qt.Key.Key_F5)
    assert page.job is not None, "F5 did not start the evaluation"
    wait_job(qtbot, page.job, 120_000)
    assert page.result is not None, page.status.text()
    assert page.table.rowCount() >= 2 and page.table.item(0, 0).text() == "all"
    assert_on(window, "Evaluate")


def predict(qtbot, window: MainWindow) -> None:
    """The Run button predicts the project's images; ▶ and then D show the next frames (and
    the page stays)."""
    page = click_rail(window, "Predict")
    assert page.controls.model_path() is not None and page.controls.model_path().name == \
        "best.pt"
    click(page.controls.run_button)
    assert page.job is not None, page.controls.status.text()
    wait_job(qtbot, page.job, 120_000)
    qtbot.waitUntil(lambda: page.current >= 0, timeout=10_000)
    assert len(page.frames) >= 2, page.controls.status.text()
    # the picture takes no keyboard focus and Run (in the dock) leaves it in the dock: the
    # user clicks ▶ once, then D steps on (see the report of issue 16's journey)
    shown = page.current
    click(page.next_button)
    assert page.current == shown + 1
    type_key(qtbot, Qt.Key.Key_D)
    assert page.current == shown + 2
    assert_on(window, "Predict")


def export_all(qtbot, window: MainWindow) -> dict[str, str]:
    """"Export all available": every row ends with a status and the app stays up."""
    page = click_rail(window, "Export")
    assert page.all_button.isEnabled()
    arrived: list[tuple[str, float]] = [("", time.monotonic())]  # each format's end (printed)
    page.bridge.outcome.connect(lambda outcome: arrived.append((outcome.format,
                                                                time.monotonic())))
    click(page.all_button)
    assert page.job is not None, page.status.text()
    formats = page.available_formats()
    wait_job(qtbot, page.job, EXPORT_MS)
    statuses = {page.results.item(row, 0).data(Qt.ItemDataRole.UserRole):
                page.results.item(row, 1).text() for row in range(page.results.rowCount())}
    assert list(statuses) == formats
    assert set(statuses.values()) <= FINAL_STATUSES, statuses
    # the formats whose runtime is here pass their parity check, OpenVINO included (it
    # aborted the whole app under the training allocator)
    for key in ("torchscript", "onnx", "openvino"):
        assert statuses[key] == "passed", (statuses, page.outcomes[key].message)
    for key, status in statuses.items():  # an error row says what happened
        assert status != "error" or page.outcomes[key].message, key
    print("\nExport all available: " + ", ".join(f"{k} {v}" for k, v in statuses.items()))
    print("  seconds: " + ", ".join(f"{key} {end - start:.0f}" for (_, start), (key, end)
                                    in zip(arrived, arrived[1:], strict=False)))
    for key, status in statuses.items():
        if status != "passed":
            print(f"  {key}: {page.outcomes[key].message[:300]}")
    assert window.isVisible() and window.project is not None
    return statuses


# ----- after a restart --------------------------------------------------------------------------
def check_segment_reopened(qtbot, window: MainWindow, folder: Path,
                           polygon: tuple[int, list[float]], run_id: int,
                           exported: dict[str, str]) -> None:
    open_recent(qtbot, window, folder)
    assert_on(window, "Export")  # the last page is remembered
    page = click_rail(window, "Annotate")
    qtbot.waitUntil(lambda: page.canvas.isVisible() and page.canvas.width() > 100, timeout=5000)
    image_id, points = polygon
    while page.current_image_id != image_id:  # D until the image drawn on
        position = page.image_ids.index(page.current_image_id)
        type_key(qtbot, Qt.Key.Key_D)
        assert page.image_ids.index(page.current_image_id) == position + 1
    assert_on(window, "Annotate")
    assert any(list(a.polygon) == pytest.approx(points, abs=1e-6)
               for a in page.document.annotations)

    train = click_rail(window, "Train")
    assert train.run_list.current_id() == run_id
    assert "completed" in train.title.text() and "2 epochs" in train.title.text()
    xs, _ys = train.plots._items[f"epochs:{run_id}"][0].getData()
    assert list(xs) == [1.0, 2.0]

    evaluate_page = click_rail(window, "Evaluate")
    assert evaluate_page.model.currentData().endswith("best.pt")

    # every export that wrote files is recorded and listed again; an error row wrote none
    kept = {key: status for key, status in exported.items() if status != "error"}
    with window.project.database.session() as session:
        records = {r.format: STATUS_TEXT[r.status] for r in session.scalars(select(ExportRecord))}
    assert records == kept
    export = click_rail(window, "Export")
    shown = {export.results.item(row, 0).data(Qt.ItemDataRole.UserRole):
             export.results.item(row, 1).text() for row in range(export.results.rowCount())}
    assert shown == kept


def check_pose_reopened(qtbot, window: MainWindow, folder: Path,
                        pose: tuple[int, list[float]]) -> None:
    open_recent(qtbot, window, folder)
    page = click_rail(window, "Annotate")
    qtbot.waitUntil(lambda: page.canvas.isVisible() and page.canvas.width() > 100, timeout=5000)
    image_id, keypoints = pose
    if page.current_image_id != image_id:
        type_key(qtbot, Qt.Key.Key_D)
    assert page.current_image_id == image_id
    (data,) = page.document.annotations
    assert data.kind == "pose" and list(data.keypoints) == pytest.approx(keypoints, abs=1e-6)

