"""Short plain functions (queries, a preview decode) run off the GUI thread, their results
handed back on it: the page never waits on the database or a decoder."""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, Signal

Done = Callable[[Any], None]
Failed = Callable[[str, str], None]


class BackgroundCalls(QObject):
    """A small thread pool (one thread by default, so calls run in order) whose results come
    back as calls of ``done(result)`` or ``failed(message, details)`` on the GUI thread."""

    _delivered = Signal(object, object, object, object)  # done, failed, result, error

    def __init__(self, name: str, workers: int = 1, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix=name)
        self._closed = False
        self._delivered.connect(self._deliver)

    def call(self, work: Callable[[], Any], done: Done, failed: Failed | None = None) -> None:
        """Run ``work()`` on the pool; ``done`` or ``failed`` is called with what it gave."""
        if self._closed:
            return
        self._executor.submit(self._run, work, done, failed)

    def close(self, wait: bool = True) -> None:
        """Drop calls not started; with ``wait``, let the running one finish first."""
        self._closed = True
        self._executor.shutdown(wait=wait, cancel_futures=True)

    def _run(self, work: Callable[[], Any], done: Done, failed: Failed | None) -> None:
        if self._closed:
            return
        try:
            result, error = work(), None
        except Exception as exc:  # noqa: BLE001 - reported to the page, not lost
            result, error = None, (f"{type(exc).__name__}: {exc}", traceback.format_exc())
        if not self._closed:
            with contextlib.suppress(RuntimeError):  # the page was deleted meanwhile
                self._delivered.emit(done, failed, result, error)

    def _deliver(self, done: Done, failed: Failed | None, result: Any, error: Any) -> None:
        if self._closed:
            return
        if error is None:
            done(result)
        elif failed is not None:
            failed(*error)
