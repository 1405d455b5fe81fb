"""Runs in the project database: start, epochs (replaced after a resume), finish, list."""

import pytest

from studio.services.runs import (
    finish_run,
    list_runs,
    record_epoch,
    record_export,
    run_epochs,
    runs_folder,
    start_run,
)


def test_a_run_records_its_epochs_and_its_end(make_project):
    project = make_project("segment")
    folder = runs_folder(project) / "train"
    run_id = start_run(project, name="train", folder=folder, model="yolov8n-seg.yaml",
                       settings={"epochs": 2})
    record_epoch(project, run_id, 1, {"train/box_loss": 2.0})
    record_epoch(project, run_id, 1, {"train/box_loss": 1.5})  # a resumed epoch replaces it
    record_epoch(project, run_id, 2, {"train/box_loss": 1.0})
    assert list_runs(project)[0].status == "running"
    finish_run(project, run_id, "failed", "no labelled images")
    (run,) = list_runs(project)
    assert (run.status, run.message, run.epochs_done) == ("failed", "no labelled images", 2)
    assert run.last_metrics == {"train/box_loss": 1.0} and run.checkpoint() is None
    assert run_epochs(project, run_id) == [(1, {"train/box_loss": 1.5}),
                                           (2, {"train/box_loss": 1.0})]
    (folder / "weights").mkdir(parents=True)
    (folder / "weights" / "last.pt").write_bytes(b"x")
    assert run.checkpoint() == folder / "weights" / "last.pt"
    assert record_export(project, run_id=run_id, format="onnx", path=folder / "best.onnx",
                         status="passed", details={"size_mb": 1.0}) > 0
    with pytest.raises(ValueError, match="unknown run status"):
        finish_run(project, run_id, "exploded")


def test_runs_are_listed_newest_first(make_project):
    project = make_project("classify", classes=["a"])
    for name in ("train", "train2"):
        start_run(project, name=name, folder=runs_folder(project) / name, model="m",
                  settings={})
    assert [run.name for run in list_runs(project)] == ["train2", "train"]
