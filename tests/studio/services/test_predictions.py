"""Predictions service: raw candidates cached, re-filtered without the model, GT matching."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.export.decisive import make_decisive
from engine.nn import build_model
from studio.services.image_queries import Shape
from studio.services.predictions import (
    FramePrediction,
    ModelMismatch,
    check_task,
    filter_detections,
    match_ground_truth,
    open_model,
    predict_frames,
)


@pytest.fixture(scope="module")
def seg_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model")
    model = make_decisive(build_model("yolov8n-seg.yaml", num_classes=2))
    path = save_checkpoint(folder / "seg.pt", checkpoint_dict(model, train_args={"imgsz": 64}))
    return path


def noise(path, seed, size=(96, 128)):
    image = (np.random.default_rng(seed).random((*size, 3)) * 255).astype(np.uint8)
    cv2.imwrite(str(path), image)
    return path


def frame_with(boxes, scores, classes) -> FramePrediction:
    return FramePrediction("k", "x.png", 100, 100, b"", boxes=np.array(boxes, np.float32),
                           scores=np.array(scores, np.float32),
                           classes=np.array(classes, np.int64))


def test_raw_predictions_are_cached_and_unreadable_inputs_skipped(seg_model, tmp_path):
    model, info = open_model(seg_model)
    assert info.task == "segment" and info.imgsz == 64
    folder = tmp_path / "images"
    folder.mkdir()
    noise(folder / "a.png", 1)
    noise(folder / "b.png", 2)
    (folder / "broken.png").write_bytes(b"not an image")
    run = predict_frames(model, str(folder), imgsz=info.imgsz)
    assert len(run.frames) == 2
    assert [p for p, _ in run.skipped] and "broken.png" in run.skipped[0][0]
    frame = run.frames[0]
    assert len(frame.scores) > 5 and frame.scores.min() < 0.25  # raw: below the usual conf
    assert len(frame.contours) == len(frame.scores) and frame.jpeg
    assert (frame.boxes >= -0.01).all() and (frame.boxes <= 1.01).all()


def test_conf_and_iou_filter_cached_candidates():
    frame = frame_with([[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.52, 0.5], [0.6, 0.6, 0.9, 0.9],
                        [0.1, 0.1, 0.5, 0.5]], [0.9, 0.8, 0.3, 0.7], [0, 0, 0, 1])
    assert list(filter_detections(frame, 0.25, 0.7)) == [0, 3, 2]  # NMS per class
    assert list(filter_detections(frame, 0.25, 0.99)) == [0, 1, 3, 2]
    assert list(filter_detections(frame, 0.5, 0.7)) == [0, 3]
    assert list(filter_detections(frame, 0.25, 0.7, visible=[1])) == [3]


def test_false_positives_and_misses():
    frame = frame_with([[0.1, 0.1, 0.5, 0.5], [0.6, 0.6, 0.9, 0.9], [0.1, 0.6, 0.3, 0.9]],
                       [0.9, 0.8, 0.7], [0, 0, 1])
    truth = [Shape("pose", 0, box=(0.3, 0.3, 0.4, 0.4)),             # matches prediction 0
             Shape("polygon", 1, polygon=(0.6, 0.6, 0.9, 0.6, 0.9, 0.9)),  # class 1: missed
             Shape("pose", 1, box=(0.2, 0.75, 0.2, 0.3))]            # matches prediction 2
    match = match_ground_truth(frame, [0, 1, 2], truth)
    assert match.matched == {0: 0, 2: 2}
    assert match.false_positives == (1,)   # right place, wrong class
    assert match.missed == (1,)


def test_wrong_task_message(seg_model):
    _, info = open_model(seg_model)
    with pytest.raises(ModelMismatch, match="is a segment model, but this is a pose project"):
        check_task(info, "pose")


def test_an_export_runs_isolated_and_its_runtime_crash_is_an_error(seg_model, tmp_path,
                                                                   monkeypatch):
    from engine.api import YOLO
    from engine.backends.isolated import IsolatedBackend
    from engine.errors import EngineError

    export = YOLO(seg_model).export(format="openvino", imgsz=64, progress=lambda _e: None)
    model, info = open_model(export.path)
    assert isinstance(model.exported, IsolatedBackend) and info.task == "segment"
    assert info.warnings == ()  # our own export: nothing to warn about
    noise(tmp_path / "a.png", 1)
    frames = predict_frames(model, str(tmp_path / "a.png"), imgsz=64).frames
    assert len(frames) == 1 and len(frames[0].scores) > 0
    site = tmp_path / "site" / "openvino"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text("import os\nos.abort()\n")
    monkeypatch.setenv("PYTHONPATH", str(site.parent))
    with pytest.raises(EngineError, match=r"the OpenVINO runtime crashed \(signal 6, SIGABRT\)"):
        open_model(export.path)


def test_an_export_another_tool_wrote_is_named_as_able_to_run_code(seg_model, tmp_path):
    from engine.api import YOLO
    from tests.onnx_authors import foreign_copy

    export = YOLO(seg_model).export(format="onnx", imgsz=64, progress=lambda _e: None)
    foreign = foreign_copy(export.path, tmp_path / "foreign.onnx")
    _model, info = open_model(foreign)
    assert len(info.warnings) == 1 and "can run code" in info.warnings[0]
    assert "its metadata names 'Another Tool'" in info.warnings[0]
