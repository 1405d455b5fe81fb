"""The YOLO label codec: every line it writes reads back as the numbers written (round trips
under hypothesis), the reasons it gives for lines that are not rows, and files written by
other tools still read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.data.detect_labels import parse_labels, read_labels
from engine.formats.yolo_labels import (
    LabelLineError,
    LabelRow,
    box_line,
    classify_line,
    format_number,
    format_row,
    label_text,
    parse_classify_line,
    parse_line,
    parse_row,
    polygon_line,
    pose_line,
    read_numbers,
    write_label_file,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "labels"

finite = st.floats(allow_nan=False, allow_infinity=False)
unit = st.floats(0.0, 1.0)
unit32 = st.floats(0.0, 1.0, width=32)
class_ids = st.integers(0, 999)


def _significant_digits(text: str) -> int:
    return len(text.replace("-", "").replace(".", "").lstrip("0"))


# -- the number format -----------------------------------------------------------------------


@given(finite)
def test_a_float_reads_back_exactly_without_an_exponent(value):
    text = format_number(value)
    assert float(text) == value and "e" not in text.lower()


@given(st.floats(-2, 2, width=32))
def test_a_float32_coordinate_reads_back_exactly_in_at_most_9_digits(value):
    value = np.float32(value)
    text = format_number(value)
    assert np.float32(text) == value and "e" not in text.lower()
    assert _significant_digits(text) <= 9


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.5, "0.5"), (1.0, "1"), (0.0, "0"), (2, "2"), (np.float32(0.1), "0.1"), (1e-07, "0.0000001"),
     (np.int64(7), "7"), (0.1 + 0.2, "0.30000000000000004")],
)
def test_numbers_are_written_as_short_as_they_read_back(value, text):
    assert format_number(value) == text


@pytest.mark.parametrize("value", [float("nan"), float("inf"), np.float32("-inf")])
def test_a_number_no_reader_accepts_is_refused(value):
    with pytest.raises(ValueError, match="not a finite number"):
        format_number(value)


# -- round trips -----------------------------------------------------------------------------


def _points(draw, count: int, elements) -> np.ndarray:
    return np.array(draw(st.lists(elements, min_size=count, max_size=count)))


@st.composite
def boxes(draw, elements=unit):
    return _points(draw, 4, elements)


@st.composite
def polygons(draw, elements=unit):
    return _points(draw, 2 * draw(st.integers(3, 40)), elements).reshape(-1, 2)


@given(class_ids, boxes())
def test_detect_rows_round_trip(cls, box):
    row = parse_line(box_line(cls, box), "detect")
    assert row.class_id == cls and np.array_equal(row.box, box)
    assert row.polygon is None and row.keypoints is None


@given(class_ids, polygons())
def test_segment_rows_round_trip(cls, polygon):
    row = parse_line(polygon_line(cls, polygon), "segment")
    assert row.class_id == cls and np.array_equal(row.polygon, polygon) and row.box is None


@given(class_ids, boxes(), st.integers(1, 20), st.sampled_from([2, 3]), st.data())
def test_pose_rows_round_trip(cls, box, count, dims, data):
    keypoints = _points(data.draw, count * dims, unit).reshape(count, dims)
    if dims == 3:
        keypoints[:, 2] = data.draw(st.lists(st.sampled_from([0, 1, 2]), min_size=count,
                                             max_size=count))
    row = parse_line(pose_line(cls, box, keypoints), "pose", (count, dims))
    assert row.class_id == cls and np.array_equal(row.box, box)
    assert np.array_equal(row.keypoints, keypoints)


@given(class_ids, polygons(unit32))
def test_float32_rows_read_back_as_the_same_float32(cls, polygon):
    polygon = polygon.astype(np.float32)
    row = parse_line(polygon_line(cls, polygon), "segment")
    assert np.array_equal(row.polygon.astype(np.float32), polygon)


@given(class_ids, polygons())
def test_a_parsed_row_writes_the_same_line_again(cls, polygon):
    line = polygon_line(cls, polygon)
    assert format_row(parse_line(line, "segment")) == line


@given(st.floats(0, 1), st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zs", "Zl",
                                                                      "Zp")), min_size=1))
def test_classify_lines_round_trip(confidence, name):
    assert parse_classify_line(classify_line(confidence, name)) == (confidence, name)


def test_a_name_with_spaces_stays_whole():
    assert parse_classify_line(classify_line(np.float32(0.25), "golden retriever")) == (
        0.25, "golden retriever")


@given(st.lists(polygons(), max_size=5), st.data())
def test_written_files_read_back_through_the_engines_parser(tmp_path_factory, shapes, data):
    classes = data.draw(st.lists(st.integers(0, 3), min_size=len(shapes), max_size=len(shapes)))
    rows = [polygon_line(c, p) for c, p in zip(classes, shapes, strict=True)]
    path = write_label_file(tmp_path_factory.mktemp("labels") / "a.txt", rows)
    instances, problems = read_labels(path, "segment", 4)
    # random points may lie on one line (an error) or repeat a row (dropped): not written back
    dropped = {p.line for p in problems if p.severity == "error" or "same row" in p.reason}
    kept = [i for i in range(len(rows)) if i + 1 not in dropped]
    if instances is None:
        assert not kept
        return
    assert instances.cls.tolist() == [classes[i] for i in kept]
    for polygon, i in zip(instances.segments, kept, strict=True):
        np.testing.assert_array_equal(polygon, shapes[i].astype(np.float32))


def test_label_text_ends_every_line_and_is_empty_for_no_rows(tmp_path):
    assert label_text(["0 0.5 0.5 0.1 0.1", "1 0.2 0.2 0.1 0.1"]).count("\n") == 2
    path = write_label_file(tmp_path / "deep" / "none.txt", [])
    assert path.read_bytes() == b""


# -- what is not a row -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "task", "reason"),
    [
        ("0 0.5 x 0.2 0.2", "detect", "'x' is not a number"),
        ("0 0.5 nan 0.2 0.2", "detect", "NaN or infinity"),
        ("-1 0.5 0.5 0.2 0.2", "detect", "class id -1 is negative"),
        ("1.5 0.5 0.5 0.2 0.2", "detect", "not a whole number"),
        ("0 0.5 0.5 0.2", "detect", "3 values after the class"),
        ("0", "segment", "no coordinates after the class"),
        ("0 0.1 0.1 0.2 0.2 0.3", "segment", "5 coordinates after the class"),
        ("0 0.1 0.1 0.2 0.2 0.3 0.1 0.9", "segment", "7 coordinates"),
        ("0 0.1 0.1", "segment", "polygon has 1 points"),
        ("0 0.5 0.5 0.2 0.2 0.5 0.5", "pose", r"fits kpt_shape \[1, 2\]"),
    ],
)
def test_lines_that_are_not_rows_say_why(line, task, reason):
    with pytest.raises(LabelLineError, match=reason):
        parse_line(line, task, (1, 3))


def test_a_class_beyond_the_names_is_refused_only_when_the_count_is_known():
    assert parse_line("7 0.5 0.5 0.2 0.2", "detect").class_id == 7
    with pytest.raises(LabelLineError, match="class id 7 is not below the number of names"):
        parse_line("7 0.5 0.5 0.2 0.2", "detect", num_classes=3)


def test_blank_lines_are_no_rows_and_a_segment_box_row_has_no_polygon():
    assert parse_line("   \t", "segment") is None and read_numbers("") == ()
    row = parse_row((2.0, 0.5, 0.5, 0.2, 0.1), "segment")
    assert isinstance(row, LabelRow) and row.polygon is None
    np.testing.assert_array_equal(row.box, [0.5, 0.5, 0.2, 0.1])
    with pytest.raises(ValueError, match="kpt_shape"):
        parse_row((0.0, 0.5, 0.5, 0.2, 0.1), "pose")


# -- files other tools wrote -----------------------------------------------------------------


def test_the_reference_detect_labels_read():
    text = (FIXTURES / "coco128-detect-000000000009.txt").read_text()
    rows = [parse_line(line, "detect", num_classes=80) for line in text.splitlines()]
    assert [row.class_id for row in rows] == [45, 45, 50, 45, 49, 49, 49, 49]
    np.testing.assert_array_equal(rows[4].box, [0.646836, 0.132552, 0.118047, 0.0969375])
    assert [box_line(row.class_id, row.box) for row in rows] == text.splitlines()


def test_the_reference_segment_labels_read_without_problems():
    path = FIXTURES / "coco8-seg-000000000009-row1.txt"
    instances, problems = read_labels(path, "segment", 80)
    assert problems == [] and instances.cls.tolist() == [45]
    assert instances.segments[0].shape == (12, 2)
    assert instances.segments[0][7].tolist() == [np.float32(0.608422), np.float32(0.4)]


def test_the_reference_pose_labels_read_and_write_back_the_same_values():
    path = FIXTURES / "coco8-pose-000000000036-row1.txt"
    instances, problems = read_labels(path, "pose", 1, (17, 3))
    assert problems == [] and len(instances) == 1
    visibility = instances.keypoints[0, :, 2]
    assert visibility.tolist() == [2.0] * 13 + [0.0] * 4
    (line,) = path.read_text().splitlines()
    again = format_row(parse_line(line, "pose", (17, 3)))
    assert read_numbers(again) == read_numbers(line)
    assert len(again) < len(line)  # "2.000000" is written "2"


def test_a_windows_file_with_a_byte_order_mark_and_crlf_reads(tmp_path):
    text = "\ufeff0 0.1 0.1 0.9 0.1 0.5 0.8\r\n\r\n1 0.2 0.2 0.4 0.2 0.3 0.4 \r\n"
    instances, problems = parse_labels(text.removeprefix("\ufeff"), tmp_path / "a.txt",
                                       "segment", 2)
    assert problems == [] and instances.cls.tolist() == [0, 1]
    path = tmp_path / "a.txt"
    path.write_bytes(text.encode("utf-8"))
    from_file, _ = read_labels(path, "segment", 2)
    assert from_file.cls.tolist() == [0, 1]
