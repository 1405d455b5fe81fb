"""The status bar's one jobs indicator: the running job's name, progress, ETA and a cancel
button; clicking it opens the jobs panel with every job."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..workers import Job, JobManager, JobProgress


def describe(job: Job) -> str:
    """``Importing shapes · 120/400 · 12 s left``."""
    progress: JobProgress = job.last_progress
    parts = [job.name]
    if progress.total:
        parts.append(f"{progress.done}/{progress.total}")
    if progress.text:
        parts.append(progress.text)
    if progress.eta is not None:
        parts.append(f"{_duration(progress.eta)} left")
    return " · ".join(parts)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _fill(bar: QProgressBar, progress: JobProgress) -> None:
    if progress.total:
        bar.setRange(0, progress.total)
        bar.setValue(progress.done)
    else:
        bar.setRange(0, 0)  # busy


class JobsIndicator(QWidget):
    """Hidden when nothing runs."""

    def __init__(self, jobs: JobManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.label = QToolButton(self)
        self.label.setAutoRaise(True)
        self.label.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.label.setToolTip("Background jobs: click to see them all")
        self.label.clicked.connect(self.open_panel)
        self.bar = QProgressBar(self)
        self.bar.setFixedWidth(160)
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel", self)
        self.cancel_button.setToolTip("Stop this job at its next safe point")
        self.cancel_button.clicked.connect(self._cancel_first)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        jobs.changed.connect(self.refresh)
        self.panel: JobsPanel | None = None
        self.refresh()

    def refresh(self) -> None:
        running = self.jobs.running
        self.setVisible(bool(running))
        if not running:
            return
        first = running[0]
        more = f" (+{len(running) - 1} more)" if len(running) > 1 else ""
        self.label.setText(describe(first) + more)
        _fill(self.bar, first.last_progress)

    def open_panel(self) -> None:
        if self.panel is None:
            self.panel = JobsPanel(self.jobs, self.window())
        self.panel.refresh()
        self.panel.show()
        self.panel.raise_()

    def _cancel_first(self) -> None:
        running = self.jobs.running
        if running:
            running[0].cancel()
            self.cancel_button.setEnabled(False)
            self.label.setText(f"{running[0].name} · stopping…")
            running[0].ended.connect(lambda: self.cancel_button.setEnabled(True))


class JobsPanel(QDialog):
    """Every running job with its progress and a cancel button."""

    def __init__(self, jobs: JobManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Background jobs")
        self.setMinimumWidth(440)
        self.jobs = jobs
        self._layout = QVBoxLayout(self)
        jobs.changed.connect(self.refresh)

    def refresh(self) -> None:
        while self._layout.count():
            item = self._layout.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        if not self.jobs.running:
            self._layout.addWidget(QLabel("Nothing is running."))
            return
        for job in self.jobs.running:
            row = QWidget(self)
            line = QHBoxLayout(row)
            line.addWidget(QLabel(describe(job)), 1)
            bar = QProgressBar(row)
            bar.setFixedWidth(140)
            _fill(bar, job.last_progress)
            line.addWidget(bar)
            cancel = QPushButton("Cancel", row)
            cancel.clicked.connect(job.cancel)
            line.addWidget(cancel)
            self._layout.addWidget(row)
