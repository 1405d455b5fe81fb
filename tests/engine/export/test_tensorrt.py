"""TensorRT: real code that says plainly why it cannot run on a machine without an NVIDIA GPU."""

import os
import struct

import pytest

from engine.backends import load_backend
from engine.backends.tensorrt_backend import gpu_missing
from engine.errors import ExportError
from engine.export import export_model
from engine.formats.export_metadata import read_engine_file
from engine.nn import build_model


def test_export_without_a_gpu_says_what_is_missing_and_writes_nothing(tmp_path):
    reason = gpu_missing()
    assert reason  # CI and these machines have no NVIDIA GPU
    model = build_model("yolov8n-cls.yaml", num_classes=2)
    with pytest.raises(ExportError, match="TensorRT export cannot run here: ") as caught:
        export_model(model, "engine", output=tmp_path / "m.pt", imgsz=32, workspace=2)
    assert reason in str(caught.value) and "Export to onnx or openvino" in str(caught.value)
    assert os.listdir(tmp_path) == []


def test_engine_files_carry_metadata_in_front_of_the_engine(tmp_path):
    path = tmp_path / "m.engine"
    header = b'{"task": "pose", "names": {"0": "person"}, "stride": 32, "imgsz": [64, 64]}'
    path.write_bytes(struct.pack("<I", len(header)) + header + b"ENGINE")
    metadata, engine = read_engine_file(path)
    assert metadata["task"] == "pose" and engine == b"ENGINE"
    with pytest.raises(ExportError, match="cannot run a TensorRT engine here"):
        load_backend(path)
    (tmp_path / "bad.engine").write_bytes(b"\x05\x00\x00\x00nojsonENGINE")
    with pytest.raises(ExportError, match="has no metadata header"):
        read_engine_file(tmp_path / "bad.engine")


def test_workspace_must_be_a_size(tmp_path):
    model = build_model("yolov8n-cls.yaml", num_classes=2)
    with pytest.raises(ExportError, match="workspace is TensorRT's memory limit in GiB"):
        export_model(model, "onnx", output=tmp_path / "m.pt", imgsz=32, workspace=-1)
