"""The Train page: start, stop and resume training runs on the project's own annotations,
watch them live (losses per step, metrics per epoch, learning rate, progress with time left),
and reopen or overlay any earlier run.

Training runs as a Job (the jobs indicator shows it) calling ``services.training.run_training``;
its events arrive through a :class:`TrainingFeed` that a 10 Hz clock drains. The page draws
only while visible; training goes on whatever page is shown.
"""

from __future__ import annotations

import html
import threading
import time
from dataclasses import replace

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from engine.events import EpochEnd, RunFinished, RunStarted, StepEnd, Warning

from ...services.projects import Project
from ...services.runs import RunInfo, list_runs, run_epochs
from ...services.training import (
    PRIMARY_METRIC,
    Note,
    RunCreated,
    RunEnded,
    TrainingFeed,
    TrainPlan,
    list_devices,
    run_training,
)
from ...workers.job import Job, JobManager
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


class TrainPage(QWidget):
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
        self.form = SettingsForm(self.task)
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
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.banner.hide()
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("Not training")
        self.progress.setValue(0)
        self.run_list = RunList()
        self.run_list.opened.connect(self.open_run)
        self.run_list.overlaid.connect(lambda _ids: self._show_runs())
        self.plots = TrainPlots(PRIMARY_METRIC.get(self.task, ""))
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(5000)
        self.log.setPlaceholderText("Messages and warnings of the run appear here")
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.plots)
        right.addWidget(self.log)
        right.setStretchFactor(0, 4)
        right.setStretchFactor(1, 1)
        body = QSplitter(Qt.Orientation.Horizontal)
        body.addWidget(self.run_list)
        body.addWidget(right)
        body.setStretchFactor(1, 1)
        body.setSizes([230, 800])
        layout = QVBoxLayout(self)
        layout.addLayout(header)
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
        """Reload the run list (and the runs the settings offer) from the database."""
        runs = list_runs(self.project)
        self.runs = {run.id: run for run in runs}
        self.run_list.set_runs(runs)
        self.form.set_runs(runs)
        if self.run_list.current_id() is None and runs:
            self.run_list.select(runs[0].id)
        self._update_buttons()

    def close_page(self) -> None:
        """Stop a running training (the project is closing) and wait for it briefly."""
        self.clock.stop()
        if self.job is not None and self.job.running:
            self.job.cancel()
            self.job.wait(10_000)
        self.form.deleteLater()

    @property
    def running(self) -> bool:
        return self.job is not None

    # -- actions -------------------------------------------------------------------------------
    def start(self) -> None:
        """Start a new run with the form's settings."""
        if self.running or self.form.errors():
            return
        self._launch(self.form.plan(), "Training")

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
        errors = self.form.errors()
        self.start_button.setEnabled(not self.running and not errors)
        self.start_button.setToolTip("Fix the settings first: " + "; ".join(
            f"{k}: {v}" for k, v in errors.items()) if errors else "Train a new run (Ctrl+Enter)")
        self.stop_button.setEnabled(self.running and not self.job.token.cancelled)
        run = self.runs.get(self.run_list.current_id() or -1)
        self.resume_button.setEnabled(not self.running and run is not None
                                      and self._resumable(run))

    # -- runs and plots ------------------------------------------------------------------------
    def open_run(self, run_id: int) -> None:
        """Show ``run_id``'s curves (and the ticked runs'), and its state in the title."""
        run = self.runs.get(run_id)
        if run is None:
            return
        self._show_title(run)
        self._show_runs()
        self._update_buttons()

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
        metrics = dict(event.metrics)
        epochs = self.epochs.setdefault(self.live_run, [])
        epochs[:] = [e for e in epochs if e[0] != event.epoch] + [(event.epoch, metrics)]
        self.plots.add_epoch(self.live_run, event.epoch, metrics)
        run = self.runs.get(self.live_run)
        if run is not None:  # the list and title count epochs, without a query or a rebuild
            self.runs[run.id] = run = replace(run, epochs_done=len(epochs))
            self.run_list.update_run(run)
            if self.run_list.current_id() == run.id:
                self._show_title(run)
        shown = [f"{k.split('/', 1)[1]} {v:.4g}" for k, v in metrics.items()
                 if k.startswith("metrics/") and ("mAP50-95" in k or "top1" in k)]
        best = " · best so far" if event.is_best else ""
        self._append_log("info", f"epoch {event.epoch}/{event.epochs} in {event.seconds:.1f} s"
                         + (": " + ", ".join(shown) if shown else "") + best)

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
        self.job = None
        self.live_run = None
        self.plots.request_redraw()
        self.refresh()
        if ended.run_id in self.runs:
            self.open_run(ended.run_id)
        self.trainingEnded.emit(ended.run_id, ended.status, ended.message)

    def _set_banner(self, text: str, level: str) -> None:
        colours = {"info": ("#1f5f3f", "#e6f4ea"), "warning": ("#7a5200", "#fff4d6"),
                   "error": ("#8a1c00", "#fde7e1")}
        foreground, background = colours.get(level, colours["info"])
        self.banner.setStyleSheet(f"color: {foreground}; background: {background}; "
                                  "border-radius: 4px; padding: 6px;")
        self.banner.setText(text)
        self.banner.setVisible(bool(text))

    def _append_log(self, level: str, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        colour = LEVEL_COLORS.get(level, "")
        body = html.escape(text)
        if colour:
            body = f'<span style="color:{colour}">{level}: {body}</span>'
        self.log.appendHtml(f'<span style="color:gray">{stamp}</span> {body}')


def _duration(seconds: float) -> str:
    """``1:02:03`` or ``2:03``."""
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
