"""Training a project (no widgets): the dataset check and state digest, run names, and runs that
fail for a reason the user can fix — recorded as failed with that reason."""

from __future__ import annotations

import errno

import pytest
from sqlalchemy import select, update

from engine.cancel import CancelToken
from engine.data.shape_samples import make_shapes_dataset
from engine.events import EpochEnd, StepEnd
from studio.services.image_edits import set_background
from studio.services.importers import import_dataset
from studio.services.runs import list_runs, run_epochs, runs_folder, start_run
from studio.services.training import (
    Note,
    RunCreated,
    RunEnded,
    TrainingError,
    TrainingFeed,
    TrainPlan,
    check_dataset,
    dataset_state,
    failure_message,
    model_source,
    next_run_name,
    run_training,
)
from studio.state.models import Annotation, Image, Run, utc_now


@pytest.fixture
def shapes_project(make_project, tmp_path):
    source = make_shapes_dataset(tmp_path / "shapes", size=64, train=4, val=2)
    project = make_project("segment", classes=())
    import_dataset(project, source)
    project.set_classes([c.name for c in project.classes()] + ["hexagon"])
    return project


def tiny_plan(**kw) -> TrainPlan:
    values = dict(model="yolov8n-seg.yaml", epochs=1, imgsz=32, batch=2, device="cpu",
                  overrides={"plots": False, "workers": 0})
    values.update(kw)
    return TrainPlan(**values)


def train(project, plan, cancel=None):
    feed = TrainingFeed()
    steps = []
    try:
        ended = run_training(project, plan, feed, lambda *a: steps.append(a),
                             cancel or CancelToken())
    except TrainingError as exc:
        return None, feed.drain(), exc
    return ended, feed.drain(), None


def test_model_sources_follow_the_task():
    assert model_source("segment", "s") == "yolov8s-seg.yaml"
    assert model_source("classify", "n") == "yolov8n-cls.yaml"
    assert model_source("pose", "x") == "yolov8x-pose.yaml"
    with pytest.raises(ValueError):
        model_source("segment", "q")


def test_dataset_check_names_classes_without_examples(shapes_project):
    check = check_dataset(shapes_project)
    assert check.images == 6 and check.labelled_images >= 5
    assert "hexagon" in check.empty_classes


def test_dataset_state_changes_with_an_edit(shapes_project):
    before = dataset_state(shapes_project)
    assert before == dataset_state(shapes_project) and len(before) == 40
    with shapes_project.database.session() as session:
        annotation = session.scalars(select(Annotation)).first()
        annotation.updated_at = utc_now()
        annotation.polygon = [0.1, 0.1, 0.5, 0.1, 0.5, 0.5]
    assert dataset_state(shapes_project) != before


def test_dataset_state_changes_when_an_image_is_marked_background(shapes_project):
    with shapes_project.database.session() as session:  # an image without labels
        image_id = session.scalars(select(Image.id).order_by(Image.id)).first()
        session.execute(update(Annotation).where(Annotation.image_id == image_id)
                        .values(deleted_at=utc_now()))
    before = dataset_state(shapes_project)
    assert set_background(shapes_project.database, [image_id], True).changed == (image_id,)
    assert dataset_state(shapes_project) != before
    set_background(shapes_project.database, [image_id], False)
    assert dataset_state(shapes_project) == before


def test_run_names_skip_names_in_the_database_and_on_disk(shapes_project):
    assert next_run_name(shapes_project) == "train"
    start_run(shapes_project, name="train", folder=runs_folder(shapes_project) / "train",
              model="m", settings={})
    (runs_folder(shapes_project) / "train2").mkdir(parents=True)
    assert next_run_name(shapes_project) == "train3"


def test_a_run_trains_records_epochs_and_the_dataset_state(shapes_project):
    ended, events, error = train(shapes_project, tiny_plan())
    assert error is None and ended.status == "completed"
    assert isinstance(events[0], RunCreated) and isinstance(events[-1], RunEnded)
    assert any(isinstance(e, StepEnd) for e in events)
    assert any(isinstance(e, EpochEnd) for e in events)
    assert any(isinstance(e, Note) and "hexagon" in e.text for e in events)
    (run,) = list_runs(shapes_project)
    assert run.status == "completed" and run.epochs_done == 1 and run.best.is_file()
    assert (run.folder / "dataset" / "data.yaml").is_file()
    assert "train/seg_loss" in run_epochs(shapes_project, run.id)[0][1]
    with shapes_project.database.session() as session:
        assert session.get(Run, run.id).dataset_state == dataset_state(shapes_project)


def test_no_labelled_images_fails_the_run_with_the_reason(shapes_project):
    with shapes_project.database.session() as session:
        session.execute(update(Annotation).values(deleted_at=utc_now()))
    ended, events, error = train(shapes_project, tiny_plan())
    assert error is not None and "no labelled images" in str(error)
    (run,) = list_runs(shapes_project)
    assert run.status == "failed" and "no labelled images" in run.message
    assert events[-1] == RunEnded(run.id, "failed", run.message)


def test_a_missing_device_fails_with_a_clear_message(shapes_project):
    _ended, _events, error = train(shapes_project, tiny_plan(device="7"))
    assert "not available now" in str(error) and "Choose another device" in str(error)
    assert list_runs(shapes_project)[0].status == "failed"


def test_a_checkpoint_of_another_task_is_refused(shapes_project, tmp_path):
    from engine import YOLO

    pose = YOLO("yolov8n-pose.yaml", progress=lambda _e: None).save(tmp_path / "pose.pt")
    _ended, _events, error = train(shapes_project, tiny_plan(model=str(pose)))
    assert "is a pose model" in str(error) and "segment" in str(error)
    assert list_runs(shapes_project)[0].status == "failed"


def test_a_full_disk_during_training_fails_the_run_and_says_so(shapes_project, monkeypatch):
    import engine.train.checkpoint_writer as checkpoint_writer

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    # the epochs' checkpoint files, in this process: not isolated
    monkeypatch.setattr(checkpoint_writer, "atomic_writer", full)
    _ended, _events, error = train(shapes_project, tiny_plan(isolated=False))
    assert error is not None and "disk is full" in str(error)
    (run,) = list_runs(shapes_project)
    assert run.status == "failed" and "free some space" in run.message.lower()


def test_failure_messages():
    assert "disk is full" in failure_message(OSError(errno.ENOSPC, "No space left on device"))
    assert failure_message(ValueError("x")) == "ValueError: x"
    from engine.utils.atomic import DiskFullError

    engine_says = DiskFullError("the disk is full: last.pt could not be written. The run keeps "
                                "last.pt (epoch 1) and best.pt (epoch 1), intact.")
    assert failure_message(engine_says) == str(engine_says)  # said once, not wrapped


def test_an_engine_error_in_the_training_process_fails_the_run_with_its_words(shapes_project):
    _ended, _events, error = train(shapes_project, tiny_plan(overrides={"lr0": -1.0}))
    assert error is not None and "lr0" in str(error)
    (run,) = list_runs(shapes_project)
    assert run.status == "failed" and "lr0" in run.message


def test_the_training_process_reports_events_and_stops_on_cancel(shapes_project):
    import threading
    import time

    from engine.events import EpochEnd, StepEnd

    feed, cancel, result = TrainingFeed(), CancelToken(), {}

    def work():
        result["ended"] = run_training(shapes_project, tiny_plan(epochs=50), feed,
                                       lambda *_: None, cancel)

    thread = threading.Thread(target=work)
    thread.start()
    seen, deadline = [], time.monotonic() + 120
    while not any(isinstance(e, EpochEnd) for e in seen) and time.monotonic() < deadline:
        seen += feed.drain()
        time.sleep(0.05)
    cancel.cancel()
    thread.join(60)
    assert not thread.is_alive() and result["ended"].status == "cancelled"
    assert list_runs(shapes_project)[0].epochs_done < 50  # it stopped at the cancel
    assert any(isinstance(e, StepEnd) for e in seen)  # events crossed the process boundary
    (run,) = list_runs(shapes_project)
    assert run.status == "cancelled" and run.epochs_done >= 1
