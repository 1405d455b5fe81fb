"""The Export wizard: ONNX at 32 px passes its parity check and is recorded, TensorRT is shown
disabled with the reason, a forced parity failure is shown as failed with its figures (files
kept), and replacing an earlier export asks once."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox
from sqlalchemy import select

from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.export.decisive import make_decisive
from engine.nn import build_model
from studio.services.runs import finish_run, start_run
from studio.state import ExportRecord
from studio.ui.export import ExportPage
from studio.workers import JobManager


def add_classify_run(project, names) -> None:
    """A completed run "train" whose best.pt is a decisive 32 px yolov8n-cls of ``names``."""
    folder = project.folder / "runs" / "train"
    model = build_model("yolov8n-cls.yaml", num_classes=len(names))
    model.names = dict(enumerate(names))
    make_decisive(model)
    save_checkpoint(folder / "weights" / "best.pt",
                    checkpoint_dict(model, train_args={"imgsz": 32}))
    run_id = start_run(project, name="train", folder=folder, model="yolov8n-cls.yaml",
                       settings={"imgsz": 32})
    finish_run(project, run_id, "completed")


@pytest.fixture
def project(make_project):
    project = make_project("classify", classes=("cat", "dog"))
    add_classify_run(project, ["cat", "dog"])
    return project


@pytest.fixture
def page(qtbot, project):
    jobs = JobManager()
    page = ExportPage(project, jobs)
    qtbot.addWidget(page)
    page.resize(1200, 800)
    yield page
    page.close_page()
    jobs.wait_all()


def _export(page, qtbot, formats):
    job = page.export(formats)
    assert job is not None
    with qtbot.waitSignal(job.ended, timeout=60000):
        pass


def test_every_format_is_listed_and_tensorrt_says_why(page):
    assert list(page.checks) == ["torchscript", "onnx", "openvino", "engine", "coreml",
                                 "saved_model", "pb", "tflite", "edgetpu", "tfjs", "paddle",
                                 "ncnn"]
    tensorrt = next(i for i in page.formats if i.format == "engine")
    row = [i.format for i in page.formats].index("engine")
    note = page.format_table.item(row, 2).text()
    # the row follows the machine: enabled where TensorRT and a GPU are, else it says why
    assert page.checks["engine"].isEnabled() == tensorrt.available
    if not tensorrt.available:
        assert note.startswith("Unavailable: ") and "pip install tensorrt" in note
    # only the options each format takes
    assert set(page.options["onnx"].editors) >= {"imgsz", "opset", "simplify", "dynamic"}
    assert "opset" not in page.options["torchscript"].editors
    assert page.options["onnx"].editors["imgsz"].value() == 32  # the run's size


def test_onnx_export_passes_and_is_recorded(page, project, qtbot, monkeypatch):
    page.checks["onnx"].setChecked(True)
    assert page.selected_formats() == ["onnx"]
    _export(page, qtbot, page.selected_formats())
    outcome = page.outcomes["onnx"]
    assert outcome.status == "passed", outcome.message
    assert outcome.path.is_file() and outcome.path.name == "best.onnx"
    assert page.results.item(0, 1).text() == "passed"
    assert "error" in page.results.item(0, 4).text()
    assert page.results.item(0, 3).text().endswith("MB")
    with project.database.session() as session:
        records = session.scalars(select(ExportRecord)).all()
        assert [(r.format, r.status) for r in records] == [("onnx", "passed")]
    # the snippets are shown, then copied
    page.results.selectRow(0)
    dialog = page.copy_snippet()
    assert dialog.isVisible() and dialog.tabs.count() == 3
    dialog.copy_all()
    text = QApplication.clipboard().text()
    assert "yolo classify predict model=" in text and "from engine import YOLO" in text
    assert "onnxruntime" in text
    dialog.close()
    # a second export asks once before replacing; "No" starts nothing
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: asked.append(a) or
                        QMessageBox.StandardButton.No)
    assert page.export(["onnx", "torchscript"]) is None
    assert len(asked) == 1


def test_parity_failure_is_shown_with_figures(page, qtbot, monkeypatch, tmp_path):
    # Exports run in a child process: its parity check is replaced there, at its start-up
    # (a sitecustomize module first on the child's PYTHONPATH).
    (tmp_path / "sitecustomize.py").write_text(
        "import engine.export.run as run\n"
        "from engine.export.parity import ParityCheck\n"
        "def failing(*_args, **kwargs):\n"
        "    return ParityCheck(status='failed', precision=kwargs.get('precision', 'fp32'),\n"
        "                       max_error=0.25, tolerance=1e-3, decisions='top-1 equal 0/1',\n"
        "                       agreement=0.0, inputs=1, latency_ms=1.0,\n"
        "                       reason='outputs differ by 2.50e-01, more than the fp32 tolerance')\n"
        "run.compare = failing\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    _export(page, qtbot, ["onnx"])
    outcome = page.outcomes["onnx"]
    assert outcome.status == "failed"
    assert Path(outcome.path).is_file()  # kept for inspection
    assert page.results.item(0, 1).text() == "failed parity"
    assert "2.5e-01" in page.results.item(0, 4).text()
    assert not page.copy_button.isEnabled()


def test_a_runtime_that_aborts_is_one_row_message_and_the_page_lives_on(page, qtbot,
                                                                         monkeypatch, tmp_path):
    # A stand-in for an installed OpenVINO that aborts as it loads, first on the export child's
    # PYTHONPATH: the native crash ends that child only.
    (tmp_path / "openvino").mkdir()
    (tmp_path / "openvino" / "__init__.py").write_text("import os\nos.abort()\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    _export(page, qtbot, ["openvino", "onnx"])
    assert page.outcomes["openvino"].status == "error"
    assert page.outcomes["onnx"].status == "passed"  # the rest carried on
    rows = {page.results.item(r, 0).text(): r for r in range(page.results.rowCount())}
    row = rows["OpenVINO"]
    assert page.results.item(row, 1).text() == "error"
    assert page.results.item(row, 4).text().startswith(
        "the OpenVINO runtime crashed (signal 6, SIGABRT) while exporting")
    assert page.status.text() == "2 formats done: 1 passed their check."
