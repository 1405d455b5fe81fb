"""The desktop bundle's program (installer/bundle/yolo_studio.py), run unfrozen: what the frozen
bundle does before the studio starts, checked without building it (tests/installer/
test_bundle.py checks the built bundle).

- ``-c CODE`` runs as ``python -c`` does.
- The studio's children (``sys.executable -m ...``) run through it: a stand-in for the frozen
  executable that runs the entry script takes ``sys.executable``'s place, and a real export
  child and a real training child answer through it.
- Without a display it prints one line and exits 2, before Qt could abort.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cancel import CancelToken
from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.export.decisive import make_decisive
from engine.nn import build_model
from studio.services.child_job import run_child
from studio.services.training_process import ChildTrainingFailed, train_in_child

ENTRY = Path(__file__).resolve().parents[2] / "installer" / "bundle" / "yolo_studio.py"


@pytest.fixture
def frozen_executable(tmp_path, monkeypatch):
    """``sys.executable`` as the bundle has it: a program that is the app, not a Python."""
    program = tmp_path / "yolo-studio"
    program.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{ENTRY}" "$@"\n')
    program.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(program))
    return program


def test_the_export_child_runs_through_the_app_program(frozen_executable, tmp_path):
    model = build_model("yolov8n-cls.yaml", num_classes=2)
    model.names = {0: "cat", 1: "dog"}
    make_decisive(model)
    checkpoint = tmp_path / "best.pt"
    save_checkpoint(checkpoint, checkpoint_dict(model, train_args={"imgsz": 32}))
    job = {"checkpoint": str(checkpoint), "format": "onnx", "options": {"imgsz": 32},
           "data": None}
    outcome = run_child("studio.services.export_process", job, cancel=CancelToken(),
                        runtime="ONNX", doing="exporting")
    assert outcome["status"] == "passed", outcome
    assert Path(outcome["path"]).is_file() and Path(outcome["path"]).suffix == ".onnx"


def test_the_training_child_runs_through_the_app_program(frozen_executable, tmp_path):
    """The child answers in its protocol: here the error naming the model file it was given."""
    missing = tmp_path / "missing.pt"
    with pytest.raises(ChildTrainingFailed, match="missing.pt"):
        train_in_child({"model": str(missing), "settings": {"epochs": 1}}, lambda _e: None,
                       CancelToken())


def test_c_code_runs_as_main_with_pythons_argv():
    done = subprocess.run([sys.executable, str(ENTRY), "-c",
                           "import sys; print(__name__, sys.argv)", "a", "b"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "__main__ ['-c', 'a', 'b']\n"
    failed = subprocess.run([sys.executable, str(ENTRY), "-c", "raise SystemExit(3)"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert failed.returncode == 3


def _start(environ: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    return subprocess.run([sys.executable, str(ENTRY)], env={**env, **environ},
                          capture_output=True, text=True, timeout=120, check=False)


def test_without_a_display_one_line_and_exit_2():
    done = _start({})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "yolo-studio: no display to open the window on (DISPLAY and WAYLAND_DISPLAY are not "
        "set): start YOLO Studio from a desktop session, or under xvfb-run"]
    assert done.stdout == ""


def test_a_display_no_server_answers_on():
    done = _start({"DISPLAY": ":987"})
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "yolo-studio: no X server answers on DISPLAY=:987 (/tmp/.X11-unix/X987 does not "
        "exist): start YOLO Studio from a desktop session, or under xvfb-run"]
