"""Choose what to import: a source (file, folder or zip), its format (detected with the reason,
changeable), whether to copy the images into the project and, for another tool's labels in a
segmentation project, what rectangles become. The dialog only chooses; the caller runs
``studio.services.importers.import_dataset`` in a Job."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..services.import_labelset import LABELSET_FORMATS
from ..services.importers import (
    FORMAT_LABELS,
    FORMAT_TASKS,
    FORMATS,
    detect_format_why,
    wrong_task_message,
)
from ..state.models import POLYGON, annotation_kind
from .file_dialogs import start_folder

FILE_FILTER = ("Datasets (*.yaml *.yml *.json *.xml *.zip);;"
               "Images (*.jpg *.jpeg *.png *.bmp *.tif *.tiff *.webp)")
RECTANGLE_CHOICES = (("polygon", "Import rectangles as 4-point polygons"),
                     ("skip", "Skip rectangles"))
HOLDS_RECTANGLES = tuple(name for name in LABELSET_FORMATS if name != "masks")
"""The formats whose tools draw rectangles (mask PNGs hold none)."""


@dataclass(frozen=True)
class ImportChoice:
    """What the user chose: the source, its format, whether images are copied, and what a
    rectangle becomes in a segmentation project (``polygon`` or ``skip``)."""

    source: Path
    format: str
    copy: bool
    rectangles: str = "polygon"


class ImportDialog(QDialog):
    """Pick a dataset file or folder; shows the detected format and a copy option."""

    def __init__(self, task: str | None = None, parent: QWidget | None = None,
                 source: str | Path | None = None,
                 project_folder: str | Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Import a dataset")
        self.setMinimumWidth(560)
        self._task = task
        self._project_folder = project_folder
        self._detected: str | None = None
        self._why = ""
        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("A dataset yaml, JSON, XML or zip, or a folder")
        self.file_button = QPushButton("File…")
        self.folder_button = QPushButton("Folder…")
        self.format_combo = QComboBox()
        for name in FORMATS:
            self.format_combo.addItem(FORMAT_LABELS[name], name)
        self.format_combo.setCurrentIndex(-1)
        self.detected_label = QLabel("Choose a file or folder")
        self.detected_label.setWordWrap(True)
        self.problem_label = QLabel("")  # why the source cannot go into this project
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet("color: #d55e00")
        self.problem_label.hide()
        self.rectangles_label = QLabel("Rectangles")
        self.rectangles_combo = QComboBox()
        for value, text in RECTANGLE_CHOICES:
            self.rectangles_combo.addItem(text, value)
        self.rectangles_combo.setToolTip(
            "A segmentation project trains on outlines: a rectangle drawn in the other tool "
            "can become a 4-point polygon, or be left out. Either way the report lists them.")
        self.copy_check = QCheckBox("Copy images into the project")
        self.copy_check.setToolTip("Off: the images stay where they are and the project "
                                   "refers to them. On: the project keeps its own copies.")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setText("Import")
        # Enter imports: the browse buttons must never become the default button
        for button in (self.file_button, self.folder_button):
            button.setAutoDefault(False)
        ok.setDefault(True)
        self._lay_out()
        self._connect()
        if source is not None:
            self.set_source(source)
        self._update()

    def _lay_out(self) -> None:
        row = QHBoxLayout()
        row.addWidget(self.path_edit, 1)
        row.addWidget(self.file_button)
        row.addWidget(self.folder_button)
        form = QFormLayout()
        form.addRow("Source", row)
        form.addRow("Format", self.format_combo)
        form.addRow("", self.detected_label)
        form.addRow(self.rectangles_label, self.rectangles_combo)
        form.addRow("", self.copy_check)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        # the whole dialog's width, and the dialog grows to show every line of it
        layout.addWidget(self.problem_label)
        layout.addStretch(1)
        layout.addWidget(self.buttons)

    def _connect(self) -> None:
        self.file_button.clicked.connect(self._browse_file)
        self.folder_button.clicked.connect(self._browse_folder)
        # typed or pasted: detected as it changes, so Enter right after imports
        self.path_edit.textEdited.connect(self._detect)
        self.format_combo.currentIndexChanged.connect(lambda _index: self._update())
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

    def set_source(self, source: str | Path) -> None:
        """Use ``source`` and select the format detected for it (the user may change it)."""
        self.path_edit.setText(str(source).strip())
        self._detect(self.path_edit.text())

    def _detect(self, text: str) -> None:
        text = text.strip()
        detected, self._why = detect_format_why(text) if text else (None, "")
        index = self.format_combo.findData(detected) if detected else -1
        self.format_combo.setCurrentIndex(index)
        self._detected = detected
        self._update()

    def selected_format(self) -> str | None:
        """The format in the combo (None when none is chosen)."""
        data = self.format_combo.currentData()
        return str(data) if data else None

    def choice(self) -> ImportChoice | None:
        """The user's choice, or None when the source or format is missing."""
        text = self.path_edit.text().strip()
        chosen = self.selected_format()
        if not text or chosen is None or not Path(text).expanduser().exists():
            return None
        rectangles = str(self.rectangles_combo.currentData()) if self._asks_rectangles() \
            else "polygon"
        return ImportChoice(Path(text).expanduser(), chosen, self.copy_check.isChecked(),
                            rectangles)

    def _asks_rectangles(self) -> bool:
        """Only a segmentation project fed another tool's labels has rectangles to place."""
        return (self._task is not None and annotation_kind(self._task) == POLYGON
                and self.selected_format() in HOLDS_RECTANGLES)

    def start_folder(self) -> str:
        """Where the browse dialogs open: the source typed so far, else the project's folder,
        else home (never the folder the app was started from)."""
        return start_folder(self._project_folder, self.path_edit.text().strip() or None)

    def _browse_file(self) -> None:
        path, _filter = QFileDialog.getOpenFileName(self, "Choose a dataset file",
                                                    self.start_folder(), FILE_FILTER)
        if path:
            self.set_source(path)

    def _browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a dataset folder",
                                                self.start_folder())
        if path:
            self.set_source(path)

    def _update(self) -> None:
        self.detected_label.setText(self._status_text())
        problem = self._problem_text()
        self.problem_label.setText(problem)
        self.problem_label.setVisible(bool(problem))
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        ok.setEnabled(self.choice() is not None and self._fits_task())
        # a zip is unpacked into a temporary folder: its images can only be copied
        zipped = self.path_edit.text().strip().lower().endswith(".zip")
        if zipped:
            self.copy_check.setChecked(True)
        self.copy_check.setEnabled(not zipped)
        self.copy_check.setText("Copy images into the project" + (
            " (always, from a zip)" if zipped else ""))
        asks = self._asks_rectangles()
        self.rectangles_label.setVisible(asks)
        self.rectangles_combo.setVisible(asks)
        self._fit_height()

    def _fit_height(self) -> None:
        """Grow to show every line of the wrapped texts (a dialog keeps the height it was
        first shown at, and a longer text was cut)."""
        layout = self.layout()
        layout.activate()
        needed = layout.totalHeightForWidth(self.width()) if layout.hasHeightForWidth() \
            else layout.sizeHint().height()
        if needed > self.height():
            self.resize(self.width(), needed)

    def _fits_task(self) -> bool:
        chosen = self.selected_format()
        return chosen is None or self._task is None or self._task in FORMAT_TASKS[chosen]

    def _status_text(self) -> str:
        text = self.path_edit.text().strip()
        if not text:
            return "Choose a file or folder"
        if not Path(text).expanduser().exists():
            return f"Not found: {text}"
        detected = self._detected
        if detected is None:
            return "Format not recognised: choose one" + (f" ({self._why})" if self._why
                                                           else "")
        return f"Detected: {FORMAT_LABELS[detected]}" + (f", from {self._why}" if self._why else "")

    def _problem_text(self) -> str:
        """The whole wrong-task message, in people's words, or "" when the format fits."""
        chosen = self.selected_format()
        text = self.path_edit.text().strip()
        if not chosen or self._fits_task() or not text:
            return ""
        return wrong_task_message(chosen, str(self._task), Path(text).expanduser().is_dir())
