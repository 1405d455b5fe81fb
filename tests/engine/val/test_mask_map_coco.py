"""Issue 21, item 4: the mask mAP that segment validation reports is the one pycocotools computes
from the ``save_json`` files of the same predictions.

The scenes are non-square originals (90 x 150, letterboxed into a 160 input with 40 x 40
prototypes) whose objects are polygons, predicted by smooth elliptic logit maps placed near
them, so how finely masks are rasterised moves IoU around the 0.50..0.95 thresholds.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from engine.config import Settings
from engine.data.detect_augment import DetectValTransform
from engine.data.detect_labels import LabelledImage
from engine.data.detect_targets import to_targets
from engine.data.instances import Instances
from engine.utils.boxes import LetterboxInfo
from engine.val.segment_validator import segment_scorer

HEIGHT, WIDTH = 90, 150  # original images, not square
IMGSZ = 160
PROTO = IMGSZ // 4
NAMES = {0: "blob", 1: "spike"}


def _polygon(rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    """A wobbly closed outline around (cx, cy), pixels of the original image."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(6, 14))))
    radius = rng.uniform(0.85, 1.0, len(angles))
    return np.stack(
        [cx + rx * radius * np.cos(angles), cy + ry * radius * np.sin(angles)], 1
    ).astype(np.float32)


def _scene(rng: np.random.Generator, index: int, folder: Path):
    """One labelled image (normalised instances, as the label reader makes them) and its
    predictions as ellipses in the original image: (cx, cy, rx, ry, class, score)."""
    polygons, classes, predictions = [], [], []
    for _ in range(int(rng.integers(2, 5))):
        cx, cy = rng.uniform(25, WIDTH - 25), rng.uniform(20, HEIGHT - 20)
        rx, ry = rng.uniform(6, 22), rng.uniform(5, 16)
        polygons.append(_polygon(rng, cx, cy, rx, ry))
        classes.append(int(rng.integers(0, len(NAMES))))
        for _ in range(int(rng.integers(1, 3))):  # near misses and duplicates
            shift = rng.uniform(-0.15, 0.15, 2) * (rx, ry)
            scale = rng.uniform(0.8, 1.05, 2)
            label = classes[-1] if rng.random() < 0.85 else 1 - classes[-1]
            predictions.append((cx + shift[0], cy + shift[1], rx * scale[0], ry * scale[1], label))
    for _ in range(int(rng.integers(0, 3))):  # false alarms
        predictions.append((rng.uniform(10, WIDTH - 10), rng.uniform(10, HEIGHT - 10),
                            rng.uniform(4, 12), rng.uniform(4, 12), int(rng.integers(0, 2))))
    size = np.array([WIDTH, HEIGHT], np.float32)
    boxes = np.array([np.concatenate([p.min(0), p.max(0)]) for p in polygons]) / np.tile(size, 2)
    instances = Instances(np.array(classes), boxes, [p / size for p in polygons])
    sample = LabelledImage(folder / f"image{index}.jpg", folder / f"image{index}.txt", instances)
    return sample, predictions


def _head_outputs(predictions, info: LetterboxInfo, rng: np.random.Generator):
    """NMS-like rows ``[n, 6 + 32]`` (xyxy input pixels, score, class, coefficients) and
    prototypes ``[32, 40, 40]``: prediction ``k`` is channel ``k``, a smooth logit that is
    positive inside its ellipse."""
    prototypes = torch.full((32, PROTO, PROTO), -8.0)
    rows = []
    centres = (torch.arange(PROTO, dtype=torch.float32) + 0.5) * (IMGSZ / PROTO)
    scores = rng.permutation(len(predictions)) / len(predictions) * 0.9 + 0.05
    for k, (cx, cy, rx, ry, label) in enumerate(predictions):
        x, y = cx * info.gain + info.pad[0], cy * info.gain + info.pad[1]
        ax, ay = rx * info.gain, ry * info.gain
        inside = 1 - ((centres[None, :] - x) / ax) ** 2 - ((centres[:, None] - y) / ay) ** 2
        prototypes[k] = 6.0 * inside
        coefficients = torch.zeros(32)
        coefficients[k] = 1.0
        box = torch.tensor([x - ax, y - ay, x + ax, y + ay]).clamp(0, IMGSZ)
        rows.append(torch.cat([box, torch.tensor([scores[k], label]), coefficients]))
    return torch.stack(rows), prototypes


def _coco_map(folder: Path, iou_type: str) -> float:
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(folder / "ground_truth.json"))
        found = truth.loadRes(str(folder / "predictions.json"))
        evaluation = COCOeval(truth, found, iou_type)
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0])


@pytest.mark.parametrize("seed", [0, 1])
def test_val_mask_map_equals_pycocotools_on_its_own_json(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    scenes = [_scene(rng, index, tmp_path) for index in range(8)]
    samples = [sample for sample, _ in scenes]
    settings = Settings(save_json=True)
    scorer, collector = segment_scorer(NAMES, settings, None, samples)
    transform = DetectValTransform(IMGSZ)
    blank = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    for sample, predictions in scenes:
        # one image per batch, built as the val loader builds it
        image, objects, ratio_pad = transform(blank, sample.instances)
        batch = {
            key: torch.from_numpy(np.ascontiguousarray(value))
            for key, value in to_targets([objects], IMGSZ, task="segment").items()
        }
        batch.update(paths=[str(sample.image)], ori_shapes=[(HEIGHT, WIDTH)],
                     ratio_pad=[ratio_pad])
        det, prototypes = _head_outputs(predictions, LetterboxInfo.from_ratio_pad(ratio_pad), rng)
        scorer.score(0, det, prototypes[None], batch, image.shape[:2])
    collector.write(tmp_path)

    mask_coco, box_coco = _coco_map(tmp_path, "segm"), _coco_map(tmp_path, "bbox")
    assert 0.15 < mask_coco < 0.9  # the scenes reach into every threshold
    assert scorer.metrics.seg.map == pytest.approx(mask_coco, abs=0.002)
    assert scorer.metrics.box.map == pytest.approx(box_coco, abs=1e-6)


def test_only_the_100_best_detections_of_a_class_in_an_image_count(tmp_path: Path) -> None:
    """COCO's maxDets: the one right answer ranked 130th of its class is past the cut."""
    rng = np.random.default_rng(7)
    polygon = _polygon(rng, 40.0, 45.0, 15.0, 12.0)
    size = np.array([WIDTH, HEIGHT], np.float32)
    box = np.concatenate([polygon.min(0), polygon.max(0)])[None] / np.tile(size, 2)
    sample = LabelledImage(tmp_path / "a.jpg", tmp_path / "a.txt",
                           Instances(np.array([0]), box, [polygon / size]))
    image, objects, ratio_pad = DetectValTransform(IMGSZ)(
        np.zeros((HEIGHT, WIDTH, 3), np.uint8), sample.instances
    )
    info = LetterboxInfo.from_ratio_pad(ratio_pad)
    hit, prototypes = _head_outputs([(40.0, 45.0, 15.0, 12.0, 0)], info, rng)
    alarms = torch.zeros((129, hit.shape[1]))  # empty masks in boxes far from the object
    alarms[:, :4] = torch.tensor([120.0, 80.0, 130.0, 90.0])
    alarms[:, 4] = torch.linspace(0.9, 0.5, 129)
    hit[:, 4] = 0.4
    det = torch.cat([alarms, hit])
    batch = {
        key: torch.from_numpy(np.ascontiguousarray(value))
        for key, value in to_targets([objects], IMGSZ, task="segment").items()
    }
    batch.update(paths=[str(sample.image)], ori_shapes=[(HEIGHT, WIDTH)], ratio_pad=[ratio_pad])
    scorer, collector = segment_scorer(NAMES, Settings(save_json=True), None, [sample])
    scorer.score(0, det, prototypes[None], batch, image.shape[:2])
    collector.write(tmp_path)

    assert _coco_map(tmp_path, "segm") == 0.0 == _coco_map(tmp_path, "bbox")
    assert scorer.metrics.seg.map == 0.0
    assert scorer.metrics.box.map == 0.0
