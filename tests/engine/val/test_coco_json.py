"""COCO JSON writers, and our box / mask mAP against pycocotools on generated scenes."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from pycocotools.coco import COCO

from engine.formats.coco import (
    CocoAnnotation,
    CocoImage,
    ImagePredictions,
    coco_results,
    write_coco_ground_truth,
    write_coco_results,
)
from engine.utils import rle
from engine.val.detection_metrics import DetectionMetrics, SegmentMetrics

from .coco_cases import HEIGHT, WIDTH, Scene, pycocotools_map, random_boxes, scene

TOLERANCE = 0.002
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


# -- agreement with pycocotools --------------------------------------------------------------


def _perfect(rng, image_id, *, extra_low_scored: bool = False) -> Scene:
    base = scene(rng, image_id, objects=8, classes=3)
    if not extra_low_scored:
        return base
    boxes = random_boxes(rng, 5)  # false alarms and duplicates, all below every true score
    duplicates = base.true_boxes[:3]
    return Scene(
        image_id,
        base.true_boxes,
        base.true_classes,
        np.concatenate([base.true_boxes, boxes, duplicates]),
        np.concatenate([base.true_classes, rng.integers(0, 3, 5), base.true_classes[:3]]),
        np.concatenate([rng.uniform(0.5, 1.0, 8), rng.uniform(0.0, 0.4, 8)]),
    )


def _only_other_classes(rng, image_id) -> Scene:
    """Ground truth of classes 0 and 1, one prediction of class 2 (pycocotools needs one)."""
    base = scene(rng, image_id, objects=5, classes=2)
    boxes = base.true_boxes[:1]
    return Scene(
        image_id, base.true_boxes, base.true_classes, boxes, np.array([2]), np.array([0.9])
    )


def _mixed(rng, image_id) -> Scene:
    return scene(
        rng,
        image_id,
        objects=int(rng.integers(0, 15)),
        classes=4,
        fraction=float(rng.uniform(0.0, 0.3)),
        copies=int(rng.integers(1, 3)),
        keep=float(rng.uniform(0.5, 1.0)),
        false_alarms=int(rng.integers(0, 6)),
        alarm_classes=5,
    )


CASES = {
    # name: (scene maker(rng, image_id, index), images, classes, known (mAP50-95, mAP50) or None)
    "perfect": (lambda rng, i, k: _perfect(rng, i), 4, 3, (1.0, 1.0)),
    "perfect, then duplicates and alarms": (
        lambda rng, i, k: _perfect(rng, i, extra_low_scored=True),
        4,
        3,
        (1.0, 1.0),
    ),
    "nothing of the true classes predicted": (
        lambda rng, i, k: _only_other_classes(rng, i),
        3,
        3,
        (0.0, 0.0),
    ),
    "shifted": (lambda rng, i, k: scene(rng, i, objects=10, classes=3, fraction=0.25), 5, 3, None),
    "missed objects": (
        lambda rng, i, k: scene(rng, i, objects=10, classes=3, fraction=0.05, keep=0.6),
        5,
        3,
        None,
    ),
    "duplicated predictions": (
        lambda rng, i, k: scene(rng, i, objects=8, classes=2, fraction=0.1, copies=3),
        5,
        2,
        None,
    ),
    "crowded, overlapping": (
        lambda rng, i, k: scene(rng, i, objects=40, classes=2, fraction=0.15, copies=2),
        3,
        2,
        None,
    ),
    "several classes with false alarms": (
        lambda rng, i, k: scene(rng, i, objects=12, classes=6, fraction=0.2, false_alarms=8),
        5,
        6,
        None,
    ),
    "images without ground truth": (
        lambda rng, i, k: scene(
            rng, i, objects=0 if k % 2 else 8, classes=3, fraction=0.1, false_alarms=4
        ),
        6,
        3,
        None,
    ),
    "predictions of a class without ground truth": (
        lambda rng, i, k: scene(
            rng, i, objects=8, classes=2, fraction=0.1, false_alarms=6, alarm_classes=4
        ),
        5,
        4,
        None,
    ),
    **{f"random mix {seed}": (lambda rng, i, k: _mixed(rng, i), 6, 5, None) for seed in range(4)},
}


def _scenes(name: str) -> tuple[list[Scene], int, tuple[float, float] | None]:
    make, images, classes, known = CASES[name]
    rng = np.random.default_rng(sorted(CASES).index(name))
    scenes = [make(rng, 100 + index, index) for index in range(images)]  # ids need not start at 1
    assert all(len(s.pred_boxes) <= 100 for s in scenes), "COCOeval keeps 100 per image"
    return scenes, classes, known


def _ours(scenes: list[Scene], classes: int) -> SegmentMetrics:
    metrics = SegmentMetrics({index: f"class{index}" for index in range(classes)})
    for s in scenes:  # in image-id order, as COCOeval sorts images
        metrics.update(
            pred_boxes=s.pred_boxes,
            pred_conf=s.pred_scores,
            pred_classes=s.pred_classes,
            pred_masks=s.pred_masks,
            true_boxes=s.true_boxes,
            true_classes=s.true_classes,
            true_masks=s.true_masks,
        )
    return metrics


@pytest.mark.parametrize("name", CASES)
def test_box_and_mask_map_agree_with_pycocotools(tmp_path, name):
    scenes, classes, known = _scenes(name)
    metrics = _ours(scenes, classes)
    for part, iou_type in (("box", "bbox"), ("seg", "segm")):
        ours = metrics.parts[part]
        reference = pycocotools_map(scenes, classes, tmp_path, iou_type)
        # both average over the classes with ground truth
        assert sorted(reference["per_class"]) == ours.ap_class_index.tolist()
        assert abs(ours.map - reference["map"]) <= TOLERANCE, (part, ours.map, reference)
        assert abs(ours.map50 - reference["map50"]) <= TOLERANCE, (part, ours.map50, reference)
        assert abs(ours.map75 - reference["map75"]) <= TOLERANCE, (part, ours.map75, reference)
        for position, category in enumerate(ours.ap_class_index):
            assert abs(ours.ap[position] - reference["per_class"][int(category)]) <= TOLERANCE
        if known is not None:
            assert (ours.map, ours.map50) == pytest.approx(known, abs=1e-12)


def test_detection_metrics_give_the_segment_box_numbers():
    scenes, classes, _ = _scenes("random mix 0")
    segment = _ours(scenes, classes)
    detection = DetectionMetrics({index: f"class{index}" for index in range(classes)})
    for s in scenes:
        detection.update(
            pred_boxes=s.pred_boxes,
            pred_conf=s.pred_scores,
            pred_classes=s.pred_classes,
            true_boxes=s.true_boxes,
            true_classes=s.true_classes,
        )
    assert detection.box.map == segment.box.map
    np.testing.assert_array_equal(detection.box.all_ap, segment.box.all_ap)


# -- the writers -----------------------------------------------------------------------------


def test_results_records_are_coco_results_format(tmp_path):
    masks = np.zeros((2, 5, 7), bool)
    masks[0, 1:3, 2:6] = True
    prediction = ImagePredictions(
        image_id=7,
        boxes=np.array([[2.0, 1.0, 6.0, 3.0], [0.5, 0.25, 1.5, 4.75]]),
        scores=np.array([0.9, 0.123456789], np.float32),
        classes=np.array([1.0, 0.0]),
        masks=masks,
    )
    path = write_coco_results(tmp_path / "out" / "results.json", [prediction], category_ids=[3, 9])
    records = json.loads(path.read_text())
    assert [set(record) for record in records] == [
        {"image_id", "category_id", "bbox", "score", "segmentation"}
    ] * 2
    assert records[0]["bbox"] == [2.0, 1.0, 4.0, 2.0]
    assert records[1]["bbox"] == [0.5, 0.25, 1.0, 4.5]
    assert [record["category_id"] for record in records] == [9, 3]
    assert records[1]["score"] == float(np.float32(0.123456789))
    assert records[0]["segmentation"]["size"] == [5, 7]
    assert isinstance(records[0]["segmentation"]["counts"], str)
    np.testing.assert_array_equal(rle.decode(records[0]["segmentation"]), masks[0])
    rounded = coco_results([prediction], decimals=2)
    assert rounded[1]["score"] == 0.12 and "segmentation" in rounded[1]
    boxes_only = coco_results([ImagePredictions(1, np.zeros((0, 4)), [], [])])
    assert boxes_only == []


def test_ground_truth_with_polygons_and_masks_reads_in_pycocotools(tmp_path):
    mask = np.zeros((HEIGHT, WIDTH), bool)
    mask[10:20, 5:25] = True
    triangle = np.array([[10.0, 10.0], [30.0, 10.0], [10.0, 30.0]])
    path = write_coco_ground_truth(
        tmp_path / "truth.json",
        [CocoImage(1, WIDTH, HEIGHT, "a.jpg"), CocoImage(2, WIDTH, HEIGHT)],
        [
            CocoAnnotation(1, 0, [5, 10, 25, 20], mask=mask),
            CocoAnnotation(1, 4, [10, 10, 30, 30], polygons=[triangle]),
            CocoAnnotation(2, 4, [1, 2, 4, 6]),
        ],
        {0: "cat", 4: "dog"},
    )
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(path))
    annotations = coco.loadAnns(coco.getAnnIds())
    assert [a["id"] for a in annotations] == [1, 2, 3]  # 0 would read as "unmatched"
    assert [a["area"] for a in annotations] == [200.0, 200.0, 12.0]
    assert annotations[0]["bbox"] == [5.0, 10.0, 20.0, 10.0]
    np.testing.assert_array_equal(coco.annToMask(annotations[0]), mask)
    assert abs(int(coco.annToMask(annotations[1]).sum()) - 200) < 25  # rasterised triangle
    assert "segmentation" not in annotations[2]
    assert sorted(coco.getCatIds()) == [0, 4]
    assert coco.loadImgs(2)[0]["file_name"] == "2.jpg"


def test_writers_refuse_inconsistent_input(tmp_path):
    with pytest.raises(ValueError, match="2 boxes, 1 scores"):
        coco_results([ImagePredictions(1, np.zeros((2, 4)), [0.5], [0, 0])])
    images = [CocoImage(1, 4, 4)]
    with pytest.raises(ValueError, match="unknown image 2"):
        write_coco_ground_truth(
            tmp_path / "t.json", images, [CocoAnnotation(2, 0, [0, 0, 1, 1])], {0: "a"}
        )
    with pytest.raises(ValueError, match="unknown category 5"):
        write_coco_ground_truth(
            tmp_path / "t.json", images, [CocoAnnotation(1, 5, [0, 0, 1, 1])], {0: "a"}
        )
    both = CocoAnnotation(1, 0, [0, 0, 1, 1], mask=np.ones((4, 4)), polygons=[np.zeros((3, 2))])
    with pytest.raises(ValueError, match="not both"):
        write_coco_ground_truth(tmp_path / "t.json", images, [both], {0: "a"})
    assert not (tmp_path / "t.json").exists()


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    path = write_coco_results(tmp_path / "results.json", [])
    assert json.loads(path.read_text()) == []
    unserialisable = ImagePredictions(object(), np.zeros((1, 4)), [0.5], [0])
    with pytest.raises(TypeError):
        write_coco_results(path, [unserialisable])
    assert json.loads(path.read_text()) == []
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
