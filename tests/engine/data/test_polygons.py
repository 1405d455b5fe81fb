"""Polygon resampling and rasterising: dense closed outlines, masks equal to the reference's."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.data.polygons import (
    overlap_masks,
    polygons_to_mask,
    polygons_to_masks,
    resample_polygon,
    resample_polygons,
)

coordinate = st.floats(-30, 230, allow_nan=False, width=32)
polygon = st.lists(st.tuples(coordinate, coordinate), min_size=3, max_size=12).map(
    lambda p: np.array(p, np.float32)
)


def reference_mask(polygons, shape, ratio):
    """The reference's rule, written out: fill at full size with truncated vertices, then shrink."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.asarray(p, np.float32).astype(np.int32) for p in polygons], 1)
    return cv2.resize(mask, (shape[1] // ratio, shape[0] // ratio)) if ratio > 1 else mask


def on_outline(points: np.ndarray, ring: np.ndarray, tol: float = 1e-3) -> np.ndarray:
    """Distance test: is each point on some edge of the closed polygon ``ring``?"""
    a, b = ring, np.roll(ring, -1, 0)
    ab = b - a
    t = np.clip(((points[:, None] - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-12), 0, 1)
    nearest = a + t[..., None] * ab
    return np.linalg.norm(points[:, None] - nearest, axis=-1).min(1) < tol


@settings(max_examples=60, deadline=None)
@given(polygon, st.integers(20, 300))
def test_resample_is_closed_dense_and_keeps_vertices(points, n):
    out = resample_polygon(points, n)
    assert out.shape == (n, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out[0], out[-1], atol=1e-4)
    assert on_outline(out.astype(np.float64), points.astype(np.float64), tol=1e-2).all()
    if len(points) + 1 <= n:
        distances = np.linalg.norm(points[:, None] - out[None], axis=-1).min(1)
        assert (distances < 1e-3).all()
        perimeter = np.linalg.norm(np.diff(np.vstack([points, points[:1]]), axis=0), axis=1).sum()
        steps = np.linalg.norm(np.diff(out, axis=0), axis=1)
        if n > len(points) + 1:
            assert steps.max() <= perimeter / (n - len(points) - 1) + 1e-2


def test_resample_spacing_is_even_along_the_perimeter():
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], np.float32)
    out = resample_polygon(square, 41)  # 4 vertices + the closing one + 36 evenly = 1 unit steps
    np.testing.assert_allclose(np.linalg.norm(np.diff(out, axis=0), axis=1), 1.0, atol=1e-5)


def test_resample_more_vertices_than_points_and_degenerate_inputs():
    circle = np.stack([np.cos(np.linspace(0, 6.28, 50)), np.sin(np.linspace(0, 6.28, 50))], 1)
    assert resample_polygon(circle, 10).shape == (10, 2)
    assert (resample_polygon(np.zeros((0, 2)), 5) == 0).all()
    np.testing.assert_array_equal(resample_polygon(np.array([[3, 4], [3, 4]]), 4), [[3, 4]] * 4)


def test_resample_polygons_uses_one_common_count():
    out = resample_polygons([np.zeros((3, 2)), np.random.default_rng(0).random((1200, 2))], 1000)
    assert {p.shape for p in out} == {(1201, 2)}
    assert resample_polygons([]) == []


@settings(max_examples=150, deadline=None)
@given(
    st.lists(polygon, min_size=1, max_size=2),
    st.sampled_from([1, 2, 3, 4, 8]),
    st.integers(4, 30),
    st.integers(4, 30),
    st.booleans(),
)
def test_mask_equals_the_reference_full_size_fill_then_resize(polygons, ratio, h, w, aligned):
    shape = (h * ratio, w * ratio) if aligned else (h * ratio + 1, w * ratio + 3)
    np.testing.assert_array_equal(
        polygons_to_mask(polygons, shape, ratio), reference_mask(polygons, shape, ratio)
    )


def test_dense_polygon_mask_equals_reference():
    ring = 40 + 25 * np.stack([np.cos(np.linspace(0, 6.2, 7)), np.sin(np.linspace(0, 6.2, 7))], 1)
    dense = resample_polygon(ring, 1000)
    np.testing.assert_array_equal(
        polygons_to_mask([dense], (96, 128), 4), reference_mask([dense], (96, 128), 4)
    )


def test_mask_of_a_box_at_ratio_one_is_cv2_fill():
    box = np.array([[4, 6], [20, 6], [20, 15], [4, 15]], np.float32)
    mask = polygons_to_mask([box], (32, 32))
    assert mask[6:16, 4:21].all() and mask.sum() == 10 * 17
    assert polygons_to_mask([box + 100], (32, 32)).sum() == 0  # wholly outside


def test_masks_are_one_per_polygon():
    polygons = [np.array([[0, 0], [15, 0], [15, 15]]), np.array([[20, 20], [31, 20], [31, 31]])]
    masks = polygons_to_masks(polygons, (32, 32), 2)
    assert masks.shape == (2, 16, 16) and masks.dtype == np.uint8
    for mask, p in zip(masks, polygons, strict=True):
        np.testing.assert_array_equal(mask, reference_mask([p], (32, 32), 2))
    assert polygons_to_masks([], (32, 32), 4).shape == (0, 8, 8)


def test_overlap_map_draws_small_objects_on_top():
    big = np.array([[0, 0], [60, 0], [60, 60], [0, 60]], np.float32)
    small = np.array([[20, 20], [40, 20], [40, 40], [20, 40]], np.float32)
    apart = np.array([[62, 62], [63, 62], [63, 63]], np.float32)  # too small to cover a cell
    index_map, order = overlap_masks([small, big, apart], (64, 64), 4)
    assert index_map.dtype == np.uint8 and index_map.shape == (16, 16)
    assert order.tolist() == [1, 0, 2]  # by decreasing area; an empty mask comes last
    assert index_map[7, 7] == 2  # the small square (rank 2) on top of the big one (rank 1)
    assert index_map[2, 2] == 1 and index_map[15, 15] == 0


@settings(max_examples=40, deadline=None)
@given(st.lists(polygon, min_size=0, max_size=5), st.sampled_from([1, 4]))
def test_overlap_map_matches_the_reference_rule(polygons, ratio):
    shape = (128, 96)
    index_map, order = overlap_masks(polygons, shape, ratio)
    masks = [reference_mask([p], shape, ratio) for p in polygons]
    areas = np.array([int(m.sum()) for m in masks], np.int64)
    assert np.all(np.diff(areas[order]) <= 0)
    expected = np.zeros(index_map.shape, np.int64)
    for rank, i in enumerate(order):
        expected[masks[i] > 0] = rank + 1
    np.testing.assert_array_equal(index_map, expected)


def test_overlap_map_widens_past_255_objects():
    dots = [
        np.array([[i % 20 * 3, i // 20 * 3], [i % 20 * 3 + 2, i // 20 * 3]]) for i in range(300)
    ]
    index_map, order = overlap_masks(dots, (64, 64), 1)
    assert index_map.dtype == np.int32 and len(order) == 300 and index_map.max() > 255


@pytest.mark.parametrize("ratio", [2, 4])
def test_mask_size_uses_floor_division(ratio):
    assert polygons_to_mask([np.zeros((3, 2))], (33, 35), ratio).shape == (33 // ratio, 35 // ratio)
