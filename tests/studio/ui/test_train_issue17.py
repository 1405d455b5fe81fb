"""Issue 17, Train page (unit level): settings per task, the optimizer auto picks, workers,
the reasons Start is off, the duration estimate, renaming and deleting runs, the best-epoch
mark of the selected run and whole-epoch axes. The main-window tests are in
test_train_window_issue17.py."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import timedelta

import pytest

from engine.config import validate_settings
from engine.events import EpochEnd
from engine.train.auto_optimizer import resolve_optimizer
from studio.services.runs import (
    RunError,
    delete_run,
    finish_run,
    list_runs,
    read_run_log,
    record_epoch,
    rename_run,
    save_run_log,
    start_run,
)
from studio.services.training import (
    EPOCH_SECONDS,
    IS_BEST,
    STARTUP_SECONDS,
    TrainingData,
    TrainPlan,
    describe_duration,
    epoch_record,
    estimate_duration,
    measured_costs,
    model_scale,
    planned_optimizer,
    training_data,
)
from studio.ui.train.plots import EpochAxis, RunCurves, TrainPlots, best_epoch
from studio.ui.train.schema import advanced_fields

MASK_KEYS = {"overlap_mask", "mask_ratio"}
POSE_KEYS = {"pose", "kobj"}
DETECTION_KEYS = {"box", "dfl", "mosaic", "close_mosaic", "mixup", "iou", "max_det"}


# -- settings per task ---------------------------------------------------------------------------
def test_each_task_is_offered_only_the_settings_it_reads():
    keys = {task: {spec.key for spec in advanced_fields(task)}
            for task in ("classify", "segment", "pose")}
    assert not keys["classify"] & (MASK_KEYS | POSE_KEYS | DETECTION_KEYS)
    assert {"dropout", "erasing", "auto_augment", "lr0", "hsv_h"} <= keys["classify"]
    assert keys["segment"] >= MASK_KEYS | DETECTION_KEYS
    assert not keys["segment"] & (POSE_KEYS | {"dropout", "erasing"})
    assert keys["pose"] >= POSE_KEYS | DETECTION_KEYS and not keys["pose"] & MASK_KEYS
    assert MASK_KEYS | POSE_KEYS | {"dropout"} <= {spec.key for spec in advanced_fields()}


def test_workers_defaults_to_what_the_machine_has():
    (workers,) = [spec for spec in advanced_fields("segment") if spec.key == "workers"]
    assert workers.default == min(8, os.cpu_count() or 1)
    assert f"{os.cpu_count()} here" in workers.tooltip


# -- what a run trains on, and the optimizer auto picks -------------------------------------------
def test_training_data_counts_the_train_split_as_the_export_writes_it(shapes_project):
    data = training_data(shapes_project)
    assert data == TrainingData(4, 4, len(shapes_project.classes()))


def test_planned_optimizer_is_the_engines_rule_and_follows_epochs_and_batch():
    data = TrainingData(200, 200, 3)
    plan = TrainPlan(model="yolov8n-seg.yaml", epochs=30, batch=16)
    choice = planned_optimizer(plan, data)
    expected = resolve_optimizer(validate_settings({"epochs": 30}), train_images=200, batch=16,
                                 num_classes=3)
    assert choice == expected and (choice.name, choice.lr) == ("AdamW", 0.001429)
    assert planned_optimizer(replace(plan, epochs=3000), data).name == "SGD"  # 4 × 3000 steps
    assert planned_optimizer(replace(plan, epochs=3000, batch=128), data).name == "AdamW"
    named = planned_optimizer(replace(plan, overrides={"optimizer": "SGD", "lr0": 0.02}), data)
    assert (named.name, named.lr, named.auto) == ("SGD", 0.02, False)
    assert planned_optimizer(replace(plan, overrides={"lr0": -1}), data) is None


# -- the duration estimate -------------------------------------------------------------------------
def test_durations_read_as_estimates():
    assert describe_duration(12) == "about 10 s"
    assert describe_duration(100) == "about 1 min 40 s"
    assert describe_duration(3600 * 2 + 600) == "about 2 h 10 min"
    assert (model_scale("yolov8s-seg.yaml"), model_scale("/runs/x/yolov8m-pose.pt"),
            model_scale("best.pt")) == ("s", "m", None)


def recorded_run(project, name: str, *, imgsz: int, images: int, seconds: list[float],
                 model: str = "yolov8n-seg.yaml", status: str = "completed") -> int:
    folder = project.folder / "runs" / name
    train = folder / "dataset" / "images" / "train"
    train.mkdir(parents=True)
    for index in range(images):
        (train / f"{index}.jpg").write_bytes(b"x")
    run_id = start_run(project, name=name, folder=folder, model=model,
                       settings={"model": model, "epochs": len(seconds), "imgsz": imgsz})
    for epoch, spent in enumerate(seconds, 1):
        record_epoch(project, run_id, epoch, {"metrics/mAP50-95(M)": 0.1 * epoch,
                                              EPOCH_SECONDS: spent})
    if status != "running":
        finish_run(project, run_id, status)
    return run_id


def test_the_estimate_uses_the_projects_measured_speed(shapes_project):
    recorded_run(shapes_project, "a", imgsz=64, images=10, seconds=[4.0, 4.0])
    costs = measured_costs(shapes_project, list_runs(shapes_project))
    assert costs == [pytest.approx(4.0 / (10 * 64 ** 2))]
    plan = TrainPlan(model="yolov8n-seg.yaml", epochs=5, imgsz=128, batch=8)
    estimate = estimate_duration("segment", plan, TrainingData(20, 20, 2), costs)
    assert estimate.measured
    assert estimate.seconds == pytest.approx(STARTUP_SECONDS + 5 * 20 * 4 * 4.0 / 10)
    assert "1 earlier run of this project" in estimate.text
    bigger = estimate_duration("segment", replace(plan, model="yolov8s-seg.yaml"),
                               TrainingData(20, 20, 2), costs)
    assert bigger.seconds - STARTUP_SECONDS > 3 * (estimate.seconds - STARTUP_SECONDS)


def test_without_earlier_runs_the_estimate_is_a_rough_one_that_grows_with_the_work():
    plan = TrainPlan(model="yolov8n-seg.yaml", epochs=10, imgsz=160)
    small = estimate_duration("segment", plan, TrainingData(50, 50, 1), [])
    large = estimate_duration("segment", replace(plan, epochs=20), TrainingData(50, 50, 1), [])
    assert not small.measured and "rough estimate" in small.text
    assert large.seconds - STARTUP_SECONDS == pytest.approx(2 * (small.seconds - STARTUP_SECONDS))


def test_an_epoch_record_keeps_its_time_and_best_flag():
    event = EpochEnd(3, 10, {"metrics/x": 0.5}, seconds=2.5, is_best=True)
    assert epoch_record(event) == {"metrics/x": 0.5, EPOCH_SECONDS: 2.5, IS_BEST: 1.0}
    assert IS_BEST not in epoch_record(replace(event, is_best=False))


# -- renaming and deleting runs ------------------------------------------------------------------
def test_a_run_is_renamed_with_a_unique_name(shapes_project):
    first = recorded_run(shapes_project, "train", imgsz=64, images=1, seconds=[1.0])
    recorded_run(shapes_project, "train2", imgsz=64, images=1, seconds=[1.0])
    assert rename_run(shapes_project, first, "  circles   big ") == "circles big"
    with pytest.raises(RunError, match="already called 'train2'"):
        rename_run(shapes_project, first, "train2")
    with pytest.raises(RunError, match="needs a name"):
        rename_run(shapes_project, first, " ")
    run = next(r for r in list_runs(shapes_project) if r.id == first)
    assert run.name == "circles big" and run.folder.name == "train"  # the folder stays


def test_a_deleted_run_goes_to_the_projects_trash_and_a_running_one_is_refused(shapes_project):
    done = recorded_run(shapes_project, "train", imgsz=64, images=2, seconds=[1.0])
    running = recorded_run(shapes_project, "train2", imgsz=64, images=2, seconds=[1.0],
                           status="running")
    with pytest.raises(RunError, match="is training"):
        delete_run(shapes_project, running)
    moved = delete_run(shapes_project, done)
    assert moved == shapes_project.folder / ".trash" / "runs" / f"train-{done}"
    assert (moved / "dataset" / "images" / "train" / "0.jpg").is_file()
    assert [r.id for r in list_runs(shapes_project)] == [running]
    assert delete_run(shapes_project, running, interrupted=True) is not None  # app had stopped
    assert list_runs(shapes_project) == []


def test_a_runs_log_is_kept_in_its_folder(shapes_project):
    recorded_run(shapes_project, "train", imgsz=64, images=1, seconds=[1.0])
    (run,) = list_runs(shapes_project)
    save_run_log(run, ["10:00:00\tinfo\tstarted", "10:00:01\twarning\tslow"])
    assert read_run_log(run) == ["10:00:00\tinfo\tstarted", "10:00:01\twarning\tslow"]


# -- the plots -------------------------------------------------------------------------------------
def test_the_best_epoch_is_the_one_the_trainer_flagged_last():
    epochs = [(1, {"m": 0.0, IS_BEST: 1.0}), (2, {"m": 0.0, IS_BEST: 1.0}), (3, {"m": 0.0})]
    assert best_epoch(epochs, "m") == 2
    assert best_epoch([(1, {"m": 0.2}), (2, {"m": 0.5}), (3, {"m": 0.5})], "m") == 2
    assert best_epoch([(1, {})], "m") is None


def test_the_best_mark_follows_the_selected_run_only(qtbot):
    plots = TrainPlots("m")
    qtbot.addWidget(plots)
    first = RunCurves(1, "first", "#0072b2", [(1, {"metrics/m": 0.9, IS_BEST: 1.0}),
                                             (2, {"metrics/m": 0.1})])
    second = RunCurves(2, "second", "#e69f00", [(e, {"metrics/m": 0.1 * e, IS_BEST: 1.0})
                                                for e in (1, 2, 3)])
    plots.set_runs([first, second], 2)
    assert plots.best_line.value() == 3 and "second: epoch 3" in plots.best_text.toPlainText()
    plots.set_runs([first, second], 1)
    assert plots.best_line.value() == 1 and "first: epoch 1" in plots.best_text.toPlainText()
    plots.set_runs([RunCurves(3, "empty", "#000000", [])], 3)
    assert not plots.best_line.isVisible() and plots.best_run is None


def test_the_epoch_axis_ticks_whole_epochs_and_the_metric_axis_starts_at_0(qtbot):
    axis = EpochAxis("bottom")
    for low, high in ((0.0, 2.4), (0.0, 1.0), (0.0, 57.0), (0.3, 0.8)):
        values = [v for _spacing, level in axis.tickValues(low, high, 600) for v in level]
        assert all(float(v).is_integer() for v in values), (low, high, values)
    assert axis.tickStrings([1.0, 2.0], 1, 1) == ["1", "2"]
    plots = TrainPlots("metrics/m")
    qtbot.addWidget(plots)
    plots.set_runs([RunCurves(1, "r", "#0072b2", [(1, {"metrics/m": 0.0}),
                                                  (2, {"metrics/m": 0.0})])], 1)
    low, high = plots.metric_plot.getPlotItem().vb.viewRange()[1]
    assert -0.1 < low <= 0 and high >= 1  # all-zero metrics: the axis still shows 0 to 1
    _spacing, major = plots.metric_plot.getAxis("left").tickValues(low, high, 110)[0]
    ticks = [v for v in major if low <= v <= high]
    assert 0 in ticks and min(ticks) >= 0  # no negative label


def test_recorded_runs_measure_time_by_epochs_not_by_the_clock_when_they_can(shapes_project):
    run_id = recorded_run(shapes_project, "train", imgsz=64, images=4, seconds=[])
    record_epoch(shapes_project, run_id, 1, {"metrics/x": 0.1})  # an older run: no epoch time
    with shapes_project.database.session() as session:
        from studio.state.models import Run

        row = session.get(Run, run_id)
        row.finished_at = row.started_at + timedelta(seconds=8)
    (cost,) = measured_costs(shapes_project, list_runs(shapes_project))
    assert cost == pytest.approx(8 / (1 * 4 * 64 ** 2))
