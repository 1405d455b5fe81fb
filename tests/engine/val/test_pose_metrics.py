"""Pose metrics: object keypoint similarity (OKS) and box + pose AP, checked against pycocotools."""

from __future__ import annotations

import contextlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from engine.formats.coco import CocoAnnotation, CocoImage, write_coco_ground_truth
from engine.val.detection_metrics import PoseMetrics
from engine.val.keypoint_iou import COCO_KEYPOINT_SIGMAS, keypoint_areas, keypoint_sigmas, oks

TOLERANCE = 0.002
WIDTH, HEIGHT = 640, 480
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def person(rng: np.random.Generator, count: int, box: np.ndarray) -> np.ndarray:
    """[K, 3] keypoints inside ``box``: some unlabelled (0, 0, 0), at least one labelled."""
    x1, y1, x2, y2 = box
    points = np.stack([rng.uniform(x1, x2, count), rng.uniform(y1, y2, count)], 1)
    visibility = rng.choice([0.0, 1.0, 2.0], count, p=[0.2, 0.3, 0.5])
    visibility[rng.integers(count)] = 2.0
    points[visibility == 0] = 0.0
    return np.concatenate([points, visibility[:, None]], 1)


# -- OKS -------------------------------------------------------------------------------------


def test_sigmas_are_cocos_for_17_keypoints_else_uniform():
    assert len(COCO_KEYPOINT_SIGMAS) == 17
    np.testing.assert_allclose(keypoint_sigmas(17)[[0, 5, 11, 16]], [0.026, 0.079, 0.107, 0.089])
    np.testing.assert_allclose(keypoint_sigmas(5), [0.2] * 5)
    with pytest.raises(ValueError, match=">= 1"):
        keypoint_sigmas(0)


def test_identical_keypoints_give_one_and_far_ones_nearly_zero():
    truth = person(np.random.default_rng(0), 17, np.array([100.0, 100.0, 200.0, 300.0]))[None]
    area = keypoint_areas([[100.0, 100.0, 200.0, 300.0]])
    np.testing.assert_allclose(area, [100 * 200 * 0.53])
    far = truth.copy()
    far[..., :2] += 500.0
    np.testing.assert_allclose(
        oks(truth, np.concatenate([truth, far]), area), [[1.0, 0.0]], atol=1e-12
    )


def test_one_keypoint_off_by_a_known_distance():
    truth = np.zeros((1, 17, 3))
    truth[..., 0], truth[..., 1], truth[..., 2] = np.arange(17) * 10.0, 50.0, 2.0
    truth[0, 3, 2] = 0.0  # unlabelled: its (wrong) prediction is not counted
    predicted = truth[..., :2].copy()
    predicted[0, 5] += (3.0, 4.0)  # 5 pixels off
    predicted[0, 3] += 100.0
    area = 1000.0
    sigma = COCO_KEYPOINT_SIGMAS[5]
    expected = (15 + math.exp(-25.0 / (2 * sigma) ** 2 / area / 2)) / 16
    np.testing.assert_allclose(oks(truth, predicted, [area]), [[expected]], rtol=1e-12)
    # torch inputs and a 3-column prediction give the same; custom sigmas are used
    as_torch = oks(torch.from_numpy(truth), torch.from_numpy(truth), torch.tensor([area]))
    np.testing.assert_allclose(as_torch, [[1.0]], rtol=1e-6)
    uniform = oks(truth, predicted, [area], sigmas=np.full(17, 0.1))
    np.testing.assert_allclose(uniform, [[(15 + math.exp(-25.0 / 0.04 / area / 2)) / 16]])


def test_unlabelled_ground_truth_scores_zero_and_bad_shapes_are_refused():
    truth = np.zeros((2, 5, 3))
    truth[0, :, 2] = 1.0
    scores = oks(truth, truth[:, :, :2], [100.0, 100.0])
    np.testing.assert_allclose(scores, [[1.0, 1.0], [0.0, 0.0]])
    assert oks(np.zeros((0, 5, 3)), truth, []).shape == (0, 2)
    assert oks(truth, np.zeros((0, 5, 2)), [1.0, 1.0]).shape == (2, 0)
    with pytest.raises(ValueError, match=r"\[N, K, 3\]"):
        oks(truth[..., :2], truth, [1.0, 1.0])
    with pytest.raises(ValueError, match="5 ground-truth keypoints but 4"):
        oks(truth, truth[:, :4], [1.0, 1.0])
    with pytest.raises(ValueError, match="1 areas for 2"):
        oks(truth, truth, [1.0])
    with pytest.raises(ValueError, match="sigmas"):
        oks(truth, truth, [1.0, 1.0], sigmas=[0.1] * 4)


# -- PoseMetrics -----------------------------------------------------------------------------


def test_pose_metrics_score_boxes_and_keypoints_separately():
    rng = np.random.default_rng(1)
    box = np.array([[10.0, 10.0, 110.0, 210.0]])
    truth = person(rng, 17, box[0])[None]
    wrong = truth.copy()
    wrong[..., :2] += 300.0  # right box, wrong keypoints
    metrics = PoseMetrics({0: "person"})
    metrics.update(
        pred_boxes=torch.from_numpy(box),
        pred_conf=torch.tensor([0.9]),
        pred_classes=torch.tensor([0.0]),
        pred_keypoints=torch.from_numpy(wrong),
        true_boxes=torch.from_numpy(box),
        true_classes=torch.tensor([0]),
        true_keypoints=torch.from_numpy(truth),
    )
    assert metrics.box.map == pytest.approx(1.0)
    assert metrics.pose.map == pytest.approx(0.0)
    assert list(metrics.results_dict)[4:] == [
        "metrics/precision(P)",
        "metrics/recall(P)",
        "metrics/mAP50(P)",
        "metrics/mAP50-95(P)",
    ]
    assert "Pose(P" in metrics.summary_table()
    assert metrics.to_dict()["per_class"]["person"]["pose"]["mAP50"] == pytest.approx(0.0)


# -- agreement with pycocotools --------------------------------------------------------------


@dataclass
class PoseScene:
    image_id: int
    true_boxes: np.ndarray
    true_keypoints: np.ndarray
    pred_boxes: np.ndarray
    pred_keypoints: np.ndarray
    pred_scores: np.ndarray


def pose_scene(
    rng: np.random.Generator,
    image_id: int,
    *,
    keypoints: int,
    people: int,
    noise: float = 0.0,
    copies: int = 1,
    keep: float = 1.0,
    false_alarms: int = 0,
) -> PoseScene:
    """``people`` labelled people; ``copies`` noisy predictions of each kept one (<= 20 in all)."""
    sides = rng.uniform(40.0, 200.0, (people, 2))
    corner = rng.uniform(0.0, 1.0, (people, 2)) * ([WIDTH, HEIGHT] - sides)
    boxes = np.concatenate([corner, corner + sides], 1)
    truth = np.stack([person(rng, keypoints, box) for box in boxes]) if people else None
    truth = np.zeros((0, keypoints, 3)) if truth is None else truth
    scale = np.sqrt(keypoint_areas(boxes))[:, None, None] * 2 * keypoint_sigmas(keypoints)[:, None]
    kept = rng.random(people) < keep
    pred_boxes, pred_points = [], []
    for _ in range(copies):
        level = rng.uniform(0.0, noise, (int(kept.sum()), 1, 1))
        shift = rng.normal(size=(int(kept.sum()), keypoints, 2)) * level * scale[kept]
        pred_points.append(truth[kept, :, :2] + shift)
        pred_boxes.append(boxes[kept] + rng.normal(0.0, noise * 5, (int(kept.sum()), 4)))
    alarm_boxes = np.tile([[0.0, 0.0, 60.0, 90.0]], (false_alarms, 1)) + rng.uniform(0, 300)
    pred_boxes.append(alarm_boxes)
    pred_points.append(rng.uniform(0.0, 400.0, (false_alarms, keypoints, 2)))
    pred_keypoints = np.concatenate(pred_points)
    pred_keypoints = np.concatenate([pred_keypoints, np.ones_like(pred_keypoints[..., :1])], 2)
    count = len(pred_keypoints)
    assert count <= 20, "pycocotools' keypoint evaluation keeps 20 predictions per image"
    scores = rng.permutation(count) / max(count, 1) * 0.9 + 0.05
    return PoseScene(image_id, boxes, truth, np.concatenate(pred_boxes), pred_keypoints, scores)


def pycocotools_pose_map(scenes: list[PoseScene], keypoints: int, folder: Path) -> tuple:
    """pycocotools' keypoint (mAP50-95, mAP50), with area = box area * 0.53 on both sides."""
    images = [CocoImage(s.image_id, WIDTH, HEIGHT) for s in scenes]
    annotations = [
        CocoAnnotation(
            s.image_id,
            0,
            box,
            area=float(keypoint_areas(box[None])[0]),
            extra={
                "keypoints": points.reshape(-1).tolist(),
                "num_keypoints": int((points[:, 2] > 0).sum()),
            },
        )
        for s in scenes
        for box, points in zip(s.true_boxes, s.true_keypoints, strict=True)
    ]
    truth_path = write_coco_ground_truth(folder / "truth.json", images, annotations, {0: "person"})
    results = [
        {
            "image_id": s.image_id,
            "category_id": 0,
            "keypoints": points.reshape(-1).tolist(),
            "score": float(score),
        }
        for s in scenes
        for points, score in zip(s.pred_keypoints, s.pred_scores, strict=True)
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(truth_path))
        detections = truth.loadRes(json.loads(json.dumps(results)))
        evaluation = COCOeval(truth, detections, "keypoints")
        evaluation.params.kpt_oks_sigmas = keypoint_sigmas(keypoints)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation.stats[0], evaluation.stats[1]


CASES = {
    "perfect": [dict(people=4)],
    "shifted": [dict(people=5, noise=1.5), dict(people=3, noise=1.0)],
    "missed_and_false_alarms": [dict(people=6, noise=1.0, keep=0.6, false_alarms=3)],
    "duplicates": [dict(people=5, noise=1.2, copies=2)],
    "several_images": [
        dict(people=6, noise=1.2, keep=0.8, false_alarms=2),
        dict(people=0, false_alarms=2),
        dict(people=2, noise=0.5, copies=2),
        dict(people=5, noise=2.0, keep=0.5),
        dict(people=3, noise=0.8, copies=3, false_alarms=1),
    ],
}


@pytest.mark.parametrize("keypoints", [5, 17])
@pytest.mark.parametrize("case", sorted(CASES))
def test_pose_map_agrees_with_pycocotools(tmp_path, case, keypoints):
    rng = np.random.default_rng([keypoints, sorted(CASES).index(case)])
    scenes = [
        pose_scene(rng, image_id, keypoints=keypoints, **options)
        for image_id, options in enumerate(CASES[case], start=1)
    ]
    metrics = PoseMetrics({0: "person"})
    for s in scenes:
        metrics.update(
            pred_boxes=s.pred_boxes,
            pred_conf=s.pred_scores,
            pred_classes=np.zeros(len(s.pred_scores)),
            pred_keypoints=s.pred_keypoints,
            true_boxes=s.true_boxes,
            true_classes=np.zeros(len(s.true_boxes)),
            true_keypoints=s.true_keypoints,
        )
    reference_map, reference_map50 = pycocotools_pose_map(scenes, keypoints, tmp_path)
    assert abs(metrics.pose.map - reference_map) <= TOLERANCE
    assert abs(metrics.pose.map50 - reference_map50) <= TOLERANCE
    if case == "perfect":
        assert metrics.pose.map == pytest.approx(1.0)
