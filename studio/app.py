"""YOLO Studio, the desktop app: label, train, inspect and export YOLOv8 models.

``yolo-studio [PROJECT]`` opens a project folder; with none, the last one (or the welcome
page). ``--demo [segment|pose|classify]`` opens a demo project, made on first use.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="yolo-studio", description=__doc__.splitlines()[0])
    parser.add_argument("project", nargs="?", help="a project folder to open")
    # services/demo.DEMO_TASKS, written out: importing it would import numpy before
    # configure_threads (main) sets the thread counts
    parser.add_argument("--demo", nargs="?", const="segment", choices=("segment", "pose",
                                                                        "classify"),
                        help="open a demo project (made on first use)")
    parser.add_argument("--theme", choices=("system", "light", "dark"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # The window runs on the system's malloc: only the training child preloads the faster
    # allocator (studio/services/training_process.py), because OpenVINO aborts beside it and
    # the window loads runtimes (engine/process/allocator.py).
    from engine.process.threads import configure_threads

    configure_threads()  # before torch loads (engine/process/threads.py)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration step

    from PySide6.QtWidgets import QApplication

    from .services.demo import demo_project
    from .ui.app_settings import app_settings, recent_projects
    from .ui.error_dialog import install_excepthook
    from .ui.main_window import MainWindow
    from .ui.theme import apply_theme
    from .workers.job import finish_every_job

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("YOLO Studio")
    app.setOrganizationName("YOLO Studio")
    settings = app_settings()
    theme = args.theme or str(settings.value("theme", "system"))
    apply_theme(app, theme)

    window = MainWindow(demo_provider=lambda task, progress, cancel: demo_project(
        task, progress=progress, cancel=cancel), demo_task=args.demo or "segment")
    install_excepthook(lambda: window)
    window.show()
    if args.demo:
        window.open_demo()
    elif args.project:
        window.open_folder(Path(args.project))
    elif recent_projects():
        window.open_folder(recent_projects()[0])
    code = app.exec()
    late = finish_every_job()  # quiet jobs too (a checkpoint read at start-up), not just listed
    if late:
        logging.getLogger(__name__).warning("quit while still running: %s", ", ".join(late))
    return code


if __name__ == "__main__":
    sys.exit(main())
