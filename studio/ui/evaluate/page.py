"""The Evaluate page: pick a run's checkpoint (or any checkpoint or export), score it on the
project's val split in a Job, and read the metrics table, the confusion matrix and the PR
curves; clicking a cell, a class row or a curve lists the images behind it.

It opens on the newest result kept on disk (``services.evaluation_files``): the latest run's
final validation, which training already computed, or the last evaluation run here."""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal, SignalInstance
from PySide6.QtGui import QColor, QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...services.evaluation import EvaluationResult, evaluate
from ...services.evaluation_files import (
    FINAL_VALIDATION,
    EvaluationFileError,
    SavedEvaluation,
    latest_evaluation_path,
    latest_saved,
    load_saved,
    save_result,
)
from ...services.palette import class_color
from ...services.projects import Project
from ...services.runs import list_runs
from ...services.wording import plural
from ...workers import JobManager
from ...workers.job import Job, JobProgress
from ..empty_state import EmptyState
from ..file_dialogs import start_folder
from ..page import Page
from .confusion import ConfusionMatrixView
from .curves import PrCurvesView
from .images import OutcomeStrip

MODEL_FILTER = ("Models (*.pt *.onnx *.torchscript *.engine *.tflite *.pb *.mlpackage);;"
                "All files (*)")


NO_IMAGES = ("The final validation of training keeps the counts, not the images behind them: "
             "press Evaluate (F5) to list the images of each cell, class and curve.")


def source_text(result: EvaluationResult) -> str:
    """``<b>train3</b> · best.pt (epoch 12) · final validation of training · 2026-12-06 15:20``
    (rich text): which model the figures belong to and what made them."""
    who = html.escape(result.run_name) if result.run_name else "a model file"
    model = html.escape(result.model_path.name)
    if result.epoch is not None:
        model += f" (epoch {result.epoch})"
    what = "final validation of training" if result.source == FINAL_VALIDATION else \
        "evaluated on the val split"
    when = result.made_at.replace("T", " ")[:16]
    when = f" · {when} UTC" if when else ""
    note = f" · confusion matrix: {html.escape(result.note)}" if result.note else ""
    return f"<b>{who}</b> · {model} · {what}{when}{note}"


def _format(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{float(value):.3f}"  # type: ignore[arg-type]


def swatch(color: str, size: int = 12) -> QIcon:
    """A small square of ``color`` (the class colour beside a name)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


class EvaluatePage(Page, QWidget):
    """``EvaluatePage(project, jobs, parent)``; ``evaluate_path(path)`` starts a run."""

    openImage = Signal(int)  # noqa: N815 - Qt signal naming
    evaluated = Signal(object)  # EvaluationResult, when a job has finished

    def __init__(self, project: Project, jobs: JobManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project, self.jobs = project, jobs
        self.job: Job | None = None
        self.result: EvaluationResult | None = None
        self._shown_saved: tuple[str, int] | None = None  # (path, time written) of the file
        self._build()
        self.refresh()

    # ----- layout -----
    def _build(self) -> None:
        self.model = QComboBox()
        self.model.setMinimumWidth(320)
        self.model.setToolTip("A finished run's best checkpoint, or a file you chose")
        choose = QPushButton("Choose file…")
        choose.clicked.connect(self.choose_file)
        choose_folder = QPushButton("Choose export folder…")
        choose_folder.setToolTip("An exported model folder (OpenVINO, SavedModel, ncnn, …)")
        choose_folder.clicked.connect(self.choose_folder)
        self.imgsz = QSpinBox()
        self.imgsz.setRange(0, 4096)
        self.imgsz.setSingleStep(32)
        self.imgsz.setSpecialValueText("model's")
        self.imgsz.setToolTip("Image size for validation (model's: the size it was trained at)")
        self.run_button = QPushButton("Evaluate")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        bar = QHBoxLayout()
        for widget in (QLabel("Model"), self.model, choose, choose_folder, QLabel("Image size"),
                       self.imgsz, self.run_button, self.cancel_button):
            bar.addWidget(widget)
        bar.addStretch(1)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.source_label = QLabel("")  # what is shown: which run, final validation or not
        self.source_label.setWordWrap(True)
        self.source_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.empty = EmptyState(
            "Nothing evaluated yet",
            "Choose a trained model above (a run from the Train page, or any checkpoint or "
            "export) and press Evaluate: it is scored on the project's val split, with a "
            "confusion matrix and PR curves you can click to see the images.",
            (("Choose a model file…", self.choose_file),))
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self._build_results())
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(self.source_label)
        layout.addWidget(self.stack, 1)
        QShortcut(QKeySequence("F5"), self, self.start)

    def _build_results(self) -> QWidget:
        self.table = QTableWidget()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.table.verticalHeader().hide()
        self.table.cellClicked.connect(self._row_clicked)
        self.confusion = ConfusionMatrixView()
        self.confusion.cellClicked.connect(self.show_cell)
        self.curves = PrCurvesView()
        self.curves.classClicked.connect(self.show_class)
        self.strip = OutcomeStrip(self.project)
        self.strip.openImage.connect(self.openImage)
        plots = QSplitter(Qt.Orientation.Horizontal)
        plots.addWidget(self._titled("Confusion matrix (rows: true, columns: predicted; "
                                     "count and share of the row)", self.confusion))
        plots.addWidget(self._titled("Precision–recall per class (mean in bold)", self.curves))
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(plots)
        splitter.addWidget(self.strip)
        splitter.setSizes([250, 400, 150])  # the table shows 5 rows at 1280 × 720
        return splitter

    @staticmethod
    def _titled(title: str, widget: QWidget) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        label = QLabel(f"<b>{title}</b>")
        label.setWordWrap(True)
        layout.addWidget(label)
        layout.addWidget(widget, 1)
        return box

    # ----- the page protocol -----
    def refresh(self) -> None:
        """Reload the runs offered (after training) and show the newest saved result (a run
        that just ended: its final validation)."""
        self._refresh_models()
        self.show_latest_saved()

    def _refresh_models(self) -> None:
        current = self.model.currentData()
        self.model.clear()
        for run in list_runs(self.project):
            checkpoint = run.checkpoint()
            if checkpoint is not None and run.status != "running":
                self.model.addItem(f"{run.label} — {checkpoint.name}", str(checkpoint))
        if current and self.model.findData(current) < 0:
            self.model.addItem(Path(current).name, current)
        if current:
            self.model.setCurrentIndex(self.model.findData(current))
        self._update_buttons()

    def open_image_requests(self) -> SignalInstance:
        """``openImage(image_id)``: a double-click on an image behind a cell or a class."""
        return self.openImage

    def shortcuts(self) -> list[tuple[str, str]]:
        return [("F5", "Evaluate the chosen model")]

    def close_page(self) -> None:
        """Stop the running evaluation and the thumbnail threads."""
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.job.wait(10000)
        self.strip.stop()

    # ----- choosing and running -----
    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a model", start_folder(self.project.folder, self.model.currentData()),
            MODEL_FILTER)
        if path:
            self.set_model(path)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Choose an exported model folder",
            start_folder(self.project.folder, self.model.currentData()))
        if path:
            self.set_model(path)

    def set_model(self, path: str | Path) -> None:
        """Offer ``path`` and select it."""
        text = str(path)
        if self.model.findData(text) < 0:
            self.model.addItem(Path(text).name, text)
        self.model.setCurrentIndex(self.model.findData(text))
        self._update_buttons()

    def evaluate_path(self, path: str | Path) -> Job | None:
        """Select ``path`` and evaluate it."""
        self.set_model(path)
        return self.start()

    def start(self) -> Job | None:
        """Evaluate the chosen model in a Job (one at a time)."""
        path = self.model.currentData()
        if not path or (self.job is not None and self.job.running):
            return None
        project, size = self.project, self.imgsz.value() or None
        run_name = self._run_of(Path(path))
        self.status.setText(f"Evaluating {Path(path).name} on the val split…")

        def work(progress, cancel) -> EvaluationResult:
            result = evaluate(project, path, imgsz=size, progress=progress, cancel=cancel)
            result.run_name = run_name
            try:  # kept for the next start; off the GUI thread (a result lists every image)
                save_result(result, latest_evaluation_path(project))
            except OSError as exc:
                result.warnings.append(f"the result was not kept for the next start: {exc}")
            return result

        self.job = self.jobs.start(f"Evaluating {Path(path).name}", work)
        self.job.progress.connect(self._progress)
        self.job.finished.connect(self.show_result)
        self.job.failed.connect(self._failed)
        self.job.cancelled.connect(lambda: self.status.setText("Evaluation cancelled."))
        self.job.ended.connect(self._update_buttons)
        self._update_buttons()
        return self.job

    def cancel(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()

    def _run_of(self, path: Path) -> str | None:
        """The name of the run whose folder holds ``path`` (None: a file from elsewhere)."""
        for run in list_runs(self.project):
            if path.is_relative_to(run.folder):
                return run.name
        return None

    # ----- saved results -----
    def show_latest_saved(self) -> bool:
        """Show the newest saved result when it is not the one shown (none while a job runs).
        A file that cannot be read is said in the status line; the page stays usable."""
        if self.job is not None and self.job.running:
            return False
        saved = latest_saved(self.project)
        if saved is None or self._shown_saved == (str(saved.path), saved.modified):
            return False
        self._shown_saved = (str(saved.path), saved.modified)
        return self.load_saved(saved)

    def load_saved(self, saved: SavedEvaluation) -> bool:
        """Read and show ``saved``; False (and a message) when it cannot be read."""
        try:
            result = load_saved(saved)
        except EvaluationFileError as exc:
            self._failed(f"the saved result could not be shown: {exc}", "")
            return False
        if str(result.model_path) and Path(result.model_path).exists():
            self.set_model(result.model_path)
        self.show_result(result)
        return True

    def _update_buttons(self) -> None:
        running = self.job is not None and self.job.running
        self.run_button.setEnabled(not running and self.model.currentData() is not None)
        self.cancel_button.setEnabled(running)

    def _progress(self, progress: JobProgress) -> None:
        self.status.setText(progress.text)

    def _failed(self, message: str, _details: str) -> None:
        text = message if message.startswith("the saved result") else \
            f"Evaluation failed: {message}"
        self.status.setText(f"<span style='color:#d55e00'>{html.escape(text)}</span>")

    # ----- results -----
    def colors(self) -> list[str]:
        """The class colours, in class order."""
        return [c.color or class_color(c.index) for c in self.project.classes()]

    def show_result(self, result: EvaluationResult) -> None:
        """Fill the table and the plots with ``result``."""
        self.result = result
        colors = self.colors()
        warnings = f" · {plural(len(result.warnings), 'warning')}: {result.warnings[0]}" \
            if result.warnings else ""
        if result.source == FINAL_VALIDATION:
            self.status.setText("Opened on the final validation that training computed. Press "
                                "Evaluate to score the model on the val split as it is now and "
                                "to see the images behind each cell.")
        else:
            images = plural(len(result.outcomes), "val image")
            self.status.setText(f"{result.model_path.name} on {images} "
                                f"in {result.seconds:.1f} s{warnings}")
        self.source_label.setText(source_text(result))
        kept = latest_evaluation_path(self.project)
        if result.source != FINAL_VALIDATION and kept.is_file():  # kept: no need to read it
            self._shown_saved = (str(kept), kept.stat().st_mtime_ns)
        self._fill_table(result, colors)
        self.confusion.set_matrix(result.confusion, result.labels, colors)
        self.curves.set_curves(result.curves, result.names, colors)
        self.stack.setCurrentIndex(1)
        self.strip.clear_outcomes(None if result.has_outcomes else NO_IMAGES)
        self.evaluated.emit(result)

    def _fill_table(self, result: EvaluationResult, colors: list[str]) -> None:
        columns = ["Class", *result.columns]
        self.table.clear()
        self.table.setColumnCount(len(columns))
        self.table.setHorizontalHeaderLabels(columns)
        self.table.setRowCount(len(result.per_class) + 1)
        rows = [{"name": "all", **result.overall}, *result.per_class]
        for row, values in enumerate(rows):
            name = QTableWidgetItem(str(values["name"]))
            if row > 0:
                name.setIcon(swatch(colors[values["index"]] if values["index"] < len(colors)
                                    else class_color(values["index"])))
            else:
                font = name.font()
                font.setBold(True)
                name.setFont(font)
            self.table.setItem(row, 0, name)
            for column, key in enumerate(result.columns, start=1):
                item = QTableWidgetItem(_format(values.get(key)))
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
        self.table.resizeColumnsToContents()

    def _row_clicked(self, row: int, _column: int) -> None:
        if row > 0:
            self.show_class(row - 1)

    def show_cell(self, true: int, predicted: int) -> None:
        """List the images counted in a confusion cell."""
        if self.result is None:
            return
        if not self.result.has_outcomes:
            self.strip.clear_outcomes(NO_IMAGES)
            return
        labels = self.result.labels
        self.strip.show_outcomes(f"true {labels[true]}, predicted {labels[predicted]}",
                                 self.result.images_in_cell(true, predicted), self.result.names)

    def show_class(self, index: int) -> None:
        """List the images where class ``index`` is true or predicted; emphasise its curve."""
        if self.result is None or not 0 <= index < len(self.result.names):
            return
        self.curves.highlight(index)
        if not self.result.has_outcomes:
            self.strip.clear_outcomes(NO_IMAGES)
            return
        self.strip.show_outcomes(f"class {self.result.names[index]}",
                                 self.result.images_of_class(index), self.result.names)
