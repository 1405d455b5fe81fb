"""labelme folders read into a LabelSet: labelme's own example files read into the objects they
hold, bad files and shapes named while the rest is read (writing: test_labelme_labelset_write)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import os
import shutil
from collections import Counter
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from PIL import Image

from engine.errors import DatasetError
from engine.formats.labelme import read_labelme
from engine.formats.labelme_labelset import (
    CIRCLE_POINTS,
    UNBOXED_POINTS_LABEL,
    read_labelme_folder,
)
from engine.formats.labelset import (
    VISIBLE,
    Keypoint,
    LabeledImage,
    LabelSet,
)
from engine.formats.outlines import fill_outlines

FIXTURES = Path(__file__).parents[2] / "fixtures" / "labelme"
INSTANCE_FILES = ("2011_000003.json", "2011_000006.json", "2011_000025.json")


def _copy_with_images(names, folder: Path, source: Path = FIXTURES) -> Path:
    """The labelme files copied into ``folder`` with a blank image of the size each names
    beside it (the photos are not in the fixtures)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(source / name, folder / Path(name).name)
        _blank_image(folder / Path(name).name)
    return folder


def _blank_image(json_path: Path) -> None:
    content = json.loads(json_path.read_text(encoding="utf-8"))
    image = json_path.parent / content["imagePath"].replace("\\", "/")
    image.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (content["imageWidth"], content["imageHeight"])).save(image)


def _write_json(path: Path, shapes, **top) -> Path:
    document = {"version": "5.7.0", "flags": {}, "shapes": shapes, "imagePath": "a.jpg",
                "imageData": None, "imageHeight": 100, "imageWidth": 120}
    document.update(top)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _shape(label, points, shape_type="polygon", group_id=None, **more):
    return {"label": label, "points": points, "group_id": group_id, "shape_type": shape_type,
            "flags": {}, **more}


def _by_name(labelset: LabelSet) -> dict[str, LabeledImage]:
    return {str(image.name): image for image in labelset.images}


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


# -- labelme's own examples ---------------------------------------------------------------------


def test_the_instance_segmentation_example_gives_twelve_objects_where_they_belong(tmp_path):
    folder = _copy_with_images(INSTANCE_FILES, tmp_path / "data_annotated")
    labelset = read_labelme_folder(folder)
    assert labelset.format == "labelme" and labelset.source == folder
    images = _by_name(labelset)
    assert list(images) == ["2011_000003.jpg", "2011_000006.jpg", "2011_000025.jpg"]
    assert all(image.path == folder / name for name, image in images.items())
    assert labelset.object_count() == 12
    assert Counter(o.label for i in labelset.images for o in i.objects) == {
        "person": 6, "bottle": 1, "chair": 1, "sofa": 1, "bus": 2, "car": 1}
    assert [[o.label for o in i.objects] for i in labelset.images] == [
        ["person", "person", "bottle"],
        ["person", "person", "person", "chair", "person", "sofa"],
        ["bus", "bus", "car"]]
    assert all(o.kind == "polygon" for i in labelset.images for o in i.objects)
    # the two instances drawn in parts stay one object each, every point as written
    for image, file in zip(labelset.images, INSTANCE_FILES, strict=True):
        raw = json.loads((FIXTURES / file).read_text())["shapes"]
        rings = [np.array(s["points"]) for s in raw if s["label"] != "__ignore__"]
        read = [p for o in image.objects for p in o.polygons]
        assert len(read) == len(rings)
        assert all(np.array_equal(a, b) for a, b in zip(read, rings, strict=True))
    person = images["2011_000003.jpg"].objects[1]
    assert [len(p) for p in person.polygons] == [41, 4]
    assert person.where == "shapes 1, 2 (group_id 0)"
    sofa = images["2011_000006.jpg"].objects[5]
    assert [len(p) for p in sofa.polygons] == [9, 3, 9, 4]
    # __ignore__: a warning per region, never a class
    assert [(Path(p.file).name, p.where, p.severity) for p in labelset.problems] == [
        ("2011_000003.json", "shape 4", "warning"), ("2011_000006.json", "shape 5", "warning")]
    assert all("__ignore__ region" in p.reason for p in labelset.problems)
    assert labelset.labels == ["person", "bottle", "chair", "sofa", "bus", "car"]
    assert labelset.keypoint_names == ()


def test_the_box_example_reads_rectangles_with_their_corners(tmp_path):
    folder = _copy_with_images(INSTANCE_FILES, tmp_path / "boxes", FIXTURES / "bbox_detection")
    labelset = read_labelme_folder(folder)
    assert not labelset.problems
    boxes = [[(o.label, o.kind, o.box) for o in i.objects] for i in labelset.images]
    assert boxes[0] == [
        ("person", "rectangle", (191.0, 107.36900369003689, 313.0, 329.36900369003695)),
        ("person", "rectangle", (365.0, 83.0, 500.0, 333.0))]
    assert [len(b) for b in boxes] == [2, 4, 3]
    assert [label for label, _, _ in boxes[2]] == ["bus", "bus", "car"]
    assert boxes[2][1][2] == (1.0, 99.0, 107.0, 282.0)


def test_every_primitive_becomes_an_object_or_a_problem(tmp_path):
    folder = _copy_with_images(["primitives.json"], tmp_path)
    labelset = read_labelme_folder(folder)
    (image,) = labelset.images
    assert (image.width, image.height) == (560, 450)
    kinds = [(o.label, o.kind) for o in image.objects]
    assert kinds == [("rectangle", "rectangle"), ("circle", "polygon"),
                     ("rectangle", "rectangle"), ("polygon", "polygon"), ("point", "points"),
                     ("octagon", "mask")]
    rectangle, circle, _, polygon, point, octagon = image.objects
    assert rectangle.box == (32.0, 35.0, 132.0, 135.0)
    # the circle: CIRCLE_POINTS points on it from the rim point drawn, area within 0.5 %
    (ring,) = circle.polygons
    centre, radius = np.array([195.0, 84.0]), math.hypot(30.0, 41.0)
    assert len(ring) == CIRCLE_POINTS and np.array_equal(ring[0], [225.0, 125.0])
    assert np.allclose(np.hypot(*(ring - centre).T), radius)
    x, y = ring[:, 0], ring[:, 1]
    area = 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
    assert abs(area / (math.pi * radius**2) - 1) < 0.005
    assert np.array_equal(polygon.polygons[0], [[69, 318], [45, 403], [173, 406], [198, 321]])
    assert point.keypoints == (Keypoint("point", 345.0, 174.0, VISIBLE),)
    assert point.box is None
    # the mask shape: its PNG crop placed at (417, 305) and traced; filled back it is the crop
    shape = next(s for s in read_labelme(folder / "primitives.json").shapes
                 if s.shape_type == "mask")
    crop = np.asarray(Image.open(io.BytesIO(base64.b64decode(shape.mask)))) > 0
    expected = np.zeros((450, 560), np.uint8)
    expected[305:305 + crop.shape[0], 417:417 + crop.shape[1]] = crop
    filled = fill_outlines(octagon.polygons, octagon.holes, 450, 560)
    assert int(crop.sum()) == 7275 and np.array_equal(filled, expected)
    # the open lines have no area
    assert [(p.where, p.severity) for p in labelset.problems] == [
        ("shape 4", "error"), ("shape 6", "error")]
    assert "a line: an open line has no area" in labelset.problems[0].reason
    assert "a linestrip" in labelset.problems[1].reason
    assert labelset.keypoint_names == ("point",)


def test_image_flags_are_tags_and_every_flag_name_a_label(tmp_path):
    folder = _copy_with_images(["classification_0001.json"], tmp_path)
    labelset = read_labelme_folder(folder)
    (image,) = labelset.images
    assert (image.name, image.tags, image.objects) == (PurePosixPath("0001.jpg"), ("cat",), ())
    assert labelset.labels == ["cat", "dog"]  # declared by every file, "dog" set on none
    assert not labelset.problems


def test_an_image_flagged_ignore_is_read_with_a_warning(tmp_path):
    _write_json(tmp_path / "a.json", [], flags={"__ignore__": True, "cat": True})
    (tmp_path / "a.jpg").write_bytes(b"")
    labelset = read_labelme_folder(tmp_path)
    assert labelset.images[0].tags == ("cat",) and labelset.labels == ["cat"]
    (problem,) = labelset.problems
    assert (problem.where, problem.severity) == ("flags", "warning")


# -- pose: points joined to their group's rectangle ---------------------------------------------


def test_points_sharing_a_rectangles_group_id_are_its_keypoints(tmp_path):
    _write_json(tmp_path / "a.json", [
        _shape("nose", [[50, 20]], "point", 1),
        _shape("person", [[80, 90], [30, 10]], "rectangle", 1),
        _shape("left_eye", [[45, 18]], "point", 1),
        _shape("person", [[5, 5], [25, 40]], "rectangle", 2),
        _shape("left_eye", [[10, 8]], "point", 2),
        _shape("right_eye", [[14, 8]], "point", 2),
        _shape("tail", [[100, 60]], "point"),  # alone: its own points object
        _shape("knee", [[70, 70]], "point", 7),  # no area shape in group 7: unboxed
        _shape("ankle", [[72, 80]], "point", 7),
        _shape("seed", [[1, 1]], "point", 8),
        _shape("seed", [[2, 3]], "point", 8),
    ])
    (tmp_path / "a.jpg").write_bytes(b"")
    labelset = read_labelme_folder(tmp_path)
    assert not labelset.problems
    objects = labelset.images[0].objects
    assert [(o.label, o.kind, o.box) for o in objects] == [
        ("person", "points", (30.0, 10.0, 80.0, 90.0)),
        ("person", "points", (5.0, 5.0, 25.0, 40.0)),
        ("tail", "points", None),
        (UNBOXED_POINTS_LABEL, "points", None),
        ("seed", "points", None)]
    assert objects[0].keypoints == (Keypoint("nose", 50, 20), Keypoint("left_eye", 45, 18))
    assert objects[0].polygons == ()
    assert objects[0].where == "shape 1; points: shapes 0, 2"
    assert [k.name for k in objects[1].keypoints] == ["left_eye", "right_eye"]
    assert objects[3].keypoints == (Keypoint("knee", 70, 70), Keypoint("ankle", 72, 80))
    assert [(k.x, k.y) for k in objects[4].keypoints] == [(1, 1), (2, 3)]
    assert labelset.keypoint_names == ("nose", "left_eye", "right_eye", "tail", "knee",
                                       "ankle", "seed")
    assert labelset.labels == ["person", "tail", UNBOXED_POINTS_LABEL, "seed"]


def test_points_of_a_polygon_group_keep_its_outline_and_its_extent_as_box(tmp_path):
    _write_json(tmp_path / "a.json", [
        _shape("hand", [[10, 10], [40, 12], [30, 50]], "polygon", 3),
        _shape("thumb", [[12, 11]], "point", 3),
        _shape("hand", [[60, 60], [70, 60], [65, 70]], "polygon", 4),  # group 4: no points
    ])
    labelset = read_labelme_folder(tmp_path)
    hand, other = labelset.images[0].objects
    assert (hand.kind, hand.box, len(hand.polygons)) == ("points", (10.0, 10.0, 40.0, 50.0), 1)
    assert hand.keypoints == (Keypoint("thumb", 12, 11),)
    assert other.kind == "polygon"


def test_the_same_group_id_with_other_labels_makes_other_objects(tmp_path):
    square = [[0, 0], [10, 0], [10, 10], [0, 10]]
    _write_json(tmp_path / "a.json", [_shape("cat", square, group_id=0),
                                      _shape("dog", square, group_id=0),
                                      _shape("cat", [[20, 20], [30, 20], [25, 30]], group_id=0)])
    objects = read_labelme_folder(tmp_path).images[0].objects
    assert [(o.label, len(o.polygons)) for o in objects] == [("cat", 2), ("dog", 1)]


def test_oriented_rectangles_and_parts_of_several_kinds_make_outlines(tmp_path):
    tilted = [[10, 0], [20, 10], [10, 20], [0, 10]]
    _write_json(tmp_path / "a.json", [
        _shape("tile", tilted, "oriented_rectangle"),
        _shape("wall", [[30, 30], [40, 40]], "rectangle", 5),
        _shape("wall", [[60, 45], [50, 35]], "rectangle", 5),  # two boxes: one object in parts
        _shape("roof", [[0, 50], [10, 50], [5, 60]], "polygon", 6),
        _shape("roof", [[20, 50], [30, 50]], "rectangle", 6),
    ], flags={})
    objects = read_labelme_folder(tmp_path).images[0].objects
    assert [(o.label, o.kind, o.box) for o in objects] == [
        ("tile", "polygon", None), ("wall", "polygon", None), ("roof", "polygon", None)]
    assert np.array_equal(objects[0].polygons[0], tilted)
    assert [p.tolist() for p in objects[1].polygons] == [
        [[30, 30], [40, 30], [40, 40], [30, 40]], [[50, 35], [60, 35], [60, 45], [50, 45]]]
    assert [len(p) for p in objects[2].polygons] == [3, 4]


# -- where the image is -------------------------------------------------------------------------


def test_an_image_path_written_on_windows_is_found(tmp_path):
    _write_json(tmp_path / "labels" / "a.json", [_shape("cat", [[1, 1], [9, 1], [5, 9]])],
                imagePath="..\\images\\a.jpg")
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.jpg").write_bytes(b"")
    labelset = read_labelme_folder(tmp_path)
    assert not labelset.problems
    (image,) = labelset.images
    assert (image.name, image.path) == (PurePosixPath("images/a.jpg"),
                                        tmp_path / "images" / "a.jpg")
    assert image.file == str(tmp_path / "labels" / "a.json")


def test_an_absolute_windows_path_is_looked_for_beside_the_json_with_a_warning(tmp_path):
    _write_json(tmp_path / "sub" / "a.json", [], imagePath="C:\\Users\\me\\data\\photo 1.jpg")
    (tmp_path / "sub" / "photo 1.jpg").write_bytes(b"")
    labelset = read_labelme_folder(tmp_path)
    (image,) = labelset.images
    assert (image.name, image.path) == (PurePosixPath("sub/photo 1.jpg"),
                                        tmp_path / "sub" / "photo 1.jpg")
    (problem,) = labelset.problems
    assert (problem.where, problem.severity) == ("imagePath", "warning")
    assert "C:\\Users\\me\\data\\photo 1.jpg" in problem.reason and "photo 1.jpg" in problem.reason


def test_a_missing_image_is_a_problem_and_its_labels_still_come_back(tmp_path):
    _write_json(tmp_path / "a.json", [_shape("cat", [[1, 1], [9, 1], [5, 9]])],
                imagePath="C:\\gone\\a.jpg")
    labelset = read_labelme_folder(tmp_path)
    (image,) = labelset.images
    assert image.path is None and image.image_data is None
    assert [o.label for o in image.objects] == ["cat"]
    assert [(p.where, p.severity) for p in labelset.problems] == [
        ("imagePath", "warning"), ("imagePath", "error")]
    assert "image not found" in labelset.problems[1].reason


def _png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_an_embedded_image_stands_in_for_a_missing_file(tmp_path):
    data = _png(120, 100)
    encoded = base64.b64encode(data).decode()
    _write_json(tmp_path / "a.json", [], imagePath="a.png", imageData=encoded)
    # labelme's tutorial file names itself as its image: only the embedded one exists
    _write_json(tmp_path / "self.json", [], imagePath="self.json", imageData=encoded)
    labelset = read_labelme_folder(tmp_path)
    assert not labelset.problems
    images = _by_name(labelset)
    assert list(images) == ["a.png", "self.png"]
    assert all(i.path is None and i.image_data == data for i in images.values())


def test_an_image_file_beside_the_json_wins_over_its_embedded_copy(tmp_path):
    _write_json(tmp_path / "a.json", [], imagePath="a.png",
                imageData=base64.b64encode(_png(120, 100)).decode())
    (tmp_path / "a.png").write_bytes(_png(120, 100))
    (image,) = read_labelme_folder(tmp_path).images
    assert image.path == tmp_path / "a.png" and image.image_data is None


# -- bad input ----------------------------------------------------------------------------------


def test_bad_shapes_are_named_and_the_rest_of_the_file_is_read(tmp_path):
    _write_json(tmp_path / "a.json", [
        _shape("cat", [[1, 1], [9, 1]]),  # two points: not a polygon
        _shape("cat", [[1, 1], [9, 1], [1, 1]]),  # three, but closed on itself
        _shape("dog", [[1, 1], [9, 1], [5, 9]]),
        _shape("bird", [[1, 1], [9, 9]], "ellipse"),  # labelme writes no such type
        _shape("fish", [[5, 5], [5, 5]], "circle"),  # radius 0
        _shape("eel", [[0, 0], [3, 3]], "mask", mask="not base64!"),
    ])
    (tmp_path / "a.jpg").write_bytes(b"")
    labelset = read_labelme_folder(tmp_path)
    assert [o.label for o in labelset.images[0].objects] == ["dog"]
    assert [p.where for p in labelset.problems] == ["shape 0", "shape 3", "shape 1",
                                                    "shape 4", "shape 5"]
    reasons = [p.reason for p in labelset.problems]
    assert "at least 3 points" in reasons[0] and "ellipse" in reasons[1]
    assert "3 different points" in reasons[2] and "radius 0" in reasons[3]
    assert "not a base64 PNG" in reasons[4]
    assert all(r.endswith("left out") for r in reasons)


def test_bad_files_are_one_problem_each_and_the_other_files_are_read(tmp_path):
    good = _write_json(tmp_path / "good.json", [_shape("cat", [[1, 1], [9, 1], [5, 9]])])
    (tmp_path / "a.jpg").write_bytes(b"")
    (tmp_path / "broken.json").write_text('{"shapes": [\n  {"label": "x",,}\n]}')
    (tmp_path / "latin1.json").write_bytes('{"shapes": [], "imagePath": "é.jpg"}'
                                           .encode("latin-1"))
    _write_json(tmp_path / "nosize.json", [], imageWidth=None, imagePath="b.jpg")
    (tmp_path / "coco.json").write_text('{"images": [], "annotations": []}')  # not labelme
    (tmp_path / "list.json").write_text("[1, 2]")
    hidden = tmp_path / ".cache"
    hidden.mkdir()
    (hidden / "junk.json").write_text("{")
    before = _digests(tmp_path)
    labelset = read_labelme_folder(tmp_path)
    assert [i.file for i in labelset.images] == [str(good)]
    problems = {Path(p.file).name: p for p in labelset.problems}
    assert set(problems) == {"broken.json", "latin1.json", "nosize.json"}
    assert problems["broken.json"].where == "line 2" and "not valid JSON" in \
        problems["broken.json"].reason
    assert "not UTF-8" in problems["latin1.json"].reason
    assert problems["nosize.json"].where == "imageWidth"
    assert _digests(tmp_path) == before  # the sources are only read


def test_a_file_name_that_is_not_utf8_is_a_problem_and_the_rest_is_read(tmp_path):
    _write_json(tmp_path / "good.json", [])
    (tmp_path / "a.jpg").write_bytes(b"")
    bad = os.path.join(os.fsencode(tmp_path), b"caf\xe9.json")
    with open(bad, "wb") as handle:
        handle.write((tmp_path / "good.json").read_bytes())
    labelset = read_labelme_folder(tmp_path)
    assert [i.name for i in labelset.images] == [PurePosixPath("a.jpg")]
    (problem,) = labelset.problems
    assert problem.file.endswith("caf\ufffd.json") and "not UTF-8" in problem.reason
    problem.line().encode("utf-8")  # the report line prints


def test_two_files_for_one_image_keep_the_first(tmp_path):
    first = _write_json(tmp_path / "a.json", [_shape("cat", [[1, 1], [9, 1], [5, 9]])])
    _write_json(tmp_path / "b.json", [_shape("dog", [[1, 1], [9, 1], [5, 9]])])
    (tmp_path / "a.jpg").write_bytes(b"")
    labelset = read_labelme_folder(tmp_path)
    assert [i.file for i in labelset.images] == [str(first)]
    (problem,) = labelset.problems
    assert Path(problem.file).name == "b.json" and "a.json" in problem.reason
    assert labelset.labels == ["cat"]


def test_a_folder_without_labelme_files_says_so_and_no_folder_raises(tmp_path):
    (tmp_path / "x.json").write_text("{}")
    labelset = read_labelme_folder(tmp_path)
    assert labelset.images == [] and "no labelme JSON" in labelset.problems[0].reason
    with pytest.raises(DatasetError, match="not a folder"):
        read_labelme_folder(tmp_path / "nowhere")
