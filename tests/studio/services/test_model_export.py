"""The export service: the formats offered, outcomes for unavailable formats and engine
errors, recording, and where exports are written."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.export.decisive import make_decisive
from engine.nn import build_model
from studio.services.model_export import (
    ExportOutcome,
    ExportRequest,
    existing_outputs,
    export_formats,
    export_models,
    output_for,
)
from studio.state import ExportRecord


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    model = build_model("yolov8n-cls.yaml", num_classes=2)
    model.names = {0: "cat", 1: "dog"}
    make_decisive(model)
    return save_checkpoint(tmp_path / "weights" / "best.pt",
                           checkpoint_dict(model, train_args={"imgsz": 32}))


def test_every_format_of_the_table_is_offered_with_its_arguments():
    formats = {info.format: info for info in export_formats()}
    assert len(formats) == 12
    assert "opset" in formats["onnx"].arguments and "opset" not in formats["openvino"].arguments
    assert formats["onnx"].available
    for info in formats.values():
        assert info.available or info.reason  # an unavailable format says why


def test_outputs_sit_beside_the_checkpoint(checkpoint):
    assert output_for(checkpoint, "onnx") == checkpoint.with_suffix(".onnx")
    assert output_for(checkpoint, "openvino").name == "best_openvino_model"
    assert existing_outputs(checkpoint, ["onnx"]) == []


def test_outcomes_and_records(make_project, checkpoint):
    project = make_project("classify", classes=("cat", "dog"))
    seen: list[ExportOutcome] = []
    started: list[str] = []
    outcomes = export_models(
        project, checkpoint,
        [ExportRequest("onnx", {"imgsz": 32}), ExportRequest("engine"),
         ExportRequest("torchscript", {"imgsz": 32, "opset": 12})],
        on_outcome=seen.append, on_started=started.append)
    assert seen == outcomes and started == ["onnx", "engine", "torchscript"]
    onnx, tensorrt, torchscript = outcomes
    assert onnx.status == "passed" and onnx.path.is_file() and onnx.max_error is not None
    assert onnx.latency_ms is not None and onnx.size_mb > 0 and onnx.record_id is not None
    assert "yolo classify predict model=" in onnx.snippet()
    if tensorrt.status == "unavailable":
        assert "tensorrt" in tensorrt.message.lower() and tensorrt.path is None
    # options a format does not take are left out, not an error
    assert torchscript.status == "passed", torchscript.message
    assert existing_outputs(checkpoint, ["onnx", "torchscript"]) == [onnx.path, torchscript.path]
    with project.database.session() as session:
        formats = [r.format for r in session.scalars(select(ExportRecord))]
    assert formats == ["onnx", "torchscript"]


def test_an_engine_error_is_an_outcome(checkpoint, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # half ONNX needs CUDA
    [outcome] = export_models(None, checkpoint,
                              [ExportRequest("onnx", {"imgsz": 32, "half": True})])
    assert outcome.status == "error" and "CUDA" in outcome.message
    assert outcome.path is None and outcome.record_id is None
