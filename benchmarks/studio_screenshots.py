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
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="segment", choices=("segment", "pose", "classify"))
    parser.add_argument("--out", default="screenshots")
    parser.add_argument("--theme", default="light", choices=("light", "dark"))
    args = parser.parse_args()
    temp = Path(tempfile.mkdtemp(prefix="studio_shots_"))
    os.environ["YOLO_STUDIO_SETTINGS_DIR"] = str(temp / "settings")
    os.environ["YOLO_STUDIO_DATA_DIR"] = str(temp / "data")
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from studio.services.demo import demo_project
    from studio.ui.main_window import PAGES, MainWindow
    from studio.ui.theme import apply_theme

    app = QApplication(sys.argv[:1])
    apply_theme(app, args.theme)
    window = MainWindow(demo_provider=lambda progress, cancel: demo_project(
        args.task, progress=progress, cancel=cancel))
    window.resize(1440, 900)
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
        for index, name in enumerate(PAGES):
            window.rail.setCurrentRow(index)
            for _ in range(4):  # thumbnails and plots arrive from workers
                yield
            grab(name.lower())

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
