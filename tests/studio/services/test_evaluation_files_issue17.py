"""Issue 17: evaluations kept on disk. The engine's final_validation.json reads as the Evaluate
page's result (the task's columns only), the page's own evaluation round-trips in full, the
newest of the two is the one shown, and a missing or broken file is a clear error."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.val.classify_metrics import ClassifyMetrics
from engine.val.detection_metrics import PoseMetrics, SegmentMetrics
from engine.val.validation_record import (
    RECORD_NAME,
    validation_record,
    write_validation_record,
)
from studio.services.evaluation import EvaluationResult, ImageOutcome, PrCurves
from studio.services.evaluation_files import (
    EVALUATED,
    FINAL_VALIDATION,
    EvaluationFileError,
    latest_evaluation_path,
    latest_saved,
    load_result,
    load_saved,
    result_from_record,
    save_result,
)
from studio.services.runs import finish_run, start_run


def _classify_record(folder: Path, names: list[str]) -> Path:
    metrics = ClassifyMetrics(dict(enumerate(names)))
    metrics.update(torch.tensor([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1],
                                 [0.1, 0.1, 0.8]]), torch.tensor([0, 1, 1, 2]))
    return write_validation_record(folder / RECORD_NAME,
                                   validation_record(metrics, "classify", epoch=3,
                                                     checkpoint="weights/best.pt"))


def _instance_record(folder: Path, metrics) -> Path:
    parts = [part.name for part in metrics.PARTS]
    iou = np.array([[0.9, 0.1], [0.2, 0.3]])
    metrics.add_image([0.9, 0.6], [0, 1], [0, 1], {part: iou for part in parts})
    task = "pose" if "pose" in parts else "segment"
    return write_validation_record(folder / RECORD_NAME, validation_record(metrics, task))


def test_a_classify_record_reads_as_the_pages_result_without_top5_for_three_classes(tmp_path):
    path = _classify_record(tmp_path, ["red", "green", "blue"])
    result = result_from_record(path, run_name="train2")
    assert result.task == "classify" and result.columns == ["Images", "Top-1"]
    assert result.source == FINAL_VALIDATION and result.run_name == "train2"
    assert result.epoch == 3 and result.model_path == tmp_path / "weights" / "best.pt"
    assert result.overall["Images"] == 4 and result.overall["Top-1"] == pytest.approx(0.75)
    assert [row["Images"] for row in result.per_class] == [1, 2, 1]
    assert result.per_class[1]["Top-1"] == pytest.approx(0.5)
    assert result.confusion.tolist() == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert not result.has_background and not result.has_outcomes
    assert set(result.curves) == {"Classes"} and result.curves["Classes"].classes == (0, 1, 2)


def test_segment_records_have_mask_columns_and_pose_records_keypoint_columns(tmp_path):
    (tmp_path / "seg").mkdir()
    (tmp_path / "pose").mkdir()
    segment = result_from_record(_instance_record(tmp_path / "seg",
                                                  SegmentMetrics({0: "a", 1: "b"})))
    pose = result_from_record(_instance_record(tmp_path / "pose",
                                               PoseMetrics({0: "a", 1: "b"})))
    assert "Mask mAP50" in segment.columns and not any("Pose" in c for c in segment.columns)
    assert "Pose mAP50" in pose.columns and not any("Mask" in c for c in pose.columns)
    assert set(segment.curves) == {"Box", "Mask"} and set(pose.curves) == {"Box", "Pose"}
    assert segment.confusion.shape == (3, 3) and segment.has_background
    assert segment.overall["Box mAP50"] == pytest.approx(0.5)  # one of two objects found
    assert "IoU 0.45" in segment.note  # the engine's matrix says how it paired objects


def test_the_pages_evaluation_round_trips_in_full(tmp_path):
    curves = PrCurves(np.linspace(0, 1, 5), np.array([[1, 1, 0.5, 0.5, 0.0]]), (0,), (0.6,))
    outcome = ImageOutcome(7, tmp_path / "a.jpg", (0,), (1,), ((0, 1),),
                           ((0.1, 0.2, 0.3, 0.4, 1, 0.9),), ())
    result = EvaluationResult("segment", tmp_path / "best.pt", ["a", "b"],
                              ["Images", "Box mAP50"], {"Images": 1, "Box mAP50": float("nan")},
                              [{"index": 0, "name": "a", "Images": 1, "Box mAP50": 0.5}],
                              np.array([[0, 1, 0], [0, 0, 0], [0, 0, 0]]), {"Box": curves},
                              [outcome], ["a warning"], 2.5, run_name="train")
    path = save_result(result, latest_evaluation_path_for(tmp_path))
    json.loads(path.read_text())  # strict JSON (NaN written as null)
    back = load_result(path)
    assert back.source == EVALUATED and back.made_at == result.made_at != ""
    assert back.overall == {"Images": 1, "Box mAP50": None}
    assert back.outcomes == [outcome] and back.images_in_cell(0, 1) == [outcome]
    assert np.array_equal(back.confusion, result.confusion)
    assert np.allclose(back.curves["Box"].precision, curves.precision)
    assert (back.run_name, back.warnings, back.seconds) == ("train", ["a warning"], 2.5)


def latest_evaluation_path_for(folder: Path) -> Path:
    return folder / "evaluations" / "latest.json"


def test_missing_cut_and_foreign_files_are_clear_errors(tmp_path):
    with pytest.raises(EvaluationFileError, match="does not exist") as missing:
        load_result(tmp_path / "latest.json")
    assert str(tmp_path / "latest.json") in str(missing.value)
    cut = tmp_path / "cut.json"
    cut.write_text('{"format": "yolo-studio-evaluation", "vers')
    with pytest.raises(EvaluationFileError, match="cannot be read.*press Evaluate"):
        load_result(cut)
    with pytest.raises(EvaluationFileError, match="press Evaluate"):
        result_from_record(cut)
    incomplete = _classify_record(tmp_path, ["a", "b", "c"])
    document = json.loads(incomplete.read_text())
    del document["per_class"][0]["top1"]
    incomplete.write_text(json.dumps(document))
    with pytest.raises(EvaluationFileError, match="incomplete"):
        result_from_record(incomplete)


def test_the_newest_of_the_latest_runs_record_and_the_last_evaluation_is_shown(make_project):
    project = make_project("classify", classes=("red", "green", "blue"))
    assert latest_saved(project) is None
    folder = project.folder / "runs" / "train"
    folder.mkdir(parents=True)
    run_id = start_run(project, name="train", folder=folder, model="yolov8n-cls.yaml",
                       settings={})
    _classify_record(folder, ["red", "green", "blue"])
    assert latest_saved(project) is None  # a running run's record is not offered
    finish_run(project, run_id, "completed")
    saved = latest_saved(project)
    assert saved.source == FINAL_VALIDATION and saved.run.name == "train"
    assert load_saved(saved).run_name == "train"

    time.sleep(0.05)  # the newer file is the one written later
    evaluated = load_saved(saved)
    evaluated.source = EVALUATED
    evaluated.made_at = ""
    save_result(evaluated, latest_evaluation_path(project))
    assert latest_saved(project).source == EVALUATED

    time.sleep(0.05)  # a run that ends later wins again
    later = project.folder / "runs" / "train2"
    later.mkdir()
    second = start_run(project, name="train2", folder=later, model="yolov8n-cls.yaml",
                       settings={})
    finish_run(project, second, "completed")
    _classify_record(later, ["red", "green", "blue"])
    saved = latest_saved(project)
    assert saved.source == FINAL_VALIDATION and saved.run.name == "train2"
