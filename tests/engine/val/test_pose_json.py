"""Pose ``save_json``: COCO keypoint files pycocotools reads and scores the way we do."""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from engine.data.detect_labels import LabelledImage
from engine.data.instances import Instances
from engine.val.pose_json import PoseJsonCollector

WIDTH, HEIGHT = 200, 100
IDENTITY = ((1.0, 1.0), (0.0, 0.0))


def _people(rng: np.random.Generator, count: int) -> Instances:
    boxes = np.stack([rng.uniform(0.05, 0.3, count), rng.uniform(0.05, 0.3, count),
                      rng.uniform(0.6, 0.95, count), rng.uniform(0.6, 0.95, count)], 1)
    points = np.concatenate([
        rng.uniform(boxes[:, None, :2], boxes[:, None, 2:], (count, 5, 2)),
        np.tile([2.0, 2.0, 1.0, 2.0, 0.0], (count, 1))[..., None],
    ], 2)
    return Instances(np.zeros(count, np.int64), boxes.astype(np.float32), [],
                     points.astype(np.float32), normalized=True)


def _evaluate(folder: Path) -> tuple[float, dict]:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore", DeprecationWarning)
        truth = COCO(str(folder / "ground_truth.json"))
        found = truth.loadRes(str(folder / "predictions.json"))
        evaluation = COCOeval(truth, found, "keypoints")
        evaluation.params.kpt_oks_sigmas = np.array(truth.dataset["info"]["kpt_oks_sigmas"])
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0]), truth.dataset


def _collector(samples: list[LabelledImage]) -> PoseJsonCollector:
    layout = {"kpt_names": ["head", "left_hand", "right_hand", "left_foot", "right_foot"],
              "skeleton": [[0, 1], [0, 2]]}
    return PoseJsonCollector(samples, {0: "person"}, (5, 3), layout)


def _rows(objects: Instances, shift: float = 0.0) -> torch.Tensor:
    """NMS-style rows (xyxy, conf, cls, keypoints) in pixels of an un-letterboxed input."""
    pixels = objects.to_pixels(WIDTH, HEIGHT)
    points = pixels.keypoints.copy()
    points[..., :2] += shift
    points[..., 2] = 0.9
    count = len(pixels.cls)
    return torch.from_numpy(np.concatenate([
        pixels.boxes, np.linspace(0.9, 0.5, count)[:, None], np.zeros((count, 1)),
        points.reshape(count, -1)], 1)).float()


def test_perfect_keypoints_score_one_and_the_files_describe_the_keypoints(tmp_path):
    rng = np.random.default_rng(0)
    samples = [LabelledImage(Path(f"/data/{i}.jpg"), Path(f"/data/{i}.txt"), _people(rng, 3))
               for i in range(3)]
    collector = _collector(samples)
    for sample in samples:
        collector.add(str(sample.image), (HEIGHT, WIDTH), IDENTITY, _rows(sample.instances),
                      (HEIGHT, WIDTH))
    collector.write(tmp_path)
    score, truth = _evaluate(tmp_path)
    assert score == pytest.approx(1.0)
    (category,) = truth["categories"]
    assert category["keypoints"][1] == "left_hand" and category["skeleton"] == [[1, 2], [1, 3]]
    first = truth["annotations"][0]
    assert first["num_keypoints"] == 4  # the fifth keypoint is not labelled (v = 0)
    assert first["keypoints"][12:15] == [0.0, 0.0, 0]
    x1, y1, w, h = first["bbox"]
    assert first["area"] == pytest.approx(w * h * 0.53)
    predictions = json.loads((tmp_path / "predictions.json").read_text())
    assert len(predictions) == 9 and len(predictions[0]["keypoints"]) == 15


def test_letterboxed_predictions_come_back_to_original_pixels(tmp_path):
    rng = np.random.default_rng(1)
    samples = [LabelledImage(Path("/data/a.jpg"), Path("/data/a.txt"), _people(rng, 2))]
    collector = _collector(samples)
    rows = _rows(samples[0].instances)
    gain, pad = 0.5, (0.0, 25.0)  # a 200×100 image in a 100×100 input
    rows[:, [0, 2]] = rows[:, [0, 2]] * gain + pad[0]
    rows[:, [1, 3]] = rows[:, [1, 3]] * gain + pad[1]
    points = rows[:, 6:].view(2, 5, 3)
    points[..., 0] = points[..., 0] * gain + pad[0]
    points[..., 1] = points[..., 1] * gain + pad[1]
    collector.add("/data/a.jpg", (HEIGHT, WIDTH), ((gain, gain), pad), rows, (100, 100))
    collector.write(tmp_path)
    assert _evaluate(tmp_path)[0] == pytest.approx(1.0)


def test_shifted_keypoints_score_what_our_metrics_say(tmp_path):
    from engine.val.detection_metrics import PoseMetrics

    rng = np.random.default_rng(2)
    samples = [LabelledImage(Path(f"/data/{i}.jpg"), Path(f"/data/{i}.txt"), _people(rng, 3))
               for i in range(4)]
    collector = _collector(samples)
    ours = PoseMetrics({0: "person"})
    for i, sample in enumerate(samples):
        rows = _rows(sample.instances, shift=9.0 * i)
        collector.add(str(sample.image), (HEIGHT, WIDTH), IDENTITY, rows, (HEIGHT, WIDTH))
        pixels = sample.instances.to_pixels(WIDTH, HEIGHT)
        ours.update(pred_boxes=rows[:, :4], pred_conf=rows[:, 4], pred_classes=rows[:, 5],
                    pred_keypoints=rows[:, 6:].view(-1, 5, 3), true_boxes=pixels.boxes,
                    true_classes=pixels.cls, true_keypoints=pixels.keypoints)
    collector.write(tmp_path)
    score, _ = _evaluate(tmp_path)
    assert 0.05 < score < 0.95
    assert score == pytest.approx(ours.pose.map, abs=0.002)
