"""PaddlePaddle export of every task: x2paddle in a child process, paddle.inference in a worker
process, the parity gate, predict and val on the export, atomic folders and clear errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine import YOLO
from engine.backends import load_backend
from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.errors import ExportError
from engine.events import ignore
from engine.export import export_model, get_exporter
from engine.export import paddle as paddle_export
from engine.export.base import modules_available
from engine.nn.model import TaskModel
from tests.engine.export.task_models import TASKS, first_image, make_datasets, task_model


def checkpoint_of(model: TaskModel, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(folder / "best.pt", checkpoint_dict(model))


def assert_predictions_match(task: str, ours, theirs) -> None:
    """The export predicts what the checkpoint predicts (pixels to 0.01, scores to 1e-4)."""
    if task == "classify":
        torch.testing.assert_close(theirs.probs.data, ours.probs.data, atol=1e-4, rtol=0)
        return
    assert len(ours.boxes) > 0 and len(theirs.boxes) == len(ours.boxes)
    torch.testing.assert_close(torch.as_tensor(theirs.boxes.data),
                               torch.as_tensor(ours.boxes.data), atol=1e-2, rtol=1e-4)
    if task == "segment":
        assert theirs.masks.shape == ours.masks.shape
    else:
        torch.testing.assert_close(torch.as_tensor(theirs.keypoints.data),
                                   torch.as_tensor(ours.keypoints.data), atol=1e-2, rtol=1e-4)


class Exports:
    """Each task's checkpoint and export, converted on first use (once per test module)."""

    def __init__(self, root: Path, datasets: dict[str, Path], export_format: str,
                 **options) -> None:
        self.root, self.datasets, self.options = root, datasets, options
        self.format = export_format
        self.made: dict[str, tuple[Path, object]] = {}

    def __getitem__(self, task: str):
        """(checkpoint, ExportResult) of ``task``, checked by the parity gate on its data."""
        if task not in self.made:
            checkpoint = checkpoint_of(task_model(task), self.root / task)
            result = YOLO(checkpoint, progress=ignore).export(
                format=self.format, imgsz=TASKS[task][3], data=str(self.datasets[task]),
                **self.options,
            )
            self.made[task] = checkpoint, result
        return self.made[task]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, Path]:
    return make_datasets(tmp_path_factory.mktemp("paddle_data"))


@pytest.fixture(scope="module")
def exports(datasets, tmp_path_factory) -> Exports:
    return Exports(tmp_path_factory.mktemp("paddle"), datasets, "paddle")


@pytest.mark.parametrize("task", TASKS)
def test_the_export_passes_the_parity_gate_and_holds_only_the_inference_model(exports, task):
    checkpoint, result = exports[task]
    assert result.path == checkpoint.parent / "best_paddle_model"
    assert result.parity.status == "passed" and result.parity.precision == "fp32"
    assert result.parity.max_error < 1e-4 and result.parity.inputs > 1  # noise + dataset
    if task != "classify":
        assert result.parity.agreement == 1.0 and "matched 0/0" not in result.parity.decisions
    assert sorted(os.listdir(result.path)) == ["metadata.yaml", "model.json", "model.pdiparams"]
    # nothing else beside the checkpoint: no ONNX, no x2paddle code, no temp folder
    assert sorted(os.listdir(checkpoint.parent)) == ["best.pt", "best_paddle_model"]


@pytest.mark.parametrize("task", TASKS)
def test_the_backend_gives_the_models_outputs_at_the_exported_shape(exports, task):
    _, result = exports[task]
    backend = load_backend(result.path)
    size = TASKS[task][3]
    assert (backend.kind, backend.task, backend.names) == ("paddle", task, TASKS[task][2])
    assert backend.fixed_shape and backend.imgsz == (size, size) and backend.batch == 1
    images = torch.rand(3, 3, size, size, generator=torch.Generator().manual_seed(3))
    model = task_model(task)
    reference = load_backend(model)
    got, expected = backend(images), reference(images)
    for a, b in zip(got if isinstance(got, tuple) else (got,),
                    expected if isinstance(expected, tuple) else (expected,), strict=True):
        assert a.dtype == torch.float32 and a.shape == b.shape
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-4)
    with pytest.raises(ExportError, match=f"was exported for {size}x{size} images, got"):
        backend(torch.rand(1, 3, size + 32, size))
    # Paddle ran in the backend's worker process, not here (see paddle_backend.py)
    assert "paddle" not in sys.modules


@pytest.mark.parametrize("task", TASKS)
def test_yolo_predicts_and_validates_on_the_export(exports, datasets, task):
    checkpoint, result = exports[task]
    model, export = YOLO(checkpoint, progress=ignore), YOLO(result.path, progress=ignore)
    size = TASKS[task][3]
    assert (export.task, export.names) == (task, model.names)
    image = first_image(task, datasets[task])
    assert_predictions_match(task, model(image, imgsz=size)[0], export(image)[0])
    ours = model.val(data=str(datasets[task]), imgsz=size, plots=False)
    theirs = export.val(data=str(datasets[task]), plots=False)
    assert theirs.results_dict == pytest.approx(ours.results_dict, abs=1e-3)


def test_paddle_runs_in_a_worker_even_after_tensorflow_was_loaded(exports):
    """Loading Paddle's library after TensorFlow's crashes the process; the backend's worker
    process keeps Paddle out of this one (checked in a fresh process that loads TF first)."""
    _, result = exports["classify"]
    script = (
        "import sys, torch\n"
        + ("import tensorflow\n" if modules_available("tensorflow") else "")
        + "from engine.backends import load_backend\n"
        "backend = load_backend(sys.argv[1])\n"
        "print(tuple(backend(torch.rand(2, 3, 32, 32)).shape), 'paddle' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(result.path)], capture_output=True,
                          text=True, check=False, cwd=Path(__file__).parents[3])
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[-2] == "(2, 3) False"


def test_the_export_loads_from_a_relative_path(exports, monkeypatch):
    _, result = exports["classify"]
    monkeypatch.chdir(result.path.parent)
    backend = load_backend(Path(result.path.name))
    assert backend(torch.rand(1, 3, 32, 32)).shape == (1, 3)
    backend.close()


def test_a_stopped_worker_is_named(exports):
    _, result = exports["classify"]
    backend = load_backend(result.path)
    backend._worker._process.kill()
    backend._worker._process.wait()
    with pytest.raises(ExportError, match=r"the Paddle runtime crashed \(signal 9, SIGKILL\) \(out of memory\?\) while running the model"):
        backend(torch.rand(1, 3, 32, 32))
    backend.close()


def test_a_missing_extra_names_the_pip_extra(monkeypatch, tmp_path):
    monkeypatch.setattr(paddle_export, "modules_available", lambda *names: "paddle" not in names)
    with pytest.raises(ExportError, match=r"pip install 'yolo-studio\[paddle\]'") as caught:
        export_model(task_model("classify"), "paddle", output=tmp_path / "m.pt", imgsz=32)
    assert caught.value.key == "format" and not os.listdir(tmp_path)


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("raise NotImplementedError('Unsupported op: GridSample')",
         r"x2paddle could not convert the model \(exit code 1\): NotImplementedError: "
         r"Unsupported op: GridSample"),
        # x2paddle's own failure path prints and calls exit(0): success, but no model
        ("print('Fail to generate inference model!'); exit(0)",
         r"x2paddle could not convert the model \(no inference model written\): "
         r"Fail to generate inference model!"),
    ],
)
def test_a_converter_failure_is_named_and_keeps_the_previous_export(
    tmp_path, monkeypatch, script, message
):
    previous = tmp_path / "m_paddle_model"
    previous.mkdir()
    (previous / "model.json").write_text("previous export")
    monkeypatch.setattr(paddle_export, "CONVERT_SCRIPT", script)
    with pytest.raises(ExportError, match=message):
        export_model(task_model("classify"), "paddle", output=tmp_path / "m.pt", imgsz=32)
    assert os.listdir(tmp_path) == ["m_paddle_model"]  # no half-written or temp folder
    assert (previous / "model.json").read_text() == "previous export"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "metadata.yaml").unlink(), r"best_paddle_model: has no metadata\.yaml"),
        (lambda f: (f / "metadata.yaml").write_text("names: [unclosed\n"),
         r"metadata\.yaml: cannot be parsed"),
        (lambda f: (f / "model.pdiparams").unlink(), r"model\.pdiparams: is missing"),
        (lambda f: (f / "model.json").unlink(), r"model\.json: is missing"),
        (lambda f: (f / "model.json").write_text("{not json"),
         r"best_paddle_model: cannot be loaded by Paddle \(.+\); it may be truncated"),
    ],
    ids=["no-metadata", "broken-metadata", "no-weights", "no-program", "broken-program"],
)
def test_a_damaged_export_folder_is_named_when_loading(exports, tmp_path, damage, message):
    _, result = exports["classify"]
    folder = shutil.copytree(result.path, tmp_path / "best_paddle_model")
    damage(folder)
    with pytest.raises(ExportError, match=message):
        load_backend(folder)


def test_the_exporter_says_what_it_takes():
    exporter = get_exporter("paddle")
    assert (exporter.suffix, exporter.extra, exporter.arguments) == (
        "_paddle_model", "paddle", frozenset({"imgsz", "batch"})
    )
    assert exporter.available() and exporter.runtime_missing() == ""
