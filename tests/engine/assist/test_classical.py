"""The weight-free assists on images drawn here: filled shapes on a textured background, whose
true outlines are known. Outlines are compared by IoU of the filled polygons."""

from __future__ import annotations

import math
import tracemalloc

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.assist import scissors as scissors_module
from engine.assist.classical import (
    box_to_polygon,
    magic_wand,
    outline_of,
    refine,
    scissors,
)
from engine.assist.scale import working_copy
from engine.formats.outlines import fill_outlines


def textured(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A grey-green background with stripes and noise: edges everywhere, none of them long."""
    yy, xx = np.mgrid[0:height, 0:width]
    stripes = 18 * np.sin(xx / 5.0 + yy / 9.0)[..., None]
    noise = rng.normal(0, 18, (height, width, 3))
    return np.clip((110, 130, 100) + stripes + noise, 0, 255).astype(np.uint8)


def draw(image: np.ndarray, polygon: np.ndarray, colour: tuple[int, int, int]) -> None:
    cv2.fillPoly(image, [np.round(polygon).astype(np.int32)], colour)


def star(cx: float, cy: float, radius: float, turn: float = 0.3) -> np.ndarray:
    angles = turn + np.arange(10) * math.pi / 5
    radii = np.where(np.arange(10) % 2 == 0, radius, radius * 0.5)
    return np.stack((cx + radii * np.cos(angles), cy + radii * np.sin(angles)), 1)


def ellipse(cx: float, cy: float, rx: float, ry: float, count: int = 64) -> np.ndarray:
    angles = np.linspace(0, 2 * math.pi, count, endpoint=False)
    return np.stack((cx + rx * np.cos(angles), cy + ry * np.sin(angles)), 1)


def rectangle(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)


def iou(found: np.ndarray | None, truth: np.ndarray, shape: tuple[int, ...]) -> float:
    assert found is not None, "the assist found nothing"
    a = fill_outlines([found], [], *shape[:2]).astype(bool)
    b = fill_outlines([truth], [], *shape[:2]).astype(bool)
    return float((a & b).sum() / (a | b).sum())


def covered(found: np.ndarray | None, part: np.ndarray, shape: tuple[int, ...]) -> float:
    """The share of ``part``'s pixels inside ``found``."""
    assert found is not None, "the assist found nothing"
    a = fill_outlines([found], [], *shape[:2]).astype(bool)
    b = fill_outlines([part], [], *shape[:2]).astype(bool)
    return float((a & b).sum() / b.sum())


def bounds(polygon: np.ndarray) -> np.ndarray:
    return np.concatenate((polygon.min(0), polygon.max(0)))


SHAPES = {
    "star": star(100, 95, 60),
    "ellipse": ellipse(110, 100, 70, 40),
    "hexagon": ellipse(95, 105, 55, 55, count=6),
}


@pytest.fixture(params=sorted(SHAPES))
def scene(request) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(len(request.param))
    image = textured(rng, 200, 220)
    truth = SHAPES[request.param]
    draw(image, truth, (200, 60, 170))
    return image, truth


# -- box to polygon --------------------------------------------------------------------------


def test_box_to_polygon_outlines_the_object_with_tens_of_vertices(scene):
    image, truth = scene
    loose = bounds(truth) + (-6, -4, 5, 7)  # a hand-drawn box, a little wide
    found = box_to_polygon(image, loose)
    assert iou(found, truth, image.shape) >= 0.9
    assert 3 <= len(found) <= 60
    assert found.dtype == np.float64 and found.shape[1] == 2


def test_a_box_given_corner_last_or_partly_off_the_image_still_outlines_the_object():
    rng = np.random.default_rng(1)
    image = textured(rng, 160, 160)
    truth = ellipse(130, 80, 28, 45)  # 2 px from the right edge
    draw(image, truth, (30, 30, 230))
    x0, y0, x1, y1 = bounds(truth)
    found = box_to_polygon(image, (x1 + 40, y1 + 5, x0 - 5, y0 - 5))  # past the right edge
    assert iou(found, truth, image.shape) >= 0.9
    assert found[:, 0].max() <= 159


# -- magic wand ------------------------------------------------------------------------------


def test_magic_wand_from_one_click_fills_the_object(scene):
    image, truth = scene
    found = magic_wand(image, truth.mean(0), tolerance=40)
    assert iou(found, truth, image.shape) >= 0.85


def test_magic_wand_fills_holes_and_grows_with_the_tolerance():
    rng = np.random.default_rng(2)
    image = textured(rng, 180, 180)
    truth = rectangle(30, 30, 150, 150)
    draw(image, truth, (220, 200, 40))
    draw(image, rectangle(75, 75, 105, 105), (20, 20, 20))  # a hole in the object
    # the object's colour in a fading band to its left: near colours at first, then far
    for step, x in enumerate(range(25, 5, -5)):
        draw(image, rectangle(x, 30, x + 4, 150), (220 - 12 * (step + 1), 200, 40))
    tight = magic_wand(image, (50, 50), tolerance=8)
    assert iou(tight, truth, image.shape) >= 0.95  # the hole inside is part of the outline
    wide = magic_wand(image, (50, 50), tolerance=40)
    assert wide[:, 0].min() < 20  # it took in the nearer bands of the fade
    assert magic_wand(image, (50, 50), tolerance=8, connectivity=8) is not None


# -- refine ----------------------------------------------------------------------------------


@pytest.fixture
def two_colours() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """An object of two touching parts of different colours (a shirt above trousers)."""
    rng = np.random.default_rng(3)
    image = textured(rng, 200, 200)
    top, bottom = rectangle(60, 30, 140, 100), rectangle(70, 101, 130, 170)
    draw(image, top, (40, 40, 220))
    draw(image, bottom, (200, 120, 20))
    return image, top, bottom


def test_a_positive_click_adds_the_part_it_lands_on(two_colours):
    image, top, bottom = two_colours
    unchanged = refine(image, top)
    assert covered(unchanged, bottom, image.shape) < 0.5
    grown = refine(image, top, positive=[(100, 140)])
    assert covered(grown, bottom, image.shape) >= 0.9
    assert covered(grown, top, image.shape) >= 0.9


def test_a_negative_click_removes_the_part_it_lands_on(two_colours):
    image, top, bottom = two_colours
    both = np.concatenate((top[:2], bottom[1:3], top[3:]))  # the outline of the two together
    kept = refine(image, both)
    assert covered(kept, bottom, image.shape) >= 0.9
    cut = refine(image, both, negative=[(100, 140)])
    assert covered(cut, bottom, image.shape) < 0.1
    assert covered(cut, top, image.shape) >= 0.9


def test_refine_takes_the_previous_result_as_a_mask_too(two_colours):
    image, top, bottom = two_colours
    mask = fill_outlines([top], [], *image.shape[:2]).astype(bool)
    grown = refine(image, mask, positive=[(100, 140)])
    assert covered(grown, bottom, image.shape) >= 0.9


def test_nothing_left_after_refining_is_none_not_an_outline():
    image = textured(np.random.default_rng(4), 80, 80)
    speck = rectangle(40, 40, 42, 42)
    assert refine(image, speck, negative=[(41, 41)], click_radius=6) is None
    assert outline_of(np.zeros((20, 20), np.uint8), working_copy(image)) is None


# -- scissors --------------------------------------------------------------------------------


def test_the_scissors_path_follows_the_drawn_edge_not_the_straight_line():
    rng = np.random.default_rng(5)
    image = textured(rng, 240, 240)
    centre, radius = np.array([120.0, 120.0]), 80.0
    draw(image, ellipse(*centre, radius, radius, count=180), (230, 230, 60))
    start = centre + radius * np.array([1.0, 0.0])
    end = centre + radius * np.array([math.cos(1.8), math.sin(1.8)])  # a quarter and a bit
    session = scissors(image)
    assert session.snaps
    path = session.path(start, end)
    assert np.array_equal(path[0], start) and np.array_equal(path[-1], end)
    off_edge = np.abs(np.hypot(*(path - centre).T) - radius)
    assert off_edge.max() <= 3.0
    assert 4 <= len(path) <= 40  # editable vertices, not one per pixel
    chord_middle = (start + end) / 2  # where a straight segment would have gone
    assert np.hypot(*(chord_middle - centre)) < radius - 20
    # the next mouse position from the same vertex reuses the map and still snaps
    further = session.path(start, centre + radius * np.array([0.0, -1.0]))
    assert np.abs(np.hypot(*(further - centre).T) - radius).max() <= 3.0


def test_without_opencv_scissors_the_path_is_a_straight_segment(monkeypatch):
    monkeypatch.delattr(cv2, "segmentation")
    assert not scissors_module.scissors_available()
    session = scissors(np.zeros((50, 50, 3), np.uint8))
    assert not session.snaps
    assert np.array_equal(session.path((1, 2), (30, 40)), [[1.0, 2.0], [30.0, 40.0]])


# -- a huge image ----------------------------------------------------------------------------

HUGE = 10_000


@pytest.fixture(scope="module")
def huge() -> tuple[np.ndarray, np.ndarray]:
    """A 10,000 × 10,000 photo (300 MB) holding a star 6,000 pixels across."""
    tile = textured(np.random.default_rng(6), 1000, 1000)
    image = np.tile(tile, (HUGE // 1000, HUGE // 1000, 1))
    truth = star(5200, 4700, 3000)
    draw(image, truth, (200, 60, 170))
    return image, truth


def shrunk_iou(found: np.ndarray | None, truth: np.ndarray, factor: float = 0.1) -> float:
    """IoU measured at a tenth of the size (pixel centres map as in a resize)."""
    assert found is not None, "the assist found nothing"
    size = round(HUGE * factor)
    return iou((found + 0.5) * factor - 0.5, (truth + 0.5) * factor - 0.5, (size, size))


def traced_peak(call) -> tuple[object, int]:
    """What ``call()`` returns and the most numpy/Python memory it held at once (bytes)."""
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_huge_image_runs_on_a_small_copy_and_maps_back_to_full_pixels(huge):
    image, truth = huge
    box = bounds(truth) + (-100, -100, 100, 100)
    found, peak = traced_peak(lambda: box_to_polygon(image, box, max_side=1024))
    assert shrunk_iou(found, truth) >= 0.9
    assert np.abs(bounds(found) - bounds(truth)).max() <= 40  # 4 working pixels
    assert peak < 40e6  # the image is 300 MB: no full-size copy was made
    clicked, peak = traced_peak(lambda: magic_wand(image, (5200, 4700), 40, max_side=1024))
    assert shrunk_iou(clicked, truth) >= 0.85
    assert peak < 40e6


def test_a_huge_image_refines_and_snaps_in_full_pixels(huge):
    image, truth = huge
    half = truth[truth[:, 0] <= 5200 + 1]  # the star's left part, a rough previous result
    refined, peak = traced_peak(lambda: refine(image, half, positive=[(7000, 4700)]))
    assert shrunk_iou(refined, truth) >= 0.85
    assert peak < 40e6
    session = scissors(image, max_side=1024)
    tip, next_tip = truth[0], truth[2]
    path = session.path(tip, next_tip)
    assert np.array_equal(path[0], tip) and np.array_equal(path[-1], next_tip)
    inner = truth[1]  # the path runs along the star's edge, in through the notch between tips
    assert np.hypot(*(path - inner).T).min() <= 60


def test_a_much_larger_image_shrinks_by_a_whole_factor_and_still_maps_exactly():
    image = np.zeros((1000, 4099), np.uint8)  # 4,099 is no multiple of the factor, 5
    copy = working_copy(image, max_side=1024)
    assert copy.image.shape == (200, 819, 3) and copy.scale == (0.2, 0.2)
    assert np.allclose(copy.to_full([[0.0, 0.0], [818.0, 199.0]]), [[2.0, 2.0], [4092.0, 997.0]])
    assert copy.pixel((4098.0, 999.0)) == (818, 199)  # the sliver left out clicks to the edge


@settings(max_examples=60, deadline=None)
@given(st.data(), st.integers(2, 300), st.integers(2, 300), st.integers(16, 120))
def test_the_working_copy_covers_its_region_to_within_a_working_pixel(data, height, width, side):
    x0 = data.draw(st.integers(0, width - 2))
    x1 = data.draw(st.integers(x0 + 1, width))
    y0 = data.draw(st.integers(0, height - 2))
    y1 = data.draw(st.integers(y0 + 1, height))
    copy = working_copy(np.zeros((height, width), np.uint8), (x0, y0, x1, y1), side)
    copy_h, copy_w = copy.image.shape[:2]
    assert max(copy_h, copy_w) <= side
    near = copy.to_full((-0.5, -0.5)) + 0.5  # the copy's outer corners, in image pixels
    far = copy.to_full((copy_w - 0.5, copy_h - 0.5)) + 0.5
    assert np.allclose(near, (x0, y0))
    assert (far <= np.array((width, height)) + 1e-9).all()
    assert (far >= np.array((x1, y1)) - copy.pixel_size - 1e-9).all()
    points = np.array([[x0, y0], [x1 - 1, y1 - 1]], np.float64)
    assert np.allclose(copy.to_full(copy.to_working(points)), points)


def test_the_working_copy_maps_points_both_ways():
    image = np.zeros((3000, 4000, 3), np.uint8)
    copy = working_copy(image, (1000, 500, 3000, 2500), max_side=500)
    assert copy.image.shape == (500, 500, 3)
    points = np.array([[1000.0, 500.0], [2999.0, 2499.0], [1234.5, 987.25]])
    assert np.allclose(copy.to_full(copy.to_working(points)), points)
    assert np.allclose(copy.to_working([[999.5, 499.5]]), [[-0.5, -0.5]])  # the crop's corner


# -- bad input -------------------------------------------------------------------------------


@pytest.fixture
def small_image() -> np.ndarray:
    return textured(np.random.default_rng(7), 100, 120)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda im: box_to_polygon(im, (500, 500, 600, 600)), "box"),  # wholly outside
        (lambda im: box_to_polygon(im, (-60, 10, -20, 50)), "box"),  # outside, on the left
        (lambda im: box_to_polygon(im, (30, 30, 30, 80)), "box"),  # no width
        (lambda im: box_to_polygon(im, (30, 30, 80)), "box"),  # three numbers
        (lambda im: box_to_polygon(im, (10, 10, 60, 60), iterations=0), "iterations"),
        (lambda im: box_to_polygon(im.astype(np.float32), (10, 10, 60, 60)), "image"),
        (lambda im: magic_wand(im, (120, 50)), "point"),  # one past the right edge
        (lambda im: magic_wand(im, (float("nan"), 5)), "point"),
        (lambda im: magic_wand(im, (5, 5), tolerance=300), "tolerance"),
        (lambda im: magic_wand(im, (5, 5), connectivity=6), "connectivity"),
        (lambda im: magic_wand(im, (5, 5), max_side=4), "max_side"),
        (lambda im: refine(im, rectangle(10, 10, 50, 50), positive=[(-3, 5)]), "positive"),
        (lambda im: refine(im, rectangle(10, 10, 50, 50), negative=[(5, 200)]), "negative"),
        (lambda im: refine(im, np.zeros((5, 3))), "previous"),
        (lambda im: refine(im, np.zeros((100, 120), bool)), "previous"),
        (lambda im: refine(im, rectangle(500, 500, 600, 600)), "previous"),
        (lambda im: scissors(im).path((5, 5), (130, 5)), "to_point"),
        (lambda im: scissors(im).path((5, -9), (10, 5)), "from_point"),
    ],
)
def test_bad_input_is_a_value_error_naming_the_argument(small_image, call, argument):
    with pytest.raises(ValueError, match=argument):
        call(small_image)


def test_a_grey_or_four_channel_image_works_like_a_colour_one():
    rng = np.random.default_rng(8)
    image = textured(rng, 120, 120)
    truth = ellipse(60, 60, 35, 25)
    draw(image, truth, (240, 240, 240))
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    assert iou(magic_wand(grey, (60, 60), 40), truth, image.shape) >= 0.85
    with_alpha = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    assert iou(box_to_polygon(with_alpha, bounds(truth)), truth, image.shape) >= 0.9
