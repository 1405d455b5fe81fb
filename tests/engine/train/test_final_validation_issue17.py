"""Issue 17: training keeps best.pt's final validation in the run folder
(final_validation.json, plain JSON) with everything a reader needs to show it: the per-class
table, the confusion matrix and the PR curves; a missing or broken file is a clear error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine import YOLO
from engine.data.shape_samples import make_shapes_dataset
from engine.events import ignore
from engine.val import classify_metrics
from engine.val.classify_metrics import ClassifyMetrics
from engine.val.validation_record import (
    RECORD_NAME,
    ValidationRecordError,
    read_validation_record,
)

from .conftest import quick


def _exact_ap(scores: np.ndarray, positives: np.ndarray) -> float:
    """Interpolated AP at 101 recall points from the sorted scores (no bins)."""
    order = np.argsort(-scores, kind="stable")
    hits = positives[order].astype(float)
    tp = np.cumsum(hits)
    precision, recall = tp / np.arange(1, len(hits) + 1), tp / positives.sum()
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    axis = np.linspace(0, 1, 101)
    where = np.searchsorted(recall, axis, side="left")
    return float(np.where(where < len(envelope), envelope[np.minimum(where, len(envelope) - 1)],
                          0.0).mean())


def _scored(metrics: ClassifyMetrics) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(0)
    logits = torch.from_numpy(rng.normal(size=(200, 3)) * 3)
    labels = torch.from_numpy(rng.integers(0, 3, 200))
    probs = logits.softmax(1)
    for start in range(0, 200, 32):  # batches add up
        metrics.update(probs[start:start + 32], labels[start:start + 32])
    return logits, probs, labels


@pytest.mark.parametrize("exact", [True, False])
def test_classify_curves_match_the_exact_computation(exact, monkeypatch):
    if not exact:  # as on a large set: the scores are binned, not kept
        monkeypatch.setattr(classify_metrics, "EXACT_SCORES", 100)
    metrics = ClassifyMetrics({0: "a", 1: "b", 2: "c"})
    logits, probs, labels = _scored(metrics)
    assert (metrics._scores is not None) == exact
    recall, precision, classes, aps = metrics.pr_curves()
    assert classes == [0, 1, 2] and precision.shape == (3, 101) and len(recall) == 101
    for index in classes:
        expected = _exact_ap(probs[:, index].numpy(), labels.numpy() == index)
        assert aps[index] == pytest.approx(expected, abs=1e-9 if exact else 0.02)
    # the same when the metrics are handed logits instead of probabilities
    from_logits = ClassifyMetrics({0: "a", 1: "b", 2: "c"})
    from_logits.update(logits, labels)
    assert from_logits.pr_curves()[3] == pytest.approx(aps, abs=1e-6)


def test_classify_curves_of_a_perfect_classifier_and_a_class_without_samples():
    metrics = ClassifyMetrics({0: "a", 1: "b", 2: "c"})
    metrics.update(torch.tensor([[0.9, 0.05, 0.05], [0.1, 0.8, 0.1]]), torch.tensor([0, 1]))
    _recall, precision, classes, aps = metrics.pr_curves()
    assert classes == [0, 1]  # no sample of "c": no curve
    assert aps == [1.0, 1.0] and np.all(precision == 1.0)
    assert metrics.per_class_top5["a"] == 1.0 and np.isnan(metrics.per_class_top5["c"])


def test_a_classify_run_keeps_its_final_validation(digits, tmp_path):
    result = YOLO("yolov8n-cls.yaml").train(progress=ignore, data=str(digits),
                                             project=str(tmp_path), **quick(epochs=1))
    path = result.save_dir / RECORD_NAME
    text = path.read_text()
    json.loads(text)  # plain, strict JSON
    record = read_validation_record(path)
    details = result.validation.details
    assert record["task"] == "classify" and record["checkpoint"] == "weights/best.pt"
    assert record["epoch"] == 1
    assert record["names"] == [details.names[i] for i in range(10)]
    assert record["confusion_matrix"] == details.confusion_matrix.tolist()
    assert record["overall"]["top1"] == pytest.approx(result.top1, abs=1e-6)
    assert record["overall"]["images"] == details.seen == 40
    assert [row["images"] for row in record["per_class"]] == \
        list(details.class_counts.values())
    curves = record["curves"]["classes"]
    assert len(curves["recall"]) == 101 and len(curves["precision"]) == len(curves["classes"])
    assert curves["classes"] == [i for i, n in enumerate(details.class_counts.values()) if n]
    assert not list(result.save_dir.glob(".*.tmp"))  # the write was atomic


def test_a_segment_run_keeps_box_and_mask_parts_and_the_background(tmp_path):
    shapes = make_shapes_dataset(tmp_path / "shapes", size=64, train=4, val=2)
    result = YOLO("yolov8n-seg.yaml", progress=ignore).train(
        data=str(shapes), project=str(tmp_path / "runs"), progress=ignore, epochs=1, imgsz=64,
        batch=4, workers=1, seed=0, plots=False)
    record = read_validation_record(result.save_dir / RECORD_NAME)
    details = result.validation.details
    names = record["names"]
    assert record["task"] == "segment"
    assert set(record["curves"]) == {"box", "seg"} and set(record["overall"]) >= {"box", "seg"}
    assert np.array(record["confusion_matrix"]).shape == (len(names) + 1,) * 2
    assert record["confusion_matrix"] == details.confusion_matrix.matrix.tolist()
    assert record["overall"]["box"]["mAP50"] == pytest.approx(details.box.map50, abs=1e-6)
    assert record["per_class"][0]["instances"] == int(details.instances_per_class[0])


def test_a_missing_cut_or_foreign_record_is_a_clear_error(tmp_path):
    with pytest.raises(ValidationRecordError, match="does not exist") as missing:
        read_validation_record(tmp_path / RECORD_NAME)
    assert str(tmp_path / RECORD_NAME) in str(missing.value)
    cut = tmp_path / "cut.json"
    cut.write_text('{"format": "yolo-validation", "version": 1, "task": "cla')
    with pytest.raises(ValidationRecordError, match="cannot be read"):
        read_validation_record(cut)
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"hello": 1}))
    with pytest.raises(ValidationRecordError, match="not a validation record"):
        read_validation_record(foreign)


def test_a_record_that_cannot_be_written_is_a_warning_not_a_failed_run(digits, tmp_path):
    from engine.events import Warning as EngineWarning

    from .test_trainer import Recorder

    blocked = tmp_path / "runs" / "train" / RECORD_NAME
    blocked.mkdir(parents=True)  # a folder where the file goes: the write fails
    events = Recorder()
    result = YOLO("yolov8n-cls.yaml").train(progress=events, data=str(digits),
                                             project=str(tmp_path / "runs"), name="train",
                                             exist_ok=True, **quick(epochs=1))
    assert result.status == "completed" and result.best.is_file()
    warnings = [w.message for w in events.of(EngineWarning)]
    assert any(RECORD_NAME in m and "not written" in m for m in warnings), warnings
    assert blocked.is_dir() and not list(blocked.parent.glob(".*.tmp"))
