"""The detection confusion matrix keeps each image's cells (what a viewer lists behind a cell),
and the validator names each image by its path."""

from __future__ import annotations

import numpy as np

from engine.val.detection_confusion import DetectionConfusionMatrix, ImageMatches
from engine.val.detection_metrics import DetectionMetrics, box_iou


def test_each_image_keeps_its_cells_and_the_matrix_is_their_sum():
    matrix = DetectionConfusionMatrix(3)
    truth = np.array([[0, 0, 40, 40], [60, 60, 90, 90], [0, 60, 20, 90]], float)
    predictions = np.array([[0, 0, 40, 40], [60, 60, 90, 90], [100, 100, 120, 120]], float)
    first = matrix.add(box_iou(truth, predictions), [0.9, 0.8, 0.7], [0, 2, 1], [0, 1, 2],
                       image="a.jpg")
    # a hit, a car taken for a dog, the dog missed, a false alarm
    assert sorted(first.cells) == [(0, 0), (1, 2), (2, 3), (3, 1)]
    matrix.add(np.zeros((0, 1)), [0.9], [1], np.zeros(0, int), image="b.jpg")
    matrix.add(np.zeros((1, 0)), [], np.zeros(0, int), [2])
    assert matrix.images == [first, ImageMatches("b.jpg", ((3, 1),)), ImageMatches(None, ((2, 3),))]
    summed = np.zeros_like(matrix.matrix)
    for image in matrix.images:
        for cell in image.cells:
            summed[cell] += 1
    np.testing.assert_array_equal(summed, matrix.matrix)


def test_metrics_pass_the_image_to_the_matrix_and_reset_forgets_it():
    metrics = DetectionMetrics({0: "a", 1: "b"})
    box = [[0, 0, 10, 10]]
    metrics.update(pred_boxes=box, pred_conf=[0.9], pred_classes=[1], true_boxes=box,
                   true_classes=[0], image="/data/images/val/x.png")
    assert metrics.confusion_matrix.images == [ImageMatches("/data/images/val/x.png",
                                                            ((0, 1),))]
    metrics.reset()
    assert metrics.confusion_matrix.images == []
