"""Exports run by their runtime in a child process: same outputs, and a crash is a message."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.api import YOLO
from engine.backends import load_backend
from engine.backends.isolated import IsolatedBackend
from engine.errors import ExportError
from engine.events import Warning as EngineWarning
from tests.onnx_authors import foreign_copy

from .conftest import IMGSZ, NAMES, coloured_images

ROOT = Path(__file__).resolve().parents[3]


def _broken_runtime(folder: Path, package: str, body: str) -> str:
    """A stand-in package that shadows an installed runtime (PYTHONPATH) and fails as told."""
    (folder / package).mkdir(parents=True)
    (folder / package / "__init__.py").write_text(body)
    return str(folder)


def test_an_isolated_export_gives_the_in_process_outputs(model_files):
    path = model_files["onnx_batch2"]
    direct, isolated = load_backend(path), load_backend(path, isolated=True)
    try:
        assert isinstance(isolated, IsolatedBackend)
        assert (isolated.task, isolated.names, isolated.batch) == ("classify", NAMES, 2)
        assert isolated.imgsz == (IMGSZ, IMGSZ) and isolated.fixed_shape == direct.fixed_shape
        images = coloured_images(3)  # an odd count: the batch-2 export runs it in chunks
        torch.testing.assert_close(isolated(images), direct(images), rtol=0, atol=0)
    finally:
        isolated.close()


def test_torch_files_and_worker_runtimes_load_as_usual(model_files):
    assert type(load_backend(model_files["pt"], isolated=True)).__name__ == "TorchBackend"
    backend = load_backend(model_files["torchscript_batch2"], isolated=True)
    assert type(backend).__name__ == "TorchScriptBackend"


@pytest.mark.parametrize(("body", "expected"), [
    ("import os\nos.abort()\n",
     r"the ONNX runtime crashed \(signal 6, SIGABRT\) while loading the model"),
    ("raise ImportError('libonnxruntime.so: cannot open shared object file')\n",
     r"onnxruntime is installed but fails to load \(libonnxruntime\.so: cannot open shared object file\); reinstall it"),
])
def test_a_broken_runtime_is_a_message_and_this_process_lives_on(model_files, tmp_path,
                                                                  monkeypatch, body, expected):
    monkeypatch.setenv("PYTHONPATH", _broken_runtime(tmp_path, "onnxruntime", body))
    with pytest.raises(ExportError, match=expected) as caught:
        load_backend(model_files["onnx_dynamic"], isolated=True)
    assert str(model_files["onnx_dynamic"].resolve()) in str(caught.value)


def test_a_runtime_crash_while_running_names_the_signal(model_files):
    backend = load_backend(model_files["onnx_dynamic"], isolated=True)
    backend._worker._process.send_signal(11)  # as a segfault in the runtime would end it
    backend._worker._process.wait()
    with pytest.raises(ExportError, match=r"crashed \(signal 11, SIGSEGV\) while running the "):
        backend(coloured_images(1))
    backend.close()


def test_an_export_from_elsewhere_is_named_once_as_able_to_run_code(model_files, tmp_path):
    foreign = foreign_copy(model_files["onnx_dynamic"], tmp_path / "foreign.onnx", "Someone Else")
    seen: list = []
    YOLO(foreign, progress=seen.append)
    YOLO(foreign, progress=seen.append)
    warnings = [e for e in seen if isinstance(e, EngineWarning)]
    assert len(warnings) == 1
    assert "not exported by YOLO Studio (its metadata names 'Someone Else')" in warnings[0].message
    assert "can run code" in warnings[0].message
    ours: list = []
    YOLO(model_files["onnx_dynamic"], progress=ours.append)
    assert not [e for e in ours if isinstance(e, EngineWarning)]


def test_yolo_predict_survives_a_runtime_that_aborts(model_files, tmp_path):
    """Through the console script: one clear line and exit 1, not a core dump (exit 134)."""
    image = tmp_path / "image.png"
    import cv2
    import numpy as np

    cv2.imwrite(str(image), np.full((32, 32, 3), 128, np.uint8))
    env = dict(os.environ, PYTHONPATH=_broken_runtime(tmp_path / "site", "onnxruntime",
                                                      "import os\nos.abort()\n"))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "yolo"), "predict",
         f"model={model_files['onnx_dynamic']}", f"source={image}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert "the ONNX runtime crashed (signal 6, SIGABRT) while loading the model" in done.stderr
    assert "Traceback" not in done.stderr
