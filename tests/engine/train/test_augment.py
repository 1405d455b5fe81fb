from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.data.classify_augment import (
    _OPS,
    ClassifyAugment,
    center_crop_resize,
    hsv_jitter,
    rand_augment,
    random_erase,
    random_resized_crop,
    resize_to_square,
)


def image(h=40, w=60, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("index", range(len(_OPS)))
def test_every_randaugment_op_keeps_shape_and_dtype(index):
    out = _OPS[index](image(), np.random.default_rng(1))
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8


def test_ops_change_the_image_except_identity():
    src = image()
    changed = [not np.array_equal(op(src, np.random.default_rng(3)), src) for op in _OPS]
    assert changed[0] is False
    assert sum(changed[1:]) >= len(_OPS) - 2  # posterize can leave noise close to unchanged


def test_train_recipe_is_deterministic_per_rng_and_sized():
    aug = ClassifyAugment(size=32)
    a = aug(image(), np.random.default_rng([0, 1, 2]))
    b = aug(image(), np.random.default_rng([0, 1, 2]))
    c = aug(image(), np.random.default_rng([0, 1, 3]))
    assert a.shape == (32, 32, 3) and np.array_equal(a, b) and not np.array_equal(a, c)


def test_center_crop_takes_the_middle_of_the_short_side():
    src = np.zeros((100, 300, 3), np.uint8)
    src[:, 100:200] = 255  # the centre square is white, the sides black
    out = center_crop_resize(src, 50)
    assert out.shape == (50, 50, 3) and out.min() == 255


@pytest.mark.parametrize("shape", [(810, 810), (1080, 810), (97, 450), (20, 30)])
def test_resize_to_square_has_the_size_and_is_contiguous(shape):
    out = resize_to_square(image(*shape), 32)
    assert out.shape == (32, 32, 3) and out.flags.c_contiguous


def test_resize_to_square_antialiases_when_shrinking():
    # One-pixel stripes at a factor of 3.6: a plain bilinear resize samples them into bands of
    # black and white; an antialiased one averages them towards the mean grey.
    stripes = np.zeros((810, 810, 3), np.uint8)
    stripes[:, ::2] = 255
    out = resize_to_square(stripes, 224).astype(float)
    plain = cv2.resize(stripes, (224, 224), interpolation=cv2.INTER_LINEAR).astype(float)
    assert abs(out.mean() - 127.5) < 2
    assert out.std() < 0.4 * plain.std()
    assert out.min() > 60 and out.max() < 195


def test_random_resized_crop_stays_inside_and_has_size():
    rng = np.random.default_rng(0)
    for _ in range(50):
        out = random_resized_crop(image(), 24, (0.08, 1.0), (3 / 4, 4 / 3), rng)
        assert out.shape == (24, 24, 3)


def test_random_erase_zeroes_a_rectangle():
    src = np.full((32, 32, 3), 200, np.uint8)
    out = random_erase(src, np.random.default_rng(0))
    zero = (out == 0).all(axis=2)
    rows, cols = np.nonzero(zero)
    assert zero.sum() > 0 and src.min() == 200
    assert zero[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1].all()


def test_hsv_jitter_without_gain_is_near_identity():
    src = image()
    out = hsv_jitter(src, (0.0, 0.0, 0.0), np.random.default_rng(0))
    assert np.abs(out.astype(int) - src).max() <= 8  # HSV round trip in uint8


def test_rand_augment_runs_two_ops():
    out = rand_augment(image(), np.random.default_rng(5), num_ops=2)
    assert out.shape == (40, 60, 3)


def test_shears_pivot_on_the_top_left_corner_as_the_reference_does():
    src = image(32, 32)
    shear_x, shear_y = _OPS[1](src, np.random.default_rng(0)), _OPS[2](src, np.random.default_rng(0))
    assert np.array_equal(shear_x[0], src[0]) and not np.array_equal(shear_x, src)
    assert np.array_equal(shear_y[:, 0], src[:, 0]) and not np.array_equal(shear_y, src)
