"""The built Linux desktop bundle (dist/yolo-studio-linux-<arch>/, made by `make bundle`), run as
a user runs it: ``make test-bundle`` (installer/bundle/test.sh) runs this file, after building
the bundle when there is none; `make test` leaves it out (marker ``bundle``).

- Under Xvfb, with a temporary home, data and settings folder, no Python on PATH and (as root)
  no network at all (``unshare --net``), the bundle's ``--self-test`` opens the demo project, trains one epoch in the training child
  process (the bundle's own program, run as ``-m studio.services.training_process``), exports
  ONNX in the export child, and quits with exit status 0, leaving no process behind and
  nothing written inside the bundle.
- Its Python is its own: a ``-c`` child reports where torch, Qt and OpenCV load from.
- Without a display it prints one line and exits 2 (no Qt abort).
"""

from __future__ import annotations

import csv
import json
import os
import platform
import subprocess
import time
from pathlib import Path

import pytest

from tests.studio.test_studio_console import XServer, _group_members

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "dist" / f"yolo-studio-linux-{platform.machine()}"
PROGRAM = BUNDLE / "yolo-studio"
SELF_TEST_S = 900  # 1 epoch and an ONNX export: 1-3 minutes on 2 cores

pytestmark = pytest.mark.bundle  # make test-bundle only: `make test` never finds a bundle


@pytest.fixture(autouse=True, scope="module")
def _built() -> None:
    """test.sh builds the bundle first; run on its own, this file says what is missing."""
    assert PROGRAM.is_file(), f"the bundle is not built ({PROGRAM}): run make test-bundle"


def user_environment(home: Path, **extra: str) -> dict[str, str]:
    """A desktop user's environment: a home of their own, no Python or venv on PATH."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
        "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        # as tests/conftest.py isolates the suite (a module fixture runs before its autouse
        # ones): caches in the home, downloads to a closed local port
        "YOLO_STUDIO_CACHE_DIR": str(home / ".cache/yolo-studio"),
        "YOLO_STUDIO_WEIGHTS_DIR": str(home / "weights"),
        "YOLO_STUDIO_DATASETS_DIR": str(home / "datasets"),
        "YOLO_STUDIO_WEIGHTS_URL": "http://127.0.0.1:9/closed",
        "YOLO_STUDIO_DATASETS_URL": "http://127.0.0.1:9/closed",
        **extra,
    }


def bundle_files() -> dict[str, int]:
    return {str(p.relative_to(BUNDLE)): p.lstat().st_size for p in BUNDLE.rglob("*")}


def network_namespace() -> list[str]:
    """``unshare --net --``: a new network namespace with no interface up (so nothing can be
    reached, not even localhost), where this user may make one (root); else []."""
    try:
        done = subprocess.run(["unshare", "--net", "--", "true"], capture_output=True,
                              timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return ["unshare", "--net", "--"] if done.returncode == 0 else []


@pytest.fixture(scope="module")
def self_test(tmp_path_factory):
    """One ``--self-test`` run, without a network where one can be taken away: (exit status,
    output, home, processes left, the bundle's files before, whether it had no network)."""
    home = tmp_path_factory.mktemp("home")
    before = bundle_files()
    server = XServer(home / "xvfb.log")
    env = user_environment(home, DISPLAY=server.display, QT_QPA_PLATFORM="xcb",
                           YOLO_STUDIO_DATA_DIR=str(home / "data"),
                           YOLO_STUDIO_SETTINGS_DIR=str(home / "settings"))
    began = time.monotonic()
    try:
        offline = network_namespace()  # X still answers: Xvfb's socket is a file
        process = subprocess.Popen([*offline, str(PROGRAM), "--self-test"], cwd=home, env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = process.communicate(timeout=SELF_TEST_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            out, err = process.communicate()
        seconds = time.monotonic() - began
        deadline = time.monotonic() + 15
        while _group_members(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = _group_members(process.pid)
    finally:
        server.stop()
    print(f"\nbundle --self-test: {seconds:.1f} s\n{err[-3000:]}")
    return process.returncode, out + err, home, left, before, bool(offline)


def test_self_test_trains_exports_and_quits(self_test):
    code, output, home, left, *_ = self_test
    assert code == 0, output[-6000:]
    assert "self-test: passed, quitting" in output, output[-6000:]
    assert "Traceback" not in output and "Fatal Python error" not in output, output[-6000:]
    assert left == [], left


def test_the_run_and_the_onnx_file_are_in_the_data_folder(self_test):
    _code, output, home, *_ = self_test
    demo = home / "data" / "demo-segment"
    (results,) = demo.rglob("results.csv")
    with results.open() as file:
        assert len(list(csv.DictReader(file))) == 1  # one epoch
    exports = list(demo.rglob("*.onnx"))
    assert len(exports) == 1 and f"exported {exports[0]}" in output, (exports, output[-3000:])
    import onnxruntime

    session = onnxruntime.InferenceSession(str(exports[0]), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape[1] == 3


def test_nothing_is_written_inside_the_bundle(self_test):
    before = self_test[4]
    assert bundle_files() == before


def test_it_worked_with_no_network(self_test):
    """Training, export and the window need no network: the run above had none."""
    if not self_test[5]:
        pytest.skip("cannot run here: this user cannot make a network namespace (unshare --net "
                    "needs root), so the self-test above ran with the network up")
    assert self_test[0] == 0


def test_the_bundle_runs_its_own_python(tmp_path):
    """torch, Qt, OpenCV and every shared library come from the bundle, none from a venv."""
    script = ("import json, sys, torch, cv2, PySide6\n"
              "maps = {line.split()[-1] for line in open('/proc/self/maps') if '/' in line}\n"
              "print(json.dumps({'frozen': getattr(sys, 'frozen', False), 'modules': ["
              "torch.__file__, cv2.__file__, PySide6.__file__], 'maps': sorted(maps)}))\n")
    done = subprocess.run([str(PROGRAM), "-c", script], env=user_environment(tmp_path),
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["frozen"] is True
    bundle = str(BUNDLE.resolve())
    assert all(path.startswith(bundle) for path in report["modules"]), report["modules"]
    python_files = [path for path in report["maps"] if "python3" in path or ".venv" in path]
    assert all(path.startswith(bundle) for path in python_files), python_files


def test_without_a_display_one_line_and_exit_2(tmp_path):
    done = subprocess.run([str(PROGRAM)], env=user_environment(tmp_path), capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.splitlines() == [
        "yolo-studio: no display to open the window on (DISPLAY and WAYLAND_DISPLAY are not "
        "set): start YOLO Studio from a desktop session, or under xvfb-run"]


def test_the_desktop_entry_and_icon_are_installed_for_the_user(tmp_path):
    done = subprocess.run(["sh", str(BUNDLE / "install-desktop-entry.sh")],
                          env=user_environment(tmp_path), capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    entry = (tmp_path / ".local/share/applications/yolo-studio.desktop").read_text()
    assert f'Exec="{BUNDLE}/yolo-studio" %f' in entry.splitlines()
    assert "Icon=yolo-studio" in entry.splitlines()
    assert (tmp_path / ".local/share/icons/hicolor/256x256/apps/yolo-studio.png").stat().st_size


def test_onnx_and_torchscript_are_in_and_a_left_out_exporter_says_how_to_add_it(tmp_path):
    script = ("import json\n"
              "from studio.services.model_export import export_formats\n"
              "from studio.ui.export.options import availability_text\n"
              "print(json.dumps({f.format: availability_text(f) for f in export_formats()}))\n")
    done = subprocess.run([str(PROGRAM), "-c", script], env=user_environment(tmp_path),
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    assert rows["onnx"] == rows["torchscript"] == "Exported and checked against PyTorch here"
    assert rows["openvino"].startswith("Not in this download: the OpenVINO exporter (about ")
    assert rows["openvino"].endswith("(YOLO_BUNDLE_EXPORTERS=openvino make bundle)")
