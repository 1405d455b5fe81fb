"""The one adapter from engine events to job progress, and the training process's event list
derived from the engine's (a new event class is carried, never silently dropped)."""

from __future__ import annotations

import dataclasses
import inspect
import json

from engine import events
from engine.events import (
    CheckpointSaved,
    DownloadProgress,
    EpochEnd,
    RunFinished,
    RunStarted,
    StepEnd,
    Warning,
    frozen_metrics,
)
from studio.services.job_progress import ProgressReporter, step_progress

SAMPLES = {
    DownloadProgress: DownloadProgress("https://x/y.pt", 10, 100, finished=True, verified=False),
    RunStarted: RunStarted("train", "segment", "/runs/train", 3, "shapes"),
    StepEnd: StepEnd("train", 2, 3, 4, 5, frozen_metrics({"box": 1.5}), 0.01, 12.5),
    EpochEnd: EpochEnd(2, 3, frozen_metrics({"metrics/mAP50(B)": 0.5}), 4.5, 0.25, True),
    CheckpointSaved: CheckpointSaved("/runs/train/weights/best.pt", 2, True),
    Warning: Warning("skipped a.jpg: cannot be read", "a.jpg"),
    RunFinished: RunFinished("train", "completed", "/runs/train", frozen_metrics({"f": 1.0}),
                             "", 9.0),
}


def _engine_event_classes() -> set[type]:
    """Every frozen dataclass defined in engine.events: the events."""
    return {value for _name, value in inspect.getmembers(events, inspect.isclass)
            if value.__module__ == events.__name__ and dataclasses.is_dataclass(value)
            and value.__dataclass_params__.frozen}


def test_every_engine_event_class_is_listed_and_carried_by_the_training_process():
    found = _engine_event_classes()
    assert set(events.EVENT_TYPES) == found
    assert set(SAMPLES) == found  # a new event needs a sample here, and is then checked below


def test_every_event_crosses_the_training_process_protocol_unchanged():
    for event in SAMPLES.values():
        line = json.dumps(events.event_payload(event), default=events.json_default)
        assert events.event_from_payload(json.loads(line)) == event


def test_anything_else_is_not_sent():
    assert events.event_payload(object()) is None


def test_training_steps_count_over_every_epoch_and_only_train_steps_move_the_bar():
    calls, forwarded = [], []
    reporter = ProgressReporter(lambda *args: calls.append(args), mode="train",
                           forward=forwarded.append)
    reporter(StepEnd("train", 2, 3, 4, 5))
    reporter(StepEnd("val", 0, 0, 1, 2))  # the epoch's validation
    reporter(SAMPLES[EpochEnd])
    assert calls == [(9, 15, "epoch 2/3")]
    assert forwarded == [StepEnd("train", 2, 3, 4, 5), StepEnd("val", 0, 0, 1, 2),
                         SAMPLES[EpochEnd]]  # every event goes on, in order


def test_a_pass_without_epochs_counts_batches_and_keeps_its_warnings():
    calls = []
    reporter = ProgressReporter(lambda *args: calls.append(args), "validating")
    reporter(StepEnd("val", 0, 0, 2, 5))
    reporter(Warning("first", "a.jpg"))
    reporter(Warning("second"))
    assert calls == [(2, 5, "validating: batch 2 of 5")]
    assert reporter.messages == ["first", "second"]
    assert [w.path for w in reporter.warnings] == ["a.jpg", None]
    assert step_progress(StepEnd("predict", 0, 0, 1, 3)) == (1, 3, "batch 1 of 3")
