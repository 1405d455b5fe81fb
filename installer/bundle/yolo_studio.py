"""The desktop bundle's program: YOLO Studio, and the Python its children need.

PyInstaller freezes this file as the bundle's executable (yolo-studio.spec). It does three
things before the studio's own ``main``:

1. ``-m MODULE ...`` / ``-c CODE ...``: the training, export and runtime children are started
   as ``sys.executable -m ...``, and frozen ``sys.executable`` is this program; they run as
   Python would run them (engine/process/child_command.py).
2. No display: one clear line on stderr and exit status 2, instead of Qt's abort when it finds
   no platform to draw on.
3. ``--self-test``: the bundle's check (installer/bundle/test.sh): open the demo project, train
   one epoch in the training child process, export ONNX, quit (studio/self_test.py).

Unfrozen, ``python installer/bundle/yolo_studio.py ARGS`` behaves like ``yolo-studio ARGS``
(tests/installer/test_child_command.py runs it so).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

EXIT_NO_DISPLAY = 2


def display_problem(environ: Mapping[str, str], platform: str) -> str:
    """Why no window can open here, in one line ("" when one can, or when we cannot tell).

    Only Linux and the BSDs draw through an X or Wayland server that may be missing; Windows and
    macOS always have their desktop. ``QT_QPA_PLATFORM`` set means the user chose a platform
    (offscreen, vnc, ...), and Qt is left to it.
    """
    if platform.startswith(("win", "darwin")) or environ.get("QT_QPA_PLATFORM"):
        return ""
    if environ.get("WAYLAND_DISPLAY"):
        return ""
    display = environ.get("DISPLAY", "")
    if not display:
        return ("no display to open the window on (DISPLAY and WAYLAND_DISPLAY are not set): "
                "start YOLO Studio from a desktop session, or under xvfb-run")
    host, _, number = display.partition(":")
    number = number.split(".")[0]
    if host in ("", "unix") and number.isdigit() and not Path(
            f"/tmp/.X11-unix/X{number}").exists():
        return (f"no X server answers on DISPLAY={display} (/tmp/.X11-unix/X{number} does not "
                "exist): start YOLO Studio from a desktop session, or under xvfb-run")
    return ""


def run_child_command(argv: list[str]) -> bool:
    """Run ``argv`` as ``python`` would when it is a ``-m``/``-c`` child command (see
    engine/process/child_command.py); whether it was one. ``-c`` code is the engine's own
    converter and worker scripts (engine/export/tensorflow.py, paddle.py, ...), run here
    because this program stands in for Python, and the engine itself executes no strings."""
    from engine.process.child_command import parse_python_arguments, run_module_command

    command = parse_python_arguments(argv)
    if command is None:
        return False
    if command.flag == "-m":
        run_module_command(command)
    else:
        sys.argv = ["-c", *command.args]
        exec(compile(command.target, "<string>", "exec"), {"__name__": "__main__"})  # noqa: S102
    return True


def main(argv: list[str] | None = None) -> int:
    """Run a child command, or the studio; the exit status."""
    args = sys.argv[1:] if argv is None else argv
    import multiprocessing

    multiprocessing.freeze_support()  # Windows and macOS spawn data-loader workers through us
    if run_child_command(args):
        return 0
    problem = display_problem(os.environ, sys.platform)
    if problem:
        print(f"yolo-studio: {problem}", file=sys.stderr)
        return EXIT_NO_DISPLAY
    if args[:1] == ["--self-test"]:
        from studio.self_test import run_self_test

        return run_self_test(args[1:])
    from studio.app import main as studio_main

    return studio_main(args)


if __name__ == "__main__":
    sys.exit(main())
