"""``yolo-studio --self-test`` (the desktop bundle's entry): the app's own end-to-end check.

It starts the studio as a user does (``studio.app.main`` with ``--demo``), then drives the real
window's pages: the demo project opens, the Train page trains one epoch (in the training child
process, as every studio run does), the Export page exports the run's best.pt to ONNX and
checks it against PyTorch, and the window is closed, so the app quits through its normal
path. Each step prints one ``self-test:`` line on stderr; the exit status is 0 when all passed,
1 when a step failed or ``--timeout`` passed. installer/bundle/test.sh runs it in the built
bundle, with ``YOLO_STUDIO_DATA_DIR`` / ``YOLO_STUDIO_SETTINGS_DIR`` in a temporary folder.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

TICK_MS = 200
QUIT_WAIT_S = 60.0
"""How long quitting waits for the jobs to end before it cancels them."""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="yolo-studio --self-test", description=__doc__)
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds before the check gives up (exit status 1)")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--imgsz", type=int, default=64)
    return parser.parse_args(argv)


def say(text: str) -> None:
    print(f"self-test: {text}", file=sys.stderr, flush=True)


def run_self_test(argv: list[str]) -> int:
    """Start the studio on the demo project with the check armed; its exit status."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .app import main as studio_main

    args = parse_args(argv)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    check = SelfTest(app, args)
    QTimer.singleShot(0, check.begin)  # runs once studio_main has shown the window
    code = studio_main(["--demo", "segment"])
    if check.exit_code is None:
        say("FAILED: the app quit before the check ended")
        return 1
    return check.exit_code or code


class SelfTest:
    """One pass through open -> train -> export -> quit, polled on a timer (no nested loops)."""

    def __init__(self, app: Any, args: argparse.Namespace) -> None:
        from PySide6.QtCore import QTimer

        self.app, self.args = app, args
        self.started = time.monotonic()
        self.window: Any = None
        self.step = "open"
        self.exit_code: int | None = None
        self.quit_asked = 0.0
        self.timer = QTimer()
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._tick)

    def begin(self) -> None:
        self.timer.start()

    def _tick(self) -> None:
        if time.monotonic() - self.started > self.args.timeout:
            self.fail(f"{self.step} took longer than {self.args.timeout:.0f} s")
            return
        if self.window is None:
            self.window = self._main_window()
            if self.window is None:
                return
            self.window.jobs.failed.connect(lambda name, message, _details: self.fail(
                f"{name}: {message}"))
        if self.step == "quit":
            self._quit_when_idle()
            return
        if self.step == "open" and "Train" in self.window.pages:
            say(f"opened the demo project {self.window.project.folder} ({self._elapsed()})")
            self.step = "ready"
        if self.step == "ready":
            self._train()

    def _main_window(self) -> Any:
        from .ui.main_window import MainWindow

        found = [w for w in self.app.topLevelWidgets() if isinstance(w, MainWindow)]
        return found[0] if found else None

    def _train(self) -> None:
        page = self.window.pages["Train"]
        form = page.form
        if form.model_source.listing():  # the demo's own weights, still being read
            return
        form.epochs.setValue(self.args.epochs)
        form.imgsz.setValue(self.args.imgsz)
        form.batch.setValue(4)
        form.advanced.set_value("plots", False)
        form.advanced.set_value("workers", 0)
        if not form.plan().isolated:
            self.fail("the run would train in the window's process, not the training process")
            return
        page.trainingEnded.connect(self._trained)
        page.start()
        if not page.running:
            self.fail(f"training did not start: {page.start_blocker()}")
            return
        self.step = "training"
        say(f"training {self.args.epochs} epoch(s) in the training process ({self._elapsed()})")

    def _trained(self, run_id: int, status: str, message: str) -> None:
        if self.step != "training":
            return
        if status != "completed":
            self.fail(f"training ended {status}: {message}")
            return
        from .services.runs import list_runs

        run = next(r for r in list_runs(self.window.project) if r.id == run_id)
        say(f"trained run {run_id}: {run.epochs_done} epoch(s), {run.best.name} "
            f"({self._elapsed()})")
        page = self.window.pages["Export"]
        page.set_model(run.best, run_id)
        page.exported.connect(self._exported)
        self.step = "export"
        if page.export(["onnx"]) is None:
            self.fail(f"the export did not start: {page.status.text()}")

    def _exported(self, outcomes: list[Any]) -> None:
        if self.step != "export":
            return
        (outcome,) = outcomes
        if outcome.status != "passed":
            self.fail(f"ONNX export {outcome.status}: {outcome.message}")
            return
        say(f"exported {outcome.path} ({outcome.size_mb or 0:.1f} MB, parity "
            f"{outcome.parity or 'checked'}) ({self._elapsed()})")
        self.finish(0)

    def fail(self, reason: str) -> None:
        if self.exit_code is not None:
            return
        say(f"FAILED: {reason}")
        if self.window is not None:
            self.window.jobs.cancel_all()
            self.window.jobs.wait_all(30_000)
        self.finish(1)

    def finish(self, code: int) -> None:
        """Quit once the last job has ended (see :meth:`_quit_when_idle`)."""
        self.exit_code = code
        self.step = "quit"
        self.quit_asked = time.monotonic()
        if code == 0:
            say(f"passed, quitting ({self._elapsed()})")
        self._quit_when_idle()

    def _quit_when_idle(self) -> None:
        """Close the window as a user does, once no job runs: a job still ending (the export's
        job ends just after its result arrives) would make the window ask whether to stop it."""
        if self.window is not None and self.window.jobs.running:
            if time.monotonic() - self.quit_asked > QUIT_WAIT_S:
                self.window.jobs.cancel_all()
            return
        self.timer.stop()
        if self.window is not None:
            self.window.close()
        self.app.quit()

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self.started:.1f} s"
