"""The task-aligned assigner and the detection / segmentation losses."""

from __future__ import annotations

import math

import pytest
import torch

from engine.nn import build_model
from engine.train.assigner import TaskAlignedAssigner
from engine.train.detect_loss import SegmentationLoss, _distribution_focal_loss


def grid_points(size=8, stride=8):
    coords = (torch.arange(size) + 0.5) * stride
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")
    return torch.stack((xs, ys), -1).view(-1, 2)


def test_assigner_takes_the_top_anchors_inside_each_object_only():
    points = grid_points()  # 64 anchors on a 64x64 image
    anchors = len(points)
    gt_boxes = torch.tensor([[[0.0, 0.0, 32.0, 32.0], [0.0, 0.0, 0.0, 0.0]]])
    gt_labels = torch.tensor([[[1.0], [0.0]]])
    valid = torch.tensor([[[1.0], [0.0]]])  # the second object is padding
    pred_boxes = gt_boxes[:, :1].expand(1, anchors, 4).clone()  # every prediction is perfect
    pred_scores = torch.full((1, anchors, 3), 0.5)
    result = TaskAlignedAssigner(3, top_k=10)(
        pred_scores, pred_boxes, points, gt_labels, gt_boxes, valid
    )
    inside = (points[:, 0] < 32) & (points[:, 1] < 32)
    assert result.foreground[0].sum() == 10
    assert not (result.foreground[0] & ~inside).any()
    assert (result.object_index[0][result.foreground[0]] == 0).all()
    assert torch.equal(result.boxes[0][result.foreground[0]][0], gt_boxes[0, 0])
    scores = result.scores[0][result.foreground[0]]
    assert (scores[:, 1] > 0).all() and (scores[:, [0, 2]] == 0).all()
    assert scores[:, 1].max() == pytest.approx(1.0)  # normalised by the best overlap (1.0)


def test_an_anchor_claimed_by_two_objects_keeps_the_one_it_overlaps_most():
    points = grid_points()
    gt_boxes = torch.tensor([[[0.0, 0.0, 64.0, 64.0], [16.0, 16.0, 48.0, 48.0]]])
    pred_boxes = gt_boxes[:, 1:].expand(1, len(points), 4).clone()  # all match the small one
    result = TaskAlignedAssigner(2, top_k=64)(
        torch.full((1, len(points), 2), 0.5),
        pred_boxes,
        points,
        torch.tensor([[[0.0], [1.0]]]),
        gt_boxes,
        torch.ones(1, 2, 1),
    )
    centre = ((points - 32).abs() < 16).all(1)
    assert (result.object_index[0][centre] == 1).all()
    assert (result.object_index[0][~centre] == 0).all()


def test_an_object_smaller_than_a_cell_still_gets_the_anchors_around_it():
    points = grid_points()  # anchor centres at 4, 12, 20, ... px
    gt_boxes = torch.tensor([[[13.0, 13.0, 19.0, 19.0]]])  # 6 px: no anchor centre inside it
    pred_boxes = gt_boxes.expand(1, len(points), 4).clone()
    result = TaskAlignedAssigner(1, top_k=10)(
        torch.full((1, len(points), 1), 0.5),
        pred_boxes,
        points,
        torch.zeros(1, 1, 1),
        gt_boxes,
        torch.ones(1, 1, 1),
    )
    chosen = points[result.foreground[0]]
    # sides floored at the middle stride (16 px): the box's four neighbouring anchors
    assert sorted(map(tuple, chosen.tolist())) == [(12, 12), (12, 20), (20, 12), (20, 20)]
    assert (result.boxes[0][result.foreground[0]] == gt_boxes[0, 0]).all()  # target unchanged
    wide = TaskAlignedAssigner(1, top_k=10, strides=(8.0,))(
        torch.full((1, len(points), 1), 0.5), pred_boxes, points, torch.zeros(1, 1, 1),
        gt_boxes, torch.ones(1, 1, 1),
    )
    assert not wide.foreground.any()  # an 8 px floor still misses every centre


def test_no_objects_gives_no_foreground():
    result = TaskAlignedAssigner(2)(
        torch.rand(2, 64, 2),
        torch.rand(2, 64, 4),
        grid_points(),
        torch.zeros(2, 0, 1),
        torch.zeros(2, 0, 4),
        torch.zeros(2, 0, 1),
    )
    assert not result.foreground.any() and result.scores.sum() == 0


def test_distribution_focal_loss_is_lowest_at_the_target_bins():
    target = torch.tensor([[2.25, 0.0, 5.5, 14.0]])
    logits = torch.full((4, 16), -10.0)
    for row, value in enumerate(target[0].tolist()):
        low = int(value)
        logits[row, low] = math.log(low + 1 - value + 1e-6)
        logits[row, min(low + 1, 15)] = math.log(value - low + 1e-6)
    best = _distribution_focal_loss(logits, target)
    worse = _distribution_focal_loss(torch.zeros(4, 16), target)
    assert best.item() < worse.item()


@pytest.fixture(scope="module")
def segment_model():
    torch.manual_seed(0)
    return build_model("yolov8n-seg.yaml", num_classes=4).train()


def segment_batch():
    masks = torch.zeros(2, 40, 40)
    masks[0, 8:16, 8:16] = 1
    masks[0, 20:32, 22:34] = 2
    masks[1, 10:30, 10:30] = 1
    return {
        "batch_idx": torch.tensor([0.0, 0.0, 1.0]),
        "cls": torch.tensor([[0.0], [2.0], [3.0]]),
        "bboxes": torch.tensor([[0.3, 0.3, 0.2, 0.2], [0.7, 0.65, 0.3, 0.3], [0.5, 0.5, 0.5, 0.5]]),
        "masks": masks,
    }


def test_segmentation_loss_has_four_finite_terms_and_trains(segment_model):
    images = torch.rand(2, 3, 160, 160)
    loss = SegmentationLoss(segment_model.head)
    total, items = loss(segment_model(images), segment_batch())
    assert items.shape == (4,) and torch.isfinite(items).all() and (items > 0).all()
    assert total.item() == pytest.approx(items.sum().item() * 2, rel=1e-5)
    total.backward()
    head_grad = segment_model.head.proto.cv1.conv.weight.grad
    assert head_grad is not None and head_grad.abs().sum() > 0
    segment_model.zero_grad()


def test_an_image_without_objects_only_costs_classification(segment_model):
    empty = {
        "batch_idx": torch.zeros(0),
        "cls": torch.zeros(0, 1),
        "bboxes": torch.zeros(0, 4),
        "masks": torch.zeros(2, 40, 40),
    }
    total, items = SegmentationLoss(segment_model.head)(
        segment_model(torch.rand(2, 3, 160, 160)), empty
    )
    box, seg, cls, dfl = items.tolist()
    assert box == seg == dfl == 0 and cls > 0
    total.backward()  # the graph stays connected
    segment_model.zero_grad()


def test_a_few_steps_on_one_batch_lower_the_loss(segment_model):
    torch.manual_seed(0)
    model = build_model("yolov8n-seg.yaml", num_classes=4).train()
    loss = SegmentationLoss(model.head)
    images, batch = torch.rand(2, 3, 160, 160), segment_batch()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    history = []
    for _ in range(8):
        total, _ = loss(model(images), batch)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(total.item())
    assert history[-1] < history[0] * 0.8


def pose_batch():
    keypoints = torch.rand(3, 5, 3)
    keypoints[..., :2] = keypoints[..., :2] * 0.3 + 0.35
    keypoints[..., 2] = 2.0
    keypoints[1, 2, 2] = 0.0  # one keypoint not labelled
    return {
        "batch_idx": torch.tensor([0.0, 0.0, 1.0]),
        "cls": torch.zeros(3, 1),
        "bboxes": torch.tensor([[0.5, 0.5, 0.4, 0.4], [0.3, 0.3, 0.2, 0.3], [0.5, 0.5, 0.5, 0.5]]),
        "keypoints": keypoints,
    }


def test_pose_loss_has_five_terms_and_trains():
    from engine.train.pose_loss import PoseLoss, keypoint_loss_sigmas

    torch.manual_seed(0)
    model = build_model("yolov8n-pose.yaml", num_classes=1, keypoint_shape=(5, 3)).train()
    loss = PoseLoss(model.head)
    images, batch = torch.rand(2, 3, 160, 160), pose_batch()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    history = []
    for _ in range(6):
        total, items = loss(model(images), batch)
        assert items.shape == (5,) and torch.isfinite(items).all() and (items > 0).all()
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        history.append(items[1].item())  # the keypoint location term
    assert history[-1] < history[0]
    assert torch.allclose(keypoint_loss_sigmas(5), torch.full((5,), 0.2))
    assert keypoint_loss_sigmas(17)[0].item() == pytest.approx(0.026)


def test_pose_loss_without_objects_only_costs_classification():
    from engine.train.pose_loss import PoseLoss

    model = build_model("yolov8n-pose.yaml", num_classes=1, keypoint_shape=(5, 3)).train()
    empty = {
        "batch_idx": torch.zeros(0),
        "cls": torch.zeros(0, 1),
        "bboxes": torch.zeros(0, 4),
        "keypoints": torch.zeros(0, 5, 3),
    }
    total, items = PoseLoss(model.head)(model(torch.rand(1, 3, 96, 96)), empty)
    box, pose, kobj, cls, dfl = items.tolist()
    assert box == pose == kobj == dfl == 0 and cls > 0
    total.backward()
