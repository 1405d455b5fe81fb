"""The detect task (boxes alone): its box-row datasets and the ``yolo detect`` commands. What
every task does (train, val, predict, export) is tested over the registry in test_registry.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.cli import main
from engine.data.detect_dataset import load_detect_dataset
from engine.data.detect_labels import verify_split
from engine.nn import build_model
from engine.tasks import get_task


@pytest.fixture(scope="module")
def boxes(tmp_path_factory) -> Path:
    return get_task("detect").sample_data(tmp_path_factory.mktemp("detect"))


def test_box_rows_train_boxes_without_a_word_about_masks(boxes, tmp_path):
    dataset = load_detect_dataset(boxes, "detect")
    report = verify_split(dataset.splits["train"], "detect", dataset.names, cache=False)
    assert report.samples and not report.problems
    boxes_seen = sum(len(sample.instances) for sample in report.samples)
    assert boxes_seen >= len(report.samples)
    # a polygon row is not a detect row: it is a problem of its line, not a silent box
    label = tmp_path / "labels" / "a.txt"
    label.parent.mkdir(parents=True)
    label.write_text("0 0.1 0.1 0.5 0.1 0.5 0.5\n")
    image = tmp_path / "images" / "a.jpg"
    image.parent.mkdir(parents=True)
    image.write_bytes(dataset.splits["train"][0].read_bytes())
    bad = verify_split([image], "detect", dataset.names, cache=False)
    assert [p.line for p in bad.problems] == [1, None] and not bad.samples
    assert "a box row is class cx cy w h" in bad.problems[0].reason


def test_yolo_detect_val_and_predict_run_a_detection_model(boxes, tmp_path, capsys):
    names = load_detect_dataset(boxes, "detect").names
    model = build_model("yolov8n.yaml", num_classes=len(names))
    model.names = dict(names)
    checkpoint = save_checkpoint(tmp_path / "best.pt", checkpoint_dict(model))
    assert main(["detect", "val", f"model={checkpoint}", f"data={boxes}", "imgsz=64",
                 "batch=4", "plots=False", f"project={tmp_path}"]) == 0
    assert "mAP50-95" in capsys.readouterr().out
    image = load_detect_dataset(boxes, "detect").splits["val"][0]
    assert main(["detect", "predict", f"model={checkpoint}", f"source={image}",
                 "imgsz=64"]) == 0
    assert f"{image}: 64x64 " in capsys.readouterr().out
