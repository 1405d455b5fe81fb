"""Detection metrics: matching, AP, per-class results, confusion matrix, tables and files."""

from __future__ import annotations

import csv
import json
import math

import cv2
import numpy as np
import pycocotools.mask as coco_mask
import pytest
import torch

from engine.val.detection_metrics import (
    IOU_THRESHOLDS,
    DetectionConfusionMatrix,
    DetectionMetrics,
    SegmentMetrics,
    ap_per_class,
    box_iou,
    mask_iou,
    match_predictions,
)

NAMES = {0: "person", 1: "car", 2: "dog"}
BOX_KEYS = [
    "metrics/precision(B)",
    "metrics/recall(B)",
    "metrics/mAP50(B)",
    "metrics/mAP50-95(B)",
]
MASK_KEYS = [key.replace("(B)", "(M)") for key in BOX_KEYS]


# -- IoU -------------------------------------------------------------------------------------


def test_box_iou_has_no_plus_one_and_handles_empty_sets():
    a = np.array([[0.0, 0.0, 10.0, 10.0]])
    b = np.array([[5.0, 0.0, 15.0, 10.0], [20.0, 20.0, 30.0, 30.0], [0.0, 0.0, 10.0, 10.0]])
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 0.0, 1.0]])
    assert box_iou(np.zeros((0, 4)), b).shape == (0, 3)
    assert box_iou(a, np.zeros((0, 4))).shape == (1, 0)
    # COCO's own box IoU ([x, y, w, h]) gives the same numbers
    reference = coco_mask.iou([[0, 0, 10, 10]], [[5, 0, 10, 10], [20, 20, 10, 10]], [0, 0])
    np.testing.assert_allclose(box_iou(a, b[:2]), reference)


def test_mask_iou_matches_pycocotools_and_accepts_flat_or_torch_masks():
    rng = np.random.default_rng(0)
    first = rng.random((4, 9, 11)) < 0.4
    second = rng.random((6, 9, 11)) < 0.6
    second[0] = False  # an empty mask
    encode = [coco_mask.encode(np.asfortranarray(m.astype(np.uint8))) for m in second]
    reference = coco_mask.iou(
        encode, [coco_mask.encode(np.asfortranarray(m.astype(np.uint8))) for m in first], [0] * 4
    )
    ours = mask_iou(second, first)
    np.testing.assert_array_equal(ours, reference)
    np.testing.assert_array_equal(mask_iou(torch.from_numpy(second).flatten(1), first), ours)
    assert mask_iou(np.zeros((0, 9, 11)), first).shape == (0, 4)
    with pytest.raises(ValueError, match="same size"):
        mask_iou(first, np.zeros((2, 3, 3)))


# -- matching --------------------------------------------------------------------------------


def test_higher_score_takes_the_ground_truth_even_with_lower_iou():
    # one ground truth, two predictions: the first (higher score) overlaps less
    iou = np.array([[0.6, 0.9]])
    correct = match_predictions(np.array([0, 0]), np.array([0]), iou)
    assert correct[0].tolist() == [True, True, True] + [False] * 7  # >= 0.5, 0.55, 0.6
    assert correct[1].tolist() == [False] * 3 + [True] * 6 + [False]  # free again above 0.6
    by_score = match_predictions(np.array([0, 0]), np.array([0]), iou, conf=np.array([0.1, 0.9]))
    assert by_score[1].tolist() == [True] * 9 + [False]
    assert not by_score[0].any()


def test_each_prediction_takes_the_best_unmatched_ground_truth_of_its_class():
    iou = np.array([[0.8, 0.7], [0.75, 0.9], [0.99, 0.99]])  # third gt is another class
    correct = match_predictions(np.array([0, 0]), np.array([0, 0, 1]), iou)
    # prediction 0 takes gt 0 (0.8 > 0.75); prediction 1 takes gt 1 (0.9)
    np.testing.assert_array_equal(correct[:, 0], [True, True])
    np.testing.assert_array_equal(correct[:, IOU_THRESHOLDS.tolist().index(0.8)], [True, True])
    assert correct[1, -2] and not correct[0, -2]  # at 0.9 only prediction 1 hits
    # threshold reached exactly counts as a hit
    assert match_predictions([0], [0], [[0.5]])[0, 0]
    assert not match_predictions([1], [0], [[1.0]]).any()
    assert match_predictions([0], [], np.zeros((0, 1))).shape == (1, 10)


def test_an_equal_iou_tie_goes_to_the_later_ground_truth_like_pycocotools():
    iou = np.array([[0.7, 0.7], [0.7, 0.0]])
    # prediction 0 takes gt 1 (the later of two equal bests), so prediction 1 can take gt 0
    assert match_predictions([0, 0], [0, 0], iou)[:, 0].tolist() == [True, True]


# -- AP --------------------------------------------------------------------------------------


def test_ap_uses_the_101_point_precision_envelope():
    # two ground truths; hits at ranks 1 and 3: recall .5 .5 1, precision 1 .5 .667
    tp = np.array([[True], [False], [True]])
    result = ap_per_class(tp, [0.9, 0.8, 0.7], [0, 0, 0], [0, 0])
    assert result.ap[0, 0] == pytest.approx((51 * 1.0 + 50 * 2 / 3) / 101)
    trapezoid = ap_per_class(tp, [0.9, 0.8, 0.7], [0, 0, 0], [0, 0], method="trapezoid")
    assert 0.8 < trapezoid.ap[0, 0] < 0.9 and trapezoid.ap[0, 0] != result.ap[0, 0]
    perfect = ap_per_class([[True], [True]], [0.5, 0.4], [1, 1], [1, 1], method="trapezoid")
    assert perfect.ap[0, 0] == pytest.approx(0.995)  # the reference's figure for perfect boxes
    # Half the objects found, no false alarm: the reference's envelope drops to 0 right after
    # recall 0.5 (0.495 over the 101 points), where a line down to recall 1 would give 0.75.
    half = ap_per_class([[True], [False]], [0.9, 0.8], [0, 0], [0, 0], method="trapezoid")
    assert half.ap[0, 0] == pytest.approx(0.495)
    with pytest.raises(ValueError, match="unknown AP method"):
        ap_per_class(tp, [0.9, 0.8, 0.7], [0, 0, 0], [0, 0], method="voc")  # type: ignore[arg-type]


def test_ap_per_class_covers_classes_with_ground_truth_only():
    tp = np.ones((3, 10), bool)
    result = ap_per_class(tp, [0.9, 0.8, 0.7], [0, 2, 2], [0, 1, 1, 1])
    assert result.classes.tolist() == [0, 1]  # class 2 has no ground truth; class 1 no prediction
    np.testing.assert_allclose(result.ap, [[1.0] * 10, [0.0] * 10])
    assert result.precision_curve.shape == result.f1_curve.shape == (2, 1000)
    assert result.recall[1] == 0.0 and result.recall[0] == pytest.approx(1.0)
    assert result.true_positives.tolist() == [1.0, 0.0]
    empty = ap_per_class(np.zeros((0, 10), bool), [], [], [])
    assert empty.ap.shape == (0, 10) and empty.classes.size == 0


def _image(metrics: DetectionMetrics, truth, predictions) -> None:
    """truth: [(class, box)], predictions: [(class, conf, box)]."""
    metrics.update(
        pred_boxes=np.array([p[2] for p in predictions], float).reshape(-1, 4),
        pred_conf=np.array([p[1] for p in predictions], float),
        pred_classes=np.array([p[0] for p in predictions], int),
        true_boxes=np.array([t[1] for t in truth], float).reshape(-1, 4),
        true_classes=np.array([t[0] for t in truth], int),
    )


BOX = [10, 10, 50, 50]
HALF = [30, 10, 70, 50]  # IoU 1/3 with BOX


def test_known_answers_and_per_class_maps():
    metrics = DetectionMetrics(NAMES)
    _image(metrics, [(0, BOX), (1, [60, 60, 90, 90])], [(0, 0.9, BOX), (1, 0.8, HALF)])
    _image(metrics, [], [(2, 0.7, BOX)])  # an image without ground truth; class 2 has none
    box = metrics.box
    assert box.ap_class_index.tolist() == [0, 1]
    np.testing.assert_allclose(box.ap, [1.0, 0.0])
    assert box.map == pytest.approx(0.5) and box.map50 == pytest.approx(0.5)
    assert box.map75 == pytest.approx(0.5)
    np.testing.assert_allclose(box.maps, [1.0, 0.0, 0.5])  # class 2 gets the mean
    assert box.fitness == pytest.approx(box.map)
    assert metrics.fitness == box.fitness
    assert list(metrics.results_dict) == BOX_KEYS == metrics.keys
    assert metrics.results_dict["metrics/mAP50-95(B)"] == pytest.approx(0.5)
    assert metrics.seen == 2
    assert metrics.instances_per_class.tolist() == [1, 1, 0]
    assert metrics.images_per_class.tolist() == [1, 1, 0]


def test_fitness_is_map50_95_alone():
    metrics = DetectionMetrics(NAMES)
    _image(metrics, [(0, BOX)], [(0, 0.9, [10, 10, 50, 58])])  # IoU 0.83: counts at 0.50..0.80
    box = metrics.box
    assert box.map50 == pytest.approx(1.0) and box.map == pytest.approx(0.7)
    assert metrics.fitness == pytest.approx(0.7)  # the reference's (8.4) weights: 0, 0, 0, 1


def test_empty_metrics_are_zero_and_render():
    metrics = SegmentMetrics(NAMES)
    assert metrics.results_dict == dict.fromkeys(BOX_KEYS + MASK_KEYS, 0.0)
    assert metrics.fitness == 0.0
    assert metrics.box.maps.tolist() == [0.0, 0.0, 0.0]
    assert "all" in metrics.summary_table()
    json.dumps(metrics.to_dict())


def test_segment_metrics_score_masks_and_boxes_separately():
    masks = np.zeros((1, 40, 40), bool)
    masks[0, 5:25, 5:25] = True
    other = np.zeros((1, 40, 40), bool)
    other[0, 5:25, 5:14] = True  # mask IoU 0.45 while the boxes are identical
    metrics = SegmentMetrics(NAMES)
    common = {"true_boxes": [[5, 5, 25, 25]], "true_classes": [1], "true_masks": masks}
    metrics.update(
        pred_boxes=[[5, 5, 25, 25]],
        pred_conf=[0.9],
        pred_classes=[1],
        pred_masks=other,
        **common,
    )
    assert metrics.box.map == pytest.approx(1.0)
    assert metrics.seg.map == 0.0
    assert list(metrics.results_dict) == BOX_KEYS + MASK_KEYS
    assert metrics.fitness == pytest.approx(metrics.box.fitness + metrics.seg.fitness)
    table = metrics.summary_table().splitlines()
    assert "Box(P" in table[0] and "Mask(P" in table[0] and "Instances" in table[0]
    assert [line.split()[0] for line in table[1:]] == ["all", "car"]
    assert table[2].split()[1:3] == ["1", "1"]


def test_torch_inputs_and_float_classes_are_accepted():
    metrics = DetectionMetrics(NAMES)
    metrics.update(
        pred_boxes=torch.tensor([BOX], dtype=torch.float16),
        pred_conf=torch.tensor([0.5]),
        pred_classes=torch.tensor([2.0]),
        true_boxes=torch.tensor([BOX]),
        true_classes=torch.tensor([2]),
    )
    assert metrics.box.map == pytest.approx(1.0)


def test_bad_input_is_refused_with_a_clear_message():
    metrics = DetectionMetrics(NAMES)
    good = {"pred_boxes": [BOX], "pred_conf": [0.5], "true_boxes": [BOX], "true_classes": [0]}
    with pytest.raises(ValueError, match="prediction class 3 is outside 0..2"):
        metrics.update(pred_classes=[3], **good)
    with pytest.raises(ValueError, match="whole numbers"):
        metrics.update(pred_classes=[0.5], **good)
    with pytest.raises(ValueError, match=r"boxes must be \[N, 4\]"):
        metrics.update(**{**good, "pred_boxes": [[1, 2, 3]]}, pred_classes=[0])
    with pytest.raises(ValueError, match="IoU must be"):
        metrics.add_image([0.5, 0.4], [0, 0], [0], {"box": np.zeros((1, 1))})
    with pytest.raises(ValueError, match="no IoU matrix"):
        metrics.add_image([0.5], [0], [0], {})
    with pytest.raises(ValueError, match="keyed 0..C-1"):
        DetectionMetrics({1: "a"})
    assert metrics.seen == 0
    segment = SegmentMetrics(NAMES)
    with pytest.raises(ValueError, match=r"the seg IoU must be \[1 ground truths, 1 predictions\]"):
        segment.add_image([0.5], [0], [0], {"box": [[0.9]], "seg": np.zeros((2, 1))})
    assert segment.seen == 0 and segment.confusion_matrix.matrix.sum() == 0  # nothing half-added


def test_reset_forgets_images():
    metrics = DetectionMetrics(NAMES)
    _image(metrics, [(0, BOX)], [(0, 0.9, BOX)])
    metrics.reset()
    assert metrics.seen == 0 and metrics.box.map == 0.0
    assert metrics.confusion_matrix.matrix.sum() == 0


# -- confusion matrix ------------------------------------------------------------------------


def test_confusion_matrix_counts_hits_confusions_misses_and_false_alarms():
    matrix = DetectionConfusionMatrix(3)
    truth = np.array([0, 1, 2])
    boxes = np.array([BOX, [60, 60, 90, 90], [0, 60, 20, 90]], float)
    predictions = np.array([BOX, [60, 60, 90, 90], [100, 100, 120, 120], HALF], float)
    conf = np.array([0.9, 0.8, 0.7, 0.2])  # the last one is below the 0.25 confidence floor
    matrix.add(box_iou(boxes, predictions), conf, np.array([0, 2, 1, 0]), truth)
    expected = np.zeros((4, 4), int)
    expected[0, 0] = 1  # hit
    expected[1, 2] = 1  # car taken for a dog
    expected[2, 3] = 1  # dog missed: predicted background
    expected[3, 1] = 1  # false alarm: true background
    np.testing.assert_array_equal(matrix.matrix, expected)
    matrix.add(np.zeros((0, 1)), [0.9], [1], np.zeros(0, int))  # image without ground truth
    matrix.add(np.zeros((1, 0)), [], np.zeros(0, int), [2])  # image without predictions
    assert matrix.matrix[3, 1] == 2 and matrix.matrix[2, 3] == 2


def test_confusion_pairs_one_to_one_by_highest_iou_above_045():
    matrix = DetectionConfusionMatrix(2)
    iou = np.array([[0.9, 0.6], [0.8, 0.46], [0.45, 0.3]])
    matrix.add(iou, [0.9, 0.8], [0, 1], [0, 1, 1])
    # gt0-pred0 (0.9), then gt1-pred1 (0.46); gt2 at exactly 0.45 is not a match
    assert matrix.matrix.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 0]]


# -- files -----------------------------------------------------------------------------------


def test_save_writes_readable_csv_and_decodable_plots(tmp_path):
    metrics = DetectionMetrics(NAMES)
    _image(metrics, [(0, BOX), (1, [60, 60, 90, 90])], [(0, 0.9, BOX), (0, 0.3, HALF)])
    written = metrics.save(tmp_path)
    names = sorted(path.name for path in written)
    assert names == sorted(
        ["confusion_matrix.csv", "confusion_matrix.png", "confusion_matrix_normalized.png"]
        + [f"Box{curve}_curve.{ext}" for curve in ("PR", "F1", "P", "R") for ext in ("csv", "png")]
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == names  # no temp files left
    for path in written:
        if path.suffix == ".png":
            assert cv2.imread(str(path)) is not None, path
    rows = list(csv.reader((tmp_path / "confusion_matrix.csv").read_text().splitlines()))
    assert rows[0] == ["true \\ predicted", "person", "car", "dog", "background"]
    assert rows[1] == ["person", "1", "0", "0", "0"] and rows[4][1] == "1"
    curve = list(csv.reader((tmp_path / "BoxPR_curve.csv").read_text().splitlines()))
    assert curve[0] == ["recall", "all", "person", "car"] and len(curve) == 1001
    f1 = list(csv.reader((tmp_path / "BoxF1_curve.csv").read_text().splitlines()))
    assert f1[0][0] == "confidence" and all(0.0 <= float(v) <= 1.0 for v in f1[500][1:])


def test_segment_save_without_plots_and_json_ready_dict(tmp_path):
    metrics = SegmentMetrics(NAMES)
    mask = np.zeros((1, 60, 60), bool)
    mask[0, 10:50, 10:50] = True
    metrics.update(
        pred_boxes=[BOX],
        pred_conf=[0.9],
        pred_classes=[0],
        pred_masks=mask,
        true_boxes=[BOX],
        true_classes=[0],
        true_masks=mask,
    )
    written = metrics.save(tmp_path, plots=False)
    assert {path.suffix for path in written} == {".csv"}
    assert (tmp_path / "MaskPR_curve.csv").exists()
    document = json.loads(json.dumps(metrics.to_dict()))
    assert document["per_class"]["person"]["seg"]["mAP50-95"] == pytest.approx(1.0)
    assert document["per_class"]["car"] == {"images": 0, "instances": 0, "box": None, "seg": None}
    assert document["results"]["metrics/mAP50(M)"] == pytest.approx(1.0)
    assert math.isclose(document["fitness"], 2.0)


def test_curve_plots_handle_many_classes_and_check_names(tmp_path):
    from engine.plots import plot_confidence_curve, plot_pr_curve

    x = np.linspace(0, 1, 50)
    curves = np.random.default_rng(0).random((25, 50))
    names = [f"class {index}" for index in range(25)]
    plot_pr_curve(x, curves, names, tmp_path / "pr.png", ap50=curves.mean(1))
    plot_confidence_curve(x, curves, names, tmp_path / "f1.png", ylabel="F1")
    plot_confidence_curve(x, np.zeros((0, 50)), [], tmp_path / "empty.png", ylabel="F1")
    for name in ("pr.png", "f1.png", "empty.png"):
        assert cv2.imread(str(tmp_path / name)) is not None
    with pytest.raises(ValueError, match="2 curves for 3 names"):
        plot_pr_curve(x, curves[:2], names[:3], tmp_path / "bad.png")
