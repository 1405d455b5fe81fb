"""Several parts of one object joined into one outline (how a YOLO row holds them)."""

from __future__ import annotations

import cv2
import numpy as np

from engine.data.polygons import merge_polygons

WIDTH, HEIGHT = 64, 48
TRIANGLE = [[10, 5], [50, 8], [30, 40]]
SQUARE = [[5, 30], [15, 30], [15, 42], [5, 42]]


def test_merged_parts_fill_like_the_parts():
    parts = [np.array(SQUARE, float), np.array(TRIANGLE, float), np.array(SQUARE) + [40, 0]]
    merged = merge_polygons(parts)
    assert {tuple(p) for part in parts for p in part} == {tuple(p) for p in merged}
    separate = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.fillPoly(separate, [p.astype(np.int32) for p in parts], 1)
    joined = np.zeros_like(separate)
    cv2.fillPoly(joined, [merged.astype(np.int32)], 1)
    assert (joined >= separate).all()  # every part's pixel is covered
    assert joined.sum() - separate.sum() < 2 * (WIDTH + HEIGHT)  # plus thin links only


def test_one_part_is_returned_as_it_is():
    assert np.array_equal(merge_polygons([np.array(TRIANGLE)]), TRIANGLE)
