"""The detection confusion matrix: true class against predicted class, with a background class."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .average_precision import as_array
from .metric_files import write_csv

CONFUSION_IOU = 0.45
CONFUSION_CONF = 0.25


class DetectionConfusionMatrix:
    """Counts of (true class, predicted class) with a background class at index ``num_classes``.

    Rows are true classes and columns predicted ones (the project's layout; the reference draws
    it transposed). Per image, predictions above ``conf_threshold`` are paired class-blind with
    ground truths at IoU above ``iou_threshold``, highest IoU first, one to one; a ground truth
    left over counts as predicted background (missed), a prediction left over as true background
    (a false alarm).
    """

    def __init__(
        self,
        num_classes: int,
        *,
        iou_threshold: float = CONFUSION_IOU,
        conf_threshold: float = CONFUSION_CONF,
    ) -> None:
        self.num_classes = num_classes
        self.iou_threshold = iou_threshold
        self.conf_threshold = conf_threshold
        self.matrix = np.zeros((num_classes + 1, num_classes + 1), np.int64)

    def add(self, iou: Any, pred_conf: Any, pred_classes: Any, true_classes: Any) -> None:
        """Count one image; ``iou`` is [m ground truths, n predictions]."""
        keep = as_array(pred_conf, np.float64).reshape(-1) > self.conf_threshold
        predicted = as_array(pred_classes, np.int64).reshape(-1)[keep]
        truth = as_array(true_classes, np.int64).reshape(-1)
        overlaps = as_array(iou, np.float64).reshape(len(truth), len(keep))[:, keep]
        background = self.num_classes
        rows, columns = _greedy_pairs(overlaps, self.iou_threshold)
        np.add.at(self.matrix, (truth[rows], predicted[columns]), 1)
        missed = np.setdiff1d(np.arange(len(truth)), rows)
        np.add.at(self.matrix, (truth[missed], background), 1)
        extra = np.setdiff1d(np.arange(len(predicted)), columns)
        np.add.at(self.matrix, (background, predicted[extra]), 1)

    def to_csv(self, path: str | Path, names: Sequence[str]) -> Path:
        """Write the counts with a header row and a first column of class names."""
        labels = [*map(str, names), "background"]
        rows = [["true \\ predicted", *labels]]
        rows += [[label, *map(str, row)] for label, row in zip(labels, self.matrix, strict=True)]
        return write_csv(path, rows)

    def plot(self, path: str | Path, names: Sequence[str], *, normalize: bool = True) -> Path:
        """Draw the matrix with a 'background' class (each true row normalised by default)."""
        from ..plots import plot_confusion_matrix

        title = "Confusion Matrix Normalized" if normalize else "Confusion Matrix"
        labels = [*map(str, names), "background"]
        return plot_confusion_matrix(self.matrix, labels, path, normalize=normalize, title=title)


def _greedy_pairs(overlaps: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one (row, column) pairs above ``threshold``, highest overlap first."""
    rows, columns = np.nonzero(overlaps > threshold)
    order = np.argsort(-overlaps[rows, columns], kind="stable")
    used_rows, used_columns, pairs = set(), set(), []
    for row, column in zip(rows[order].tolist(), columns[order].tolist(), strict=True):
        if row not in used_rows and column not in used_columns:
            used_rows.add(row)
            used_columns.add(column)
            pairs.append((row, column))
    found = np.array(pairs, np.int64).reshape(-1, 2)
    return found[:, 0], found[:, 1]
