"""Classification metrics accumulated over validation batches: top-1, top-5, per class, confusion.

``update`` is called once per batch and stays on the batch's device: the confusion matrix and the
per-class top-5 hits grow through ``torch.bincount``, with no Python loop over samples. Results
are computed on demand from those two counters, so reading them costs one copy to the host.

Conventions:
- the confusion matrix has one row per **true** class and one column per **predicted** class;
- the prediction is the highest-ranked class (``topk``'s first), so top-1, top-5 and the matrix
  agree with each other even when scores tie;
- with fewer than 5 classes, top-5 means top-C (so it is 1.0 for any sample);
- before any sample is seen, top-1, top-5 and fitness are 0.0;
- a class with no samples has accuracy ``NaN`` (kept, so every class has a key); the summary
  table prints ``-`` for it and ``to_dict`` gives ``None`` (valid JSON);
- precision-recall curves (one class against the rest) are exact while the scores seen hold
  at most ``EXACT_SCORES`` values (every score is kept on the host); past that they come from
  per-class histograms of the scores, ``SCORE_BINS`` bins on the logit scale (fine near 0 and
  1, where a trained classifier's scores crowd), so memory stays bounded on large sets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

METRIC_KEYS = ("metrics/accuracy_top1", "metrics/accuracy_top5")
SPEED_KEYS = ("preprocess", "inference", "loss", "postprocess")
TOP_K = 5
_NAME_WIDTH = 24
SCORE_BINS = 1000
EXACT_SCORES = 1 << 22  # 16 MB of float32 scores, e.g. 40,000 images of 100 classes
_LOGIT_LIMIT = 13.9  # logit(1 - 1e-6): the bins span every score a float32 softmax gives
RECALL_AXIS = np.linspace(0.0, 1.0, 101)


class ClassifyMetrics:
    """Top-1 / top-5 accuracy, per-class accuracy and the confusion matrix of a classifier."""

    def __init__(self, names: Mapping[int, str]) -> None:
        if not names or sorted(names) != list(range(len(names))):
            raise ValueError(
                f"class names must be keyed 0..C-1 with C >= 1, got keys {sorted(names)[:10]}"
            )
        self.names: dict[int, str] = {index: str(names[index]) for index in range(len(names))}
        self.num_classes = len(self.names)
        #: Milliseconds per image for each phase; the validator sets these.
        self.speed: dict[str, float] = dict.fromkeys(SPEED_KEYS, 0.0)
        self.reset()

    def reset(self) -> None:
        """Forget every sample seen so far (speed figures are kept)."""
        self._cells: torch.Tensor | None = None  # [C*C] int64: true * C + predicted
        self._top5_cells: torch.Tensor | None = None  # [C*2] int64: true * 2 + (hit in top-k)
        self._score_bins: torch.Tensor | None = None  # [C*B] every sample's score per class
        self._positive_bins: torch.Tensor | None = None  # [C*B] the true class's score
        self._scores: list[np.ndarray] | None = []  # every [N, C] batch, None past the limit
        self._labels: list[np.ndarray] = []
        self._seen = 0
        self._host: tuple[np.ndarray, np.ndarray] | None = None

    @torch.no_grad()
    def update(self, probs: torch.Tensor, targets: torch.Tensor) -> None:
        """Add a batch: ``probs`` [N, C] scores (probabilities or logits), ``targets`` [N] ints."""
        scores, labels = self._checked_batch(probs, targets)
        if labels.numel() == 0:
            return
        classes = self.num_classes
        ranked = scores.topk(min(TOP_K, classes), dim=1).indices
        predicted = ranked[:, 0]
        hits = (ranked == labels[:, None]).any(dim=1)
        cells = torch.bincount(labels * classes + predicted, minlength=classes * classes)
        top5_cells = torch.bincount(labels * 2 + hits.long(), minlength=classes * 2)
        if self._cells is None or self._top5_cells is None:
            self._cells, self._top5_cells = cells, top5_cells
        else:
            self._cells += cells.to(self._cells.device)
            self._top5_cells += top5_cells.to(self._top5_cells.device)
        self._add_score_bins(scores, labels)
        self._seen += labels.numel()
        self._host = None

    def _add_score_bins(self, scores: torch.Tensor, labels: torch.Tensor) -> None:
        """Histogram the scores of every class, and of the true class apart (for PR curves)."""
        classes, bins = self.num_classes, SCORE_BINS
        scores = scores.float()
        if bool((scores < 0).any() or (scores > 1).any()):  # logits: curves need probabilities
            scores = scores.softmax(dim=1)
        self._keep_scores(scores, labels)
        logit = torch.logit(scores, eps=1e-6)
        index = ((logit + _LOGIT_LIMIT) * (bins / (2 * _LOGIT_LIMIT))).long().clamp(0, bins - 1)
        offsets = torch.arange(classes, device=index.device) * bins
        every = torch.bincount((index + offsets).reshape(-1), minlength=classes * bins)
        true_bins = index.gather(1, labels[:, None]).reshape(-1)
        positive = torch.bincount(labels * bins + true_bins, minlength=classes * bins)
        if self._score_bins is None or self._positive_bins is None:
            self._score_bins, self._positive_bins = every, positive
        else:
            self._score_bins += every.to(self._score_bins.device)
            self._positive_bins += positive.to(self._positive_bins.device)

    def _keep_scores(self, scores: torch.Tensor, labels: torch.Tensor) -> None:
        """Keep the batch's probabilities for exact curves, until they pass ``EXACT_SCORES``."""
        if self._scores is None:
            return
        if (self._seen + len(labels)) * self.num_classes > EXACT_SCORES:
            self._scores, self._labels = None, []
            return
        self._scores.append(scores.cpu().numpy().astype(np.float32))
        self._labels.append(labels.cpu().numpy())

    def _checked_batch(
        self, probs: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        scores = probs.detach()
        if scores.ndim != 2 or scores.shape[1] != self.num_classes:
            raise ValueError(
                f"probs must be [N, {self.num_classes}] (one score per class), "
                f"got {list(scores.shape)}; does the model have as many classes as the dataset?"
            )
        if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
            raise ValueError(f"targets must be integer class indices, got {targets.dtype}")
        labels = targets.detach().reshape(-1).to(device=scores.device, dtype=torch.long)
        if labels.numel() != scores.shape[0]:
            raise ValueError(
                f"targets must hold one class index per row of probs: "
                f"{labels.numel()} targets for {scores.shape[0]} rows"
            )
        if labels.numel():
            low, high = (int(value) for value in torch.aminmax(labels))
            if low < 0 or high >= self.num_classes:
                bad = low if low < 0 else high
                raise ValueError(
                    f"target class {bad} is outside 0..{self.num_classes - 1} "
                    f"({self.num_classes} classes)"
                )
        return scores, labels

    # -- results -----------------------------------------------------------------------------

    def _counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(confusion [C, C], top-5 hits per true class [C]) on the host, cached until update."""
        if self._host is None:
            classes = self.num_classes
            if self._cells is None or self._top5_cells is None:
                matrix = np.zeros((classes, classes), np.int64)
                top5 = np.zeros(classes, np.int64)
            else:
                matrix = self._cells.view(classes, classes).cpu().numpy().astype(np.int64)
                top5 = self._top5_cells.view(classes, 2)[:, 1].cpu().numpy().astype(np.int64)
            self._host = (matrix, top5)
        return self._host

    @property
    def seen(self) -> int:
        """How many samples have been added since the last reset."""
        return self._seen

    @property
    def confusion_matrix(self) -> np.ndarray:
        """[C, C] int64 counts: row = true class, column = predicted class (a copy)."""
        return self._counts()[0].copy()

    @property
    def top1(self) -> float:
        """Fraction of samples whose highest-ranked class is the true one (0.0 if none seen)."""
        return float(np.trace(self._counts()[0])) / self._seen if self._seen else 0.0

    @property
    def top5(self) -> float:
        """Fraction of samples whose true class is among the 5 (or C) highest-ranked."""
        return float(self._counts()[1].sum()) / self._seen if self._seen else 0.0

    @property
    def fitness(self) -> float:
        """The number training maximises to pick ``best.pt``: (top1 + top5) / 2."""
        return (self.top1 + self.top5) / 2

    @property
    def class_counts(self) -> dict[str, int]:
        """Samples seen per true class, by class name."""
        rows = self._counts()[0].sum(axis=1)
        return {name: int(rows[index]) for index, name in self.names.items()}

    @property
    def per_class_accuracy(self) -> dict[str, float]:
        """Top-1 accuracy per class name; ``NaN`` for a class with no samples."""
        matrix = self._counts()[0]
        return self._per_class(np.diag(matrix), matrix.sum(axis=1))

    def _per_class(self, hits: np.ndarray, totals: np.ndarray) -> dict[str, float]:
        return {
            name: float(hits[index]) / float(totals[index]) if totals[index] else math.nan
            for index, name in self.names.items()
        }

    @property
    def per_class_top5(self) -> dict[str, float]:
        """Top-5 (top-C) accuracy per class name; ``NaN`` for a class with no samples."""
        matrix, top5_hits = self._counts()
        return self._per_class(top5_hits, matrix.sum(axis=1))

    def pr_curves(self) -> tuple[np.ndarray, np.ndarray, list[int], list[float]]:
        """One-vs-rest precision at 101 recall points for each class with samples:
        ``(recall [101], precision [K, 101], classes [K], AP [K])``; AP is the curve's mean."""
        classes, bins = self.num_classes, SCORE_BINS
        if self._score_bins is None or self._positive_bins is None:
            return RECALL_AXIS.copy(), np.zeros((0, len(RECALL_AXIS))), [], []
        if self._scores is not None:
            scores, labels = np.concatenate(self._scores), np.concatenate(self._labels)
        else:
            every = self._score_bins.view(classes, bins).cpu().numpy()[:, ::-1]
            positive = self._positive_bins.view(classes, bins).cpu().numpy()[:, ::-1]
        curves, kept, aps = [], [], []
        for index in range(classes):
            if self._scores is not None:  # each sample is a threshold, best score first
                order = np.argsort(-scores[:, index], kind="stable")
                hits, counts = labels[order] == index, np.ones(len(order))
            else:  # each bin that holds a score is a threshold, best bin first
                used = every[index] > 0
                hits, counts = positive[index][used], every[index][used]
            if not hits.sum():
                continue
            curve = _interpolated_precision(hits.astype(np.float64), counts.astype(np.float64))
            curves.append(curve)
            kept.append(index)
            aps.append(float(curve.mean()))
        precision_rows = np.stack(curves) if curves else np.zeros((0, len(RECALL_AXIS)))
        return RECALL_AXIS.copy(), precision_rows, kept, aps

    @property
    def keys(self) -> list[str]:
        """The results.csv column names of these metrics."""
        return list(METRIC_KEYS)

    @property
    def results_dict(self) -> dict[str, float]:
        """Metrics under their results.csv column names."""
        return dict(zip(METRIC_KEYS, (self.top1, self.top5), strict=True))

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready values (``None`` for a class with no samples; no matrix)."""
        counts = self.class_counts
        accuracy = self.per_class_accuracy
        return {
            "top1": self.top1,
            "top5": self.top5,
            "fitness": self.fitness,
            "seen": self._seen,
            "results": self.results_dict,
            "per_class": {
                name: {
                    "images": counts[name],
                    "top1": None if math.isnan(accuracy[name]) else accuracy[name],
                }
                for name in self.names.values()
            },
            "speed": dict(self.speed),
        }

    def summary_table(self) -> str:
        """A text table: class, images, top-1 and top-5 accuracy, with an 'all' row first."""
        matrix, top5_hits = self._counts()
        totals = matrix.sum(axis=1)
        top1 = self._per_class(np.diag(matrix), totals)
        top5 = self._per_class(top5_hits, totals)
        overall = (self.top1, self.top5) if self._seen else (math.nan, math.nan)
        rows = [("all", self._seen, *overall)]
        rows += [
            (name, int(totals[index]), top1[name], top5[name]) for index, name in self.names.items()
        ]
        width = max(5, *(len(_clip(row[0])) for row in rows))
        lines = [f"{'Class':>{width}}  {'Images':>8}  {'Top1 acc':>8}  {'Top5 acc':>8}"]
        lines += [
            f"{_clip(name):>{width}}  {images:>8d}  {_fraction(acc1):>8}  {_fraction(acc5):>8}"
            for name, images, acc1, acc5 in rows
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"ClassifyMetrics(classes={self.num_classes}, seen={self._seen}, "
            f"top1={self.top1:.4f}, top5={self.top5:.4f})"
        )


def _interpolated_precision(hits: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Precision at ``RECALL_AXIS`` (the best precision at that recall or more) from the
    positives and the samples at each threshold, best threshold first."""
    true_positives = np.cumsum(hits)
    precision = true_positives / np.cumsum(counts)
    recall = true_positives / true_positives[-1]
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    where = np.searchsorted(recall, RECALL_AXIS, side="left")
    return np.where(where < len(envelope), envelope[np.minimum(where, len(envelope) - 1)], 0.0)


def _fraction(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def _clip(name: str) -> str:
    return name if len(name) <= _NAME_WIDTH else name[: _NAME_WIDTH - 3] + "..."
