"""Terminal rendering of engine events for the CLI and scripts (tqdm progress bars)."""

from __future__ import annotations

import sys

from tqdm import tqdm

from .events import DownloadProgress, Event


class TerminalReporter:
    """A Reporter that draws one tqdm bar per download on stderr."""

    def __init__(self, stream=None) -> None:
        self._stream = stream or sys.stderr
        self._bars: dict[str, tqdm] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, DownloadProgress):
            self._download(event)

    def _download(self, event: DownloadProgress) -> None:
        bar = self._bars.get(event.url)
        if bar is None:
            bar = tqdm(
                total=event.total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=event.url.rsplit("/", 1)[-1],
                file=self._stream,
                leave=True,
            )
            self._bars[event.url] = bar
        bar.update(event.done - bar.n)
        if event.finished:
            bar.close()
            del self._bars[event.url]
