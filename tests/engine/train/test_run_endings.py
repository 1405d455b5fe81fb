"""Every run ends with one RunFinished, however it ends; a run that wrote nothing leaves no
folder; the CLI finds the run to resume and takes camera and list sources."""

from __future__ import annotations

import os
import signal

import pytest

from engine import YOLO
from engine.cancel import CancelToken
from engine.cli import _model_source, main, parse_arguments
from engine.errors import Cancelled, CheckpointError, DatasetError
from engine.events import (
    CheckpointSaved,
    RunFinished,
    RunStarted,
    StepEnd,
    Warning,
    reported_run,
)

from .conftest import quick
from .test_trainer import Recorder


def images_of(digits, n=6):
    return sorted((digits / "val").glob("*/*.png"))[:n]


def test_reported_run_closes_with_the_status_of_its_ending():
    events = Recorder()
    with reported_run("val", events) as record:
        record.save_dir, record.results = "here", {"top1": 0.5}
    with pytest.raises(Cancelled), reported_run("val", events):
        raise Cancelled("stopped on request")
    with pytest.raises(ValueError), reported_run("val", events):
        raise ValueError("disk full")
    statuses = [(e.status, e.save_dir, dict(e.results), e.message) for e in events]
    assert statuses == [
        ("completed", "here", {"top1": 0.5}, ""),
        ("cancelled", None, {}, "stopped on request"),
        ("failed", None, {}, "disk full"),
    ]


def test_val_reports_cancel_and_failure(trained, digits):
    model, events, token = YOLO(trained), Recorder(), CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        model.val(data=str(digits), plots=False, progress=events, cancel=token)
    with pytest.raises(DatasetError):
        model.val(data=str(digits / "missing"), plots=False, progress=events)
    assert [e.status for e in events.of(RunFinished)] == ["cancelled", "failed"]
    assert "missing" in events.of(RunFinished)[-1].message


def test_val_steps_carry_a_rate(trained, digits):
    events = Recorder()
    YOLO(trained).val(data=str(digits), plots=False, progress=events, batch=8)
    steps = events.of(StepEnd)
    assert steps and all(s.images_per_s and s.images_per_s > 0 for s in steps)
    assert 0 <= events.of(RunFinished)[-1].results["metrics/accuracy_top1"] <= 1


def test_predict_reports_cancel_and_an_early_close(trained, digits):
    model, token = YOLO(trained), CancelToken()
    events = Recorder()

    def cancel_after_first_batch(event):
        events(event)
        if isinstance(event, StepEnd):
            token.cancel()

    with pytest.raises(Cancelled):
        list(model.predict(images_of(digits), stream=True, progress=cancel_after_first_batch,
                           cancel=token))
    assert events.of(RunFinished)[-1].status == "cancelled"
    assert events.of(StepEnd)[0].images_per_s > 0

    closed = Recorder()
    stream = model.predict(images_of(digits), stream=True, progress=closed)
    next(stream)
    stream.close()  # the consumer stops early: the run still closes, as cancelled
    (finished,) = closed.of(RunFinished)
    assert finished.status == "cancelled" and finished.message == "stopped by the caller"

    done = Recorder()
    model.predict(images_of(digits, 3), progress=done)
    assert [type(e) for e in done if isinstance(e, RunStarted | RunFinished)] == [
        RunStarted, RunFinished]
    assert done.of(RunFinished)[0].results["images"] == 3


def test_a_cancel_during_the_final_validation_keeps_the_finished_run(digits, tmp_path):
    token, events = CancelToken(), Recorder()

    def cancel_after_the_last_checkpoint(event):
        events(event)
        if isinstance(event, CheckpointSaved) and event.epoch == 1:
            token.cancel()

    result = YOLO("yolov8n-cls.yaml").train(
        progress=cancel_after_the_last_checkpoint, cancel=token,
        **quick(data=str(digits), project=str(tmp_path), epochs=1),
    )
    assert result.status == "completed" and result.best.is_file()
    assert result.final_metrics == {}  # the last epoch's own validation stays in .validation
    assert any("final validation of best.pt skipped" in w.message for w in events.of(Warning))


def test_a_run_that_fails_before_writing_anything_leaves_no_folder(tmp_path):
    with pytest.raises(DatasetError):
        YOLO("yolov8n-cls.yaml").train(progress=Recorder(), data=str(tmp_path / "missing"),
                                       project=str(tmp_path / "runs"), epochs=1)
    assert not (tmp_path / "runs" / "train").exists()


def test_resume_alone_picks_the_newest_last_checkpoint(tmp_path):
    older = tmp_path / "classify" / "train" / "weights" / "last.pt"
    newer = tmp_path / "classify" / "train2" / "weights" / "last.pt"
    for path in (older, newer):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"x")
    os.utime(older, (1, 1))
    settings = parse_arguments(["classify", "train", "resume=True", f"project={tmp_path}"])
    assert _model_source(settings) == str(newer)
    empty = parse_arguments(["train", "resume=True", f"project={tmp_path / 'none'}"])
    with pytest.raises(CheckpointError, match="found no interrupted run"):
        _model_source(empty)


def test_the_command_line_takes_a_camera_index_and_lists_as_sources():
    assert parse_arguments(["predict", "source=0"]).source == 0
    assert parse_arguments(["predict", "source=[a.jpg,b.jpg]"]).source == ["a.jpg", "b.jpg"]
    assert parse_arguments(["predict", "source=photos/"]).source == "photos/"


def test_a_relative_data_path_is_stored_resolved_so_val_works_from_elsewhere(
    digits, tmp_path, monkeypatch
):
    monkeypatch.chdir(digits.parent)
    result = YOLO("yolov8n-cls.yaml").train(
        progress=Recorder(), **quick(data=digits.name, project=str(tmp_path), epochs=1)
    )
    monkeypatch.chdir(tmp_path)
    metrics = YOLO(result.best).val(progress=Recorder(), plots=False)
    assert metrics.seen == 40


def test_ctrl_c_during_val_stops_it_with_status_130(trained, digits, monkeypatch, capsys):
    original = YOLO.val

    def val_interrupted_at_once(self, **kwargs):
        signal.raise_signal(signal.SIGINT)  # as a user's Ctrl+C: the CLI's handler sets the token
        return original(self, **kwargs)

    monkeypatch.setattr(YOLO, "val", val_interrupted_at_once)
    status = main(["classify", "val", f"model={trained}", f"data={digits}", "plots=False"])
    assert status == 130
    assert "stopped on request" in capsys.readouterr().err
