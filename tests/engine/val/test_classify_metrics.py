"""ClassifyMetrics against scikit-learn's reference implementations on random scores."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix, top_k_accuracy_score

from engine.val import ClassifyMetrics


def _names(classes: int) -> dict[int, str]:
    return {index: f"class{index}" for index in range(classes)}


def _random_batch(seed: int, samples: int, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Softmax-normalised, tie-free scores and integer targets."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(samples, classes))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return probs, rng.integers(0, classes, samples)


def _sklearn_top_k(targets: np.ndarray, probs: np.ndarray, k: int) -> float:
    classes = probs.shape[1]
    if k >= classes:
        return 1.0  # sklearn says the same, with a warning
    if classes == 2:  # sklearn's binary form takes the positive-class score
        return top_k_accuracy_score(targets, probs[:, 1], k=k, labels=[0, 1])
    return top_k_accuracy_score(targets, probs, k=k, labels=list(range(classes)))


@pytest.mark.parametrize("classes", [2, 3, 10, 37])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_sklearn_over_several_batches(classes, seed):
    probs, targets = _random_batch(seed, 203, classes)
    metrics = ClassifyMetrics(_names(classes))
    for start in range(0, len(targets), 64):  # uneven batches, last one short
        metrics.update(
            torch.from_numpy(probs[start : start + 64]),
            torch.from_numpy(targets[start : start + 64]),
        )

    assert metrics.seen == 203
    assert metrics.top1 == pytest.approx(_sklearn_top_k(targets, probs, 1))
    assert metrics.top5 == pytest.approx(_sklearn_top_k(targets, probs, 5))
    expected = confusion_matrix(targets, probs.argmax(1), labels=list(range(classes)))
    np.testing.assert_array_equal(metrics.confusion_matrix, expected)
    assert metrics.confusion_matrix.dtype == np.int64
    assert metrics.fitness == pytest.approx((metrics.top1 + metrics.top5) / 2)
    for index, accuracy in enumerate(metrics.per_class_accuracy.values()):
        row = expected[index]
        assert (
            accuracy == pytest.approx(row[index] / row.sum()) if row.sum() else math.isnan(accuracy)
        )


def test_only_ranking_matters_logits_and_probabilities_agree():
    rng = np.random.default_rng(5)
    logits = torch.from_numpy(rng.normal(size=(100, 12)).astype(np.float32))
    targets = torch.from_numpy(rng.integers(0, 12, 100))
    from_logits, from_probs = ClassifyMetrics(_names(12)), ClassifyMetrics(_names(12))
    from_logits.update(logits, targets)
    from_probs.update(logits.softmax(1), targets)
    assert from_logits.results_dict == from_probs.results_dict
    np.testing.assert_array_equal(from_logits.confusion_matrix, from_probs.confusion_matrix)
    assert 0 < from_logits.top1 < from_logits.top5 < 1


def test_small_hand_made_case_rows_are_true_columns_are_predicted():
    metrics = ClassifyMetrics({0: "cat", 1: "dog", 2: "fox"})
    probs = torch.tensor([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.2, 0.5, 0.3]])
    metrics.update(probs, torch.tensor([0, 1, 2, 1]))
    np.testing.assert_array_equal(metrics.confusion_matrix, [[1, 0, 0], [1, 1, 0], [0, 0, 1]])
    assert metrics.top1 == 0.75
    assert metrics.top5 == 1.0  # 3 classes: top-5 means top-3
    assert metrics.per_class_accuracy == {"cat": 1.0, "dog": 0.5, "fox": 1.0}
    assert metrics.class_counts == {"cat": 1, "dog": 2, "fox": 1}
    assert metrics.keys == ["metrics/accuracy_top1", "metrics/accuracy_top5"]
    assert metrics.results_dict == {"metrics/accuracy_top1": 0.75, "metrics/accuracy_top5": 1.0}
    assert metrics.fitness == 0.875


def test_top5_counts_a_hit_in_fifth_place_but_not_in_sixth():
    scores = torch.tensor([[6.0, 5, 4, 3, 2, 1, 0], [6.0, 5, 4, 3, 2, 1, 0]])
    metrics = ClassifyMetrics(_names(7))
    metrics.update(scores, torch.tensor([4, 5]))
    assert metrics.top1 == 0.0
    assert metrics.top5 == 0.5


def test_class_without_samples_is_nan_and_shown_as_dash():
    metrics = ClassifyMetrics({0: "cat", 1: "dog", 2: "fox"})
    metrics.update(torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.9, 0.0]]), torch.tensor([0, 0]))
    accuracy = metrics.per_class_accuracy
    assert accuracy["cat"] == 0.5 and math.isnan(accuracy["dog"]) and math.isnan(accuracy["fox"])
    lines = metrics.summary_table().splitlines()
    assert lines[0].split() == ["Class", "Images", "Top1", "acc", "Top5", "acc"]
    assert lines[1].split() == ["all", "2", "0.500", "1.000"]
    assert lines[2].split() == ["cat", "2", "0.500", "1.000"]
    assert lines[3].split() == ["dog", "0", "-", "-"]
    assert len(lines) == 5


def test_nothing_seen_gives_zeros_and_a_table():
    metrics = ClassifyMetrics(_names(4))
    assert (metrics.seen, metrics.top1, metrics.top5, metrics.fitness) == (0, 0.0, 0.0, 0.0)
    np.testing.assert_array_equal(metrics.confusion_matrix, np.zeros((4, 4)))
    assert all(math.isnan(value) for value in metrics.per_class_accuracy.values())
    assert metrics.summary_table().splitlines()[1].split() == ["all", "0", "-", "-"]
    metrics.update(torch.zeros(0, 4), torch.zeros(0, dtype=torch.long))  # an empty batch is fine
    assert metrics.seen == 0


def test_reset_forgets_samples_but_keeps_speed():
    metrics = ClassifyMetrics(_names(3))
    metrics.speed["inference"] = 1.5
    metrics.update(torch.eye(3), torch.tensor([0, 1, 2]))
    assert metrics.top1 == 1.0
    metrics.reset()
    assert metrics.seen == 0 and metrics.top1 == 0.0
    metrics.update(torch.eye(3), torch.tensor([1, 2, 0]))
    assert metrics.top1 == 0.0 and metrics.seen == 3
    assert metrics.speed == {"preprocess": 0.0, "inference": 1.5, "loss": 0.0, "postprocess": 0.0}


def test_results_read_between_updates_are_not_stale():
    metrics = ClassifyMetrics(_names(2))
    metrics.update(torch.tensor([[1.0, 0.0]]), torch.tensor([0]))
    assert metrics.top1 == 1.0
    metrics.update(torch.tensor([[1.0, 0.0]]), torch.tensor([1]))
    assert metrics.top1 == 0.5
    returned = metrics.confusion_matrix
    returned[0, 0] = 99  # a copy: the caller cannot corrupt the counts
    assert metrics.confusion_matrix[0, 0] == 1


def test_to_dict_is_strict_json():
    metrics = ClassifyMetrics({0: "cat", 1: "dog"})
    metrics.speed.update(preprocess=0.1, inference=2.0)
    metrics.update(torch.tensor([[0.3, 0.7]]), torch.tensor([1]))
    data = json.loads(json.dumps(metrics.to_dict(), allow_nan=False))
    assert data["top1"] == 1.0 and data["seen"] == 1 and data["fitness"] == 1.0
    assert data["per_class"] == {
        "cat": {"images": 0, "top1": None},
        "dog": {"images": 1, "top1": 1.0},
    }
    assert data["results"] == {"metrics/accuracy_top1": 1.0, "metrics/accuracy_top5": 1.0}
    assert data["speed"]["inference"] == 2.0


def test_half_precision_scores_and_column_targets_are_accepted():
    metrics = ClassifyMetrics(_names(3))
    metrics.update(
        torch.eye(3, dtype=torch.float16), torch.tensor([[0], [1], [1]], dtype=torch.int32)
    )
    assert metrics.top1 == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("probs", "targets", "message"),
    [
        (torch.zeros(2, 4), torch.tensor([0, 1]), r"probs must be \[N, 3\]"),
        (torch.zeros(2, 3), torch.tensor([0, 3]), "target class 3 is outside 0..2"),
        (torch.zeros(2, 3), torch.tensor([-1, 0]), "target class -1 is outside 0..2"),
        (torch.zeros(2, 3), torch.tensor([0.0, 1.0]), "integer class indices"),
        (torch.zeros(2, 3), torch.tensor([0, 1, 2]), "3 targets for 2 rows"),
    ],
)
def test_bad_batches_are_refused_and_leave_counts_alone(probs, targets, message):
    metrics = ClassifyMetrics(_names(3))
    metrics.update(torch.eye(3), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=message):
        metrics.update(probs, targets)
    assert metrics.seen == 3 and metrics.top1 == 1.0


def test_names_must_be_keyed_from_zero():
    with pytest.raises(ValueError, match="keyed 0..C-1"):
        ClassifyMetrics({1: "a", 2: "b"})
    with pytest.raises(ValueError, match="keyed 0..C-1"):
        ClassifyMetrics({})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_counts_stay_on_the_batch_device_and_match_cpu():
    probs, targets = _random_batch(3, 500, 20)
    on_gpu, on_cpu = ClassifyMetrics(_names(20)), ClassifyMetrics(_names(20))
    on_gpu.update(torch.from_numpy(probs).cuda(), torch.from_numpy(targets).cuda())
    on_cpu.update(torch.from_numpy(probs), torch.from_numpy(targets))
    assert on_gpu._cells is not None and on_gpu._cells.is_cuda
    assert on_gpu.results_dict == on_cpu.results_dict
    np.testing.assert_array_equal(on_gpu.confusion_matrix, on_cpu.confusion_matrix)
