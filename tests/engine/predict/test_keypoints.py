"""Pose outputs: the Keypoints view, drawing keypoints and limbs, records and label lines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.predict.detections import Boxes, Keypoints
from engine.predict.draw_detections import detection_records, label_lines
from engine.predict.draw_keypoints import COCO_SKELETON, draw_keypoints, skeleton_for
from engine.predict.results import Results

POINTS = [[[10.0, 20.0, 0.9], [50.0, 40.0, 0.2], [30.0, 70.0, 0.8]]]  # one object, K = 3


def pose_result(points=POINTS, shape=(80, 100)) -> Results:
    image = np.zeros((*shape, 3), np.uint8)
    boxes = Boxes(torch.tensor([[5.0, 10.0, 55.0, 75.0, 0.75, 0.0]]), shape)
    return Results(image, "img.jpg", {0: "person"}, boxes=boxes, keypoints=Keypoints(points, shape))


def test_keypoints_properties():
    keypoints = Keypoints(torch.tensor(POINTS), (80, 100))
    assert keypoints.has_visible and len(keypoints) == 1 and keypoints.shape == (1, 3, 3)
    assert keypoints.xy.shape == (1, 3, 2)
    assert torch.allclose(keypoints.xyn[0, 1], torch.tensor([0.5, 0.5]))
    assert torch.allclose(keypoints.conf, torch.tensor([[0.9, 0.2, 0.8]]))
    without = Keypoints(np.asarray(POINTS)[..., :2], (80, 100))
    assert not without.has_visible and without.conf is None
    np.testing.assert_allclose(without.xyn[0, 2], [0.3, 0.875])
    with pytest.raises(ValueError, match="n, K, 2|3"):
        Keypoints(torch.zeros(1, 3, 4), (80, 100))


def test_keypoints_numpy_and_cpu_round_trip():
    keypoints = Keypoints(torch.tensor(POINTS), (80, 100))
    as_numpy = keypoints.numpy()
    assert isinstance(as_numpy, Keypoints) and isinstance(as_numpy.data, np.ndarray)
    assert as_numpy.orig_shape == (80, 100)
    np.testing.assert_allclose(as_numpy.conf, [[0.9, 0.2, 0.8]], rtol=1e-6)
    back = as_numpy.to(torch.float64).cpu()
    assert isinstance(back.data, torch.Tensor) and back.data.dtype == torch.float64
    np.testing.assert_allclose(np.asarray(back), np.asarray(POINTS))


def test_skeleton_choice():
    assert len(COCO_SKELETON) == 19
    assert all(0 <= a < 17 and 0 <= b < 17 for a, b in COCO_SKELETON)
    assert skeleton_for(17) == COCO_SKELETON
    assert skeleton_for(5) == ()
    assert skeleton_for(17, [[0, 1]]) == ((0, 1),)
    assert skeleton_for(5, [(0, 4), (0, 3)]) == ((0, 4), (0, 3))


def test_drawing_shows_confident_keypoints_only():
    canvas = np.zeros((80, 100, 3), np.uint8)
    draw_keypoints(canvas, np.asarray(POINTS), skeleton=[(0, 1), (0, 2)], radius=3)
    assert canvas[20, 10].any() and canvas[70, 30].any()  # confident points
    assert not canvas[40, 50].any()  # below the threshold
    assert canvas[45, 20].any()  # on the limb 0-2 (both shown)
    assert not canvas[30, 30].any()  # on the limb 0-1 (1 hidden)


def test_drawing_skips_points_outside_and_respects_the_threshold():
    canvas = np.zeros((40, 40, 3), np.uint8)
    outside = np.array([[[-5.0, 10.0], [50.0, 10.0]]])
    draw_keypoints(canvas, outside, skeleton=[(0, 1)], radius=3)
    assert not canvas.any()
    draw_keypoints(canvas, np.array([[[20.0, 20.0, 0.3]]]), skeleton=(), conf_threshold=0.25)
    assert canvas[20, 20].any()


def test_plot_draws_keypoints_with_the_results_skeleton():
    result = pose_result()
    plain = result.plot(boxes=False, probs=False)
    assert plain[20, 10].any() and not plain[40, 50].any()
    assert not plain[45, 20].any()  # K = 3 and no skeleton: points only
    result.skeleton = [(0, 2)]
    assert result.plot(boxes=False, probs=False)[45, 20].any()


def test_records_hold_keypoints():
    (record,) = detection_records(pose_result())
    assert record["keypoints"] == {
        "x": [10.0, 50.0, 30.0],
        "y": [20.0, 40.0, 70.0],
        "visible": pytest.approx([0.9, 0.2, 0.8]),
    }
    (plain,) = detection_records(pose_result(np.asarray(POINTS)[..., :2]))
    assert set(plain["keypoints"]) == {"x", "y"}


def test_label_lines_follow_the_pose_format():
    (line,) = label_lines(pose_result())
    values = [float(v) for v in line.split()]
    assert values[0] == 0 and len(values) == 1 + 4 + 3 * 3
    np.testing.assert_allclose(values[1:5], [0.3, 0.53125, 0.5, 0.8125], rtol=1e-5)
    np.testing.assert_allclose(values[5:8], [0.1, 0.25, 0.9], rtol=1e-5)
    (with_conf,) = label_lines(pose_result(), save_conf=True)
    assert with_conf.split()[-1] == "0.75" and len(with_conf.split()) == 15
    (plain,) = label_lines(pose_result(np.asarray(POINTS)[..., :2]))
    assert len(plain.split()) == 1 + 4 + 3 * 2
