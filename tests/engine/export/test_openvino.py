"""OpenVINO export for the three tasks: IR folder, metadata, parity, precision, loading errors."""

import shutil

import cv2
import numpy as np
import pytest
import torch

from engine import YOLO
from engine.backends import load_backend
from engine.errors import ExportError
from engine.events import ignore
from engine.export import export_model
from engine.nn import build_model

MODELS = {
    "classify": ("yolov8n-cls.yaml", {"num_classes": 3}, 32),
    "segment": ("yolov8n-seg.yaml", {"num_classes": 2}, 64),
    "pose": ("yolov8n-pose.yaml", {"num_classes": 1, "keypoint_shape": (5, 3)}, 64),
}


def _model(task):
    config, arguments, size = MODELS[task]
    torch.manual_seed(0)
    model = build_model(config, **arguments)
    model.names = {i: f"thing{i}" for i in range(len(model.names))}
    return model, size


@pytest.mark.parametrize("task", list(MODELS))
def test_fp32_export_passes_parity_and_runs_through_yolo(task, tmp_path):
    model, size = _model(task)
    result = export_model(model, "openvino", output=tmp_path / "best.pt", imgsz=size)
    folder = tmp_path / "best_openvino_model"
    assert result.path == folder and result.files == ("best.bin", "best.xml", "metadata.yaml")
    assert result.parity.status == "passed" and result.parity.max_error < 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best_openvino_model"]
    exported = YOLO(str(folder) + "/", progress=ignore)  # a trailing slash, as users type it
    assert (exported.task, exported.names) == (task, model.names)
    image = np.full((size + 10, size, 3), 90, np.uint8)
    cv2.circle(image, (size // 2, size // 2), size // 4, (20, 200, 240), -1)
    assert len(exported(image, imgsz=size)) == 1


def test_dynamic_export_takes_other_sizes_and_batches(tmp_path):
    model, _ = _model("segment")
    path = export_model(model, "openvino", output=tmp_path / "m.pt", imgsz=64, dynamic=True).path
    backend = load_backend(path)
    assert not backend.fixed_shape and backend.batch is None
    detections, prototypes = backend(torch.rand(2, 3, 96, 64))
    assert detections.shape == (2, 4 + 2 + 32, 12 * 8 + 6 * 4 + 3 * 2)
    assert prototypes.shape == (2, 32, 24, 16)
    fixed = load_backend(export_model(model, "openvino", output=tmp_path / "f.pt", imgsz=64).path)
    with pytest.raises(ExportError, match="was exported for 64x64 images, got 96x64"):
        fixed(torch.rand(1, 3, 96, 64))


def test_half_stores_fp16_weights_and_int8_calibrates_on_images(tmp_path):
    model, size = _model("pose")
    full = export_model(model, "openvino", output=tmp_path / "a.pt", imgsz=size)
    half = export_model(model, "openvino", output=tmp_path / "b.pt", imgsz=size, half=True)
    assert half.parity.passed and half.parity.precision == "fp16"
    assert half.size_mb < 0.6 * full.size_mb
    samples = [torch.rand(3, size, size, generator=torch.Generator().manual_seed(i))
               for i in range(4)]
    int8 = export_model(model, "openvino", output=tmp_path / "c.pt", imgsz=size, int8=True,
                        samples=samples)
    assert int8.parity.passed and int8.parity.precision == "int8" and int8.parity.inputs == 5
    assert int8.size_mb < 0.4 * full.size_mb
    assert "FakeQuantize" in (int8.path / "c.xml").read_text()


def test_broken_folders_say_what_is_missing(tmp_path):
    model, size = _model("classify")
    folder = export_model(model, "openvino", output=tmp_path / "m.pt", imgsz=size).path
    (folder / "metadata.yaml").unlink()
    with pytest.raises(ExportError, match=r"has no metadata.yaml, which says the model's task"):
        load_backend(folder)
    other = tmp_path / "other_openvino_model"
    shutil.copytree(folder, other)
    (other / "metadata.yaml").write_text("task: classify\n")
    with pytest.raises(ExportError, match=r"metadata.yaml, key 'names': has no 'names'"):
        load_backend(other)
    with pytest.raises(ExportError, match="no such folder"):
        load_backend(tmp_path / "missing_openvino_model")
