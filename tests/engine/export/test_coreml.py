"""CoreML export: a validated ML program with its metadata; prediction is macOS-only."""

import ast
import os
import platform

import coremltools as ct
import pytest
import torch

from engine.backends import load_backend
from engine.errors import ExportError
from engine.export import export_model
from engine.nn import build_model


def test_classifier_package_carries_metadata_and_says_it_runs_on_macos(tmp_path):
    model = build_model("yolov8n-cls.yaml", num_classes=3)
    model.names = {0: "cat", 1: "dog", 2: "bird"}
    result = export_model(model, "coreml", output=tmp_path / "best.pt", imgsz=32)
    assert result.path == tmp_path / "best.mlpackage" and "Manifest.json" in result.files
    spec = ct.models.MLModel(str(result.path), skip_model_load=True).get_spec()
    assert [i.name for i in spec.description.input] == ["images"]
    assert [o.name for o in spec.description.output] == ["output0"]
    meta = dict(spec.description.metadata.userDefined)
    assert meta["task"] == "classify" and ast.literal_eval(meta["names"])[1] == "dog"
    assert result.parity.status == "unchecked" and "macOS only" in result.parity.reason
    assert result.passed and "CoreML models run on macOS only" in result.report()
    if platform.system() != "Darwin":
        with pytest.raises(ExportError, match="CoreML models run on macOS only"):
            load_backend(result.path)


def test_int8_quantizes_weights_and_calibrated_activations(tmp_path):
    model = build_model("yolov8n-seg.yaml", num_classes=2)
    samples = [torch.rand(3, 64, 64) for _ in range(2)]
    result = export_model(model, "coreml", output=tmp_path / "m.pt", imgsz=64, int8=True,
                          samples=samples)
    program = ct.models.MLModel(str(result.path), skip_model_load=True).get_spec().mlProgram
    ops = [op.type for f in program.functions.values() for b in f.block_specializations.values()
           for op in b.operations]
    assert ops.count("quantize") > 50 and ops.count("dequantize") > 50
    assert any(op.startswith("constexpr_") for op in ops)  # int8 weights
    full = export_model(model, "coreml", output=tmp_path / "f.pt", imgsz=64)
    assert result.size_mb < 0.4 * full.size_mb


def test_nms_is_refused_for_these_tasks_and_nothing_is_left(tmp_path):
    model = build_model("yolov8n-pose.yaml", num_classes=1, keypoint_shape=(5, 3))
    with pytest.raises(ExportError, match="nms=True adds CoreML's non-maximum-suppression"):
        export_model(model, "coreml", output=tmp_path / "m.pt", imgsz=64, nms=True)
    assert os.listdir(tmp_path) == []
