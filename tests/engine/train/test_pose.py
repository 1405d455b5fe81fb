"""Pose estimation end to end on a tiny generated stick-figure set: train, val, predict,
export, the CLI, and a model whose keypoint head does not fit the data."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from engine import YOLO
from engine.cli import main
from engine.data.figure_samples import FLIP_IDX, KEYPOINT_NAMES, SKELETON, make_figures_dataset
from engine.events import Warning, ignore

from .test_trainer import Recorder

QUICK = dict(epochs=1, imgsz=64, batch=4, workers=1, seed=0)


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    return make_figures_dataset(
        tmp_path_factory.mktemp("figures") / "data", size=96, train=8, val=4
    )


@pytest.fixture(scope="module")
def trained(figures, tmp_path_factory):
    project = tmp_path_factory.mktemp("pose_runs")
    model = YOLO("yolov8n-pose.yaml", progress=ignore)
    result = model.train(data=str(figures), project=str(project), progress=Recorder(), **QUICK)
    return model, result


def test_a_pose_run_writes_its_losses_metrics_and_weights(trained):
    model, result = trained
    assert result.status == "completed" and result.best.is_file()
    with open(result.save_dir / "results.csv") as handle:
        (row,) = list(csv.DictReader(handle))
    for column in ("train/pose_loss", "train/kobj_loss", "metrics/mAP50-95(P)", "val/pose_loss"):
        assert column in row
    assert (result.save_dir / "PosePR_curve.png").is_file()
    assert model.model.keypoint_shape == (5, 3)


def test_pose_val_and_predict_give_keypoints(trained, figures):
    model, _ = trained
    metrics = YOLO(model.checkpoint_path, progress=ignore).val(plots=False)
    assert metrics.seen == 4 and 0 <= metrics.pose.map <= metrics.pose.map50 <= 1
    (result,) = model(figures.parent / "images" / "val" / "val_0000.jpg", conf=0.0001, max_det=3)
    assert result.keypoints.shape == (len(result.boxes), 5, 3)
    xy = np.asarray(result.keypoints.xy)
    assert np.isfinite(xy).all() and result.plot().shape == (96, 96, 3)
    assert "keypoints" in result.summary()[0]


def test_pose_onnx_export_runs_like_the_checkpoint(trained, figures, tmp_path, monkeypatch):
    model, _ = trained
    monkeypatch.chdir(tmp_path)
    exported = YOLO(
        YOLO(model.checkpoint_path, progress=ignore).export(format="onnx", imgsz=64),
        progress=ignore,
    )
    image = figures.parent / "images" / "val" / "val_0001.jpg"
    ours = model(image, conf=0.0001, max_det=2, imgsz=64)[0]
    theirs = exported(image, conf=0.0001, max_det=2)[0]
    assert np.allclose(
        np.asarray(ours.keypoints.data), np.asarray(theirs.keypoints.data), atol=0.05
    )
    assert exported.val(data=str(figures), plots=False).seen == 4
    assert exported.backend().keypoint_layout["skeleton"] == [list(p) for p in SKELETON]
    assert theirs.skeleton == ours.skeleton == [list(p) for p in SKELETON]


def test_a_checkpoint_keeps_the_datasets_keypoint_names_limbs_and_flips(trained, figures):
    model, _ = trained
    reloaded = YOLO(model.checkpoint_path, progress=ignore)
    assert reloaded.model.keypoint_layout == {
        "kpt_names": list(KEYPOINT_NAMES),
        "skeleton": [list(p) for p in SKELETON],
        "flip_idx": list(FLIP_IDX),
    }
    (result,) = reloaded(figures.parent / "images" / "val" / "val_0000.jpg", conf=0.0001)
    assert result.skeleton == [list(p) for p in SKELETON]  # plot() draws the data's limbs


def test_pose_save_json_writes_coco_keypoint_files(trained, tmp_path):
    import json

    model, _ = trained
    metrics = YOLO(model.checkpoint_path, progress=ignore).val(
        save_json=True, plots=False, project=str(tmp_path), name="v"
    )
    truth = json.loads((tmp_path / "v" / "ground_truth.json").read_text())
    predictions = json.loads((tmp_path / "v" / "predictions.json").read_text())
    assert len(truth["images"]) == metrics.seen == 4
    assert truth["categories"][0]["keypoints"] == list(KEYPOINT_NAMES)
    assert all(len(a["keypoints"]) == 15 for a in truth["annotations"])
    assert predictions and all(len(p["keypoints"]) == 15 for p in predictions)


def test_a_keypoint_head_of_another_shape_is_rebuilt_with_a_warning(figures, tmp_path):
    events = Recorder()
    model = YOLO("yolov8n-pose.yaml", keypoint_shape=(17, 3), progress=ignore)
    result = model.train(data=str(figures), project=str(tmp_path), progress=events, **QUICK)
    assert result.status == "completed"
    assert model.model.keypoint_shape == (5, 3)
    assert any("keypoint head was rebuilt" in w.message for w in events.of(Warning))


def test_the_cli_trains_pose_models(figures, tmp_path):
    status = main(
        [
            "pose",
            "train",
            f"data={figures}",
            "model=yolov8n-pose.yaml",
            "epochs=1",
            "imgsz=64",
            "batch=4",
            "workers=1",
            "plots=False",
            f"project={tmp_path}",
        ]
    )
    assert status == 0 and (tmp_path / "train" / "weights" / "best.pt").is_file()


def test_the_p6_pose_model_trains_a_step_and_predicts(figures, tmp_path):
    model = YOLO("yolov8n-pose-p6.yaml", keypoint_shape=(5, 3), num_classes=1, progress=ignore)
    assert tuple(model.model.strides) == (8, 16, 32, 64)
    result = model.train(
        data=str(figures),
        project=str(tmp_path),
        epochs=1,
        imgsz=128,
        batch=2,
        workers=1,
        fraction=0.25,
        plots=False,
        val=False,
    )
    assert result.status == "completed" and result.best.is_file()
    (prediction,) = model(
        figures.parent / "images" / "val" / "val_0000.jpg", conf=0.0001, max_det=2
    )
    assert prediction.keypoints.shape[1:] == (5, 3)
