"""Issue 21, int8 that pays: ``yolo benchmark int8=True`` gives a format that takes int8 a
second row, its int8 export, with the key metric, its change against the fp32 row and the
speed; an OpenVINO int8 row says how many operations of its compiled model run in int8."""

from __future__ import annotations

import pytest

from engine import YOLO
from engine.benchmark import benchmark, format_table
from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.events import ignore

from .export.task_models import make_datasets, task_model


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    """The benchmark of a 32 px classifier on coloured squares: PyTorch, OpenVINO fp32, int8."""
    root = tmp_path_factory.mktemp("benchmark_int8")
    data = make_datasets(root)["classify"]
    checkpoint = root / "best.pt"
    save_checkpoint(checkpoint, checkpoint_dict(task_model("classify"),
                                                train_args={"imgsz": 32}))
    return benchmark(YOLO(checkpoint, progress=ignore), data=str(data), imgsz=32,
                     format="openvino", int8=True)


def test_int8_row_beside_the_fp32_one_with_its_accuracy_change(rows):
    assert [(r.format, r.precision) for r in rows] == [
        ("pytorch", "fp32"), ("openvino", "fp32"), ("openvino", "int8")]
    pytorch, fp32, int8 = rows
    assert [r.status for r in rows] == ["passed"] * 3, [r.message for r in rows]
    assert (fp32.name, int8.name) == ("OpenVINO", "OpenVINO int8")
    assert pytorch.metric_change is None
    assert fp32.metric_change == pytest.approx(fp32.metric - pytorch.metric)
    assert int8.metric_change == pytest.approx(int8.metric - fp32.metric)
    for row in (fp32, int8):
        assert 0 <= row.metric <= 1 and row.ms_per_image > 0
        assert row.fps == pytest.approx(1000 / row.ms_per_image)
    assert int8.parity.startswith("passed") and "(int8," in int8.parity
    assert "ops in int8" in int8.note and fp32.note == ""


def test_table_shows_metric_change_and_fps(rows):
    table = format_table(rows, "classify").splitlines()
    header = table[0].split()
    assert header[:7] == ["format", "status", "size", "MB", "top1", "vs", "fp32"]
    assert header[7:10] == ["ms/image", "FPS", "export"]
    int8 = rows[2]
    line = next(line for line in table if line.startswith("OpenVINO int8"))
    assert f"{int8.metric:.4f}" in line and f"{int8.metric_change:+.4f}" in line
    assert f"{int8.fps:.1f}" in line and int8.note in line
