"""Segment and pose label files: the path rule, every bad-row kind with its file, line and
reason, and whole-split verification on generated images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.cancel import CancelToken
from engine.data.check import Problem
from engine.data.detect_labels import (
    COORD_TOLERANCE,
    label_path_for,
    parse_labels,
    read_labels,
    require_labels,
    verify_split,
)
from engine.errors import Cancelled, DatasetError

from .detect_samples import POSE_ROW, TRIANGLE, write_image, write_labels

LABELS = Path("/data/labels/a.txt")


def _segment(text: str, num_classes: int = 3):
    return parse_labels(text, LABELS, "segment", num_classes)


def _pose(text: str, kpt_shape=(3, 3)):
    return parse_labels(text, LABELS, "pose", 1, kpt_shape)


# -- label paths -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "label"),
    [
        ("/d/images/train/a.jpg", "/d/labels/train/a.txt"),
        ("/d/images/x/images/b.PNG", "/d/images/x/labels/b.txt"),  # the last images/ only
        ("/d/pics/c.jpeg", "/d/pics/c.txt"),  # no images/ folder: beside the image
        ("/d/images/v.1.jpg", "/d/labels/v.1.txt"),
        ("/images.jpg/images/z.jpg", "/images.jpg/labels/z.txt"),
    ],
)
def test_label_path_rule(image, label):
    assert label_path_for(image) == Path(label)


# -- good rows -------------------------------------------------------------------------------


def test_segment_rows_give_normalised_polygons_and_boxes():
    instances, problems = _segment(f"{TRIANGLE}\n\n2 0.2 0.2 0.4 0.2 0.4 0.6 0.2 0.6\n")
    assert problems == []
    assert instances.cls.tolist() == [0, 2]
    np.testing.assert_allclose(instances.boxes, [[0.1, 0.1, 0.9, 0.8], [0.2, 0.2, 0.4, 0.6]])
    np.testing.assert_allclose(
        instances.segments[1], [[0.2, 0.2], [0.4, 0.2], [0.4, 0.6], [0.2, 0.6]]
    )
    assert instances.keypoints is None and instances.normalized


def test_pose_rows_give_boxes_and_keypoints():
    instances, problems = _pose(POSE_ROW)
    assert problems == []
    np.testing.assert_allclose(instances.boxes, [[0.3, 0.3, 0.7, 0.7]])
    assert instances.keypoints.shape == (1, 3, 3)
    np.testing.assert_allclose(instances.keypoints[0, :, 2], [2, 1, 0])
    assert instances.segments == []


def test_two_dimensional_keypoints():
    instances, problems = _pose("0 0.5 0.5 0.4 0.4 0.4 0.4 -1 -1 0.5 0.6", (3, 2))
    assert problems == [] and instances.keypoints.shape == (1, 3, 2)


def test_box_row_in_a_segment_dataset_is_a_box_with_an_empty_polygon():
    instances, problems = _segment("1 0.5 0.5 0.2 0.4")
    assert problems == [
        Problem(
            LABELS,
            "a box row (class cx cy w h), no polygon: it trains the box, its mask is empty",
            "warning",
            1,
        )
    ]
    np.testing.assert_allclose(instances.boxes, [[0.4, 0.3, 0.6, 0.7]], atol=1e-7)
    assert instances.segments[0].shape == (0, 2)


def test_coordinates_within_tolerance_are_clipped_with_a_warning():
    instances, problems = _segment("0 -0.005 0.1 1.004 0.1 0.5 0.8")
    assert problems == [
        Problem(
            LABELS,
            "polygon coordinates outside 0..1 by at most 0.01 (from -0.005 to 1.004); clipped",
            "warning",
            1,
        )
    ]
    assert instances.segments[0].min() == 0 and instances.segments[0].max() == 1


def test_duplicate_rows_are_dropped_with_a_warning():
    instances, problems = _segment(f"{TRIANGLE}\n1 0.5 0.5 0.2 0.2\n{TRIANGLE}\n")
    assert len(instances) == 2
    assert Problem(LABELS, "same row as line 1; dropped", "warning", 3) in problems


def test_far_keypoint_is_a_warning_and_the_row_is_kept():
    instances, problems = _pose("0 0.5 0.5 0.2 0.2 0.5 0.5 2 0.95 0.5 2 0.0 0.0 0")
    assert len(instances) == 1
    assert problems == [
        Problem(
            LABELS,
            "keypoint 1 lies far outside the box (more than half the box's size "
            "beyond it); check the row",
            "warning",
            1,
        )
    ]


# -- bad rows: each kind, with its exact line and reason -------------------------------------


SEGMENT_BAD = [
    ("0 0.1 abc 0.9 0.1 0.5 0.8", "'abc' is not a number; row skipped"),
    ("0 0.1 nan 0.9 0.1 0.5 0.8", "holds NaN or infinity; row skipped"),
    ("0 0.1 0.1 inf 0.1 0.5 0.8", "holds NaN or infinity; row skipped"),
    ("-1 0.1 0.1 0.9 0.1 0.5 0.8", "class id -1 is negative; row skipped"),
    ("1.5 0.1 0.1 0.9 0.1 0.5 0.8", "class id 1.5 is not a whole number; row skipped"),
    (
        "3 0.1 0.1 0.9 0.1 0.5 0.8",
        "class id 3 is not below the number of names (3: ids 0..2); "
        "add the class to names or fix the id; row skipped",
    ),
    (
        "0 0.1 0.1 0.9 0.1 0.5",
        "5 coordinates after the class; a polygon needs x y pairs; row skipped",
    ),
    ("0 0.1 0.1", "polygon has 1 points; at least 3 are needed; row skipped"),
    ("0", "no coordinates after the class; row skipped"),
    (
        "0 0.1 0.1 0.9 0.1 0.5 1.2",
        "polygon coordinates outside 0..1 (from 0.1 to 1.2); "
        "coordinates are fractions of the image width and height; row skipped",
    ),
    (
        "0 0.1 0.1 0.5 0.5 0.9 0.9",
        "polygon has zero area (its points lie on one line); row skipped",
    ),
    ("0 0.5 0.5 0 0.2", "box width 0 and height 0.2 must be above 0; row skipped"),
]


@pytest.mark.parametrize(("row", "reason"), SEGMENT_BAD)
def test_bad_segment_row_is_reported_with_file_line_and_reason(row, reason):
    instances, problems = _segment(f"{TRIANGLE}\n{row}\n{TRIANGLE.replace('0.8', '0.7')}\n")
    assert problems == [Problem(LABELS, reason, "error", 2)]
    assert len(instances) == 2  # the rest of the file is used


POSE_BAD = [
    (
        "0 0.5 0.5 0.4 0.4 0.4 0.4 2 0.6 0.4",
        "9 values after the class; pose rows need 4 box "
        "values + 3×3 keypoint values = 13 (kpt_shape [3, 3]); row skipped",
    ),
    (
        "0 0.5 0.5 0.4 0.4 0.4 0.4 0.6 0.4 0.5 0.6",
        "10 values after the class; pose rows need 4 "
        "box values + 3×3 keypoint values = 13 (kpt_shape [3, 3]) (the row fits kpt_shape [3, 2]); "
        "row skipped",
    ),
    (
        "0 0.5 0.5 0.4 0.4 0.4 0.4 3 0.6 0.4 1 0.5 0.6 0",
        "keypoint 0 has visibility 3; it must be "
        "0 (not labelled), 1 (hidden) or 2 (visible); row skipped",
    ),
    (
        "0 0.5 0.5 0.4 0.4 0.4 0.4 2 0.6 0.4 0.5 0.5 0.6 0",
        "keypoint 1 has visibility 0.5; it must "
        "be 0 (not labelled), 1 (hidden) or 2 (visible); row skipped",
    ),
    (
        "0 0.5 0.5 0.4 0.4 1.5 0.4 2 0.6 0.4 1 0.5 0.6 0",
        "keypoint coordinates outside 0..1 (from "
        "0.4 to 1.5); coordinates are fractions of the image width and height; row skipped",
    ),
    (
        "0 0.5 0.5 1.4 0.4 0.4 0.4 2 0.6 0.4 1 0.5 0.6 0",
        "box coordinates outside 0..1 (from -0.2 "
        "to 1.2); coordinates are fractions of the image width and height; row skipped",
    ),
    (
        "1 0.5 0.5 0.4 0.4 0.4 0.4 2 0.6 0.4 1 0.5 0.6 0",
        "class id 1 is not below the number of "
        "names (1: ids 0..0); add the class to names or fix the id; row skipped",
    ),
]


@pytest.mark.parametrize(("row", "reason"), POSE_BAD)
def test_bad_pose_row_is_reported_with_file_line_and_reason(row, reason):
    instances, problems = _pose(f"{POSE_ROW}\n\n{row}\n")
    assert problems == [Problem(LABELS, reason, "error", 3)]
    assert len(instances) == 1


def test_several_far_keypoints_are_named_together():
    _, problems = _pose("0 0.5 0.5 0.2 0.2 0.05 0.5 2 0.95 0.5 1 0.0 0.0 0")
    assert problems[0].reason.startswith("keypoints 0, 1 lie far outside the box")


def test_unlabelled_keypoints_are_not_range_checked():
    _, problems = _pose("0 0.5 0.5 0.4 0.4 0.4 0.4 2 7 9 0 0.5 0.6 1")
    assert problems == []


# -- files -----------------------------------------------------------------------------------


def test_missing_label_file_is_a_background(tmp_path):
    instances, problems = read_labels(tmp_path / "none.txt", "pose", 1, (17, 3))
    assert len(instances) == 0 and instances.keypoints.shape == (0, 17, 3) and problems == []


def test_file_with_only_bad_rows_leaves_the_image_out(tmp_path):
    label = write_labels(tmp_path / "a.txt", ["0 2 2 2 2 2 2", "7 0.1 0.1 0.9 0.1 0.5 0.8"])
    instances, problems = read_labels(label, "segment", 1)
    assert instances is None
    assert [p.line for p in problems] == [1, 2, None]
    assert problems[-1].reason == "no usable row; image left out, not used as a background"


def test_text_that_is_not_utf8_leaves_the_image_out(tmp_path):
    label = tmp_path / "a.txt"
    label.write_bytes(b"0 0.1 0.1\xff\n")
    instances, problems = read_labels(label, "segment", 1)
    assert instances is None
    assert problems == [Problem(label, "not UTF-8 text (byte 9); image left out")]


def test_windows_line_ends_and_bom_are_read(tmp_path):
    label = tmp_path / "a.txt"
    label.write_bytes(f"\ufeff{TRIANGLE}\r\n{TRIANGLE.replace('0.8', '0.7')}\r\n".encode())
    instances, problems = read_labels(label, "segment", 1)
    assert len(instances) == 2 and problems == []


# -- properties -------------------------------------------------------------------------------

unit = st.floats(0, 1, allow_nan=False, width=32)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.tuples(unit, unit), min_size=3, max_size=8), min_size=1, max_size=5),
    st.integers(0, 4),
)
def test_written_polygons_parse_back(polygons, cls):
    text = "\n".join(f"{cls} " + " ".join(f"{x!r} {y!r}" for x, y in poly) for poly in polygons)
    instances, problems = _segment(text, num_classes=5)
    kept = [
        p
        for p, line in zip(polygons, range(1, len(polygons) + 1), strict=True)
        if not any(q.line == line and q.severity == "error" for q in problems)
    ]
    duplicates = sum(1 for q in problems if q.reason.startswith("same row"))
    assert len(instances) == len(kept) - duplicates
    for segment in instances.segments:
        assert segment.min() >= 0 and segment.max() <= 1
    for problem in problems:
        assert problem.severity == "warning" or "zero area" in problem.reason


@settings(max_examples=80, deadline=None)
@given(st.text(alphabet="0123456789.-+eEnaif \t\n", max_size=120))
def test_any_text_gives_problems_never_exceptions(text):
    for task, shape in (("segment", None), ("pose", (2, 3))):
        instances, problems = parse_labels(text, LABELS, task, 2, shape)
        assert all(isinstance(p, Problem) and p.line >= 1 for p in problems)
        assert len(instances.boxes) == len(instances)


@settings(max_examples=40, deadline=None)
@given(st.floats(-COORD_TOLERANCE, 0), st.floats(1, 1 + COORD_TOLERANCE))
def test_coordinates_within_the_tolerance_are_always_used_and_clipped(low, high):
    instances, problems = _segment(f"0 {low!r} 0.1 {high!r} 0.1 0.5 0.999")
    assert len(instances) == 1 and all(p.severity == "warning" for p in problems)
    assert instances.segments[0].min() >= 0 and instances.segments[0].max() <= 1


# -- whole splits ----------------------------------------------------------------------------


@pytest.fixture
def split(tmp_path):
    """Three good images (one a background), one broken image, one with a bad row."""
    images = tmp_path / "images"
    paths = [write_image(images / f"{i}.png", seed=i) for i in range(4)]
    write_labels(tmp_path / "labels" / "0.txt", [TRIANGLE])
    write_labels(tmp_path / "labels" / "1.txt", [TRIANGLE, "5 0.1 0.1 0.9 0.1 0.5 0.8"])
    write_labels(tmp_path / "labels" / "3.txt", [TRIANGLE])
    broken = images / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return [*paths[:3], broken, paths[3]]


def test_verify_split_keeps_good_images_and_reports_the_rest(split, tmp_path):
    seen = []
    report = verify_split(
        split,
        "segment",
        ["thing"],
        None,
        workers=2,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert [s.image.name for s in report.samples] == ["0.png", "1.png", "2.png", "3.png"]
    assert [len(s.instances) for s in report.samples] == [1, 1, 0, 1]
    assert report.backgrounds == 1 and report.num_instances == 3 and report.checked == 5
    label = tmp_path / "labels" / "1.txt"
    assert report.errors[0] == Problem(
        label,
        "class id 5 is not below the number of names (1: ids 0..0); add the class to "
        "names or fix the id; row skipped",
        "error",
        2,
    )
    assert report.errors[1].path == split[3] and report.errors[1].reason.endswith("left out")
    assert seen[0] == (0, 5) and seen[-1] == (5, 5)
    assert f"{label}:2" in report.summary()


def test_second_verify_comes_from_the_cache(split):
    first = verify_split(split, "segment", ["thing"])
    second = verify_split(split, "segment", ["thing"])
    assert first.from_cache == 0 and second.from_cache == len(split)
    assert second.problems == first.problems
    for a, b in zip(first.samples, second.samples, strict=True):
        assert a.image == b.image and np.array_equal(a.instances.boxes, b.instances.boxes)


def test_cancel_stops_verification(split):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        verify_split(split, "segment", ["thing"], cancel=token, cache=False)


def test_no_labels_at_all_is_a_clear_error(tmp_path):
    images = [write_image(tmp_path / "images" / f"{i}.png") for i in range(2)]
    report = verify_split(images, "segment", ["thing"])
    with pytest.raises(DatasetError, match="no labels: none of the 2 train images") as caught:
        require_labels(report)
    assert caught.value.key == "train"
    assert str(tmp_path / "labels" / "0.txt") in str(caught.value)
