"""The ``yolo`` console script as installed, in a subprocess, as a user runs it.

For each task: train one epoch on tiny generated data, val and predict the checkpoint, then
export it and run the very ``predict`` and ``val`` commands the export prints ("use it:") on
the export. The console script starts itself differently from an in-process call (the
allocator relaunch for training, environment set before torch loads, the working folder), so
these catch what in-process tests cannot: ``yolo export format=openvino`` aborted under the
preloaded tcmalloc while the same export through the API passed.

What runs where (a chain costs 15-65 s on 2 cores, dominated by the TF-family converters,
and ``make test`` must stay under 15 minutes): every ``make test`` runs each task's training,
val and predict, and one export chain per task, each with another runtime: ONNX for segment,
OpenVINO for pose (the format that aborted under the console script), TF Lite for classify
(TensorFlow's own worker process) and TorchScript for detect. The same formats for the other tasks are the same console
path; tests/engine/export/ checks every task x format in-process, and the studio's journey test
exports every format through the studio.
``make test-full`` runs the whole task x format matrix (marker ``full_matrix``).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from engine.process.allocator import ACTIVE_VARIABLE
from engine.tasks import get_task, task_names

YOLO = Path(sys.executable).parent / "yolo"
TASKS = task_names()  # every registered task (engine/tasks): a new one is tested here too
FORMATS = ("torchscript", "onnx", "openvino", "coreml", "saved_model", "pb", "tflite", "tfjs",
           "paddle", "ncnn")
EVERY_RUN = {("segment", "onnx"), ("pose", "openvino"), ("classify", "tflite"),
             ("detect", "torchscript")}
NO_RUNTIME_HERE = {"coreml": "CoreML models run on macOS only"}
"""Formats that export here but whose runtime does not exist on Linux: the printed commands
must fail with this message (exit 1), never a traceback."""


def size(task: str) -> int:
    """The tiny runs' image size: digits are 8 x 8 pixels; the generated detection sets 64."""
    return 32 if task == "classify" else 64


def yolo(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    """The installed console script with the user's environment (no relaunch marker of ours)."""
    env = {k: v for k, v in os.environ.items() if k not in (ACTIVE_VARIABLE, "LD_PRELOAD")}
    env.pop("PYTEST_CURRENT_TEST", None)
    return subprocess.run([str(YOLO), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def ok(done: subprocess.CompletedProcess) -> str:
    """The output of a command that must have succeeded, or a failure that shows it."""
    assert done.returncode == 0, (
        f"{shlex.join(done.args)} -> exit {done.returncode}\n{done.stdout[-3000:]}\n"
        f"{done.stderr[-3000:]}")
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    return done.stdout + done.stderr


class Trained:
    """One task's tiny run: its folder, data and best.pt."""

    def __init__(self, task: str, folder: Path) -> None:
        self.task, self.folder = task, folder
        self.data = str(get_task(task).sample_data(folder))  # the task's small generated set
        model = get_task(task).model_name()
        out = ok(yolo(task, "train", f"model={model}", f"data={self.data}", "epochs=1",
                      f"imgsz={size(task)}", "batch=8", "workers=1", "seed=0", cwd=folder))
        weights = [line for line in out.splitlines() if line.startswith("weights: ")]
        assert weights, out[-2000:]
        self.best = folder / weights[-1].removeprefix("weights: ").strip()
        assert self.best.is_file(), out[-2000:]
        data = Path(self.data)
        self.images = (min((data / "val").iterdir()) if task == "classify"
                       else data.parent / "images" / "val")
        """A folder of images to predict on."""


_TRAINED: dict[str, Trained] = {}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    def get(task: str) -> Trained:
        if task not in _TRAINED:
            _TRAINED[task] = Trained(task, tmp_path_factory.mktemp(f"console-{task}"))
        return _TRAINED[task]

    yield get
    _TRAINED.clear()


@pytest.mark.parametrize("task", TASKS)
def test_train_val_predict_through_the_console_script(task, trained):
    run = trained(task)
    assert (run.best.parent / "last.pt").is_file()
    val = ok(yolo(task, "val", f"model={run.best}", f"data={run.data}", f"imgsz={size(task)}",
                  cwd=run.folder))
    assert "results:" in val
    predicted = ok(yolo(task, "predict", f"model={run.best}", f"source={run.images}",
                        f"imgsz={size(task)}", "save=True", cwd=run.folder))
    saved = run.folder / _predict_folder(predicted)
    assert _predicted_images(predicted) == sorted(p.name for p in run.images.iterdir())
    assert sorted(p.name for p in saved.iterdir() if p.suffix in (".png", ".jpg")) == sorted(
        p.name for p in run.images.iterdir())


def _matrix():
    for task in TASKS:
        for fmt in FORMATS:
            marks = () if (task, fmt) in EVERY_RUN else (pytest.mark.full_matrix,)
            yield pytest.param(task, fmt, marks=marks, id=f"{task}-{fmt}")


@pytest.mark.parametrize(("task", "fmt"), list(_matrix()))
def test_export_then_predict_and_val_the_export(task, fmt, trained):
    run = trained(task)
    out = ok(yolo("export", f"model={run.best}", f"format={fmt}", f"imgsz={size(task)}",
                  f"data={run.data}", cwd=run.folder, timeout=400))
    if fmt not in NO_RUNTIME_HERE:
        assert "parity with the PyTorch model: passed" in out, out[-2000:]
    # TensorFlow's and coremltools' start-up notices stay out of the terminal
    assert not re.search(r"^[IWE]\d{4} |port\.cc|Failed to load _ML", out, re.M), out[-3000:]
    usage = _printed_usage(out)
    assert [line.split()[2] for line in usage] == ["predict", "val"], out[-2000:]
    for line in usage:
        command = shlex.split(line)
        assert command[0] == "yolo"
        if command[2] == "predict":
            command.append(f"source={run.images}")
        done = yolo(*command[1:], cwd=run.folder)
        if fmt in NO_RUNTIME_HERE:
            assert done.returncode == 1 and NO_RUNTIME_HERE[fmt] in done.stderr, done.stderr
            assert "Traceback" not in done.stderr
        elif command[2] == "predict":
            assert _predicted_images(ok(done)) == sorted(p.name for p in run.images.iterdir())
        else:
            assert "results:" in ok(done)


def _printed_usage(output: str) -> list[str]:
    """The ``yolo ... predict`` / ``val`` lines under the export's "use it:"."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "use it:")
    return [line.strip() for line in lines[start + 1:] if line.strip().startswith("yolo ")]


def _predicted_images(output: str) -> list[str]:
    """The image names of predict's per-image lines (``1 /path/a.png: 64x64 ...``)."""
    names = []
    for line in output.splitlines():
        first, _, rest = line.partition(" ")
        if first.isdigit() and ": " in rest:
            names.append(Path(rest.split(": ", 1)[0]).name)
    return sorted(names)


def _predict_folder(output: str) -> str:
    """The folder of ``predict finished in 0.1s; results in runs/x/predict``."""
    line = next(line for line in output.splitlines() if "; results in " in line)
    return line.split("; results in ", 1)[1].strip()
