"""The Train page: start, stop and resume training runs on the project's own annotations,
watch them live (losses per step, metrics per epoch, learning rate, progress with time left),
and reopen or overlay any earlier run.

Training runs as a Job (the jobs indicator shows it) calling ``services.training.run_training``;
its events arrive through a :class:`TrainingFeed` that a 10 Hz clock drains. The page draws
only while visible; training goes on whatever page is shown.
"""

from __future__ import annotations

import contextlib
import html
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from PySide6.QtCore import QObject, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QKeySequence, QPalette, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.errors import EngineError
from engine.events import EpochEnd, RunFinished, RunStarted, StepEnd, Warning

from ...services.projects import Project
from ...services.runs import (
    RunError,
    RunInfo,
    delete_run,
    list_runs,
    read_run_log,
    rename_run,
    run_epochs,
    save_run_log,
)
from ...services.training import (
    METRIC_COLUMNS,
    PRIMARY_METRIC,
    Note,
    RunCreated,
    RunEnded,
    TrainingData,
    TrainingFeed,
    TrainPlan,
    epoch_record,
    estimate_duration,
    list_devices,
    measured_costs,
    run_training,
    training_data,
)
from ...state.models import CLASS, KEYPOINTS, POLYGON, annotation_kind
from ...workers.job import Job, JobManager
from ..banner import Banner
from ..page import Page
from .plots import RunCurves, TrainPlots
from .run_list import RunList, run_color
from .settings_form import SettingsForm

REDRAW_MS = 100
LEVEL_COLORS = {"info": "", "warning": "#b8860b", "error": "#d55e00"}


class _DeviceProbe(QObject):
    """Lists devices on a plain thread (importing torch takes a second or two)."""

    found = Signal(list)

    def start(self) -> None:
        threading.Thread(target=lambda: self.found.emit(list_devices()), daemon=True,
                         name="list-devices").start()


class TrainPage(Page, QWidget):
    """Train models of ``project``. ``trainingEnded(run_id, status, message)`` follows every
    run this page started (status completed, cancelled or failed; run_id -1 when the run was
    never recorded)."""

    trainingEnded = Signal(int, str, str)
    context_title = "Run settings"

    def __init__(self, project: Project, jobs: JobManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project, self.jobs = project, jobs
        self.task = project.task
        self.feed = TrainingFeed()
        self.job: Job | None = None
        self.live_run: int | None = None
        self.ended: RunEnded | None = None
        self.runs: dict[int, RunInfo] = {}
        self.epochs: dict[int, list[tuple[int, dict[str, float]]]] = {}
        self._eta_origin: tuple[float, int] | None = None
        self.data = TrainingData(0, 0, 0)
        self.costs: list[float] = []  # measured speeds of earlier runs (services.training)
        self._known_costs: dict[int, float | None] = {}
        self.logs: dict[int, list[str]] = {}  # "HH:MM:SS\tlevel\ttext" per run
        self.pending_log: list[str] = []  # lines of a launch before its run is recorded
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="train-log")
        self.form = SettingsForm(self.task, project=project, jobs=jobs)
        self.form.apply_defaults((project.settings().options or {}).get("train_defaults", {}))
        self.form.changed.connect(self._update_buttons)
        self._build()
        self.clock = QTimer(self)
        self.clock.setInterval(REDRAW_MS)
        self.clock.timeout.connect(self._tick)
        self._probe = _DeviceProbe()
        self._probe.found.connect(self.form.set_devices)
        self._probe.start()
        for key, slot in (("Ctrl+Return", self.start), ("Ctrl+.", self.stop)):
            QShortcut(QKeySequence(key), self, slot,
                      context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.refresh()

    def _build(self) -> None:
        self.title = QLabel("<b>Train</b>")
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Train a new run with the settings on the right "
                                     "(Ctrl+Enter)")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop at the next step; the last checkpoint is kept (Ctrl+.)")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the selected stopped or failed run from its "
                                      "last.pt")
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.resume_button.clicked.connect(self.resume)
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        for button in (self.start_button, self.stop_button, self.resume_button):
            header.addWidget(button)
        # why Start is off, or how long a run would take
        self.start_note = QLabel()
        self.start_note.setObjectName("start_note")
        self.start_note.setWordWrap(True)
        self.start_note.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.banner = Banner()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("Not training")
        self.progress.setValue(0)
        self.run_list = RunList()
        self.run_list.opened.connect(self.open_run)
        self.run_list.overlaid.connect(lambda _ids: self._show_runs())
        self.run_list.renameRequested.connect(self.ask_rename)
        self.run_list.deleteRequested.connect(self.ask_delete)
        self.run_list.folderRequested.connect(self.open_folder)
        self.plots = TrainPlots(PRIMARY_METRIC.get(self.task, ""))
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setPlaceholderText("Messages and warnings of the selected run appear here")
        self.run_settings = QPlainTextEdit()
        self.run_settings.setReadOnly(True)
        self.run_settings.setPlaceholderText("The settings of the selected run appear here")
        self.use_settings = QPushButton("Use these settings")
        self.use_settings.setToolTip("Copy the selected run's epochs, image size, batch, "
                                     "device and advanced settings into the run settings")
        self.use_settings.clicked.connect(self.use_run_settings)
        settings_tab = QWidget()
        settings_layout = QVBoxLayout(settings_tab)
        settings_layout.setContentsMargins(0, 0, 0, 0)
        settings_layout.addWidget(self.run_settings, 1)
        settings_layout.addWidget(self.use_settings, 0, Qt.AlignmentFlag.AlignLeft)
        self.details = QTabWidget()
        self.details.addTab(self.log, "Log")
        self.details.addTab(settings_tab, "Settings")
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.plots)
        right.addWidget(self.details)
        right.setStretchFactor(0, 4)
        right.setStretchFactor(1, 1)
        body = QSplitter(Qt.Orientation.Horizontal)
        body.addWidget(self.run_list)
        body.addWidget(right)
        body.setStretchFactor(1, 1)
        body.setSizes([230, 800])
        layout = QVBoxLayout(self)
        layout.addLayout(header)
        layout.addWidget(self.start_note)
        layout.addWidget(self.banner)
        layout.addWidget(self.progress)
        layout.addWidget(body, 1)

    # -- the page protocol ---------------------------------------------------------------------
    def context_widget(self) -> QWidget:
        """The run settings, for the main window's right-hand dock."""
        return self.form

    def shortcuts(self) -> list[tuple[str, str]]:
        return [("Ctrl+Enter", "Start training"), ("Ctrl+.", "Stop training")]

    def refresh(self) -> None:
        """Reload the run list (and the runs the settings offer) and what a run would train on
        from the database."""
        runs = list_runs(self.project)
        self.runs = {run.id: run for run in runs}
        self.run_list.set_runs(runs)
        self.form.set_runs(runs)
        self.costs = measured_costs(self.project, runs, self._known_costs)
        self._refresh_data()
        if self.run_list.current_id() is None and runs:
            self.run_list.select(runs[0].id)
        self._update_buttons()

    def _refresh_data(self) -> None:
        self.data = training_data(self.project)
        self.form.set_training_data(self.data)

    def close_page(self) -> None:
        """Stop a running training (the project is closing) and wait for it briefly."""
        self.clock.stop()
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.job.wait(10_000)
        self._writer.shutdown(wait=True)  # the last log is on disk before the project closes
        self.form.model_source.stop()
        self.form.deleteLater()

    @property
    def running(self) -> bool:
        return self.job is not None

    # -- actions -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start a new run with the form's settings (when nothing stops it: see
        :meth:`start_blocker`; Ctrl+Enter while it is off shows why)."""
        self._refresh_data()
        self._update_buttons()
        blocker = self.start_blocker()
        if blocker:
            if not self.running:
                self._set_banner(blocker, "warning")
            return
        self._launch(self.form.plan(), "Training")

    def start_blocker(self) -> str:
        """Why Start is off, in words for its tooltip and the line under it ("" when on)."""
        if self.running:
            return "A run is in progress; stop it or wait for it to end"
        if self.data.labelled_train_images == 0:
            kind = {CLASS: "a class", POLYGON: "polygons",
                    KEYPOINTS: "poses"}.get(annotation_kind(self.task), "labels")
            return f"Add {kind} to at least one image in the train split (Annotate page)"
        errors = self.form.errors()
        if "model" in errors:
            return errors["model"]
        if errors:
            return "Fix the settings first: " + "; ".join(f"{k}: {v}" for k, v in errors.items())
        return ""

    def resume(self) -> None:
        """Continue the selected run from its last.pt."""
        run = self.runs.get(self.run_list.current_id() or -1)
        if self.running or run is None or not self._resumable(run):
            return
        self._launch(replace(self.form.plan(), resume_run_id=run.id), f"Resuming {run.name}")

    def stop(self) -> None:
        """Ask the run to stop at its next step (the checkpoint of the last epoch is kept)."""
        if self.job is not None:
            self.job.cancel()
            self.stop_button.setEnabled(False)
            self.progress.setFormat("Stopping…")

    def _launch(self, plan: TrainPlan, what: str) -> None:
        self._set_banner("", "info")
        self.ended = None
        self._eta_origin = None
        self.pending_log = []
        self.log.clear()
        self._append_log("info", f"— {what}: {plan.model or 'resume'}, {plan.epochs} epochs, "
                         f"imgsz {plan.imgsz}, batch {plan.batch}, device {plan.device}")
        project, feed = self.project, self.feed
        self.job = self.jobs.start(f"{what} ({project.name})", lambda progress, cancel:
                                   run_training(project, plan, feed, progress, cancel))
        self.job.failed.connect(self._job_failed)
        self.job.ended.connect(self._job_ended)
        self.progress.setFormat("Preparing the dataset…")
        self.progress.setValue(0)
        self.clock.start()
        self._update_buttons()

    def _resumable(self, run: RunInfo) -> bool:
        interrupted = run.status == "running" and run.id != self.live_run  # the app had stopped
        return (run.status in ("cancelled", "failed") or interrupted) and run.last.is_file()

    def _update_buttons(self) -> None:
        blocker = self.start_blocker()
        self.start_button.setEnabled(not blocker)
        self.start_button.setToolTip(f"Start is off: {blocker}" if blocker
                                     else "Train a new run (Ctrl+Enter)")
        self._show_start_note(blocker)
        self.stop_button.setEnabled(self.running and not self.job.token.cancelled)
        run = self.runs.get(self.run_list.current_id() or -1)
        self.resume_button.setEnabled(not self.running and run is not None
                                      and self._resumable(run))
        self.run_list.set_deletable(run is None or run.id != self.live_run)

    def _show_start_note(self, blocker: str) -> None:
        if blocker:
            self.start_note.setForegroundRole(QPalette.ColorRole.WindowText)
            self.start_note.setStyleSheet("color: #d55e00;")
            self.start_note.setText(f"Start is off: {blocker}")
        else:
            estimate = estimate_duration(self.task, self.form.plan(), self.data, self.costs)
            self.start_note.setStyleSheet("")
            self.start_note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
            self.start_note.setText(f"Duration: {estimate.text}")
            self.start_note.setToolTip("An estimate: epochs × train images × image size², "
                                       "at the speed measured on this project's earlier runs "
                                       "(or a rough speed for this model size)")
        self.start_note.show()

    # -- runs and plots ------------------------------------------------------------------------
    def open_run(self, run_id: int) -> None:
        """Show ``run_id``'s curves (and the ticked runs'), its log and settings, and its
        state in the title."""
        run = self.runs.get(run_id)
        if run is None:
            return
        self._show_title(run)
        self._show_runs()
        self._show_log(run)
        self._show_settings(run)
        self._update_buttons()

    def _show_log(self, run: RunInfo) -> None:
        if run.id not in self.logs:
            self.logs[run.id] = read_run_log(run)
        self.log.clear()
        for line in self.logs[run.id]:
            self.log.appendHtml(_log_html(line))

    def _show_settings(self, run: RunInfo) -> None:
        lines = [f"{key}: {value}" for key, value in run.settings.items()]
        self.run_settings.setPlainText(f"{run.name} · {run.model}\n\n" + "\n".join(lines))
        self.use_settings.setEnabled(bool(run.settings))

    def use_run_settings(self) -> None:
        """Copy the selected run's settings (not its model) into the run settings."""
        run = self.runs.get(self.run_list.current_id() or -1)
        if run is not None:
            self.form.apply_settings(run.settings)

    # -- rename, delete, open a run's folder -------------------------------------------------
    def ask_rename(self, run_id: int) -> None:
        """Ask for a new name of ``run_id`` (its folder keeps its path)."""
        run = self.runs.get(run_id)
        if run is None:
            return
        dialog = QInputDialog(self)
        dialog.setObjectName("rename_run")
        dialog.setWindowTitle("Rename run")
        dialog.setLabelText(f"New name of {run.name} (its folder stays {run.folder.name}):")
        dialog.setTextValue(run.name)
        dialog.textValueSelected.connect(lambda name: self.rename(run_id, name))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def rename(self, run_id: int, name: str) -> None:
        try:
            rename_run(self.project, run_id, name)
        except RunError as exc:
            self._set_banner(f"Not renamed: {exc}", "warning")
            return
        self.refresh()
        self.open_run(run_id)

    def ask_delete(self, run_id: int) -> None:
        """Ask once, then delete ``run_id`` (never the run that is training)."""
        run = self.runs.get(run_id)
        if run is None or run_id == self.live_run:
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Delete run",
                          f"Delete {run.name}? Its curves leave the list and its folder "
                          f"({run.folder.name}) moves to {self.project.folder.name}/.trash/runs, "
                          "where you can restore or remove it.",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                          self)
        box.setObjectName("delete_run")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.finished.connect(lambda result: self._delete_answered(run_id, result))
        box.finished.connect(box.deleteLater)
        box.open()

    def _delete_answered(self, run_id: int, result: int) -> None:
        if result != QMessageBox.StandardButton.Yes or run_id == self.live_run:
            return
        try:
            moved = delete_run(self.project, run_id, interrupted=True)
        except (RunError, OSError) as exc:
            self._set_banner(f"Not deleted: {exc}", "error")
            return
        self.logs.pop(run_id, None)
        self.epochs.pop(run_id, None)
        self.log.clear()
        self.refresh()
        self._show_runs()
        where = f"; its folder is in {moved}" if moved else ""
        self._set_banner(f"Run deleted{where}.", "info")

    def open_folder(self, run_id: int) -> None:
        """Open ``run_id``'s folder in the desktop's file manager."""
        run = self.runs.get(run_id)
        if run is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(run.folder)))

    def _show_title(self, run: RunInfo) -> None:
        text = f"<b>{html.escape(run.name)}</b> · {run.status} · {run.epochs_done} epochs"
        self.title.setText(text + (f" · {html.escape(run.message)}" if run.message else ""))

    def _show_runs(self) -> None:
        current = self.run_list.current_id()
        ids = [i for i in [current, *self.run_list.overlay_ids()] if i is not None]
        curves = []
        for run_id in dict.fromkeys(ids):
            run = self.runs.get(run_id)
            if run is None:
                continue
            if run_id not in self.epochs or run_id != self.live_run:
                self.epochs[run_id] = run_epochs(self.project, run_id)
            curves.append(RunCurves(run_id, run.name, run_color(run_id), self.epochs[run_id]))
        self.plots.set_runs(curves, current)

    # -- the clock -----------------------------------------------------------------------------
    def _tick(self) -> None:
        for event in self.feed.drain():
            self._handle(event)
        if self.isVisible():
            self.plots.redraw()

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self._refresh_data()  # labels may have changed on another page
        self._update_buttons()
        self.plots.request_redraw()
        self.plots.redraw()

    def _handle(self, event: object) -> None:
        if isinstance(event, StepEnd):
            if event.mode == "train":
                self._step(event)
        elif isinstance(event, EpochEnd):
            self._epoch(event)
        elif isinstance(event, RunCreated):
            self._run_created(event)
        elif isinstance(event, RunStarted) and event.mode == "train":
            self._append_log("info", event.description)
        elif isinstance(event, Warning):
            self._append_log("warning", event.message + (f" ({event.path})" if event.path
                                                         else ""))
        elif isinstance(event, Note):
            self._append_log(event.level, event.text)
        elif isinstance(event, RunFinished) and event.mode == "train":
            self._append_log("info", f"run {event.status} after {event.seconds:.0f} s"
                             + (f": {event.message}" if event.message else ""))
        elif isinstance(event, RunEnded):
            self.ended = event

    def _run_created(self, event: RunCreated) -> None:
        self.live_run = event.run_id
        earlier = read_run_log(self.runs[event.run_id]) if event.resumed and \
            event.run_id in self.runs else self.logs.get(event.run_id, [])
        self.logs[event.run_id] = earlier + self.pending_log
        self.pending_log = []
        self.epochs[event.run_id] = run_epochs(self.project, event.run_id) if event.resumed \
            else []
        self.plots.start_live(event.run_id, redraw=False)
        self.refresh()
        if self.run_list.current_id() == event.run_id:
            self.open_run(event.run_id)
        else:
            self.run_list.select(event.run_id)  # opens it
        self._append_log("info", f"run {event.name} → {event.folder}")

    def _step(self, event: StepEnd) -> None:
        self.plots.add_step(event.epoch - 1 + event.step / max(event.steps, 1), event.lr,
                            event.losses)
        done, total = (event.epoch - 1) * event.steps + event.step, event.epochs * event.steps
        now = time.monotonic()
        if self._eta_origin is None:
            self._eta_origin = (now, done)
        started, first = self._eta_origin
        eta = (now - started) / (done - first) * (total - done) if done > first else None
        rate = f" · {event.images_per_s:.0f} img/s" if event.images_per_s else ""
        left = f" · {_duration(eta)} left" if eta is not None else ""
        self.progress.setValue(int(1000 * done / max(total, 1)))
        self.progress.setFormat(f"epoch {event.epoch}/{event.epochs} · step {event.step}/"
                                f"{event.steps}{rate}{left}")

    def _epoch(self, event: EpochEnd) -> None:
        if self.live_run is None:
            return
        metrics = epoch_record(event)
        epochs = self.epochs.setdefault(self.live_run, [])
        epochs[:] = [e for e in epochs if e[0] != event.epoch] + [(event.epoch, metrics)]
        self.plots.add_epoch(self.live_run, event.epoch, metrics)
        run = self.runs.get(self.live_run)
        if run is not None:  # the list and title count epochs, without a query or a rebuild
            self.runs[run.id] = run = replace(run, epochs_done=len(epochs))
            self.run_list.update_run(run)
            if self.run_list.current_id() == run.id:
                self._show_title(run)
        shown = [f"{k.split('/', 1)[1]} {metrics[k]:.4g}" for k in METRIC_COLUMNS.get(self.task, ())
                 if k in metrics]
        best = " · best so far" if event.is_best else ""
        self._append_log("info", f"epoch {event.epoch}/{event.epochs} in {event.seconds:.1f} s"
                         + (": " + ", ".join(shown) if shown else "") + best)
        self._save_log(self.live_run)

    def _save_log(self, run_id: int | None) -> None:
        """Write the run's log into its folder on the page's writer thread (an atomic write
        syncs the disk: not on the GUI thread); writes keep their order."""
        run = self.runs.get(run_id if run_id is not None else -1)
        if run is not None:
            self._writer.submit(_save_quietly, run, list(self.logs.get(run.id, [])))

    # -- the end -------------------------------------------------------------------------------
    def _job_failed(self, message: str, _details: str) -> None:
        self._tick()
        self._append_log("error", message)
        self._set_banner(f"Training failed: {message}", "error")

    def _job_ended(self) -> None:
        self._tick()
        self.clock.stop()
        ended = self.ended or RunEnded(-1, "failed", "the run did not start")
        if ended.status == "completed":
            self._set_banner("Training completed. best.pt and last.pt are in the run's "
                             "weights folder.", "info")
        elif ended.status == "cancelled":
            self._set_banner("Training stopped. The checkpoint of the last finished epoch is "
                             "kept: select the run and press Resume to continue.", "warning")
        self.progress.setFormat(f"Run {ended.status}")
        self._save_log(self.live_run if self.live_run is not None else ended.run_id)
        self.job = None
        self.live_run = None
        self.plots.request_redraw()
        self.refresh()
        if ended.run_id in self.runs:
            self.open_run(ended.run_id)
        self.trainingEnded.emit(ended.run_id, ended.status, ended.message)

    def _set_banner(self, text: str, level: str) -> None:
        self.banner.show_message(text, level)

    def _append_log(self, level: str, text: str) -> None:
        """A line of the live run's log (shown when that run, or nothing yet, is selected)."""
        line = f"{time.strftime('%H:%M:%S')}\t{level}\t{text}"
        run_id = self.live_run
        lines = self.pending_log if run_id is None else self.logs.setdefault(run_id, [])
        lines.append(line)
        if run_id is None or self.run_list.current_id() == run_id:
            self.log.appendHtml(_log_html(line))


def _save_quietly(run: RunInfo, lines: list[str]) -> None:
    # e.g. a full disk: the run's own error says so; the log is extra
    with contextlib.suppress(OSError, EngineError):
        save_run_log(run, lines)


def _log_html(line: str) -> str:
    """A saved log line (``stamp<TAB>level<TAB>text``) as the log shows it."""
    parts = line.split("\t", 2)
    stamp, level, text = parts if len(parts) == 3 else ("", "info", line)
    colour = LEVEL_COLORS.get(level, "")
    body = html.escape(text)
    if colour:
        body = f'<span style="color:{colour}">{level}: {body}</span>'
    return f'<span style="color:gray">{stamp}</span> {body}'


def _duration(seconds: float) -> str:
    """``1:02:03`` or ``2:03``."""
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
