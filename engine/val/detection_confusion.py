"""The detection confusion matrix: true class against predicted class, with a background class."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .average_precision import as_array
from .metric_files import write_csv

CONFUSION_IOU = 0.45
CONFUSION_CONF = 0.25


@dataclass(frozen=True)
class ImageMatches:
    """One image's share of the matrix: a ``(true, predicted)`` cell per pair, per missed ground
    truth (``(class, background)``) and per false alarm (``(background, class)``)."""

    image: str | None
    cells: tuple[tuple[int, int], ...]


class DetectionConfusionMatrix:
    """Counts of (true class, predicted class) with a background class at index ``num_classes``.

    Rows are true classes and columns predicted ones (the project's layout; the reference draws
    it transposed). Per image, predictions above ``conf_threshold`` are paired class-blind with
    ground truths at IoU above ``iou_threshold``, highest IoU first, one to one; a ground truth
    left over counts as predicted background (missed), a prediction left over as true background
    (a false alarm). ``images`` keeps each image's cells (:class:`ImageMatches`), so a viewer
    can list the images behind a cell; the matrix is their sum.
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
        self.images: list[ImageMatches] = []

    def add(
        self, iou: Any, pred_conf: Any, pred_classes: Any, true_classes: Any,
        image: str | None = None,
    ) -> ImageMatches:
        """Count one image (``image``: its path, when known); ``iou`` is [m ground truths,
        n predictions]. Returns (and keeps in ``images``) the cells it added."""
        keep = as_array(pred_conf, np.float64).reshape(-1) > self.conf_threshold
        predicted = as_array(pred_classes, np.int64).reshape(-1)[keep]
        truth = as_array(true_classes, np.int64).reshape(-1)
        overlaps = as_array(iou, np.float64).reshape(len(truth), len(keep))[:, keep]
        background = self.num_classes
        rows, columns = _greedy_pairs(overlaps, self.iou_threshold)
        missed = np.setdiff1d(np.arange(len(truth)), rows)
        extra = np.setdiff1d(np.arange(len(predicted)), columns)
        true = np.concatenate([truth[rows], truth[missed], np.full(len(extra), background)])
        guess = np.concatenate([predicted[columns], np.full(len(missed), background),
                                predicted[extra]])
        np.add.at(self.matrix, (true, guess), 1)
        matches = ImageMatches(image, tuple(zip(true.tolist(), guess.tolist(), strict=True)))
        self.images.append(matches)
        return matches

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
