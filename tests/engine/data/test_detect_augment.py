"""Detection-family transforms: geometry of boxes, polygons and keypoints; the train recipe."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.config.settings import Settings
from engine.data.detect_augment import (
    DetectAugment,
    DetectValTransform,
    box_candidates,
    copy_paste,
    flip,
    hsv_augment,
    letterbox,
    letterbox_instances,
    load_resized,
    mixup,
    mosaic4,
    random_perspective,
    to_targets,
    warp,
)
from engine.data.instances import Instances, segments_to_boxes
from engine.data.polygons import resample_polygon

IMGSZ = 64


def star(cx: float, cy: float, radius: float, k: int = 7, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, 2 * np.pi, k))
    radii = radius * rng.uniform(0.5, 1.0, k)
    return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1).astype(
        np.float32
    )


def sample(seed: int, h: int = 48, w: int = 64, n: int = 3, keypoints: int = 0):
    """A noise image and ``n`` star-shaped objects (class = seed) in pixels."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    segments = [
        star(*rng.uniform((8, 8), (w - 8, h - 8)), rng.uniform(4, 8), seed=seed * 10 + i)
        for i in range(n)
    ]
    kpts = None
    if keypoints:
        kpts = np.concatenate(
            [rng.uniform((0, 0), (w, h), (n, keypoints, 2)), np.full((n, keypoints, 1), 2.0)], -1
        )
    return image, Instances(
        np.full(n, seed), segments_to_boxes(segments), segments, kpts, normalized=False
    )


def dense(instances: Instances) -> Instances:
    return Instances(
        instances.cls,
        instances.boxes,
        [resample_polygon(s, 200) for s in instances.segments],
        instances.keypoints,
        normalized=False,
    )


def assert_consistent(image: np.ndarray, instances: Instances, size: tuple[int, int]) -> None:
    """Shape, dtype, everything inside, boxes the tight boxes of their polygons."""
    w, h = size
    assert image.shape == (h, w, 3) and image.dtype == np.uint8
    assert instances.normalized is False
    if not len(instances):
        return
    assert (instances.boxes >= 0).all() and (instances.boxes[:, 0::2] <= w).all()
    assert (instances.boxes[:, 1::2] <= h).all()
    if instances.segments:
        np.testing.assert_allclose(
            segments_to_boxes(instances.segments), instances.boxes, atol=1e-3
        )
    if instances.keypoints is not None:
        xy = instances.keypoints[..., :2]
        assert (xy >= 0).all() and (xy[..., 0] <= w).all() and (xy[..., 1] <= h).all()


# --- resizing -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("h", "w", "expected"), [(30, 40, (48, 64)), (200, 100, (64, 32))])
def test_load_resized_puts_the_long_side_at_imgsz(h, w, expected):
    image, original, resized = load_resized(np.zeros((h, w, 3), np.uint8), IMGSZ)
    assert original == (h, w) and resized == expected and image.shape[:2] == expected


def test_letterbox_centres_and_maps_instances():
    image = np.zeros((32, 64, 3), np.uint8)
    image[8:16, 20:30] = 255
    inst = Instances([0], [[20, 8, 30, 16]], normalized=False)
    out, ratio, pad = letterbox(image, 128)
    assert out.shape == (128, 128, 3) and ratio == 2 and pad == (0, 32)
    box = letterbox_instances(inst, ratio, pad).boxes[0]
    np.testing.assert_array_equal(box, [40, 48, 60, 64])
    x1, y1, x2, y2 = box.astype(int)
    assert out[y1 + 1 : y2 - 1, x1 + 1 : x2 - 1].min() == 255 and out[0, 0, 0] == 114
    small, ratio, pad = letterbox(image, 128, scaleup=False, center=False)
    assert ratio == 1 and pad == (0, 0) and (small[32:, 64:] == 114).all()
    assert letterbox(np.zeros((20, 50, 3), np.uint8), 64, auto=True)[0].shape == (32, 64, 3)


# --- perspective --------------------------------------------------------------------------------


def test_identity_perspective_changes_nothing():
    image, inst = sample(1, keypoints=4)
    inst = dense(inst)
    out, got = random_perspective(
        image,
        inst,
        np.random.default_rng(0),
        degrees=0,
        translate=0,
        scale=0,
        shear=0,
        perspective=0,
    )
    np.testing.assert_array_equal(out, image)
    np.testing.assert_array_equal(got.cls, inst.cls)
    np.testing.assert_allclose(got.boxes, inst.boxes, atol=1e-4)
    np.testing.assert_allclose(got.keypoints, inst.keypoints, atol=1e-4)
    for a, b in zip(got.segments, inst.segments, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4)


def test_pure_translation_moves_everything_by_exactly_that():
    image, inst = sample(2, keypoints=3)
    inst = dense(inst)
    inst.keypoints[..., :2] = np.clip(inst.keypoints[..., :2], 0, 40)
    matrix = np.array([[1, 0, 5], [0, 1, -3], [0, 0, 1]], np.float64)
    out, got = warp(image, inst, matrix, (80, 60))
    np.testing.assert_array_equal(out[0:45, 5:69], image[3:48])
    assert got.cls.tolist() == inst.cls.tolist()  # no object is within 3 px of the top edge
    np.testing.assert_allclose(got.keypoints[..., :2], inst.keypoints[..., :2] + [5, -3], atol=1e-4)
    for a, b in zip(got.segments, inst.segments, strict=True):
        np.testing.assert_allclose(a, b + [5, -3], atol=1e-4)
    np.testing.assert_allclose(got.boxes, inst.boxes + [5, -3, 5, -3], atol=1e-4)


def test_boxes_come_from_corners_without_polygons():
    inst = Instances([0], [[10, 10, 20, 30]], normalized=False)
    rotate = np.eye(3)
    rotate[:2] = cv2.getRotationMatrix2D((15, 20), 90, 1.0)
    _, got = warp(np.zeros((40, 40, 3), np.uint8), inst, rotate, (40, 40))
    np.testing.assert_allclose(got.boxes, [[5, 15, 25, 25]], atol=1e-4)


def test_box_candidates_drop_slivers_and_mostly_cut_off_objects():
    before = np.array([[0, 0, 10, 10]] * 4, np.float32)
    after = np.array([[0, 0, 10, 10], [0, 0, 1.5, 10], [0, 0, 3, 3], [0, 0, 5, 5]], np.float32)
    assert box_candidates(before, after).tolist() == [True, False, False, True]
    assert box_candidates(before[:1], np.array([[0, 0, 300, 2.5]])).tolist() == [False]


def test_warp_drops_an_object_pushed_off_the_edge():
    inst = Instances([0, 1], [[2, 10, 12, 20], [30, 10, 40, 20]], normalized=False)
    shift = np.array([[1, 0, -11], [0, 1, 0], [0, 0, 1]], np.float64)
    _, got = warp(np.zeros((40, 48, 3), np.uint8), inst, shift, (48, 40))
    assert got.cls.tolist() == [1]  # the first keeps a 1 px sliver: dropped


def test_keypoints_leaving_the_image_become_invisible():
    inst = Instances([0], [[5, 5, 30, 30]], keypoints=[[[6, 6, 2], [28, 28, 1]]], normalized=False)
    shift = np.array([[1, 0, -8], [0, 1, 0], [0, 0, 1]], np.float64)
    _, got = warp(np.zeros((40, 40, 3), np.uint8), inst, shift, (40, 40))
    np.testing.assert_allclose(got.keypoints[0], [[0, 6, 0], [20, 28, 1]])


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 2**31),
    st.floats(0, 45),
    st.floats(0, 0.4),
    st.floats(0, 0.9),
    st.floats(0, 20),
    st.sampled_from([0.0, 0.001]),
)
def test_random_perspective_keeps_instances_consistent(seed, degrees, translate, scale, shear, p):
    image, inst = sample(seed % 1000, keypoints=2)
    inst = dense(inst)
    params = dict(degrees=degrees, translate=translate, scale=scale, shear=shear, perspective=p)
    out, got = random_perspective(image, inst, np.random.default_rng(seed), **params)
    assert_consistent(out, got, (64, 48))
    again = random_perspective(image, inst, np.random.default_rng(seed), **params)
    np.testing.assert_array_equal(again[0], out)
    np.testing.assert_array_equal(again[1].boxes, got.boxes)


# --- flips, colour, mixing ----------------------------------------------------------------------


def test_horizontal_flip_swaps_keypoints_and_twice_is_identity():
    image, inst = sample(3, keypoints=2)
    out, got = flip(image, inst, "horizontal", flip_idx=[1, 0])
    np.testing.assert_array_equal(out, image[:, ::-1])
    np.testing.assert_allclose(got.keypoints[:, 0, 0], 64 - inst.keypoints[:, 1, 0])
    np.testing.assert_allclose(got.keypoints[:, 1, 1], inst.keypoints[:, 0, 1])
    np.testing.assert_allclose(got.boxes[:, [0, 2]], 64 - inst.boxes[:, [2, 0]])
    assert_consistent(out, got, (64, 48))
    back, again = flip(out, got, "horizontal", flip_idx=[1, 0])
    np.testing.assert_array_equal(back, image)
    np.testing.assert_allclose(again.boxes, inst.boxes, atol=1e-5)
    np.testing.assert_allclose(again.keypoints, inst.keypoints, atol=1e-5)
    for a, b in zip(again.segments, inst.segments, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_vertical_flip_and_normalised_instances():
    image, inst = sample(4)
    out, got = flip(image, inst.to_normalized(64, 48), "vertical")
    np.testing.assert_array_equal(out, image[::-1])
    np.testing.assert_allclose(got.to_pixels(64, 48).boxes[:, [1, 3]], 48 - inst.boxes[:, [3, 1]])
    with pytest.raises(ValueError, match="flip_idx"):
        flip(*sample(4, keypoints=3), "horizontal", flip_idx=[1, 0])


def test_hsv_is_deterministic_and_a_no_op_without_gains():
    image = sample(5)[0]
    assert hsv_augment(image, (0, 0, 0), np.random.default_rng(0)) is image
    a = hsv_augment(image, (0.015, 0.7, 0.4), np.random.default_rng(1))
    b = hsv_augment(image, (0.015, 0.7, 0.4), np.random.default_rng(1))
    assert a.shape == image.shape and a.dtype == np.uint8 and (a == b).all()


def test_mixup_blends_and_keeps_both_sets_of_objects():
    (a, ia), (b, ib) = sample(6), sample(7, n=2)
    out, got = mixup(a, ia, b, ib, np.random.default_rng(0))
    assert out.shape == a.shape and len(got) == 5 and set(got.cls) == {6, 7}
    assert np.abs(out.astype(int) - (a.astype(int) + b) / 2).max() < 40  # ratio near 0.5


def test_copy_paste_adds_mirrored_copies_that_do_not_overlap():
    image = np.zeros((40, 80, 3), np.uint8)
    image[10:20, 5:15] = 200
    left = np.array([[5, 10], [15, 10], [15, 20], [5, 20]], np.float32)
    middle = np.array([[35, 25], [45, 25], [45, 35], [35, 35]], np.float32)
    inst = Instances([0, 1], segments_to_boxes([left, middle]), [left, middle], normalized=False)
    out, got = copy_paste(image, inst, np.random.default_rng(0), p=1.0)
    assert got.cls.tolist() == [0, 1, 0]  # the middle square mirrors onto itself: not pasted
    np.testing.assert_allclose(got.boxes[2], [65, 10, 75, 20])
    assert out[12:18, 66:74].min() == 200 and out[30, 30].max() == 0
    same, none = copy_paste(image, inst, np.random.default_rng(0), p=0.0)
    assert same is image and len(none) == 2
    with pytest.raises(ValueError, match="source"):
        copy_paste(image, inst, np.random.default_rng(0), p=1.0, mode="mixup")


# --- mosaic and the recipe ----------------------------------------------------------------------


def loader(keypoints: int = 0):
    data = [
        sample(i, h=48 if i % 2 else 64, w=64 if i % 2 else 40, keypoints=keypoints)
        for i in range(6)
    ]
    return lambda i: data[i]


def test_mosaic_tiles_four_images_on_a_double_canvas():
    image, inst = mosaic4(0, loader(), 6, IMGSZ, np.random.default_rng(3))
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
    assert len(set(inst.cls.tolist())) >= 2 and 0 in inst.cls
    assert (inst.boxes >= 0).all() and (inst.boxes <= 128).all()
    assert (image == 114).any()  # the grey border around the tiles


@pytest.mark.parametrize("task", ["segment", "pose", "detect"])
def test_recipe_output_shape_and_determinism(task):
    kwargs = {"copy_paste": 0.5, "mixup": 0.5, "degrees": 10.0, "shear": 2.0}
    augment = DetectAugment.from_settings(Settings(**kwargs), IMGSZ, task=task, flip_idx=[1, 0])
    load = loader(keypoints=2 if task == "pose" else 0)
    for seed in range(6):
        image, inst = augment(seed % 6, load, 6, np.random.default_rng(seed))
        assert_consistent(image, inst, (IMGSZ, IMGSZ))
        assert bool(inst.segments) == (task == "segment" and len(inst) > 0)
        again, inst2 = augment(seed % 6, load, 6, np.random.default_rng(seed))
        np.testing.assert_array_equal(again, image)
        np.testing.assert_array_equal(inst2.boxes, inst.boxes)


def test_recipe_without_mosaic_letterboxes_one_image():
    augment = DetectAugment.from_settings(
        Settings(mixup=1.0, copy_paste=1.0), IMGSZ, task="segment"
    )
    found = set()
    for seed in range(5):
        image, inst = augment(1, loader(), 6, np.random.default_rng(seed), mosaic=False)
        assert_consistent(image, inst, (IMGSZ, IMGSZ))
        found |= set(inst.cls.tolist())
    assert found == {1}  # no mosaic, no mixup: only image 1's objects


def test_pose_without_flip_idx_turns_horizontal_flips_off():
    assert DetectAugment.from_settings(Settings(), IMGSZ, task="pose").fliplr == 0
    assert DetectAugment.from_settings(Settings(), IMGSZ, task="segment").fliplr == 0.5


def test_val_transform_maps_back_to_the_original():
    image, inst = sample(8, h=120, w=200)
    out, got, (ratio, pad) = DetectValTransform(IMGSZ)(image, inst.to_normalized(200, 120))
    assert out.shape == (IMGSZ, IMGSZ, 3)
    assert math.isclose(ratio[0], 64 / 200, rel_tol=1e-6) and pad == (0.0, 12.0)
    back = (got.boxes.reshape(-1, 2, 2) - pad) / ratio
    np.testing.assert_allclose(back.reshape(-1, 4), inst.boxes, atol=1e-3)
    assert_consistent(out, got, (IMGSZ, IMGSZ))


# --- targets ------------------------------------------------------------------------------------


def test_targets_for_segment_with_overlap_reorders_objects_to_the_map():
    big = np.array([[0, 0], [40, 0], [40, 40], [0, 40]], np.float32)
    small = np.array([[8, 8], [16, 8], [16, 16], [8, 16]], np.float32)
    first = Instances([3, 7], segments_to_boxes([small, big]), [small, big], normalized=False)
    targets = to_targets([first, Instances.empty()], IMGSZ, task="segment", mask_ratio=4)
    assert targets["masks"].shape == (2, 16, 16) and targets["masks"].dtype == np.uint8
    assert targets["cls"].tolist() == [[7], [3]]  # largest first: value 1 is the big square
    assert targets["masks"][0, 3, 3] == 2 and targets["masks"][0, 1, 1] == 1
    assert targets["batch_idx"].tolist() == [0, 0] and not targets["masks"][1].any()
    np.testing.assert_allclose(targets["bboxes"][0], [20 / 64, 20 / 64, 40 / 64, 40 / 64])


def test_targets_without_overlap_and_for_pose():
    _, a = sample(1, h=64, w=64, n=2, keypoints=3)
    _, b = sample(2, h=64, w=64, n=3, keypoints=3)
    seg = to_targets([a, b], IMGSZ, task="segment", mask_ratio=4, overlap=False)
    assert seg["masks"].shape == (5, 16, 16) and seg["cls"].shape == (5, 1)
    assert seg["batch_idx"].tolist() == [0, 0, 1, 1, 1] and seg["bboxes"].max() <= 1
    pose = to_targets([a, b], IMGSZ, task="pose")
    assert "masks" not in pose and pose["keypoints"].shape == (5, 3, 3)
    np.testing.assert_allclose(pose["keypoints"][0, :, :2], a.keypoints[0, :, :2] / 64)
    empty = to_targets([Instances.empty()], IMGSZ, task="pose", keypoint_shape=(17, 3))
    assert empty["keypoints"].shape == (0, 17, 3) and empty["bboxes"].shape == (0, 4)
