"""Screenshots of every page of the studio on a demo project, to look at as a user would.

Run under a real display (or Xvfb): ``xvfb-run -s "-screen 0 1600x1000x24" .venv/bin/python
benchmarks/studio_screenshots.py [--task segment|pose|classify] [--out folder] [--theme dark]``.
Settings and the demo project go to a temp folder; prints the PNG paths.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="segment", choices=("segment", "pose", "classify"))
    parser.add_argument("--out", default="screenshots")
    parser.add_argument("--theme", default="light", choices=("light", "dark"))
    parser.add_argument("--use", action="store_true",
                        help="use the pages first: train the demo (its suggested settings), "
                             "evaluate and predict with the run, export it to ONNX and OpenVINO")
    parser.add_argument("--export-all", action="store_true",
                        help="with --use: click 'Export all available' instead, and print each "
                             "row's status")
    parser.add_argument("--size", default="1440x900", help="window size, WIDTHxHEIGHT")
    args = parser.parse_args()
    temp = Path(tempfile.mkdtemp(prefix="studio_shots_"))
    os.environ["YOLO_STUDIO_SETTINGS_DIR"] = str(temp / "settings")
    os.environ["YOLO_STUDIO_DATA_DIR"] = str(temp / "data")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from studio.services.demo import demo_project
    from studio.services.runs import list_runs
    from studio.ui.main_window import PAGES, MainWindow
    from studio.ui.theme import apply_theme

    app = QApplication(sys.argv[:1])
    apply_theme(app, args.theme)
    window = MainWindow(demo_provider=lambda task, progress, cancel: demo_project(
        task, progress=progress, cancel=cancel), demo_task=args.task)
    window.resize(*(int(v) for v in args.size.split("x")))
    window.show()
    shots: list[Path] = []

    def grab(name: str) -> None:
        path = out / f"{args.task}-{args.theme}-{name}.png"
        window.grab().save(str(path))
        shots.append(path)

    def script():
        """One step per timer tick: ``yield`` lets the window paint and jobs report."""
        yield
        grab("welcome")
        window.open_demo()
        while window.project is None:
            if not window.jobs.running:
                raise SystemExit("the demo project did not open")
            yield
        if args.use:
            yield from use_pages()
            return
        for index, name in enumerate(PAGES):
            window.rail.setCurrentRow(index)
            for _ in range(4):  # thumbnails and plots arrive from workers
                yield
            grab(name.lower())

    def wait_for(signal, limit_ticks: int = 2000):
        """Yield until ``signal`` fires (one tick is 300 ms)."""
        fired = []
        signal.connect(lambda *values: fired.append(values))
        for _ in range(limit_ticks):
            if fired:
                return fired[0]
            yield
        raise SystemExit(f"timed out waiting for {signal}")

    def use_pages():
        pages = window.pages
        window.rail.setCurrentRow(PAGES.index("Datasets"))
        for _ in range(4):
            yield
        grab("datasets")
        window.rail.setCurrentRow(PAGES.index("Annotate"))
        yield
        yield
        grab("annotate")
        window.rail.setCurrentRow(PAGES.index("Train"))
        while pages["Train"].form.model_source.listing():  # the default may be shipped weights
            yield
        yield
        grab("train-ready")
        started = time.perf_counter()
        ended = []
        pages["Train"].trainingEnded.connect(lambda *values: ended.append(values))
        pages["Train"].start()
        for _ in range(20):  # mid-training
            yield
        grab("train-running")
        while not ended:
            yield
        run_id, status, message = ended[0]
        print(f"training: {status} in {time.perf_counter() - started:.0f} s {message}")
        yield
        grab("train-finished")
        checkpoint = next(r for r in list_runs(window.project) if r.id == run_id).checkpoint()
        window.rail.setCurrentRow(PAGES.index("Evaluate"))
        for _ in range(3):  # it opens on the run's final validation
            yield
        grab("evaluate-opened")
        pages["Evaluate"].evaluate_path(checkpoint)
        yield from wait_for(pages["Evaluate"].evaluated)
        yield
        grab("evaluate")
        window.rail.setCurrentRow(PAGES.index("Predict"))
        pages["Predict"].set_model_path(checkpoint)
        pages["Predict"].set_source("project")
        job = pages["Predict"].run()
        yield from wait_for(job.ended)
        for _ in range(3):
            yield
        grab("predict")
        window.rail.setCurrentRow(PAGES.index("Export"))
        pages["Export"].set_model(checkpoint, run_id)
        page = pages["Export"]
        if args.export_all:
            page.all_button.click()
            yield from wait_for(page.job.ended)
            for fmt, outcome in page.outcomes.items():
                print(f"export {fmt}: {outcome.status_text}: {outcome.figures[:160]}")
        else:
            yield from wait_for(page.export(["onnx", "openvino"]).ended)
        yield
        grab("export")

    steps = script()

    def tick() -> None:
        try:
            next(steps)
        except StopIteration:
            timer.stop()
            app.quit()

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(300)
    code = app.exec()
    for path in shots:
        print(path)
    sys.exit(code)


if __name__ == "__main__":
    main()
