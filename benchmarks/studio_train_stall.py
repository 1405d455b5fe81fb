"""Train page while training: how long the GUI event loop stalls, and the process memory.

Opens the segment demo project (generated on first use, in a temp folder unless ``--root``) in
the Train page offscreen, starts a short training from the page, and meanwhile

- a 10 ms QTimer probe records the gap between its ticks (p50 / p99 / max; the goal is a p99
  under 50 ms: the page draws on a 10 Hz clock, never per event);
- a sampler thread records the RSS of the process and its children (peak and at the start).

    python benchmarks/studio_train_stall.py [--epochs 2] [--imgsz 160] [--batch 16]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import psutil  # noqa: E402
from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from studio.services.demo import demo_project  # noqa: E402
from studio.services.projects import open_project  # noqa: E402
from studio.ui.train import TrainPage  # noqa: E402
from studio.workers.job import JobManager  # noqa: E402

MIB = 1024 * 1024


def rss_with_children(process: psutil.Process) -> int:
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.Error):  # a child that just ended
            total += child.memory_info().rss
    return total


class MemorySampler(threading.Thread):
    """Peak RSS (process and children) every ``interval`` seconds until ``stop``."""

    def __init__(self, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.interval, self.peak = interval, 0
        self._done = threading.Event()
        self._process = psutil.Process()

    def run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, rss_with_children(self._process))
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join()


class StallProbe:
    """A 10 ms timer; ``gaps`` are the milliseconds between consecutive ticks."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self.at: list[float] = []  # when each gap ended, seconds after start
        self._first = 0.0
        self._last: float | None = None
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._first = self._last = time.perf_counter()
        self.timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        if self._last is not None:
            self.gaps.append((now - self._last) * 1000)
            self.at.append(now - self._first)
        self._last = now


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--imgsz", type=int, default=160)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--root", type=Path, default=None, help="where the demo project lives")
    parser.add_argument("--screenshot", type=Path, default=Path("/tmp/train_page.png"))
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    root = args.root or Path(tempfile.mkdtemp(prefix="studio-train-stall-"))
    started = time.perf_counter()
    folder = demo_project("segment", root=root)
    print(f"demo project ready in {time.perf_counter() - started:.1f} s: {folder}")
    project = open_project(folder)
    jobs = JobManager()
    page = TrainPage(project, jobs)
    page.resize(1280, 800)
    page.show()
    page.form.epochs.setValue(args.epochs)
    page.form.imgsz.setValue(args.imgsz)
    page.form.batch.setValue(args.batch)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)
    baseline = rss_with_children(psutil.Process())
    sampler, probe = MemorySampler(), StallProbe()
    ended: list[tuple] = []
    page.trainingEnded.connect(lambda *a: ended.append(a))
    sampler.start()
    probe.start()
    train_started = time.perf_counter()
    page.start()
    shot = False
    while not ended:
        app.processEvents()
        time.sleep(0.002)
        if not shot and page.plots.step_count >= 2 and page.epochs.get(page.live_run):
            page.grab().save(str(args.screenshot))
            shot = True
    seconds = time.perf_counter() - train_started
    probe.timer.stop()
    sampler.stop()
    if not shot:
        page.grab().save(str(args.screenshot))
    gaps = np.array(probe.gaps)
    run_id, status, message = ended[0]
    print(f"training: {status} in {seconds:.1f} s ({args.epochs} epochs, imgsz {args.imgsz}, "
          f"batch {args.batch}, {os.cpu_count()} CPUs){': ' + message if message else ''}")
    print(f"event-loop gaps of a 10 ms timer ({len(gaps)} ticks): p50 "
          f"{np.percentile(gaps, 50):.1f} ms, p99 {np.percentile(gaps, 99):.1f} ms, max "
          f"{gaps.max():.1f} ms; {(gaps > 50).sum()} gaps over 50 ms (goal: p99 < 50 ms)")
    slow = [f"{gap:.0f} ms at {at:.1f} s" for gap, at in zip(gaps, probe.at, strict=True)
            if gap > 100]
    print("gaps over 100 ms: " + (", ".join(slow) or "none"))
    print(f"memory (RSS incl. children): {baseline / MIB:.0f} MiB before training, peak "
          f"{sampler.peak / MIB:.0f} MiB")
    print(f"plots: {page.plots.step_count} steps buffered; screenshot {args.screenshot}")
    page.close_page()
    jobs.wait_all()
    project.close()


if __name__ == "__main__":
    main()
