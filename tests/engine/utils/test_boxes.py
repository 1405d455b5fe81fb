"""Box geometry: conversions, IoU variants against hand-computed values, letterbox mapping."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.utils.boxes import (
    LetterboxInfo,
    aligned_iou,
    box_area,
    box_iou,
    clip_boxes,
    letterbox_info,
    scale_boxes,
    scale_points,
    xywh_to_xyxy,
    xyxy_to_xywh,
)

coordinate = st.floats(0, 500, allow_nan=False, width=32)
size = st.floats(0.5, 300, allow_nan=False, width=32)


@st.composite
def xyxy_boxes(draw, count: int = 1) -> torch.Tensor:
    values = [(draw(coordinate), draw(coordinate), draw(size), draw(size)) for _ in range(count)]
    boxes = torch.tensor(values, dtype=torch.float64)
    return torch.cat((boxes[:, :2], boxes[:, :2] + boxes[:, 2:]), 1)


def test_conversions_by_hand_and_any_leading_dims():
    xywh = torch.tensor([[[10.0, 20.0, 4.0, 6.0]]])
    xyxy = xywh_to_xyxy(xywh)
    assert xyxy.tolist() == [[[8.0, 17.0, 12.0, 23.0]]]
    assert torch.equal(xyxy_to_xywh(xyxy), xywh)
    assert box_area(xyxy).tolist() == [[24.0]]


def test_box_iou_by_hand():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor([[1.0, 1.0, 3.0, 3.0], [5.0, 5.0, 6.0, 6.0], [0.0, 0.0, 2.0, 2.0]])
    assert box_iou(a, b, eps=0).tolist() == [[pytest.approx(1 / 7), 0.0, 1.0]]
    assert box_iou(a, b).shape == (1, 3)


def test_aligned_iou_variants_by_hand():
    a = torch.tensor([0.0, 0.0, 2.0, 2.0], dtype=torch.float64)
    b = torch.tensor([1.0, 1.0, 3.0, 3.0], dtype=torch.float64)
    iou = 1 / 7
    assert aligned_iou(a, b, "iou", eps=0).item() == pytest.approx(iou)
    # enclosing box 3x3 = 9, union 7
    assert aligned_iou(a, b, "giou", eps=0).item() == pytest.approx(iou - 2 / 9)
    # centre distance^2 = 2, enclosing diagonal^2 = 18; same aspect ratio -> v = 0
    assert aligned_iou(a, b, "diou", eps=0).item() == pytest.approx(iou - 2 / 18)
    assert aligned_iou(a, b, "ciou", eps=0).item() == pytest.approx(iou - 2 / 18)
    wide = torch.tensor([0.0, 0.0, 4.0, 2.0], dtype=torch.float64)  # iou 0.5, same centre x
    v = 4 / math.pi**2 * (math.atan(2) - math.atan(1)) ** 2
    alpha = v / (v - 0.5 + 1)
    rho2 = (1.0**2 + 0.0**2) / 1  # centres (1, 1) and (2, 1)
    expected = 0.5 - (rho2 / (16 + 4) + v * alpha)
    assert aligned_iou(a, wide, "ciou", eps=0).item() == pytest.approx(expected)
    with pytest.raises(ValueError, match="kind"):
        aligned_iou(a, b, "siou")  # type: ignore[arg-type]


def test_ciou_alpha_carries_no_gradient():
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]], requires_grad=True)
    b = torch.tensor([[0.5, 0.0, 4.0, 2.5]])
    aligned_iou(a, b, "ciou").sum().backward()
    assert a.grad is not None and torch.isfinite(a.grad).all()


@settings(max_examples=60, deadline=None)
@given(xyxy_boxes(3), xyxy_boxes(4))
def test_iou_symmetric_bounded_and_ciou_below_iou(a, b):
    forward, backward = box_iou(a, b), box_iou(b, a)
    assert torch.allclose(forward, backward.T)
    assert forward.min() >= 0 and forward.max() <= 1 + 1e-6
    pairs_a, pairs_b = a[:3], b[:3]
    plain = aligned_iou(pairs_a, pairs_b)
    assert torch.allclose(plain, torch.diagonal(box_iou(pairs_a, pairs_b)), atol=1e-6)
    for kind in ("giou", "diou", "ciou"):
        assert (aligned_iou(pairs_a, pairs_b, kind) <= plain + 1e-9).all()
    assert torch.allclose(aligned_iou(pairs_a, pairs_a, "ciou"), torch.ones(3, dtype=a.dtype))


@settings(max_examples=60, deadline=None)
@given(xyxy_boxes(5))
def test_format_round_trip(boxes):
    assert torch.allclose(xywh_to_xyxy(xyxy_to_xywh(boxes)), boxes, atol=1e-9)


def test_clip_boxes_keeps_extra_columns_and_input():
    boxes = torch.tensor([[-5.0, 3.0, 120.0, 90.0, 0.5, 2.0]])
    clipped = clip_boxes(boxes, (80, 100))
    assert clipped.tolist() == [[0.0, 3.0, 100.0, 80.0, 0.5, 2.0]]
    assert boxes[0, 0] == -5.0


@pytest.mark.parametrize(
    ("input_shape", "original_shape", "gain", "pad"),
    [
        ((640, 640), (480, 640), 1.0, (0.0, 80.0)),
        ((640, 640), (1080, 810), 640 / 1080, (80.0, 0.0)),
        ((384, 640), (720, 1280), 0.5, (0.0, 12.0)),
        ((640, 640), (333, 500), 1.28, (0.0, 107.0)),  # (640 - 426) / 2 = 107
        ((640, 640), (101, 640), 1.0, (0.0, 269.0)),  # 269.5 - 0.1 rounds to 269
    ],
)
def test_letterbox_geometry(input_shape, original_shape, gain, pad):
    info = LetterboxInfo.from_shapes(input_shape, original_shape)
    assert info.gain == pytest.approx(gain)
    assert info.pad == pad


def test_scale_boxes_reference_example_and_ratio_pad():
    boxes = torch.tensor([[100.0, 180.0, 300.0, 380.0]])
    scaled = scale_boxes(boxes, (640, 640), (480, 640))
    assert scaled.tolist() == [[100.0, 100.0, 300.0, 300.0]]
    explicit = scale_boxes(boxes, (640, 640), (480, 640), ratio_pad=((1.0, 1.0), (0.0, 80.0)))
    assert torch.equal(explicit, scaled)
    unpadded = scale_boxes(boxes, (640, 640), (480, 640), padding=False)
    assert unpadded.tolist() == [[100.0, 180.0, 300.0, 380.0]]
    assert scale_boxes(
        torch.tensor([[0.0, 0.0, 640.0, 640.0]]), (640, 640), (480, 640)
    ).tolist() == [[0.0, 0.0, 640.0, 480.0]]


@settings(max_examples=60, deadline=None)
@given(
    st.integers(20, 2000),
    st.integers(20, 2000),
    st.sampled_from([(640, 640), (320, 480), (384, 640)]),
    st.data(),
)
def test_letterbox_round_trip(height, width, input_shape, data):
    info = letterbox_info(input_shape, (height, width))
    xs = data.draw(st.lists(st.floats(0, width), min_size=2, max_size=2))
    ys = data.draw(st.lists(st.floats(0, height), min_size=2, max_size=2))
    box = torch.tensor([[min(xs), min(ys), max(xs), max(ys)]], dtype=torch.float64)
    there = info.boxes_to_input(box)
    assert (there[:, :2] >= -1e-6).all()
    assert there[0, 2] <= input_shape[1] + 1e-6 and there[0, 3] <= input_shape[0] + 1e-6
    back = scale_boxes(there, input_shape, (height, width))
    assert torch.allclose(back, box, atol=1e-6)
    points = torch.tensor([[xs[0], ys[0], 0.7], [xs[1], ys[1], 0.2]], dtype=torch.float64)
    returned = scale_points(info.points_to_input(points), input_shape, (height, width))
    assert torch.allclose(returned, points, atol=1e-6)


def test_scale_points_clips_xy_and_keeps_visibility():
    keypoints = torch.tensor([[[-10.0, 700.0, 0.5]]])
    scaled = scale_points(keypoints, (640, 640), (480, 640))
    assert scaled.tolist() == [[[0.0, 480.0, 0.5]]]
