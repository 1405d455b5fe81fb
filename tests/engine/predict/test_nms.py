"""NMS equals plain greedy NMS (torchvision's arithmetic) exactly, and the batched wrapper keeps
the reference's semantics: best class per box, class-aware offsets, filters and caps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.predict import nms as nms_module
from engine.predict.nms import nms, non_max_suppression


def greedy_nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> list[int]:
    """Textbook greedy NMS: float32 IoU as torchvision computes it, compared with a double."""
    b = boxes.to(torch.float32).numpy()
    areas = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    order = sorted(range(len(b)), key=lambda i: (-float(scores[i]), i))
    kept: list[int] = []
    for i in order:
        if kept:
            k = np.array(kept)
            width = np.maximum(np.minimum(b[i, 2], b[k, 2]) - np.maximum(b[i, 0], b[k, 0]), 0)
            height = np.maximum(np.minimum(b[i, 3], b[k, 3]) - np.maximum(b[i, 1], b[k, 1]), 0)
            inter = width * height
            with np.errstate(invalid="ignore", divide="ignore"):
                iou = inter / (areas[i] + areas[k] - inter)
            if (iou.astype(np.float64) > threshold).any():
                continue
        kept.append(i)
    return kept


def random_boxes(count: int, seed: int, clusters: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    centres = torch.rand(count, 2, generator=generator) * 600
    sizes = torch.rand(count, 2, generator=generator) * 120 + 4
    if clusters:
        anchor = torch.randint(0, clusters, (count,), generator=generator)
        centres = centres[anchor] + torch.randn(count, 2, generator=generator) * 6
        sizes = sizes[anchor] * (1 + 0.05 * torch.randn(count, 2, generator=generator))
    boxes = torch.cat((centres - sizes / 2, centres + sizes / 2), 1)
    return boxes, torch.rand(count, generator=generator)


@pytest.mark.parametrize(
    ("count", "clusters", "threshold"),
    [(1, 0, 0.7), (40, 0, 0.3), (300, 25, 0.7), (700, 40, 0.5), (2600, 60, 0.7), (2600, 0, 0.45)],
)
def test_equals_greedy_reference(count, clusters, threshold):
    boxes, scores = random_boxes(count, seed=count, clusters=clusters)
    expected = greedy_nms(boxes, scores, threshold)
    assert nms(boxes, scores, threshold).tolist() == expected
    assert nms(boxes, scores, threshold, max_keep=7).tolist() == expected[:7]


@contextmanager
def small_blocks(block: int, head: int) -> Iterator[None]:
    """Shrink the block and head sizes to cross every boundary with few boxes."""
    original = nms_module.BLOCK_SIZE, nms_module.HEAD_SIZE
    nms_module.BLOCK_SIZE, nms_module.HEAD_SIZE = block, head
    try:
        yield
    finally:
        nms_module.BLOCK_SIZE, nms_module.HEAD_SIZE = original


boxes_strategy = st.lists(
    st.tuples(
        st.integers(0, 40), st.integers(0, 40), st.integers(0, 25), st.integers(0, 25)
    ),  # small integers: many exact ties of IoU with the threshold, zero-area boxes
    min_size=0,
    max_size=60,
)


@settings(max_examples=120, deadline=None)
@given(
    boxes_strategy,
    st.data(),
    st.sampled_from([0.0, 0.25, 0.5, 0.6, 0.7, 1.0]),
    st.sampled_from([(512, 1024), (4, 6)]),
)
def test_equals_greedy_reference_with_ties(values, data, threshold, sizes):
    scores = data.draw(
        st.lists(st.sampled_from([0.1, 0.5, 0.9]), min_size=len(values), max_size=len(values))
    )
    xywh = torch.tensor(values, dtype=torch.float32).reshape(-1, 4)
    boxes = torch.cat((xywh[:, :2], xywh[:, :2] + xywh[:, 2:]), 1)
    score_tensor = torch.tensor(scores, dtype=torch.float32)
    expected = greedy_nms(boxes, score_tensor, threshold)
    with small_blocks(*sizes):
        result = nms(boxes, score_tensor, threshold)
    assert result.dtype == torch.long
    assert result.tolist() == expected


def test_long_suppression_chain_uses_the_sequential_walk():
    # each box overlaps its neighbours with IoU 0.6 and the next-but-one with IoU 1/3:
    # greedy keeps every other box; the fixed point would need one round per box
    count = 80
    starts = torch.arange(count, dtype=torch.float32) * 2.5
    boxes = torch.stack((starts, torch.zeros(count), starts + 10, torch.full((count,), 10.0)), 1)
    scores = torch.linspace(1, 0.1, count)
    result = nms(boxes, scores, 0.5).tolist()
    assert result == greedy_nms(boxes, scores, 0.5) == list(range(0, count, 2))


@pytest.mark.parametrize(("width", "threshold", "kept"), [(6.0, 0.6, [0]), (7.0, 0.7, [0, 1])])
def test_iou_equal_to_threshold_compares_like_torchvision(width, threshold, kept):
    # IoU width/10 in float32 lands above 0.6 but below 0.7 (as doubles): suppressed, kept
    boxes = torch.tensor([[0.0, 0.0, 10.0, 1.0], [0.0, 0.0, width, 1.0]])
    scores = torch.tensor([0.9, 0.8])
    assert nms(boxes, scores, threshold).tolist() == kept == greedy_nms(boxes, scores, threshold)


def test_empty_and_float64_inputs():
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).tolist() == []
    boxes, scores = random_boxes(50, seed=3, clusters=5)
    assert nms(boxes.double(), scores.double(), 0.6).tolist() == greedy_nms(boxes, scores, 0.6)
    assert nms(boxes, scores, 0.6, max_keep=0).tolist() == []


NUM_CLASSES, EXTRA = 3, 2


def head_output(rows: list[tuple[float, ...]]) -> torch.Tensor:
    """``[1, 4 + 3 + 2, A]`` from rows of (cx, cy, w, h, s0, s1, s2, e0, e1)."""
    return torch.tensor(rows, dtype=torch.float32).T.unsqueeze(0)


def reference_rows(output, conf, iou, classes=None, agnostic=False, max_det=300):
    """The reference pipeline written plainly for one image."""
    x = output[0].T
    best, label = x[:, 4 : 4 + NUM_CLASSES].max(1)
    boxes = torch.cat((x[:, :2] - x[:, 2:4] / 2, x[:, :2] + x[:, 2:4] / 2), 1)
    rows = torch.cat((boxes, best[:, None], label[:, None].float(), x[:, 4 + NUM_CLASSES :]), 1)
    rows = rows[best > conf]
    if classes is not None:
        rows = rows[torch.isin(rows[:, 5], torch.tensor(classes, dtype=torch.float32))]
    offsets = rows[:, 5:6] * (0 if agnostic else 7680)
    keep = greedy_nms(rows[:, :4] + offsets, rows[:, 4], iou)[:max_det]
    return rows[keep]


def random_output(count: int, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    boxes, _ = random_boxes(count, seed, clusters=max(1, count // 12))
    xywh = torch.cat(((boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]), 1)
    scores = torch.rand(count, NUM_CLASSES, generator=generator)
    extra = torch.randn(count, EXTRA, generator=generator)
    return torch.cat((xywh, scores, extra), 1).T.unsqueeze(0)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"agnostic": True},
        {"classes": [0, 2]},
        {"max_det": 5},
        {"conf": 0.6, "iou": 0.45},
    ],
)
def test_matches_reference_pipeline(options):
    output = random_output(400, seed=11)
    conf, iou = options.pop("conf", 0.25), options.pop("iou", 0.7)
    (result,) = non_max_suppression(output, conf, iou, num_classes=NUM_CLASSES, **options)
    expected = reference_rows(output, conf, iou, **options)
    assert result.shape[1] == 6 + EXTRA
    assert torch.equal(result, expected)
    assert (result[:-1, 4] >= result[1:, 4]).all()


def test_class_aware_by_default_and_agnostic_on_request():
    same_box = [
        (50.0, 50.0, 20.0, 20.0, 0.9, 0.0, 0.0, 1.0, 2.0),
        (50.0, 50.0, 20.0, 20.0, 0.0, 0.8, 0.0, 3.0, 4.0),
    ]
    output = head_output(same_box)
    aware = non_max_suppression(output, num_classes=NUM_CLASSES)[0]
    assert aware[:, 5].tolist() == [0.0, 1.0]
    assert aware[:, 6:].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert aware[0, :4].tolist() == [40.0, 40.0, 60.0, 60.0]
    agnostic = non_max_suppression(output, num_classes=NUM_CLASSES, agnostic=True)[0]
    assert agnostic[:, 4].tolist() == [pytest.approx(0.9)]


def test_batch_filters_and_empty_results():
    below = head_output([(50.0, 50.0, 20.0, 20.0, 0.2, 0.25, 0.1, 0.0, 0.0)])
    above = head_output([(50.0, 50.0, 20.0, 20.0, 0.2, 0.3, 0.1, 0.0, 0.0)])
    results = non_max_suppression(torch.cat((below, above)), num_classes=NUM_CLASSES)
    assert [r.shape for r in results] == [(0, 6 + EXTRA), (1, 6 + EXTRA)]
    assert non_max_suppression(above, num_classes=NUM_CLASSES, classes=[2])[0].shape == (0, 8)
    empty = non_max_suppression(torch.zeros(2, 4 + NUM_CLASSES + EXTRA, 0), num_classes=3)
    assert [r.shape for r in empty] == [(0, 8), (0, 8)]


def test_tied_class_scores_pick_the_lower_class():
    output = head_output([(50.0, 50.0, 20.0, 20.0, 0.2, 0.7, 0.7, 0.0, 0.0)])
    assert non_max_suppression(output, num_classes=NUM_CLASSES)[0][0, 5] == 1


def test_every_column_is_a_class_without_num_classes():
    output = head_output([(50.0, 50.0, 20.0, 20.0, 0.1, 0.2, 0.1, 0.1, 0.9)])
    (result,) = non_max_suppression(output)
    assert result.shape == (1, 6) and result[0, 5] == 4


def test_max_nms_keeps_the_best_scored_candidates():
    rows = [(10.0 + 30 * i, 50.0, 20.0, 20.0, 0.3 + 0.1 * i, 0.0, 0.0, 0.0, 0.0) for i in range(5)]
    (result,) = non_max_suppression(head_output(rows), num_classes=NUM_CLASSES, max_nms=2)
    assert result[:, 4].tolist() == pytest.approx([0.7, 0.6])


def test_rejects_thresholds_outside_unit_interval():
    with pytest.raises(ValueError, match="conf"):
        non_max_suppression(torch.zeros(1, 5, 1), conf=1.5)


def test_multi_label_keeps_every_class_above_the_threshold():
    # one anchor scoring 0.6 for class 0 and 0.4 for class 1, and a weaker duplicate of it
    prediction = torch.tensor(
        [[[50.0, 50.0], [50.0, 50.0], [20.0, 20.0], [20.0, 20.0], [0.6, 0.5], [0.4, 0.1]]]
    )
    single = non_max_suppression(prediction, conf=0.3, iou=0.5, num_classes=2)[0]
    multi = non_max_suppression(prediction, conf=0.3, iou=0.5, num_classes=2,
                                multi_label=True)[0]
    assert single[:, 5].tolist() == [0.0]
    assert multi[:, 4:6].flatten().tolist() == pytest.approx([0.6, 0.0, 0.4, 1.0])
    agnostic = non_max_suppression(prediction, conf=0.3, iou=0.5, num_classes=2,
                                   multi_label=True, agnostic=True)[0]
    assert agnostic[:, 5].tolist() == [0.0]  # agnostic: the same box once, best class
