"""The export service: the formats offered, outcomes for unavailable formats and engine
errors, recording, and where exports are written."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.export import EXPORT_OPTIONS
from engine.export.decisive import make_decisive
from engine.nn import build_model
from studio.services.model_export import (
    OPTION_HELP,
    OPTION_NAMES,
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


def test_the_wizard_offers_every_option_the_engine_declares_with_its_help():
    """A new export option (a field of the engine's ExportOptions) is shown, or this fails."""
    assert set(OPTION_NAMES) == {"imgsz", "batch", *EXPORT_OPTIONS} == set(OPTION_HELP)
    assert len(OPTION_NAMES) == len(set(OPTION_NAMES))


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
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # the export child sees no GPU: half needs one
    [outcome] = export_models(None, checkpoint,
                              [ExportRequest("onnx", {"imgsz": 32, "half": True})])
    assert outcome.status == "error" and "CUDA" in outcome.message
    assert outcome.path is None and outcome.record_id is None


def _broken_runtime(folder: Path, package: str, body: str) -> str:
    """A stand-in for an installed runtime, first on the export child's PYTHONPATH."""
    (folder / package).mkdir(parents=True)
    (folder / package / "__init__.py").write_text(body)
    return str(folder)


def test_a_runtime_that_aborts_is_one_row_message_and_the_rest_carries_on(
        make_project, checkpoint, tmp_path, monkeypatch):
    project = make_project("classify", classes=("cat", "dog"))
    monkeypatch.setenv("PYTHONPATH", _broken_runtime(tmp_path / "site", "openvino",
                                                     "import os\nos.abort()\n"))
    seen: list[ExportOutcome] = []
    openvino, onnx = export_models(
        project, checkpoint, [ExportRequest("openvino", {"imgsz": 32}),
                              ExportRequest("onnx", {"imgsz": 32})], on_outcome=seen.append)
    assert openvino.status == "error" and openvino.path is None
    assert openvino.message.startswith(
        "the OpenVINO runtime crashed (signal 6, SIGABRT) while exporting; nothing of this "
        "export was kept as a result")
    assert f"the checkpoint and the other exports in {checkpoint.parent} are kept" in (
        openvino.message)
    assert not output_for(checkpoint, "openvino").exists()
    assert onnx.status == "passed" and seen == [openvino, onnx]  # the rest carried on
    assert checkpoint.is_file()


def test_a_runtime_that_fails_to_import_is_a_clear_row_message(checkpoint, tmp_path,
                                                                monkeypatch):
    monkeypatch.setenv("PYTHONPATH", _broken_runtime(
        tmp_path / "site", "openvino", "raise ImportError('libopenvino.so.2641: bad ELF')\n"))
    [outcome] = export_models(None, checkpoint, [ExportRequest("openvino", {"imgsz": 32})])
    assert outcome.status == "error" and "libopenvino.so.2641: bad ELF" in outcome.message
    assert "its converter is installed but does not load" in outcome.message
    assert "pip install --force-reinstall openvino" in outcome.message
    assert "Traceback" not in outcome.message


def test_cancel_stops_the_export_being_written(checkpoint):
    from engine.cancel import CancelToken
    from engine.errors import Cancelled

    cancel = CancelToken()
    with pytest.raises(Cancelled):  # cancelled as the child starts: it stops at a safe point
        export_models(None, checkpoint, [ExportRequest("onnx", {"imgsz": 32})], cancel=cancel,
                      on_started=lambda _format: cancel.cancel())
    assert not output_for(checkpoint, "onnx").exists()


@pytest.fixture
def read_only_later():
    """``make(folder)`` makes ``folder`` read-only even for root (chattr +i), undone after."""
    import os
    import subprocess

    made = []

    def make(folder: Path) -> None:
        if os.geteuid() != 0:
            folder.chmod(0o555)
        elif subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
            pytest.skip("cannot run here: the tests run as root, for whom only an immutable "
                        "folder (chattr +i) is read-only, and this filesystem has no such flag")
        made.append(folder)

    yield make
    for folder in made:
        subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
        folder.chmod(0o755)


def test_a_folder_made_read_only_mid_export_is_one_message_and_no_result(
        checkpoint, read_only_later):
    before = sorted(p.name for p in checkpoint.parent.iterdir())
    outcomes = export_models(
        None, checkpoint, [ExportRequest("onnx", {"imgsz": 32}),
                           ExportRequest("openvino", {"imgsz": 32})],
        on_started=lambda _format: read_only_later(checkpoint.parent))
    for outcome in outcomes:
        assert outcome.status == "error" and outcome.path is None, outcome
        assert "could not be written" in outcome.message or "not permitted" in outcome.message
        assert "Traceback" not in outcome.message
    assert sorted(p.name for p in checkpoint.parent.iterdir()) == before  # nothing half-written
