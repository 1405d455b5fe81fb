"""The window's import and export flows: a dialog, a background job with progress and cancel,
then a report — the engine's verification problems in a table you can sort and click.

A pose import of another tool's labels first reads the source's joints in a job; when some do
not match the project's keypoint schema by name, the joint-mapping dialog asks what they
become before the import starts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from engine.data.labelset_fit import match_joints

from ..services.dataset_export import ExportSummary, export_coco, export_yolo
from ..services.export_labelset import FORMAT_TITLES, TOOL_FORMATS, export_tool_format
from ..services.import_labelset import LABELSET_FORMATS
from ..services.importers import ImportSummary, import_dataset, source_joints
from ..services.projects import Project
from ..services.wording import plural
from ..state.models import KEYPOINTS, annotation_kind
from ..workers import JobManager
from .file_dialogs import start_folder
from .import_dialog import ImportChoice, ImportDialog
from .joint_map_dialog import JointMapDialog
from .problems_table import ProblemsTable

if TYPE_CHECKING:
    from .main_window import MainWindow


def run_import(window: MainWindow, project: Project, jobs: JobManager,
               source: str | None = None) -> None:
    """Ask what to import, then import it in a job; the report opens when it ends."""
    dialog = ImportDialog(project.task, window, source=source, project_folder=project.folder)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return
    choice = dialog.choice()
    if choice is None:
        return
    if annotation_kind(project.task) == KEYPOINTS and choice.format in LABELSET_FORMATS:
        _ask_joints_then_import(window, project, jobs, choice)
    else:
        _start_import(window, project, jobs, choice, None)


def _ask_joints_then_import(window: MainWindow, project: Project, jobs: JobManager,
                            choice: ImportChoice) -> None:
    """Read the source's joints (a job: a big file takes a while), then ask for the ones
    that do not match the schema by name, then import."""
    schema = list(project.settings().keypoint_names)
    job = jobs.start(f"Reading the joints of {choice.source.name}",
                     lambda _progress, _cancel: source_joints(project, choice.source,
                                                              choice.format))

    def read(joints: tuple[str, ...]) -> None:
        matched = match_joints(joints, schema)
        if all(index is not None for index in matched.values()):
            _start_import(window, project, jobs, choice, None)
            return
        dialog = JointMapDialog(joints, schema, window, source_name=choice.source.name)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            window.statusBar().showMessage("Import cancelled: nothing was imported", 10000)
            return
        _start_import(window, project, jobs, choice, dialog.joint_map())

    job.finished.connect(read)


def _start_import(window: MainWindow, project: Project, jobs: JobManager,
                  choice: ImportChoice, joint_map: dict[str, str | None] | None) -> None:
    job = jobs.start(
        f"Importing {Path(choice.source).name}",
        lambda progress, cancel: import_dataset(project, choice.source, choice.format,
                                                choice.copy, progress, cancel,
                                                rectangles=choice.rectangles,
                                                joint_map=joint_map),
    )

    def done(summary: ImportSummary) -> None:
        window.dataset_changed()
        window.statusBar().showMessage(summary.text(), 10000)
        if summary.problems or summary.status != "completed":
            ImportReport(summary, window).show()

    job.finished.connect(done)
    job.cancelled.connect(lambda: (window.dataset_changed(), window.statusBar().showMessage(
        "Import cancelled: the images imported before are kept", 10000)))


def run_export(window: MainWindow, project: Project, jobs: JobManager, kind: str) -> None:
    """Write the project as a YOLO dataset folder, a COCO JSON file, or another tool's files
    (labelme, CVAT 1.1, mask PNGs) in a folder, in a job."""
    if kind in ("yolo", *TOOL_FORMATS):
        title = "YOLO dataset" if kind == "yolo" else FORMAT_TITLES[kind]
        folder = QFileDialog.getExistingDirectory(window, f"Folder for the {title}",
                                                  start_folder(project.folder))
        if not folder:
            return
        target = Path(folder) / f"{project.folder.name}-{kind}"
        if kind == "yolo":
            job = jobs.start("Exporting YOLO dataset", lambda progress, cancel: export_yolo(
                project, target, progress, cancel))
        else:
            job = jobs.start(f"Exporting {title}", lambda progress, cancel: export_tool_format(
                project, target, kind, progress, cancel))
            job.finished.connect(lambda summary: summary.problems and ExportReport(
                summary, title, window).show())
    else:
        suggested = Path(start_folder(project.folder)) / f"{project.folder.name}.json"
        path, _ = QFileDialog.getSaveFileName(window, "COCO JSON file", str(suggested),
                                              "JSON (*.json)")
        if not path:
            return
        target = Path(path)
        job = jobs.start("Exporting COCO JSON",
                         lambda progress, cancel: export_coco(project, target, progress, cancel))
    job.finished.connect(lambda summary: window.statusBar().showMessage(
        f"Exported {plural(summary.images, 'image')} and "
        f"{plural(summary.annotations, 'annotation')} to {summary.path}", 15000))


class ExportReport(QDialog):
    """What an export wrote and what the format could not hold, one line each."""

    def __init__(self, summary: ExportSummary, title: str, parent: QWidget | None = None
                 ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Export as {title}")
        self.resize(820, 360)
        text = QLabel(f"Exported {plural(summary.images, 'image')} and "
                      f"{plural(summary.annotations, 'annotation')} to {summary.path}. "
                      "What could not be written is listed below.")
        text.setWordWrap(True)
        self.table = ProblemsTable(self)
        self.table.set_problems(summary.problems)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, parent=self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)


class ImportReport(QDialog):
    """What an import found: a summary line and the problems (double-click opens the image)."""

    def __init__(self, summary: ImportSummary, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Import of {Path(summary.source).name}")
        self.resize(820, 460)
        text = QLabel(summary.text() + (
            ". Bad files and lines were skipped; your source files were not changed."
            if summary.problems else "."))
        text.setWordWrap(True)
        self.table = ProblemsTable(self)
        self.table.set_problems(summary.problems)
        self.table.imageActivated.connect(self._open_image)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, parent=self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)

    def _open_image(self, path: str) -> None:
        ImagePreview(Path(path), self).show()


class ImagePreview(QDialog):
    """One file as it is, or why it can't be shown."""

    def __init__(self, path: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(path.name)
        layout = QVBoxLayout(self)
        pixmap = QPixmap(str(path)) if path.is_file() else QPixmap()
        if pixmap.isNull():
            label = QLabel(f"{path}\n\ncannot be shown: the file is missing or not an image "
                           "this app can read.")
            label.setWordWrap(True)
            layout.addWidget(label)
            return
        image = QLabel()
        image.setPixmap(pixmap)
        image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        scroll = QScrollArea()
        scroll.setWidget(image)
        scroll.setWidgetResizable(True)
        layout.addWidget(scroll)
        layout.addWidget(QLabel(str(path)))
        self.resize(min(pixmap.width() + 40, 1000), min(pixmap.height() + 80, 800))
