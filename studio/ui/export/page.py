"""The Export wizard: pick a model and formats (those this machine cannot build are shown
disabled with the reason and what to install), set each format's options, export them in turn
in one background Job, and read the results: status, file, size, parity against PyTorch and
latency, the accuracy an int8 export costs (its key metric on the project's val split against
the PyTorch model's; "not measured" for the others), with buttons to open the folder and copy a
ready-to-run snippet."""

from __future__ import annotations

import shlex
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...services.model_export import (
    ExportOutcome,
    ExportRequest,
    FormatInfo,
    existing_outputs,
    export_formats,
    export_models,
    output_for,
)
from ...services.projects import Project
from ...services.runs import ExportInfo, list_exports, list_runs
from ...services.usage_snippets import example_image
from ...services.wording import plural
from ...workers import JobManager
from ...workers.job import Job, JobProgress
from ..file_dialogs import start_folder
from ..page import Page
from .options import FormatOptions, availability_text, cuda_available, unavailable_text
from .snippet_dialog import SnippetDialog

STATUS_COLORS = {"passed": "#009e73", "failed": "#d55e00", "error": "#d55e00",
                 "unchecked": "#b8860b", "unavailable": "#7f7f7f"}
RESULT_COLUMNS = ("Format", "Status", "File", "Size", "Parity with PyTorch", "Latency",
                  "Accuracy vs fp32")


class _Bridge(QObject):
    """Carries the worker's per-format news to the GUI thread (queued signals)."""

    started = Signal(str)
    outcome = Signal(object)


class ExportPage(Page, QWidget):
    """``ExportPage(project, jobs, parent)``; ``export(formats)`` starts a Job."""

    exported = Signal(object)  # list[ExportOutcome], when a job has finished

    def __init__(self, project: Project, jobs: JobManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project, self.jobs = project, jobs
        self.job: Job | None = None
        self.outcomes: dict[str, ExportOutcome] = {}
        self.snippet_dialog: SnippetDialog | None = None
        self._results_for: str | None = None  # the checkpoint whose exports the table shows
        self.formats: list[FormatInfo] = export_formats()
        self.checks: dict[str, QCheckBox] = {}
        self.options: dict[str, FormatOptions] = {}
        self.bridge = _Bridge(self)
        self.bridge.started.connect(self._format_started)
        self.bridge.outcome.connect(self._format_done)
        self._build()
        self.refresh()

    # ----- layout -----
    def _build(self) -> None:
        self.model = QComboBox()
        self.model.setMinimumWidth(320)
        self.model.currentIndexChanged.connect(self._model_changed)
        choose = QPushButton("Choose checkpoint…")
        choose.clicked.connect(self.choose_file)
        bar = QHBoxLayout()
        for widget in (QLabel("Model"), self.model, choose):
            bar.addWidget(widget)
        bar.addStretch(1)
        self.where = QLabel("")
        self.where.setWordWrap(True)
        self.export_button = QPushButton("Export selected")
        self.export_button.clicked.connect(lambda: self.export(self.selected_formats()))
        self.all_button = QPushButton("Export all available")
        self.all_button.setToolTip("Every format this machine can build, with its options")
        self.all_button.clicked.connect(lambda: self.export(self.available_formats()))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        actions = QHBoxLayout()
        for widget in (self.export_button, self.all_button, self.cancel_button):
            actions.addWidget(widget)
        actions.addWidget(self.status, 1)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self._build_formats())
        splitter.addWidget(self._build_results())
        splitter.setSizes([430, 300])
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(self.where)
        layout.addLayout(actions)
        layout.addWidget(splitter, 1)

    def _build_formats(self) -> QWidget:
        self.format_table = QTableWidget(len(self.formats), 3)
        self.format_table.setHorizontalHeaderLabels(["Format", "Options", "On this machine"])
        self.format_table.verticalHeader().hide()
        self.format_table.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
        has_cuda = cuda_available()
        grey = self.palette().color(self.palette().ColorRole.PlaceholderText)
        for row, info in enumerate(self.formats):
            check = QCheckBox(f"{info.name}  ({info.format})")
            check.setEnabled(info.available)
            check.toggled.connect(self._update_buttons)
            self.checks[info.format] = check
            self.format_table.setCellWidget(row, 0, check)
            options = FormatOptions(info, 640, has_cuda=has_cuda)
            self.options[info.format] = options
            self.format_table.setCellWidget(row, 1, options)
            note = QTableWidgetItem(availability_text(info))
            note.setToolTip(availability_text(info))
            if not info.available:
                note.setForeground(QColor(STATUS_COLORS["failed"]))
                check.setToolTip(unavailable_text(info))
            elif info.runtime_note:
                note.setForeground(grey)
            self.format_table.setItem(row, 2, note)
        self.format_table.setWordWrap(True)
        self.format_table.resizeColumnToContents(0)
        self.format_table.resizeColumnToContents(1)
        self.format_table.horizontalHeader().setStretchLastSection(True)
        self.format_table.verticalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        return self.format_table

    def _build_results(self) -> QWidget:
        self.results = QTableWidget(0, len(RESULT_COLUMNS))
        self.results.setHorizontalHeaderLabels(list(RESULT_COLUMNS))
        self.results.resizeColumnsToContents()  # whole headers ("Parity with PyTorch")
        self.results.verticalHeader().hide()
        self.results.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.results.setWordWrap(True)
        self.results.verticalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.results.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.results.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.results.horizontalHeader().setStretchLastSection(False)
        self.results.itemSelectionChanged.connect(self._update_buttons)
        self.open_button = QPushButton("Open folder")
        self.open_button.clicked.connect(self.open_folder)
        self.copy_button = QPushButton("Copy usage snippet…")
        self.copy_button.setToolTip("Shows the yolo commands, Python with the engine and a "
                                    "script for the format's own runtime, to copy")
        self.copy_button.clicked.connect(self.copy_snippet)
        buttons = QHBoxLayout()
        buttons.addWidget(QLabel("<b>Results</b>"))
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.copy_button)
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.results, 1)
        return box

    # ----- the page protocol -----
    def refresh(self) -> None:
        """Reload the runs offered (after training)."""
        current = self.model.currentData()
        self.model.blockSignals(True)
        self.model.clear()
        for run in list_runs(self.project):
            checkpoint = run.checkpoint()
            if checkpoint is not None and run.status != "running":
                imgsz = run.settings.get("imgsz")
                self.model.addItem(f"{run.label} — {checkpoint.name}",
                                   (str(checkpoint), run.id, imgsz))
        if current and self._find(current[0]) < 0:
            self.model.addItem(Path(current[0]).name, current)
        self.model.blockSignals(False)
        if current:
            self.model.setCurrentIndex(self._find(current[0]))
        self._model_changed()

    def shortcuts(self) -> list[tuple[str, str]]:
        return []

    def close_page(self) -> None:
        """Stop a running export (the format being written finishes first)."""
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.job.wait(60000)

    # ----- the model -----
    def _find(self, path: str) -> int:
        for index in range(self.model.count()):
            data = self.model.itemData(index)
            if data and data[0] == path:
                return index
        return -1

    def choose_file(self) -> None:
        current = self.model.currentData()
        path, _ = QFileDialog.getOpenFileName(self, "Choose a checkpoint to export",
                                              start_folder(self.project.folder,
                                                           current[0] if current else None),
                                              "Checkpoints (*.pt);;All files (*)")
        if path:
            self.set_model(path)

    def set_model(self, path: str | Path, run_id: int | None = None,
                  imgsz: int | None = None) -> None:
        """Offer checkpoint ``path`` and select it."""
        text = str(path)
        if self._find(text) < 0:
            self.model.addItem(Path(text).name, (text, run_id, imgsz))
        self.model.setCurrentIndex(self._find(text))
        self._model_changed()

    def _model_changed(self, *_args: object) -> None:
        data = self.model.currentData()
        if data:
            default = 224 if self.project.task == "classify" else 640
            imgsz = data[2] if isinstance(data[2], int) else default
            for options in self.options.values():
                options.set_imgsz(imgsz)
            self.where.setText(f"Exports are written beside the checkpoint, in "
                               f"{Path(data[0]).parent}")
            if data[0] != self._results_for and not (self.job is not None and self.job.running):
                self.show_recorded(data[0])
        else:
            self.where.setText("No trained model yet — train one on the Train page, or choose "
                               "a checkpoint (.pt) to export.")
        self._update_buttons()

    # ----- exporting -----
    def selected_formats(self) -> list[str]:
        return [f for f, check in self.checks.items() if check.isChecked() and check.isEnabled()]

    def available_formats(self) -> list[str]:
        return [info.format for info in self.formats if info.available]

    def export(self, formats: list[str]) -> Job | None:
        """Export the chosen model to ``formats`` in one Job (asks once before replacing)."""
        data = self.model.currentData()
        if not data or not formats or (self.job is not None and self.job.running):
            return None
        checkpoint, run_id = data[0], data[1]
        existing = existing_outputs(checkpoint, formats)
        if existing and not self._confirm_overwrite(existing):
            return None
        requests = [ExportRequest(f, self.options[f].values()) for f in formats]
        self._reset_results(formats)
        self._results_for = checkpoint
        project, bridge = self.project, self.bridge
        self.job = self.jobs.start(
            f"Exporting {Path(checkpoint).name}",
            lambda progress, cancel: export_models(
                project, checkpoint, requests, run_id=run_id, on_outcome=bridge.outcome.emit,
                on_started=bridge.started.emit, progress=progress, cancel=cancel))
        self.job.progress.connect(self._progress)
        self.job.finished.connect(self._finished)
        self.job.failed.connect(lambda message, _d: self.status.setText(
            f"<span style='color:#d55e00'>Export failed: {message}</span>"))
        self.job.cancelled.connect(lambda: self.status.setText(
            "Export cancelled; the formats finished before it are kept."))
        self.job.ended.connect(self._update_buttons)
        self._update_buttons()
        return self.job

    def _confirm_overwrite(self, existing: list[Path]) -> bool:
        names = "\n".join(f"  {path.name}" for path in existing)
        answer = QMessageBox.question(
            self, "Replace earlier exports?",
            f"These exports already exist beside the checkpoint and will be replaced:\n{names}"
            "\n\nReplace them?")
        return answer == QMessageBox.StandardButton.Yes

    def cancel(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()

    def _update_buttons(self, *_args: object) -> None:
        running = self.job is not None and self.job.running
        has_model = self.model.currentData() is not None
        self.export_button.setEnabled(has_model and not running and bool(self.selected_formats()))
        self.all_button.setEnabled(has_model and not running)
        self.cancel_button.setEnabled(running)
        outcome = self.selected_outcome()
        self.open_button.setEnabled(outcome is not None and outcome.path is not None)
        self.copy_button.setEnabled(outcome is not None and outcome.status in
                                    ("passed", "unchecked"))

    def _progress(self, progress: JobProgress) -> None:
        self.status.setText(progress.text)

    def _finished(self, outcomes: list[ExportOutcome]) -> None:
        passed = sum(o.status == "passed" for o in outcomes)
        self.status.setText(f"{plural(len(outcomes), 'format')} done: {passed:,} passed "
                            "their check.")
        self.exported.emit(outcomes)

    # ----- results -----
    def _reset_results(self, formats: list[str]) -> None:
        self.outcomes = {}
        names = {info.format: info.name for info in self.formats}
        self.results.setRowCount(len(formats))
        for row, key in enumerate(formats):
            item = QTableWidgetItem(names.get(key, key))
            item.setData(Qt.ItemDataRole.UserRole, key)
            self.results.setItem(row, 0, item)
            self._set_cell(row, 1, "waiting")
            for column in range(2, len(RESULT_COLUMNS)):
                self._set_cell(row, column, "")

    def show_recorded(self, checkpoint: str | Path) -> None:
        """Show the recorded exports of ``checkpoint`` whose files are still beside it (the
        newest of each format): after a restart the table is not empty."""
        self._results_for = str(checkpoint)
        found: dict[str, ExportOutcome] = {}
        for record in list_exports(self.project):
            if record.format in found or not record.path.exists():
                continue
            try:
                expected = output_for(checkpoint, record.format)
            except Exception:  # noqa: BLE001 - a format this build no longer knows
                continue
            if _same_path(expected, record.path):
                found[record.format] = self._recorded_outcome(record)
        order = [info.format for info in self.formats]
        formats = sorted(found, key=lambda f: order.index(f) if f in order else len(order))
        self._reset_results(formats)
        for key in formats:
            self._format_done(found[key])
        if formats:
            self.status.setText(f"{plural(len(formats), 'earlier export')} of this checkpoint, "
                                "found beside it.")

    def _recorded_outcome(self, record: ExportInfo) -> ExportOutcome:
        details = record.details
        names = {info.format: info.name for info in self.formats}
        task = self.project.task
        where = shlex.quote(str(record.path))
        return ExportOutcome(
            format=record.format, name=str(details.get("name") or names.get(record.format,
                                                                               record.format)),
            status=record.status, task=task, path=record.path,
            size_mb=details.get("size_mb"), latency_ms=details.get("latency_ms"),
            max_error=details.get("max_error"), agreement=details.get("agreement"),
            parity=str(details.get("parity") or ""), message=str(details.get("message") or ""),
            metric_label=str(details.get("metric_label") or ""), metric=details.get("metric"),
            metric_fp32=details.get("metric_fp32"),
            accuracy_note=str(details.get("accuracy_note") or ""),
            usage=(f"yolo {task} predict model={where}",
                   f"yolo {task} val model={where} data=<your dataset>"),
            record_id=record.id)

    def _row_of(self, key: str) -> int:
        for row in range(self.results.rowCount()):
            if self.results.item(row, 0).data(Qt.ItemDataRole.UserRole) == key:
                return row
        return -1

    def _set_cell(self, row: int, column: int, text: str, color: str | None = None,
                  tip: str = "") -> None:
        item = QTableWidgetItem(text)
        item.setToolTip(tip or text)
        if color:
            item.setForeground(QColor(color))
        self.results.setItem(row, column, item)

    def _format_started(self, key: str) -> None:
        row = self._row_of(key)
        if row >= 0:
            self._set_cell(row, 1, "exporting…")

    def _format_done(self, outcome: ExportOutcome) -> None:
        row = self._row_of(outcome.format)
        if row < 0:
            return
        self.outcomes[outcome.format] = outcome
        color = STATUS_COLORS.get(outcome.status)
        self._set_cell(row, 1, outcome.status_text, color, outcome.message or outcome.parity)
        self._set_cell(row, 2, outcome.path.name if outcome.path else "",
                       tip=str(outcome.path or ""))
        self._set_cell(row, 3, f"{outcome.size_mb:.1f} MB" if outcome.size_mb is not None
                       else "")
        self._set_cell(row, 4, outcome.figures, color if outcome.status != "passed" else None)
        self._set_cell(row, 5, f"{outcome.latency_ms:.1f} ms" if outcome.latency_ms is not None
                       else "")
        self._set_cell(row, 6, outcome.accuracy_text if outcome.path is not None else "",
                       tip=outcome.accuracy_note or "Scored for int8 exports only: fp32 and "
                       "fp16 exports match PyTorch within their parity tolerance")
        self.results.resizeColumnsToContents()
        self.results.setColumnWidth(4, min(self.results.columnWidth(4), 520))
        if self.results.currentRow() < 0 and outcome.path is not None:
            self.results.selectRow(row)
        self._update_buttons()

    def selected_outcome(self) -> ExportOutcome | None:
        """The outcome of the selected results row."""
        row = self.results.currentRow()
        if row < 0 or self.results.item(row, 0) is None:
            return None
        return self.outcomes.get(self.results.item(row, 0).data(Qt.ItemDataRole.UserRole))

    def open_folder(self) -> None:
        """Show the selected export's folder in the file manager."""
        outcome = self.selected_outcome()
        if outcome is not None and outcome.path is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(outcome.path.parent)))

    def copy_snippet(self) -> SnippetDialog | None:
        """Show the selected export's snippets (commands, Python, plain runtime) to copy."""
        outcome = self.selected_outcome()
        if outcome is None or outcome.path is None:
            return None
        image = example_image(self.project)
        if self.snippet_dialog is not None:
            self.snippet_dialog.close()
        self.snippet_dialog = SnippetDialog(outcome.name, outcome.path,
                                            outcome.snippets(image), image, self)
        self.snippet_dialog.open()
        return self.snippet_dialog


def _same_path(first: Path, second: Path) -> bool:
    try:
        return first.resolve() == second.resolve()
    except OSError:
        return False
