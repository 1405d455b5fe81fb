"""A cancel token: set from any thread (the studio's Stop button, Ctrl+C), checked by the
engine at safe points (between steps, batches, frames and files)."""

from __future__ import annotations

import threading

from .errors import Cancelled


class CancelToken:
    """Thread-safe flag. ``cancel()`` asks work to stop; ``raise_if_cancelled()`` stops it."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("stopped on request")

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` seconds, waking early on cancel; True when cancelled."""
        return self._event.wait(timeout)


NEVER = CancelToken()
"""A token nobody sets, for callers that do not cancel."""
