"""The label checker: each check finds its error, names the image and instance, and stays
quiet on clean labels."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.assist.checker import (
    CheckSettings,
    LabelInstance,
    Prediction,
    check_labels,
    find_bad_polygons,
    find_duplicates,
    find_keypoints_outside,
    find_model_disagreements,
    find_swaps,
    instance_from_normalised,
)
from engine.assist.checker_geometry import polygon_area, polygon_iou, self_intersects

# A figure seen from the front: head, then (left, right) hands, elbows, feet; the figure's
# left is the image's right.
NAMES = ("head", "left_hand", "right_hand", "left_elbow", "right_elbow", "left_foot", "right_foot")
FLIP = (0, 2, 1, 4, 3, 6, 5)
TEMPLATE = np.array(
    [[0, -50], [40, -10], [-40, -10], [20, -20], [-20, -20], [15, 50], [-15, 50]], np.float64
)


def figure(rng, image, instance=0, *, angle=0.0, scale=1.0, mirrored=False, swap=()):
    """A labelled figure: the template jittered, mirrored (seen from behind), turned, scaled,
    placed, with the pairs in ``swap`` exchanged."""
    points = TEMPLATE + rng.normal(0, 3, TEMPLATE.shape)
    if mirrored:
        points[:, 0] *= -1
    turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    points = points @ turn.T * scale + rng.uniform(100, 400, 2)
    for left, right in swap:
        points[[left, right]] = points[[right, left]]
    keypoints = np.concatenate((points, np.full((len(points), 1), 2.0)), 1)
    box = np.concatenate((points.min(0) - 5, points.max(0) + 5))
    return LabelInstance(image, instance, 0, box, None, keypoints)


def crowd(rng, count=30, **kwargs):
    return [
        figure(rng, f"im{i}", angle=rng.uniform(-0.3, 0.3), scale=rng.uniform(0.5, 2), **kwargs)
        for i in range(count)
    ]


def square(x, y, side=100.0):
    return np.array([[x, y], [x + side, y], [x + side, y + side], [x, y + side]], np.float64)


# --- left/right swaps ---------------------------------------------------------------------


def test_a_swapped_pair_is_found_and_named():
    rng = np.random.default_rng(0)
    items = crowd(rng) + [figure(rng, "bad", 3, swap=[(1, 2)])]
    findings = find_swaps(items, FLIP, joint_names=NAMES)
    assert [(f.kind, f.image, f.instances) for f in findings] == [("swap", "bad", (3,))]
    assert "left_hand↔right_hand" in findings[0].message


def test_clean_figures_of_any_turn_and_size_give_nothing():
    rng = np.random.default_rng(1)
    items = [
        figure(rng, f"im{i}", angle=rng.uniform(-math.pi, math.pi), scale=rng.uniform(0.2, 5))
        for i in range(60)
    ]
    assert find_swaps(items, FLIP) == []
    # a swap in a figure lying on its side is still a swap
    items.append(figure(rng, "bad", angle=math.pi / 2, swap=[(5, 6)]))
    assert [f.image for f in find_swaps(items, FLIP)] == ["bad"]


def test_a_whole_mirror_is_reported_where_mirrors_are_rare():
    rng = np.random.default_rng(2)
    items = crowd(rng) + [figure(rng, "mirror", mirrored=True)]
    (finding,) = find_swaps(items, FLIP)
    assert finding.image == "mirror" and "every left/right pair" in finding.message


def test_where_people_face_both_ways_only_a_pair_against_its_body_is_reported():
    rng = np.random.default_rng(3)
    items = crowd(rng, 20) + [
        figure(rng, f"back{i}", mirrored=True)
        for i in range(10)  # seen from behind: fine
    ]
    items.append(figure(rng, "bad", mirrored=True, swap=[(3, 4)]))
    findings = find_swaps(items, FLIP, joint_names=NAMES)
    assert [(f.image, f.message) for f in findings] == [
        ("bad", "instance 0: left/right joints look swapped: left_elbow↔right_elbow")
    ]


def test_unlabelled_joints_are_left_out_and_small_groups_not_judged():
    rng = np.random.default_rng(4)
    items = crowd(rng)
    hidden = figure(rng, "hidden", swap=[(1, 2)])
    hidden.keypoints[1, 2] = 0  # the left hand is not labelled: nothing to compare
    assert find_swaps([*items, hidden], FLIP) == []
    few = [figure(rng, f"im{i}") for i in range(3)] + [figure(rng, "bad", swap=[(1, 2)])]
    assert find_swaps(few, FLIP) == []  # four figures make no reference pose


# --- duplicates ---------------------------------------------------------------------------


def test_polygon_iou_matches_the_exact_area():
    # two 100-px squares 10 px apart: 9,000 shared of 11,000
    assert polygon_iou(square(0, 0), square(10, 0)) == pytest.approx(9000 / 11000, abs=0.01)
    assert polygon_iou(square(0, 0), square(500, 0)) == 0.0
    # a triangle inside a square: half of it, whatever the size
    triangle = np.array([[0, 0], [4, 0], [0, 4]], np.float64)
    assert polygon_iou(triangle, square(0, 0, 4)) == pytest.approx(0.5, abs=0.02)


def test_a_near_copy_of_one_class_is_a_duplicate_another_class_is_not():
    items = [
        LabelInstance("a", 0, 1, polygon=square(0, 0)),
        LabelInstance("a", 1, 1, polygon=square(2, 1)),  # IoU ~0.97
        LabelInstance("a", 2, 2, polygon=square(0, 0)),  # other class
        LabelInstance("a", 3, 1, polygon=square(300, 0)),
        LabelInstance("a", 4, 1, polygon=square(310, 0)),  # IoU 0.82: neighbours, not copies
        LabelInstance("b", 0, 1, polygon=square(0, 0)),  # another image
    ]
    findings = find_duplicates(items)
    assert [(f.kind, f.image, f.instances) for f in findings] == [("duplicate", "a", (0, 1))]


def test_boxes_are_compared_by_box_iou():
    box = np.array([10.0, 10, 110, 60])
    items = [LabelInstance("a", 0, 0, box), LabelInstance("a", 1, 0, box + 1)]
    assert [f.instances for f in find_duplicates(items)] == [(0, 1)]
    assert find_duplicates(items, iou=0.99) == []


# --- degenerate polygons ------------------------------------------------------------------


def test_tiny_and_self_intersecting_polygons_are_found():
    bowtie = np.array([[0, 0], [100, 100], [100, 0], [0, 100]], np.float64)
    items = [
        LabelInstance("a", 0, 0, polygon=square(0, 0)),
        LabelInstance("a", 1, 0, polygon=square(200, 200, side=3)),  # 9 px²
        LabelInstance("a", 2, 0, polygon=bowtie),
    ]
    found = {(f.kind, f.instances) for f in find_bad_polygons(items, min_area=16)}
    assert found == {("tiny", (1,)), ("self_intersecting", (2,))}


def test_self_intersection_cases():
    star = np.array(
        [
            [math.cos(a) * r, math.sin(a) * r]
            for a, r in zip(np.arange(10) * math.pi / 5, [50, 20] * 5, strict=True)
        ]
    )
    assert not self_intersects(star)  # concave but simple
    assert not self_intersects(np.repeat(square(0, 0), 2, axis=0))  # double clicks
    figure_eight = np.array([[0, 0], [50, 50], [100, 0], [100, 100], [50, 50], [0, 100]], float)
    assert self_intersects(figure_eight)  # touches itself at (50, 50)
    assert polygon_area(square(0, 0, 10)) == pytest.approx(100)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0, 2 * math.pi, exclude_max=True), min_size=4, max_size=40, unique=True),
    st.floats(1, 500),
)
def test_convex_outlines_are_simple_and_crossed_when_two_vertices_swap(angles, radius):
    angles = np.sort(np.array(angles))
    if np.min(np.diff(np.concatenate((angles, [angles[0] + 2 * math.pi])))) < 1e-3:
        return  # vertices too close to tell apart in floating point
    polygon = np.stack((np.cos(angles), np.sin(angles)), 1) * radius
    assert not self_intersects(polygon)
    polygon[[0, 1]] = polygon[[1, 0]]  # edges n-1 → 1 and 0 → 2 now cross
    assert self_intersects(polygon)


# --- keypoints outside their box ----------------------------------------------------------


def test_keypoints_beyond_the_tolerance_are_found_unlabelled_ones_ignored():
    box = np.array([100.0, 100, 200, 300])  # 200 px tall: 20 + 2 px of slack
    keypoints = np.array([[150, 150, 2], [210, 200, 2], [150, 350, 0]], np.float64)
    inside = LabelInstance("a", 0, 0, box, None, keypoints)
    assert find_keypoints_outside([inside]) == []
    keypoints = keypoints.copy()
    keypoints[1, 0] = 225
    (finding,) = find_keypoints_outside([LabelInstance("a", 1, 0, box, None, keypoints)])
    assert finding.kind == "outside" and finding.instances == (1,) and "1 " in finding.message


# --- a trained model's view ---------------------------------------------------------------


def test_disagreements_with_a_model():
    box = np.array([10.0, 10, 110, 110])
    labels = [
        LabelInstance("a", 0, 0, box),  # the model agrees
        LabelInstance("a", 1, 0, box + 200),  # the model sees nothing there
        LabelInstance("a", 2, 0, box + 400),  # the model says class 1
        LabelInstance("b", 0, 0, box + 200),  # "b" was not run through the model
    ]
    predictions = {
        "a": [
            Prediction("a", 0, 0.9, box + 2),
            Prediction("a", 1, 0.95, box + 402),
            Prediction("a", 1, 0.8, box + 600),  # an object without a label
            Prediction("a", 0, 0.3, box + 800),  # unsure: not reported
        ]
    }
    found = {(f.kind, f.image, f.instances) for f in find_model_disagreements(labels, predictions)}
    assert found == {
        ("doubted", "a", (1,)),
        ("other_class", "a", (2,)),
        ("unlabelled", "a", ()),
    }


def test_a_label_off_the_models_object_is_one_shifted_finding():
    box = np.array([10.0, 10, 110, 110])
    labels = [LabelInstance("a", 0, 0, box + [60, 60, 60, 60])]  # IoU 0.09 with the object
    predictions = {"a": [Prediction("a", 0, 0.9, box)]}
    (finding,) = find_model_disagreements(labels, predictions)
    assert (finding.kind, finding.instances) == ("shifted", (0,))
    assert "(10, 10)–(110, 110)" in finding.message
    # the object the model sees is of another class: two separate findings
    other = {"a": [Prediction("a", 1, 0.9, box)]}
    kinds = sorted(f.kind for f in find_model_disagreements(labels, other))
    assert kinds == ["doubted", "unlabelled"]


def test_check_labels_sorts_surest_first_and_skips_kinds():
    box = np.array([10.0, 10, 110, 110])
    keypoints = np.array([[500.0, 500, 2]])
    labels = [
        LabelInstance("a", 0, 0, box, None, keypoints),
        LabelInstance("a", 1, 0, box),
    ]
    findings = check_labels(labels)
    assert [f.kind for f in findings] == ["duplicate", "outside"]
    skipped = check_labels(labels, settings=CheckSettings(skip=frozenset({"duplicate"})))
    assert [f.kind for f in skipped] == ["outside"]


def test_instances_from_normalised_rows_are_in_pixels():
    item = instance_from_normalised(
        "a",
        0,
        1,
        (200, 100),
        box_xywh=[0.5, 0.5, 0.5, 0.2],
        keypoints=np.array([[0.25, 0.5, 2.0]]),
    )
    assert item.box.tolist() == [50, 40, 150, 60]
    assert item.keypoints.tolist() == [[50, 50, 2]]
    polygon = instance_from_normalised("a", 1, 0, (200, 100), polygon=np.array([[0.1, 0.2]] * 3))
    assert polygon.polygon.tolist() == [[20, 20]] * 3 and polygon.box.tolist() == [20, 20, 20, 20]
