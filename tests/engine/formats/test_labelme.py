"""The labelme codec: files labelme wrote read as written, our writes read back exactly, and bad
files or shapes are named, not fatal for the rest."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import DatasetError
from engine.formats.labelme import (
    SHAPE_TYPES,
    LabelmeFile,
    Shape,
    image_reference,
    labelme_text,
    parse_labelme,
    read_labelme,
    write_labelme,
)

FIXTURES = Path(__file__).parents[2] / "fixtures" / "labelme"
INSTANCE_FILES = ("2011_000003.json", "2011_000006.json", "2011_000025.json")


def test_the_instance_segmentation_example_reads_every_shape():
    files = [read_labelme(FIXTURES / name) for name in INSTANCE_FILES]
    assert [len(f.shapes) for f in files] == [5, 10, 3]
    assert not any(f.problems for f in files)
    first = files[0]
    assert (first.image_path, first.width, first.height, first.image_data) == (
        "2011_000003.jpg", 500, 338, None)
    assert [(s.label, s.group_id) for s in first.shapes] == [
        ("person", None), ("person", 0), ("person", 0), ("bottle", None), ("__ignore__", None)]
    # shapes of one label and group id are one object: 14 objects, two of them in parts
    objects = Counter()
    for number, file in enumerate(files):
        for index, shape in enumerate(file.shapes):
            key = index if shape.group_id is None else f"g{shape.group_id}"
            objects[(number, shape.label, key)] += 1
    assert len(objects) == 14
    assert sorted(n for n in objects.values() if n > 1) == [2, 4]  # the person, the sofa
    labels = Counter(label for _, label, _ in objects)
    assert labels == {"person": 6, "bottle": 1, "chair": 1, "sofa": 1, "bus": 2, "car": 1,
                      "__ignore__": 2}


def test_every_shape_type_of_labelme_5_reads_with_its_points():
    file = read_labelme(FIXTURES / "primitives.json")
    assert not file.problems and file.version == "5.7.0"
    assert {s.shape_type for s in file.shapes} == {"rectangle", "circle", "polygon", "line",
                                                   "point", "linestrip", "mask"}
    (mask,) = [s for s in file.shapes if s.shape_type == "mask"]
    assert mask.mask and len(mask.points) == 2
    (point,) = [s for s in file.shapes if s.shape_type == "point"]
    assert len(point.points) == 1


def test_image_flags_are_read_as_tags():
    file = read_labelme(FIXTURES / "classification_0001.json")
    assert file.shapes == () and dict(file.flags) == {"__ignore__": False, "cat": True,
                                                      "dog": False}


@pytest.mark.parametrize("name", [*INSTANCE_FILES, "primitives.json",
                                  "classification_0001.json"])
def test_a_real_file_rewritten_reads_back_the_same(name, tmp_path):
    original = read_labelme(FIXTURES / name)
    before = (FIXTURES / name).read_bytes()
    again = read_labelme(write_labelme(tmp_path / name, original))
    assert again == original
    assert (FIXTURES / name).read_bytes() == before  # the source is only read


def test_what_labelme_would_read_is_labelme_json(tmp_path):
    original = read_labelme(FIXTURES / "2011_000003.json")
    document = json.loads(labelme_text(original))
    written = json.loads((FIXTURES / "2011_000003.json").read_text())
    for key in ("imagePath", "imageHeight", "imageWidth", "imageData", "flags", "version"):
        assert document[key] == written[key], key
    for ours, theirs in zip(document["shapes"], written["shapes"], strict=True):
        assert {k: ours[k] for k in theirs} == theirs


def test_embedded_image_data_round_trips(tmp_path):
    payload = bytes(range(256)) * 3  # any encoded image file: the codec keeps the bytes
    file = LabelmeFile("a.png", 4, 3, image_data=payload)
    assert read_labelme(write_labelme(tmp_path / "a.json", file)).image_data == payload


coordinates = st.floats(min_value=-1e4, max_value=1e5, allow_nan=False, allow_infinity=False)
points = st.lists(st.tuples(coordinates, coordinates), min_size=4, max_size=12).map(tuple)
names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(
    str.strip)
shapes = st.builds(
    Shape, label=names, shape_type=st.sampled_from(["polygon", "points", "linestrip"]),
    points=points, group_id=st.none() | st.integers(0, 10_000),
    description=st.none() | st.text(max_size=20),
    flags=st.dictionaries(names, st.booleans(), max_size=3))
files = st.builds(
    LabelmeFile, image_path=st.text(max_size=30), width=st.integers(1, 10_000),
    height=st.integers(1, 10_000), shapes=st.lists(shapes, max_size=5).map(tuple),
    flags=st.dictionaries(names, st.booleans(), max_size=4),
    image_data=st.none() | st.binary(min_size=1, max_size=64))


@given(files)
def test_any_file_round_trips_exactly(file):
    assert parse_labelme(json.loads(labelme_text(file)), Path("x.json")) == file


def test_bad_shapes_are_named_and_the_rest_is_read():
    content = json.loads((FIXTURES / "2011_000025.json").read_text())
    good = len(content["shapes"])
    content["shapes"] += [
        {"label": "car", "points": [[1, 2], [3, 4]], "shape_type": "polygon"},
        {"label": "car", "points": [[1, 2]], "shape_type": "ellipse"},
        {"label": "car", "points": [[1, "x"], [2, 3], [4, 5]], "shape_type": "polygon"},
        {"label": "car", "points": [[1, float("nan")], [2, 3], [4, 5]]},
        {"points": [[1, 2], [2, 3], [4, 5]], "shape_type": "polygon"},
        {"label": "car", "points": [[1, 2], [2, 3], [4, 5]], "group_id": "a"},
    ]
    file = parse_labelme(content, Path("a.json"))
    assert len(file.shapes) == good
    reasons = {p.index - good: p.reason for p in file.problems}
    assert reasons[0] == "a polygon needs at least 3 points, it has 2"
    assert reasons[1].startswith("unknown shape_type 'ellipse'")
    assert "could not convert string to float" in reasons[2]
    assert reasons[3].startswith("a point must be finite")
    assert reasons[4] == "the shape has no 'label'"
    assert reasons[5] == "group_id must be a whole number or null, not 'a'"
    assert set(SHAPE_TYPES) >= {s.shape_type for s in file.shapes}


@pytest.mark.parametrize(("text", "message", "key", "line"), [
    ('{"shapes": [\n  {"label": }', "not valid JSON", None, 2),
    ('[1, 2]', "not a labelme file", None, None),
    ('{"shapes": [], "imagePath": "a.jpg", "imageHeight": 10}', "image's size", "imageWidth",
     None),
    ('{"shapes": [], "imagePath": "a.jpg", "imageHeight": 10, "imageWidth": 10, '
     '"imageData": "not base64!"}', "is not base64", "imageData", None),
    ('{"shapes": [], "imageHeight": 10, "imageWidth": 10}', "image's path", "imagePath", None),
])
def test_a_file_that_is_not_labelme_is_one_error_naming_it(tmp_path, text, message, key, line):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(DatasetError) as caught:
        read_labelme(path)
    error = caught.value
    assert message in str(error) and error.path == str(path)
    assert error.key == key and error.line == line


@pytest.mark.parametrize(("written", "expected"), [
    ("2011_000003.jpg", "2011_000003.jpg"),
    ("..\\JPEGImages\\2011_000003.jpg", "../JPEGImages/2011_000003.jpg"),
    ("C:\\Users\\me\\data\\a.jpg", "/Users/me/data/a.jpg"),
    ("/home/me/a.jpg", "/home/me/a.jpg"),
])
def test_image_paths_written_on_any_system_read_as_posix(written, expected):
    reference = image_reference(LabelmeFile(written, 1, 1))
    assert reference == PurePosixPath(expected)
    assert reference.is_absolute() == expected.startswith("/")
