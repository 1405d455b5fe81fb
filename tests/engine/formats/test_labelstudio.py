"""The Label Studio JSON export reader: exports Label Studio wrote (its converter's and SDK's test
data) read into exact pixel objects, missing images and brushes, and bad files or regions named
without stopping the rest. How references find images: test_labelstudio_images; the brush
code: test_labelstudio_brush; JSON-MIN: test_labelstudio_min."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from engine.errors import DatasetError
from engine.formats.labelset import LabelSet
from engine.formats.labelstudio import read_labelstudio
from engine.formats.labelstudio_brush import decode_brush
from engine.formats.outlines import fill_outlines

from .test_labelstudio_brush import BRUSH_CODE, brush_code

FIXTURES = Path(__file__).parents[2] / "fixtures" / "labelstudio"
POLYGONS = "converter_test_export_yolo_data_polygons.json"
UPLOAD = "converter_test_export_json_min_data.json"
TWO_ANNOTATIONS = "converter_test_export_yolo_data.json"
ROTATED = "converter_test_export_yolo_data_obb.json"
URLS = "converter_test_export_csv_csv_test.json"
MIXED = "sdk_test_export_coco_data.json"
KEYPOINTS = "sdk_test_export_yolo_data_keypoints.json"
TEXT_CHOICES = "sdk_test_export_csv_csv_test2.json"


def fixture(name: str) -> list[dict[str, Any]]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def write(tmp_path: Path, tasks: Any, name: str = "export.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(tasks), encoding="utf-8")
    return path


def blank_image(path: Path, width: int, height: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height)).save(path)
    return path


def reasons(labelset: LabelSet, severity: str | None = None) -> list[str]:
    return [p.line() for p in labelset.problems if severity in (None, p.severity)]


def close(a: Any, b: Any, size: float) -> bool:
    """Equal within 1e-6 of the image's size, as the issue asks of every shape."""
    return np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=0, atol=1e-6 * size)


# --- the real exports ---------------------------------------------------------------------

def test_a_polygon_in_percent_comes_back_in_pixels_of_original_width_and_height():
    labelset = read_labelstudio(FIXTURES / POLYGONS)
    (image,) = labelset.images
    assert (labelset.format, image.width, image.height) == ("labelstudio", 640, 426)
    assert (image.name, image.path, image.tags) == (PurePosixPath("image2"), None, ())
    (obj,) = image.objects
    assert (obj.label, obj.kind, obj.where) == ("Airplane", "polygon",
                                                "task 68501, result 'djbpw94CXj'")
    written = fixture(POLYGONS)[0]["annotations"][0]["result"][0]["value"]["points"]
    (polygon,) = obj.polygons
    assert polygon.shape == (37, 2)
    assert close(polygon, np.array(written) * [6.40, 4.26], 640)
    assert close(polygon[0], [written[0][0] * 6.4, written[0][1] * 4.26], 640)
    assert labelset.labels == ["Airplane"]


def test_an_upload_is_found_beside_the_json_and_read_with_its_polygon(tmp_path):
    shutil.copy(FIXTURES / UPLOAD, tmp_path / UPLOAD)
    photo = blank_image(tmp_path / "example.png", 128, 128)
    labelset = read_labelstudio(tmp_path / UPLOAD)
    (image,) = labelset.images
    assert (image.name, image.path, image.width, image.height) == (
        PurePosixPath("example.png"), photo, 128, 128)
    assert not labelset.problems
    (obj,) = image.objects
    assert close(obj.polygons[0], [[56.888888888888886, 61.765079365079366],
                                   [42.53968253968254 * 1.28, 60.317460317460316 * 1.28],
                                   [56.19047619047619 * 1.28, 50.79365079365079 * 1.28]], 128)


def test_the_latest_annotation_not_cancelled_is_read_and_the_other_named(tmp_path):
    labelset = read_labelstudio(FIXTURES / TWO_ANNOTATIONS)
    first, second = labelset.images
    # annotation 2 of task 1 was updated last: its two boxes, not annotation 1's
    assert [o.where for o in first.objects] == ["task 1, result 'ipBS_GBGZp'",
                                                "task 1, result 'QtdGMXo-M0'"]
    assert [o.label for o in first.objects] == ["parasites", "white"]
    assert close(first.objects[0].box, [37.88706739526412 * 28, 71.76684881602914 * 28,
                                        (37.88706739526412 + 3.8251366120218573) * 28,
                                        (71.76684881602914 + 4.553734061930784) * 28], 2800)
    assert all(o.kind == "rectangle" for o in first.objects + second.objects)
    assert len(second.objects) == 2
    assert any("task 1: 2 annotations: read annotation 2" in r and "left out 1" in r
               for r in reasons(labelset, "warning"))
    tasks = fixture(TWO_ANNOTATIONS)
    tasks[0]["annotations"][1]["was_cancelled"] = True
    again = read_labelstudio(write(tmp_path, tasks))
    assert [o.where for o in again.images[0].objects] == ["task 1, result 'C7oHaRDVVC'",
                                                          "task 1, result '9GLz8g9skg'"]


def test_rotated_rectangles_turn_clockwise_about_their_top_left_corner():
    labelset = read_labelstudio(FIXTURES / ROTATED)
    written = [(task, r) for task in fixture(ROTATED)
               for r in task["annotations"][0]["result"]]
    objects = [o for image in labelset.images for o in image.objects]
    assert len(objects) == len(written) == 25
    assert [i.width for i in labelset.images] == [597, 433, 716]
    assert labelset.labels == ["Butterfly", "butterfly"]  # as written: case is a class
    for obj, (_task, result) in zip(objects, written, strict=True):
        w, h, v = result["original_width"], result["original_height"], result["value"]
        (corners,) = obj.polygons
        assert obj.kind == "polygon" and corners.shape == (4, 2)
        assert close(corners[0], [v["x"] * w / 100, v["y"] * h / 100], 768)
        top, side = corners[1] - corners[0], corners[3] - corners[0]
        assert math.hypot(*top) == pytest.approx(v["width"] * w / 100, abs=768e-6)
        assert math.hypot(*side) == pytest.approx(v["height"] * h / 100, abs=768e-6)
        # y points down, so a clockwise turn on screen is a positive angle here
        assert math.degrees(math.atan2(top[1], top[0])) % 360 == pytest.approx(
            v["rotation"] % 360, abs=1e-6)
        assert close(corners[2], corners[1] + side, 768)


def test_an_unrotated_rectangle_stays_a_rectangle_and_predictions_are_not_labels():
    labelset = read_labelstudio(FIXTURES / URLS)
    first, second = labelset.images
    (car,) = first.objects
    # the annotation's box (x 4.857...%), not the prediction's (x 3.63%)
    assert (car.label, car.kind) == ("Car", "rectangle")
    assert close(car.box, [37.30492484125447, 67.33832905866302, 747.7817248412545,
                           480.6759290586631], 768)
    assert (second.width, second.height, len(second.objects)) == (768, 510, 2)
    assert first.name == PurePosixPath("0030019819f25b28.jpg") and first.path is None
    lines = reasons(labelset)
    assert any("2 prediction(s)" in line and "not labels" in line for line in lines)
    assert any("task 1: image 'https://data.heartex.net/open-images/train_0/mini/"
               "0030019819f25b28.jpg' not found" in line and "URLs are not fetched" in line
               for line in reasons(labelset, "error"))


def test_keypoints_are_grouped_by_their_parent_rectangle_which_names_the_class():
    labelset = read_labelstudio(FIXTURES / KEYPOINTS)
    (image,) = labelset.images
    assert (image.width, image.height, image.name) == (216, 174, PurePosixPath("image1.jpg"))
    (person,) = image.objects  # the rectangle is the pose's box, not an object of its own
    assert (person.label, person.kind, person.where) == ("person", "points",
                                                         "task 10764, result 'hplPm0Szvc'")
    assert close(person.box, [83.91489361702128, 13.327659574468091, 186.09361702127663,
                              101.93191489361702], 216)
    assert [k.name for k in person.keypoints] == ["nose", "left_eye", "right_eye"]
    assert close([(k.x, k.y) for k in person.keypoints],
                 [(139.2, 68.36595744680852), (126.1191489361702, 53.55744680851064),
                  (152.2808510638298, 56.02553191489363)], 216)
    assert all(k.visibility == 2 for k in person.keypoints)
    assert labelset.keypoint_names == ("nose", "left_eye", "right_eye")
    assert labelset.labels == ["person"]
    assert any("5 relation(s)" in line for line in reasons(labelset, "warning"))


def test_points_without_a_parent_are_one_object_named_after_their_control_tag():
    labelset = read_labelstudio(FIXTURES / MIXED)
    (image,) = labelset.images
    assert image.name == PurePosixPath("test_image1.jpg")
    box, polygon, points = image.objects
    assert (box.label, box.kind) == ("rectangle_label", "rectangle")
    assert close(box.box, [31.941923774954628 * 5, 4.113475177304964 * 3.2,
                           (31.941923774954628 + 6.352087114337568) * 5,
                           (4.113475177304964 + 9.929078014184398) * 3.2], 500)
    assert (polygon.label, polygon.kind, len(polygon.polygons[0])) == (
        "polygon_label", "polygon", 3)
    assert (points.label, points.kind, points.box) == ("keypoint_label", "points", None)
    assert [k.name for k in points.keypoints] == ["keypoint_label1", "keypoint_label2"]
    assert close([(k.x, k.y) for k in points.keypoints],
                 [(22.595281306715066 * 5, 31.773049645390074 * 3.2),
                  (17.78584392014519 * 5, 28.510638297872344 * 3.2)], 500)
    assert any("2 keypoint(s) of 'keypoint_label' have no parentID" in line
               for line in reasons(labelset, "warning"))


def test_choices_are_the_image_tags_as_written(tmp_path):
    choice = fixture(TEXT_CHOICES)[0]["annotations"][0]["result"][0]  # quotes, \n, Cyrillic
    tasks = fixture(UPLOAD)
    result = tasks[0]["annotations"][0]["result"]
    result.append(choice)
    result.append({"id": "two", "type": "choices", "from_name": "weather", "to_name": "image",
                   "value": {"choices": ["sunny", "windy"]}})
    labelset = read_labelstudio(write(tmp_path, tasks))
    (image,) = labelset.images
    assert image.tags == ('Yes " "" \n \t \t а б в \n', "sunny", "windy")
    assert len(image.objects) == 1
    assert labelset.labels == ["Airplane", 'Yes " "" \n \t \t а б в \n', "sunny", "windy"]


def test_a_text_task_has_no_image_and_says_so():
    labelset = read_labelstudio(FIXTURES / TEXT_CHOICES)
    assert labelset.images == []
    (problem,) = labelset.problems
    assert problem.where == "task 4" and "no image in its data" in problem.reason


# --- images (how references are resolved: test_labelstudio_images) -----------------------

def test_a_missing_image_is_a_problem_and_its_labels_still_come_back(tmp_path):
    tasks = fixture(UPLOAD)
    tasks[0]["data"]["image"] = "/data/upload/29/0a1b2c3d-example.png"
    labelset = read_labelstudio(write(tmp_path, tasks))
    (image,) = labelset.images
    assert (image.path, image.name, len(image.objects)) == (
        None, PurePosixPath("example.png"), 1)
    (problem,) = labelset.problems
    assert problem.where == "task 87" and problem.severity == "error"
    assert "'/data/upload/29/0a1b2c3d-example.png' not found" in problem.reason
    assert "example.png, images/example.png, 0a1b2c3d-example.png" in problem.reason


def test_images_dir_is_where_images_are_looked_for(tmp_path):
    shutil.copy(FIXTURES / UPLOAD, tmp_path / UPLOAD)
    photo = blank_image(tmp_path / "elsewhere" / "example.png", 128, 128)
    labelset = read_labelstudio(tmp_path / UPLOAD, images_dir=tmp_path / "elsewhere")
    assert labelset.images[0].path == photo and not labelset.problems


def test_without_original_size_the_image_header_gives_it(tmp_path):
    tasks = fixture(POLYGONS)
    for result in tasks[0]["annotations"][0]["result"]:
        del result["original_width"], result["original_height"]
    tasks[0]["data"]["image"] = "/data/upload/1/plane.jpg"
    export = write(tmp_path, tasks)
    missing = read_labelstudio(export)
    assert (missing.images[0].width, missing.images[0].objects) == (0, ())
    assert any("size is unknown" in line for line in reasons(missing, "error"))
    photo = blank_image(tmp_path / "plane.jpg", 640, 426)
    before = photo.read_bytes(), photo.stat().st_mtime_ns
    labelset = read_labelstudio(export)
    (image,) = labelset.images
    assert (image.width, image.height, image.path) == (640, 426, photo)
    assert not labelset.problems
    assert (photo.read_bytes(), photo.stat().st_mtime_ns) == before  # only its header read
    assert close(image.objects[0].polygons[0], read_labelstudio(
        FIXTURES / POLYGONS).images[0].objects[0].polygons[0], 640)


# --- brushes (the run-length decoder itself: test_labelstudio_brush) ----------------------

def test_a_brush_code_cut_short_is_a_problem_naming_its_result(tmp_path):
    with pytest.raises(ValueError, match="ends before its last run"):
        decode_brush(BRUSH_CODE[:-3])
    tasks = fixture(UPLOAD)
    tasks[0]["annotations"][0]["result"].append({
        "id": "cut", "type": "brushlabels", "original_width": 3, "original_height": 1,
        "value": {"format": "rle", "rle": brush_code(np.arange(12, dtype=np.uint8))[:-3],
                  "brushlabels": ["Airplane"]}})
    labelset = read_labelstudio(write(tmp_path, tasks))
    assert [o.kind for o in labelset.images[0].objects] == ["polygon"]
    assert any("task 87, result 'cut': its brush RLE cannot be decoded for a 3x1 image ("
               "the code ends"
               in line for line in reasons(labelset, "error"))


def test_a_brush_is_decoded_and_traced_with_its_hole(tmp_path):
    mask = np.zeros((20, 30), np.uint8)
    mask[3:15, 4:20] = 1
    mask[6:10, 8:12] = 0  # a hole
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[mask > 0] = (255, 0, 0, 180)  # the brush's colour, as the tool paints it
    tasks = fixture(UPLOAD)
    tasks[0]["annotations"][0]["result"] = [{
        "id": "b1", "type": "brushlabels", "from_name": "tag", "to_name": "image",
        "original_width": 30, "original_height": 20, "image_rotation": 0,
        "value": {"format": "rle", "rle": brush_code(rgba.reshape(-1)),
                  "brushlabels": ["Airplane"]}}]
    labelset = read_labelstudio(write(tmp_path, tasks))
    (obj,) = labelset.images[0].objects
    assert (obj.label, obj.kind, obj.where) == ("Airplane", "mask", "task 87, result 'b1'")
    assert len(obj.polygons) == 1 and len(obj.holes) == 1
    assert np.array_equal(fill_outlines(obj.polygons, obj.holes, 20, 30), mask)


def test_a_brush_of_the_wrong_size_is_a_problem(tmp_path):
    tasks = fixture(UPLOAD)
    tasks[0]["annotations"][0]["result"].append({
        "id": "b2", "type": "brushlabels", "original_width": 5, "original_height": 3,
        "value": {"format": "rle", "rle": BRUSH_CODE, "brushlabels": ["Airplane"]}})
    labelset = read_labelstudio(write(tmp_path, tasks))
    assert len(labelset.images[0].objects) == 1
    assert any("task 87, result 'b2': its brush RLE cannot be decoded for a 5x3 image (it "
               "holds 18 values, not 60: 4 per pixel)" in line
               for line in reasons(labelset, "error"))
    with pytest.raises(ValueError, match="it must be a list of at least 7 bytes"):
        decode_brush(["0"] * 21)


# --- bad input ----------------------------------------------------------------------------

def test_malformed_json_names_the_file_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"id": 1,\n   "data": {"image": "a.jpg"},,\n  }\n]', encoding="utf-8")
    with pytest.raises(DatasetError) as caught:
        read_labelstudio(path)
    assert caught.value.line == 3
    assert str(caught.value).startswith(f"{path}:3: not valid JSON")
    assert "line 3, column 31" in str(caught.value)


def test_bytes_that_are_not_utf8_name_their_line(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(b'[\n{"id": 1, "data": {"image": "caf\xe9.jpg"}}\n]')
    with pytest.raises(DatasetError, match=r"latin1.json:2: not UTF-8"):
        read_labelstudio(path)


@pytest.mark.parametrize(("content", "says"), [
    ({"id": 1, "data": {}}, "not a JSON object"),
    ("tasks", "not a JSON string"),
    ([1, 2], "it holds no JSON object"),
    ([{"image": "a.jpg"}], "its first item has the keys image"),
])
def test_a_file_that_is_not_a_list_of_tasks_says_what_was_expected(tmp_path, content, says):
    with pytest.raises(DatasetError) as caught:
        read_labelstudio(write(tmp_path, content))
    message = str(caught.value)
    assert "the list of tasks Label Studio's JSON export writes" in message
    assert says in message


def test_bad_regions_are_named_and_the_rest_is_read(tmp_path):
    tasks = fixture(MIXED)
    result = tasks[0]["annotations"][0]["result"]
    result[1]["value"]["points"] = result[1]["value"]["points"][:2]  # a 2-point polygon
    result.append({"id": "txt", "type": "textarea", "value": {"text": ["a note"]}})
    result.append({"id": "bad", "type": "rectanglelabels", "original_width": 500,
                   "original_height": 320,
                   "value": {"x": "1", "y": 2, "width": 3, "height": 4,
                             "rectanglelabels": ["rectangle_label"]}})
    result.append({"id": "surrogate", "type": "rectanglelabels", "original_width": 500,
                   "original_height": 320,
                   "value": {"x": 1, "y": 2, "width": 3, "height": 4,
                             "rectanglelabels": ["\udcff"]}})
    labelset = read_labelstudio(write(tmp_path, tasks))
    assert [o.kind for o in labelset.images[0].objects] == ["rectangle", "points"]
    errors = {p.where: p.reason for p in labelset.problems if p.severity == "error"}
    task = "task 175210175"
    assert errors[f"{task}, result 'ceW2r_kjT_'"] == (
        "a polygon needs at least 3 points, it has 2")
    assert errors[f"{task}, result 'txt'"].startswith("result type 'textarea' is not read")
    assert errors[f"{task}, result 'bad'"] == "'x' must be a finite number, not '1'"
    assert "not valid Unicode" in errors[f"{task}, result 'surrogate'"]
    assert "\udcff" not in labelset.labels


def test_a_non_utf8_image_name_is_a_problem_not_a_crash(tmp_path):
    tasks = fixture(UPLOAD)
    tasks[0]["data"]["image"] = "/data/upload/29/\udcff.png"
    tasks.append(fixture(POLYGONS)[0])
    labelset = read_labelstudio(write(tmp_path, tasks))
    assert [i.name for i in labelset.images] == [PurePosixPath("image2")]
    assert "is not valid Unicode text" in labelset.problems[0].reason
    assert labelset.problems[0].where == "task 87"


def test_unlabelled_and_cancelled_tasks_are_left_out_with_a_warning(tmp_path):
    tasks = fixture(TWO_ANNOTATIONS)
    tasks[0]["annotations"] = []
    for annotation in tasks[1]["annotations"]:
        annotation["was_cancelled"] = True
    labelset = read_labelstudio(write(tmp_path, tasks))
    assert labelset.images == []
    assert [p.line().split(": ", 1)[1] for p in labelset.problems] == [
        "no annotation: an unlabelled task, not read",
        "every annotation was cancelled (skipped): an unlabelled task, not read"]


def test_reading_leaves_every_source_file_byte_identical(tmp_path):
    for source in sorted(FIXTURES.glob("*.json")):
        copy = shutil.copy(source, tmp_path / source.name)
        before = hashlib.sha256(Path(copy).read_bytes()).hexdigest()
        read_labelstudio(copy)
        assert hashlib.sha256(Path(copy).read_bytes()).hexdigest() == before
        assert Path(copy).read_bytes() == source.read_bytes()


@settings(max_examples=40, deadline=None)
@given(width=st.integers(1, 5000), height=st.integers(1, 5000),
       points=st.lists(st.tuples(st.floats(0, 100), st.floats(0, 100)), min_size=3,
                       max_size=12, unique=True))
def test_percent_points_land_within_1e6_of_the_image_size(tmp_path_factory, width, height,
                                                         points):
    tasks = [{"id": 1, "data": {"image": "a.jpg"}, "annotations": [{"id": 1, "result": [{
        "id": "p", "type": "polygonlabels", "original_width": width,
        "original_height": height,
        "value": {"points": [list(p) for p in points], "polygonlabels": ["thing"]}}]}]}]
    labelset = read_labelstudio(write(tmp_path_factory.mktemp("hypo"), tasks))
    (polygon,) = labelset.images[0].objects[0].polygons
    expected = np.array(points) * [width / 100, height / 100]
    assert close(polygon, expected, max(width, height))


def test_a_region_drawn_with_a_bare_tool_takes_its_class_from_labels_of_the_same_id(tmp_path):
    tasks = fixture(UPLOAD)
    box = {"x": 10, "y": 20, "width": 30, "height": 40, "rotation": 0}
    common = {"id": "r1", "to_name": "image", "original_width": 128, "original_height": 128}
    tasks[0]["annotations"][0]["result"] = [
        {**common, "type": "rectangle", "from_name": "rect", "value": box},
        {**common, "type": "labels", "from_name": "label", "value": {**box, "labels": ["Car"]}},
        {"id": "k1", "type": "keypoint", "from_name": "kp", "to_name": "image",
         "original_width": 128, "original_height": 128, "value": {"x": 50, "y": 50}}]
    labelset = read_labelstudio(write(tmp_path, tasks))
    car, point = labelset.images[0].objects
    assert (car.label, car.kind) == ("Car", "rectangle")
    assert close(car.box, [12.8, 25.6, 51.2, 76.8], 128)
    assert (point.label, point.kind, point.keypoints[0].name) == ("kp", "points", "kp")


def test_doubtful_regions_are_read_with_a_warning(tmp_path):
    tasks = fixture(KEYPOINTS)
    result = tasks[0]["annotations"][0]["result"]
    result[0]["parentID"] = "gone"  # the nose's parent is not in the task
    result[3]["value"]["rectanglelabels"] = ["person", "child"]
    result[3]["image_rotation"] = 90
    tasks.append({**tasks[0], "id": 2})  # a second task of the same image
    labelset = read_labelstudio(write(tmp_path, tasks))
    nose, person = labelset.images[0].objects  # in the order of their first point
    assert [k.name for k in person.keypoints] == ["left_eye", "right_eye"]
    assert (nose.label, [k.name for k in nose.keypoints]) == ("keypoints", ["nose"])
    warnings = reasons(labelset, "warning")
    for expected in ("task 10764, result 'YuLAREYKpq': its parentID 'gone' is not a rectangle",
                     "task 10764, result 'hplPm0Szvc': 2 labels (person, child): read as "
                     "'person'",
                     "task 10764, result 'hplPm0Szvc': drawn on the image turned by 90 degrees",
                     "task 2: its image is named 'image1.jpg' like task 10764's"):
        assert any(expected in line for line in warnings), expected


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 300) | st.floats(allow_nan=True)
    | st.text(max_size=6) | st.sampled_from(["polygonlabels", "rectanglelabels", "brushlabels",
                                              "keypointlabels", "choices", "labels", "rle"]),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(
        st.sampled_from(["x", "y", "width", "height", "rotation", "points", "rle", "format",
                         "polygonlabels", "rectanglelabels", "keypointlabels", "brushlabels",
                         "choices", "labels", "id", "type", "value", "parentID",
                         "original_width", "original_height", "from_name", "to_name"]),
        inner, max_size=6),
    max_leaves=25)


@settings(max_examples=150, deadline=None)
@given(results=st.lists(JSON_VALUES, max_size=6), data=JSON_VALUES)
def test_any_json_in_a_task_gives_problems_never_a_crash(tmp_path_factory, results, data):
    tasks = fixture(MIXED)
    tasks[0]["annotations"][0]["result"].extend(results)
    tasks.append({"id": 2, "data": data, "annotations": [{"id": 3, "result": results}]})
    path = tmp_path_factory.mktemp("fuzz") / "export.json"
    path.write_text(json.dumps(tasks), encoding="utf-8")
    labelset = read_labelstudio(path)
    assert len(labelset.images[0].objects) >= 1  # the sample's own regions still read
    for image in labelset.images:
        for obj in image.objects:
            assert all(np.isfinite(p).all() and p.shape[1] == 2 for p in obj.polygons)


def test_a_point_that_is_not_a_number_names_its_region(tmp_path):
    path = tmp_path / "nan.json"
    tasks = fixture(POLYGONS)
    tasks[0]["annotations"][0]["result"][0]["value"]["points"][4][1] = float("nan")
    path.write_text(json.dumps(tasks), encoding="utf-8")  # Python writes NaN, as JS cannot
    labelset = read_labelstudio(path)
    assert labelset.images[0].objects == ()
    assert labelset.problems[-1].reason == "a point's y must be a finite number, not nan"
