"""Benchmark mode on a trained classifier: every format's row, as data and as a table."""

import pytest

from engine import YOLO
from engine.benchmark import benchmark, format_table
from engine.cli import main
from engine.events import ignore


def test_benchmark_rows_for_formats_that_run_cannot_run_or_are_macos_only(trained, digits):
    beside = sorted(p.name for p in trained.parent.iterdir())
    model = YOLO(trained, progress=ignore)
    seen = []
    rows = benchmark(model, data=str(digits), imgsz=32, on_row=seen.append,
                     format="onnx") + [
        row for fmt in ("openvino", "engine", "coreml")
        for row in benchmark(YOLO(trained, progress=ignore), data=str(digits), imgsz=32,
                             format=fmt)[1:]
    ]
    assert [r.format for r in seen] == ["pytorch", "onnx"]
    by = {row.format: row for row in rows}
    reference = by["pytorch"].metric
    assert by["pytorch"].status == "passed" and 0 <= reference <= 1
    for fmt in ("onnx", "openvino"):  # run here: same accuracy, checked, timed
        row = by[fmt]
        assert row.status == "passed" and row.metric == pytest.approx(reference, abs=0.026)
        assert row.parity.startswith("passed") and row.ms_per_image > 0 and row.size_mb > 0
    assert by["engine"].status == "unavailable" and "NVIDIA GPU" in by["engine"].message
    assert by["coreml"].status == "passed" and by["coreml"].metric is None
    assert "macOS only" in by["coreml"].message
    table = format_table(rows, "classify").splitlines()
    assert table[0].split()[:4] == ["format", "status", "size", "MB"]
    assert any(line.startswith("TensorRT") and "unavailable" in line for line in table)
    # exports went to a temp folder, removed afterwards: nothing new beside the checkpoint
    assert sorted(p.name for p in trained.parent.iterdir()) == beside


def test_cli_benchmark_prints_the_table(trained, digits, capsys):
    assert main(["classify", "benchmark", f"model={trained}", f"data={digits}", "imgsz=32",
                 "format=torchscript"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("format") and out[1].startswith("PyTorch")
    assert out[2].startswith("TorchScript") and "passed" in out[2]


def test_cli_exports_then_predicts_and_validates_on_the_openvino_folder(trained, digits, capsys,
                                                                        tmp_path):
    checkpoint = tmp_path / "best.pt"
    checkpoint.write_bytes(trained.read_bytes())
    assert main(["export", f"model={checkpoint}", "format=openvino", "half=True"]) == 0
    out = capsys.readouterr().out
    folder = tmp_path / "best_openvino_model"
    assert "OpenVINO export done in" in out and str(folder) in out
    assert "parity with the PyTorch model: passed" in out and "(fp16," in out
    assert f"yolo classify predict model={folder} imgsz=32" in out
    assert f"yolo classify val model={folder} imgsz=32 data={digits}" in out  # its own data
    image = sorted((digits / "val" / "3").glob("*.png"))[0]
    assert main(["predict", f"model={folder}/", f"source={image}"]) == 0
    *_, last_image, ran_on = capsys.readouterr().out.strip().splitlines()
    assert f"{image}: 32x32 " in last_image and ran_on == "ran on OpenVINO"
    assert main(["val", f"model={folder}", f"data={digits}"]) == 0
    assert "top1" in capsys.readouterr().out.lower()
