"""Terminal rendering of engine events for the CLI and scripts: tqdm bars and epoch tables."""

from __future__ import annotations

import sys

from tqdm import tqdm

from .events import (
    DownloadProgress,
    EpochEnd,
    Event,
    RunFinished,
    RunStarted,
    StepEnd,
    Warning,
)

_SHORT = {
    "metrics/accuracy_top1": "top1",
    "metrics/accuracy_top5": "top5",
}


def short_name(column: str) -> str:
    """``metrics/accuracy_top1`` → ``top1``; ``train/loss`` → ``train/loss``."""
    return _SHORT.get(column, column.replace("metrics/", ""))


class TerminalReporter:
    """A Reporter drawing download and step bars on stderr and one table row per epoch."""

    def __init__(self, stream=None, *, bars: bool = True) -> None:
        self._stream = stream or sys.stderr
        self._bars: dict[str, tqdm] = {}
        self._show_bars = bars
        self._columns: list[str] | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, DownloadProgress):
            self._download(event)
        elif isinstance(event, StepEnd):
            self._step(event)
        elif isinstance(event, EpochEnd):
            self._epoch(event)
        elif isinstance(event, Warning):
            where = f"{event.path}: " if event.path else ""
            self._write(f"WARNING {where}{event.message}")
        elif isinstance(event, RunStarted):
            self._columns = None
            if event.description:
                self._write(f"{event.mode}: {event.description}")
        elif isinstance(event, RunFinished):
            self._close_all()
            self._finished(event)

    def _write(self, text: str) -> None:
        tqdm.write(text, file=self._stream)

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

    def _step(self, event: StepEnd) -> None:
        if not self._show_bars:
            return
        key = f"{event.mode}:{event.epoch}"
        bar = self._bars.get(key)
        if bar is None:
            desc = f"{event.epoch}/{event.epochs}" if event.mode == "train" else event.mode
            bar = tqdm(total=event.steps, desc=desc, unit="batch", file=self._stream,
                       leave=False, dynamic_ncols=True)
            self._bars[key] = bar
        bar.update(event.step - bar.n)
        postfix = {k.split("/")[-1]: f"{v:.4g}" for k, v in event.losses.items()}
        if event.images_per_s:
            postfix["img/s"] = f"{event.images_per_s:.0f}"
        if postfix:
            bar.set_postfix(postfix, refresh=False)
        if event.step >= event.steps:
            bar.close()
            del self._bars[key]

    def _epoch(self, event: EpochEnd) -> None:
        self._close_all()
        columns = [c for c in event.metrics if c != "epoch" and not c.startswith("lr/")]
        if self._columns != columns:
            self._columns = columns
            header = ["epoch", *(short_name(c) for c in columns), "time"]
            self._write("  ".join(f"{h:>11}" for h in header))
        cells = [f"{event.epoch}/{event.epochs}"]
        cells += [f"{event.metrics[c]:.4g}" for c in columns]
        cells.append(f"{event.seconds:.1f}s" + (" *" if event.is_best else ""))
        self._write("  ".join(f"{c:>11}" for c in cells))

    def _finished(self, event: RunFinished) -> None:
        if event.status == "completed":
            where = f"; results in {event.save_dir}" if event.save_dir else ""
            self._write(f"{event.mode} finished in {event.seconds:.1f}s{where}")
        elif event.status == "cancelled":
            self._write(f"{event.mode} cancelled; what was saved is in {event.save_dir}")

    def _close_all(self) -> None:
        for key in [k for k in self._bars if ":" in k]:
            self._bars.pop(key).close()
