"""Our COCO RLE codec against pycocotools.mask, bit for bit."""

from __future__ import annotations

import numpy as np
import pycocotools.mask as coco_mask
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine.utils import rle

# pycocotools' decode trips a numpy 2 deprecation inside its own code
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


def _reference(mask: np.ndarray) -> dict:
    return coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))


def _assert_same_as_pycocotools(mask: np.ndarray) -> None:
    ours = rle.encode(mask)
    reference = _reference(mask)
    assert ours["size"] == reference["size"]
    assert isinstance(ours["counts"], str)
    assert ours["counts"].encode("ascii") == reference["counts"]
    assert rle.area(ours) == int(coco_mask.area(reference))
    assert rle.to_bbox(ours) == coco_mask.toBbox(reference).tolist()
    np.testing.assert_array_equal(rle.string_to_counts(reference["counts"]), rle.rle_counts(mask))
    if mask.size:  # pycocotools cannot decode or convert an image of no pixels
        np.testing.assert_array_equal(rle.decode(ours), coco_mask.decode(reference))
        np.testing.assert_array_equal(rle.decode(reference), (mask != 0).astype(np.uint8))
        uncompressed = rle.encode(mask, compressed=False)
        assert isinstance(uncompressed["counts"], list)
        converted = coco_mask.frPyObjects(uncompressed, *mask.shape)
        assert converted["counts"] == reference["counts"]
        np.testing.assert_array_equal(rle.decode(uncompressed), rle.decode(ours))


def _single_pixel(shape, row, col) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[row, col] = True
    return mask


EDGE_CASES = {
    "0x0": np.zeros((0, 0), bool),
    "0x5": np.zeros((0, 5), bool),
    "5x0": np.zeros((5, 0), bool),
    "1x1 empty": np.zeros((1, 1), bool),
    "1x1 full": np.ones((1, 1), bool),
    "empty": np.zeros((7, 13), bool),
    "full": np.ones((7, 13), bool),
    "pixel top-left": _single_pixel((7, 13), 0, 0),
    "pixel bottom-right": _single_pixel((7, 13), 6, 12),
    "pixel bottom of a column": _single_pixel((7, 13), 6, 3),
    "pixel top of a column": _single_pixel((7, 13), 0, 3),
    "row": np.ones((1, 31), bool),
    "column": np.ones((31, 1), bool),
    "checkerboard": (np.indices((9, 11)).sum(0) % 2).astype(bool),
    "stripes": np.tile([True, False, False], (5, 7)),
    "uint8 255": np.full((4, 6), 255, np.uint8),
}


@pytest.mark.parametrize("name", EDGE_CASES)
def test_edge_cases_match_pycocotools(name):
    _assert_same_as_pycocotools(EDGE_CASES[name])


def test_long_runs_need_several_character_groups():
    mask = np.zeros((1500, 1700), bool)
    mask[3:1490, 5:1690] = True  # runs of ~1500 and deltas of both signs
    mask[0, 0] = mask[-1, -1] = True
    _assert_same_as_pycocotools(mask)
    _assert_same_as_pycocotools(np.ones((2000, 2100), bool))


@pytest.mark.parametrize("seed", range(6))
def test_random_masks_match_pycocotools(seed):
    rng = np.random.default_rng(seed)
    for _ in range(40):
        height, width = (int(side) for side in rng.integers(1, 60, 2))
        noise = rng.random((height, width)) < rng.random()
        blobs = np.zeros((height, width), bool)
        for _ in range(int(rng.integers(0, 4))):
            top, left = int(rng.integers(0, height)), int(rng.integers(0, width))
            blobs[top : top + int(rng.integers(1, 40)), left : left + int(rng.integers(1, 40))] = 1
        _assert_same_as_pycocotools(noise)
        _assert_same_as_pycocotools(blobs)


@settings(max_examples=60, deadline=None)
@given(arrays(np.bool_, st.tuples(st.integers(1, 12), st.integers(1, 12))))
def test_any_small_mask_round_trips_and_matches(mask):
    _assert_same_as_pycocotools(mask)


def test_counts_string_round_trip_for_large_and_negative_deltas():
    counts = np.array([0, 5, 100000, 3, 7, 1 << 40, 2, 1, 0, 9], np.int64)
    assert np.array_equal(rle.string_to_counts(rle.counts_to_string(counts)), counts)
    assert rle.counts_to_string([]) == ""
    assert rle.string_to_counts("").size == 0


def test_counts_start_with_zeros_and_read_columns_first():
    mask = np.array([[1, 0], [1, 1]], bool)  # column-major: 1, 1, 0, 1
    assert rle.rle_counts(mask).tolist() == [0, 2, 1, 1]
    assert rle.encode(mask, compressed=False) == {"size": [2, 2], "counts": [0, 2, 1, 1]}
    assert rle.to_bbox(rle.encode(mask)) == [0.0, 0.0, 2.0, 2.0]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="2-D"):
        rle.encode(np.zeros((2, 2, 2), bool))
    with pytest.raises(ValueError, match="cover 3 pixels"):
        rle.decode({"size": [2, 2], "counts": [1, 2]})
    with pytest.raises(ValueError, match="not a COCO RLE string"):
        rle.decode({"size": [2, 2], "counts": "0 "})
    with pytest.raises(ValueError, match="not a COCO RLE string"):
        rle.string_to_counts("0`")  # ends with a continuation group
    with pytest.raises(ValueError, match="needs 'size'"):
        rle.area({"counts": "0"})
    with pytest.raises(ValueError, match="negative"):
        rle.decode({"size": [1, 2], "counts": [3, -1]})
