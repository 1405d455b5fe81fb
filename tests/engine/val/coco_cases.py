"""Generated detection / segmentation scenes with known answers, and a pycocotools runner.

Each scene is a list of images; every object is an ellipse inside its box, so box IoU and mask
IoU differ. Predictions derive from the ground truth (exact, shifted, duplicated, missed) or are
made up (false alarms, classes without ground truth). Scores are distinct, so the tie order
between equal scores never matters.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from engine.formats.coco import (
    CocoAnnotation,
    CocoImage,
    ImagePredictions,
    write_coco_ground_truth,
    write_coco_results,
)

HEIGHT, WIDTH = 48, 64


@dataclass
class Scene:
    """One image: ground truth and predictions (boxes xyxy, classes, masks [k, H, W])."""

    image_id: int
    true_boxes: np.ndarray
    true_classes: np.ndarray
    pred_boxes: np.ndarray
    pred_classes: np.ndarray
    pred_scores: np.ndarray
    true_masks: np.ndarray = field(init=False)
    pred_masks: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.true_masks = ellipse_masks(self.true_boxes)
        self.pred_masks = ellipse_masks(self.pred_boxes)


def ellipse_masks(boxes: np.ndarray) -> np.ndarray:
    """[k, H, W] bool: the ellipse inscribed in each box (never empty)."""
    rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH] + 0.5
    masks = np.zeros((len(boxes), HEIGHT, WIDTH), bool)
    for index, (x1, y1, x2, y2) in enumerate(boxes):
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        rx, ry = max((x2 - x1) / 2, 0.5), max((y2 - y1) / 2, 0.5)
        masks[index] = ((cols - cx) / rx) ** 2 + ((rows - cy) / ry) ** 2 <= 1.0
        centre = (min(int(cy), HEIGHT - 1), min(int(cx), WIDTH - 1))
        masks[index][centre] = True
    return masks


def random_boxes(rng: np.random.Generator, count: int, min_side: float = 6.0) -> np.ndarray:
    sides = rng.uniform(min_side, 24.0, (count, 2))
    x1 = rng.uniform(0, WIDTH - sides[:, 0])
    y1 = rng.uniform(0, HEIGHT - sides[:, 1])
    return np.stack([x1, y1, x1 + sides[:, 0], y1 + sides[:, 1]], 1)


def jitter(rng: np.random.Generator, boxes: np.ndarray, fraction: float) -> np.ndarray:
    """Shift and stretch each box by up to ``fraction`` of its size, kept in the image."""
    sides = np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, 1)
    moved = boxes + rng.uniform(-fraction, fraction, boxes.shape) * sides
    moved[:, [0, 2]] = np.clip(moved[:, [0, 2]], 0, WIDTH)
    moved[:, [1, 3]] = np.clip(moved[:, [1, 3]], 0, HEIGHT)
    moved[:, 2:] = np.maximum(moved[:, 2:], moved[:, :2] + 1.0)
    return moved


def scene(
    rng: np.random.Generator,
    image_id: int,
    *,
    objects: int,
    classes: int,
    fraction: float = 0.0,
    copies: int = 1,
    keep: float = 1.0,
    false_alarms: int = 0,
    alarm_classes: int | None = None,
) -> Scene:
    """Ground truth of ``objects`` boxes; ``copies`` jittered predictions of each kept one."""
    true_boxes = random_boxes(rng, objects)
    true_classes = rng.integers(0, classes, objects)
    kept = rng.random(objects) < keep
    pred_boxes = [jitter(rng, true_boxes[kept], fraction) for _ in range(copies)]
    pred_classes = [true_classes[kept]] * copies
    pred_boxes.append(random_boxes(rng, false_alarms))
    pred_classes.append(rng.integers(0, alarm_classes or classes, false_alarms))
    boxes = np.concatenate(pred_boxes) if pred_boxes else np.zeros((0, 4))
    labels = np.concatenate(pred_classes).astype(np.int64)
    scores = rng.permutation(len(boxes)) / max(len(boxes), 1) * 0.9 + rng.uniform(0.0, 0.05)
    return Scene(image_id, true_boxes, true_classes, boxes, labels, scores)


def pycocotools_map(scenes: list[Scene], classes: int, folder: Path, iou_type: str) -> dict:
    """pycocotools' mAP50-95, mAP50, mAP75 and per-category AP on ``scenes``."""
    images = [CocoImage(s.image_id, WIDTH, HEIGHT) for s in scenes]
    annotations = [
        CocoAnnotation(s.image_id, int(label), box, mask=mask)
        for s in scenes
        for box, label, mask in zip(s.true_boxes, s.true_classes, s.true_masks, strict=True)
    ]
    categories = {index: f"class{index}" for index in range(classes)}
    predictions = [
        ImagePredictions(s.image_id, s.pred_boxes, s.pred_scores, s.pred_classes, s.pred_masks)
        for s in scenes
    ]
    truth_path = write_coco_ground_truth(folder / "truth.json", images, annotations, categories)
    results_path = write_coco_results(folder / "results.json", predictions)
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(truth_path))
        detections = truth.loadRes(json.loads(results_path.read_text()))
        evaluation = COCOeval(truth, detections, iou_type)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    precision = evaluation.eval["precision"][:, :, :, 0, -1]  # [T, R, K], area all, 100 dets
    per_category = {}
    for k, category in enumerate(evaluation.params.catIds):
        values = precision[:, :, k]
        if (values > -1).all():
            per_category[int(category)] = float(values.mean())
    stats = evaluation.stats
    return {"map": stats[0], "map50": stats[1], "map75": stats[2], "per_class": per_category}
