"""The window's import and export flows: a dialog, a background job with progress and cancel,
then a report — the engine's verification problems in a table you can sort and click."""

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

from ..services.dataset_export import export_coco, export_yolo
from ..services.importers import ImportSummary, import_dataset
from ..services.projects import Project
from ..services.wording import plural
from ..workers import JobManager
from .file_dialogs import start_folder
from .import_dialog import ImportDialog
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
    job = jobs.start(
        f"Importing {Path(choice.source).name}",
        lambda progress, cancel: import_dataset(project, choice.source, choice.format,
                                                choice.copy, progress, cancel),
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
    """Write the project as a YOLO dataset folder or a COCO JSON file, in a job."""
    if kind == "yolo":
        folder = QFileDialog.getExistingDirectory(window, "Folder for the YOLO dataset",
                                                  start_folder(project.folder))
        if not folder:
            return
        target = Path(folder) / f"{project.folder.name}-yolo"
        job = jobs.start("Exporting YOLO dataset",
                         lambda progress, cancel: export_yolo(project, target, progress, cancel))
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
