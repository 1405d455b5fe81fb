"""Run a plain function off the GUI thread and turn its progress into Qt signals.

The function is Qt-free: ``work(progress, cancel)`` where ``progress(done, total, text)`` is a
plain callable and ``cancel`` an engine ``CancelToken`` it checks at safe points (raising
``engine.errors.Cancelled``, or returning early). Its return value arrives in ``finished``; an
exception in ``failed`` with a message for the user and the traceback for a bug report.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot

from engine.cancel import CancelToken
from engine.errors import Cancelled, EngineError

Progress = Callable[[int, int, str], None]
Work = Callable[[Progress, CancelToken], Any]

# Every job started and not yet ended. It keeps each one referenced (a job nobody holds would be
# collected mid-run) and lets shutdown wait for them all: Qt aborts the whole process when a
# QThread object is destroyed while its thread still runs.
_LIVE: set[Job] = set()


def finish_every_job(milliseconds: int = 30000) -> list[str]:
    """Cancel every job still running and wait for its thread; the names of those that did not
    end in time (their threads then die with the process instead of aborting it)."""
    live = [job for job in _LIVE if not job._thread.isFinished()]
    for job in live:
        job.cancel()
    deadline = time.monotonic() + milliseconds / 1000
    late = []
    for job in live:
        left = max(0, int((deadline - time.monotonic()) * 1000))
        if not job.wait(left):
            late.append(job.name)
    return late


@dataclass(frozen=True)
class JobProgress:
    """Where a job stands: ``total`` 0 when unknown; ``eta`` in seconds or None."""

    done: int
    total: int
    text: str
    eta: float | None


class _Runner(QObject):
    progressed = Signal(object)
    succeeded = Signal(object)
    errored = Signal(str, str)
    stopped = Signal()

    def __init__(self, work: Work, cancel: CancelToken) -> None:
        super().__init__()
        self._work, self._cancel = work, cancel
        self._start = time.monotonic()
        self._last = 0.0

    @Slot()
    def run(self) -> None:
        try:
            self._run()
        finally:
            # the thread ends by itself: a GUI thread waiting for it at shutdown can't relay
            self.thread().quit()

    def _run(self) -> None:
        try:
            result = self._work(self._report, self._cancel)
        except (Cancelled, KeyboardInterrupt):
            self.stopped.emit()
            return
        except EngineError as exc:
            self.errored.emit(str(exc), traceback.format_exc())
            return
        except Exception as exc:  # noqa: BLE001 - every failure reaches the user as a dialog
            self.errored.emit(f"{type(exc).__name__}: {exc}", traceback.format_exc())
            return
        if self._cancel.cancelled:
            self.stopped.emit()
        else:
            self.succeeded.emit(result)

    def _report(self, done: int, total: int, text: str = "") -> None:
        now = time.monotonic()
        if now - self._last < 0.05 and done < total:  # at most ~20 signals a second
            return
        self._last = now
        elapsed = now - self._start
        eta = elapsed / done * (total - done) if total and done else None
        self.progressed.emit(JobProgress(done, total, text, eta))


class Job(QObject):
    """One piece of background work. Connect to the signals, then ``start()``.

    ``finished(result)``, ``failed(message, details)`` and ``cancelled()``: exactly one is
    emitted, on the GUI thread; ``ended`` follows it.
    """

    progress = Signal(object)  # JobProgress
    finished = Signal(object)
    failed = Signal(str, str)
    cancelled = Signal()
    ended = Signal()

    def __init__(self, name: str, work: Work, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.token = CancelToken()
        self.last_progress = JobProgress(0, 0, "", None)
        self._thread = QThread()
        self._thread.setObjectName(f"job: {name}")
        self._runner = _Runner(work, self.token)
        self._runner.moveToThread(self._thread)
        self._thread.started.connect(self._runner.run)
        self._runner.progressed.connect(self._on_progress)
        self._runner.succeeded.connect(self._on_success)
        self._runner.errored.connect(self._on_error)
        self._runner.stopped.connect(self._on_stop)
        self.running = False

    def start(self) -> None:
        self.running = True
        _LIVE.add(self)
        self._thread.start()

    def cancel(self) -> None:
        """Ask the work to stop at its next safe point (``cancelled`` follows)."""
        self.token.cancel()

    def wait(self, milliseconds: int = 5000) -> bool:
        """Block until the thread ends (for shutdown and tests only)."""
        return self._thread.wait(milliseconds)

    def _on_progress(self, progress: JobProgress) -> None:
        self.last_progress = progress
        self.progress.emit(progress)

    def _finish(self) -> None:
        self.running = False
        self._thread.quit()
        self._thread.wait()
        _LIVE.discard(self)
        self.ended.emit()

    def _on_success(self, result: Any) -> None:
        self._thread.quit()
        self.finished.emit(result)
        self._finish()

    def _on_error(self, message: str, details: str) -> None:
        self._thread.quit()
        self.failed.emit(message, details)
        self._finish()

    def _on_stop(self) -> None:
        self._thread.quit()
        self.cancelled.emit()
        self._finish()


class JobManager(QObject):
    """Every job of the window: ``changed`` whenever one starts, progresses or ends."""

    changed = Signal()
    failed = Signal(str, str, str)  # job name, message, details

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.jobs: list[Job] = []

    def start(self, name: str, work: Work) -> Job:
        """Create and start a job; connect to its signals right after (they come later)."""
        job = Job(name, work, self)
        self.jobs.append(job)
        job.progress.connect(self.changed)
        job.failed.connect(lambda message, details: self.failed.emit(name, message, details))
        job.ended.connect(lambda: self._ended(job))
        job.start()
        self.changed.emit()
        return job

    @property
    def running(self) -> list[Job]:
        return [job for job in self.jobs if job.running]

    def cancel_all(self) -> None:
        for job in self.running:
            job.cancel()

    def wait_all(self, milliseconds: int = 10000) -> None:
        for job in list(self.jobs):
            job.wait(milliseconds)

    def _ended(self, job: Job) -> None:
        if job in self.jobs:
            self.jobs.remove(job)
        self.changed.emit()
