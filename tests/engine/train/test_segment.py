"""Instance segmentation end to end on a tiny generated shapes set: train, val, predict, export,
the CLI, and the bad inputs that must stop a run before it starts."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
import yaml

from engine import YOLO
from engine.cli import main
from engine.data.shape_samples import make_shapes_dataset
from engine.errors import DatasetError
from engine.events import EpochEnd, RunFinished, ignore

from .test_trainer import Recorder

QUICK = dict(epochs=1, imgsz=64, batch=4, workers=1, seed=0)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return make_shapes_dataset(tmp_path_factory.mktemp("shapes") / "data", size=96, train=8, val=4)


@pytest.fixture(scope="module")
def trained(shapes, tmp_path_factory):
    project = tmp_path_factory.mktemp("seg_runs")
    events = Recorder()
    model = YOLO("yolov8n-seg.yaml", progress=ignore)
    result = model.train(data=str(shapes), project=str(project), progress=events, **QUICK)
    return model, result, events


def test_a_run_writes_weights_results_curves_and_batches(trained):
    _, result, events = trained
    assert result.status == "completed" and result.best.is_file() and result.last.is_file()
    folder = result.save_dir
    with open(folder / "results.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 1
    for column in (
        "train/box_loss",
        "train/seg_loss",
        "train/cls_loss",
        "train/dfl_loss",
        "metrics/mAP50-95(B)",
        "metrics/mAP50-95(M)",
        "val/seg_loss",
    ):
        assert column in rows[0]
    for name in (
        "train_batch0.jpg",
        "confusion_matrix.png",
        "MaskPR_curve.png",
        "BoxF1_curve.csv",
        "results.png",
        "args.yaml",
    ):
        assert (folder / name).is_file(), name
    (epoch,) = events.of(EpochEnd)
    assert np.isfinite(list(epoch.metrics.values())).all()
    assert events.of(RunFinished)[-1].status == "completed"


def test_val_without_arguments_uses_the_stored_data_and_has_box_and_mask_metrics(trained):
    model, _, _ = trained
    metrics = YOLO(model.checkpoint_path, progress=ignore).val(plots=False)
    assert metrics.seen == 4
    for part in (metrics.box, metrics.seg):
        assert 0.0 <= part.map <= part.map50 <= 1.0
        assert part.maps.shape == (4,) and 0.0 <= part.map75 <= 1.0
    assert set(metrics.results_dict) >= {"metrics/mAP50-95(B)", "metrics/mAP50-95(M)"}


def test_predict_gives_boxes_and_masks_in_original_pixels(trained, shapes):
    model, _, _ = trained
    image = shapes.parent / "images" / "val" / "val_0000.jpg"
    (result,) = model(image, conf=0.0001, max_det=5)
    assert result.orig_shape == (96, 96)
    assert 0 < len(result.boxes) <= 5 and result.masks.shape[1:] == (96, 96)
    assert (result.boxes.xyxy >= 0).all() and (result.boxes.xyxy <= 96).all()
    retina = model(image, conf=0.0001, max_det=5, retina_masks=True)[0]
    assert retina.masks.shape[1:] == (96, 96)
    assert result.plot().shape == (96, 96, 3)


def test_onnx_export_predicts_and_validates_like_the_checkpoint(
    trained, shapes, tmp_path, monkeypatch
):
    model, _, _ = trained
    monkeypatch.chdir(tmp_path)
    onnx = YOLO(model.checkpoint_path, progress=ignore).export(format="onnx", imgsz=64)
    exported = YOLO(onnx, progress=ignore)
    image = shapes.parent / "images" / "val" / "val_0001.jpg"
    ours = model(image, conf=0.0001, max_det=3, imgsz=64)[0]
    theirs = exported(image, conf=0.0001, max_det=3)[0]
    assert np.allclose(np.asarray(ours.boxes.data), np.asarray(theirs.boxes.data), atol=0.05)
    metrics = exported.val(data=str(shapes), plots=False)
    assert metrics.seen == 4


def test_the_cli_trains_and_validates_segment_models(shapes, tmp_path, capsys):
    status = main(
        [
            "segment",
            "train",
            f"data={shapes}",
            "model=yolov8n-seg.yaml",
            "epochs=1",
            "imgsz=64",
            "batch=4",
            "workers=1",
            "plots=False",
            f"project={tmp_path}",
        ]
    )
    assert status == 0
    best = tmp_path / "train" / "weights" / "best.pt"
    assert main(["segment", "val", f"model={best}", "plots=False", f"project={tmp_path}"]) == 0
    out = capsys.readouterr().out
    assert "Mask(P" in out and "circle" in out


def test_bad_datasets_stop_before_training(shapes, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(shapes.parent, root)
    spec = yaml.safe_load((root / "shapes.yaml").read_text())
    (root / "missing.yaml").write_text(yaml.safe_dump({**spec, "val": "images/nowhere"}))
    with pytest.raises(DatasetError, match="nowhere"):
        YOLO("yolov8n-seg.yaml", progress=ignore).train(data=str(root / "missing.yaml"), **QUICK)
    (root / "escape.yaml").write_text(yaml.safe_dump({**spec, "train": "../../etc"}))
    with pytest.raises(DatasetError, match="train"):
        YOLO("yolov8n-seg.yaml", progress=ignore).train(data=str(root / "escape.yaml"), **QUICK)
    for label in (root / "labels" / "train").glob("*.txt"):
        label.write_text("7 0.1 0.1 0.2 0.1 0.2 0.2\n")  # class 7 of 4: every row is bad
    with pytest.raises(DatasetError, match="no labels"):
        YOLO("yolov8n-seg.yaml", progress=ignore).train(
            data=str(root / "shapes.yaml"), project=str(tmp_path / "r"), **QUICK
        )
    assert not (tmp_path / "r" / "train").exists()  # nothing was written for the failed run


def test_save_json_writes_coco_files_that_pycocotools_scores_like_us(trained, tmp_path):
    import contextlib
    import io
    import warnings

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    model, _, _ = trained
    metrics = YOLO(model.checkpoint_path, progress=ignore).val(
        save_json=True, plots=False, max_det=100, project=str(tmp_path), name="v"
    )
    folder = tmp_path / "v"
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore", DeprecationWarning)
        truth = COCO(str(folder / "ground_truth.json"))
        found = truth.loadRes(str(folder / "predictions.json"))
        scores = {}
        for kind in ("bbox", "segm"):
            evaluation = COCOeval(truth, found, kind)
            evaluation.evaluate()
            evaluation.accumulate()
            evaluation.summarize()
            scores[kind] = max(float(evaluation.stats[0]), 0.0)
    assert len(truth.getImgIds()) == 4 and len(truth.getAnnIds()) > 0
    assert scores["bbox"] == pytest.approx(metrics.box.map, abs=0.02)
    assert scores["segm"] == pytest.approx(metrics.seg.map, abs=0.02)


def test_save_txt_writes_polygon_labels_the_dataset_parser_reads(trained, shapes, tmp_path):
    from engine.data.detect_labels import read_labels

    model, _, _ = trained
    image = shapes.parent / "images" / "val" / "val_0002.jpg"
    model.predict(image, conf=0.0001, max_det=4, save_txt=True, save_conf=True,
                  project=str(tmp_path), name="p")
    label = tmp_path / "p" / "labels" / "val_0002.txt"
    rows = [line.split() for line in label.read_text().splitlines()]
    assert 0 < len(rows) <= 4
    assert not list((tmp_path / "p").glob("*.jpg"))  # save_txt alone writes no images
    without_conf = tmp_path / "plain.txt"
    without_conf.write_text("".join(" ".join(r[:-1]) + "\n" for r in rows if len(r) > 7))
    instances, problems = read_labels(without_conf, "segment", 4)
    assert not [p for p in problems if p.severity == "error"] and len(instances) >= 1


def test_a_detection_checkpoint_loads_into_a_segmentation_model(tmp_path):
    detect = YOLO("yolov8n.yaml", progress=ignore)
    path = detect.save(tmp_path / "yolov8n.pt")
    model = YOLO("yolov8n-seg.yaml", progress=ignore)
    model.load(path)
    report = model.transfer_report
    assert report.transferred == len(detect.model.state_dict())  # every detect tensor fits
    assert report.total == len(model.model.state_dict())
    name = "model.22.cv2.0.0.conv.weight"
    assert (model.model.state_dict()[name] == detect.model.state_dict()[name]).all()


def test_the_epoch_s_mask_map_is_the_one_yolo_val_and_pycocotools_give(tmp_path):
    """Training scores masks as `val` does (original size, label polygons): the last epoch's
    mask mAP50-95 equals `val` of the same weights. The demo weights (trained on shapes) keep
    the figures far from 0, where any two methods would agree."""
    from pathlib import Path

    data = make_shapes_dataset(tmp_path / "data", size=160, train=8, val=6, seed=3)
    weights = Path(__file__).resolve().parents[3] / "resources" / "weights" / "demo-segment.pt"
    model = YOLO(str(weights), progress=ignore)
    result = model.train(data=str(data), epochs=1, imgsz=160, batch=4, workers=1, seed=0,
                         lr0=1e-7, warmup_epochs=0, project=str(tmp_path / "runs"),
                         plots=False, progress=ignore)
    epoch_map = result.metrics["metrics/mAP50-95(M)"]
    metrics = YOLO(str(result.last), progress=ignore).val(data=str(data), imgsz=160, batch=4,
                                                         plots=False, runtime="torch")
    assert epoch_map > 0.2  # the weights know these shapes
    assert epoch_map == pytest.approx(metrics.seg.map, abs=1e-6)
