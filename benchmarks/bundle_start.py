"""Cold start of the desktop bundle to its first painted window under Xvfb, against `make run`
from the clone, on the same machine.

Each round starts a fresh Xvfb, a watcher (a Qt client on that display that grabs the screen
every 50 ms) and then the program with a new home, data and settings folder (a new user: the
demo project is made on this first start). The figure is the time from launching the program
to the first grab showing a painted window (more than 16 colours on the black root). The two
sides alternate, so both see the same machine load; the first round of each side reads its
files from disk, later rounds from the page cache.

    python benchmarks/bundle_start.py [--rounds 3] [--bundle dist/yolo-studio-linux-x86_64]

Needs Xvfb, a built bundle (make bundle) and the venv (make run's).
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCREEN = "1280x800x24"
TIMEOUT_S = 180.0

WATCHER = """
import sys, time
import numpy as np
from PySide6.QtGui import QGuiApplication
app = QGuiApplication(sys.argv[:1])
screen = app.primaryScreen()
print("ready", flush=True)
while True:
    image = screen.grabWindow(0).toImage()
    now = time.time()
    pixels = np.frombuffer(image.constBits(), np.uint32, image.width() * image.height())
    if len(np.unique(pixels[::7])) > 16:
        print(f"painted {now:.3f}", flush=True)
        break
    time.sleep(0.05)
"""


def start_xvfb(log: Path) -> tuple[subprocess.Popen, str]:
    """An Xvfb on a free display number (``-displayfd``), and that display."""
    read_end, write_end = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", SCREEN,
                               "-nolisten", "tcp"], pass_fds=(write_end,),
                              stdout=log.open("wb"), stderr=subprocess.STDOUT)
    os.close(write_end)
    with os.fdopen(read_end) as numbers:
        number = numbers.readline().strip()
    if not number.isdigit():
        server.kill()
        raise RuntimeError(f"Xvfb gave no display number: {log.read_text()}")
    return server, f":{number}"


def first_paint(command: list[str], cwd: Path) -> float:
    """Seconds from launching ``command`` to its first painted window, on a new display."""
    with tempfile.TemporaryDirectory(prefix="bundle-start-") as folder:
        home = Path(folder)
        server, display = start_xvfb(home / "xvfb.log")
        env = {**os.environ, "DISPLAY": display, "QT_QPA_PLATFORM": "xcb", "HOME": str(home),
               "XDG_CONFIG_HOME": str(home / "config"), "XDG_CACHE_HOME": str(home / "cache"),
               "XDG_DATA_HOME": str(home / "share"), "YOLO_STUDIO_DATA_DIR": str(home / "data"),
               "YOLO_STUDIO_SETTINGS_DIR": str(home / "settings")}
        watcher = subprocess.Popen([sys.executable, "-c", WATCHER], env=env, text=True,
                                   stdout=subprocess.PIPE)
        app = None
        try:
            if watcher.stdout.readline().strip() != "ready":
                raise RuntimeError("the screen watcher did not start")
            launched = time.time()
            app = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
            line = watcher.stdout.readline().split()
            if not line or line[0] != "painted":
                raise RuntimeError(f"no painted window from {command}")
            return float(line[1]) - launched
        finally:
            watcher.kill()
            watcher.wait()
            if app is not None and app.poll() is None:
                os.killpg(app.pid, signal.SIGTERM)  # the app and its children (its session)
                try:
                    app.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(app.pid, signal.SIGKILL)
                    app.wait()
            server.terminate()
            server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bundle", type=Path,
                        default=ROOT / "dist" / f"yolo-studio-linux-{platform.machine()}")
    args = parser.parse_args()
    program = args.bundle / "yolo-studio"
    if not program.is_file():
        raise SystemExit(f"no bundle at {args.bundle}: make bundle first")
    sides = {"bundle (yolo-studio --demo)": ([str(program), "--demo"], args.bundle),
             "make run (clone)": (["make", "--no-print-directory", "run"], ROOT)}
    times: dict[str, list[float]] = {name: [] for name in sides}
    for round_number in range(args.rounds):
        for name, (command, cwd) in sides.items():
            seconds = first_paint(command, cwd)
            times[name].append(seconds)
            print(f"round {round_number + 1}: {name:<28} first painted window {seconds:5.2f} s",
                  flush=True)
    print(f"\ncold start to the first painted window (Xvfb, {os.cpu_count()} cores):")
    for name, values in times.items():
        print(f"  {name:<28} first {values[0]:5.2f} s, median {statistics.median(values):5.2f} s"
              f" over {len(values)}")


if __name__ == "__main__":
    main()
