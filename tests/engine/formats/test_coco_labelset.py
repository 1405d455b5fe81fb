"""COCO JSON read into a LabelSet: files labelme2coco, Datumaro, Roboflow and mmpose wrote read
as they hold, images found where those tools put them, bad entries named and the rest read,
and the sources left as they were (writing: test_coco_labelset_write)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as coco_mask

from engine.errors import DatasetError
from engine.formats.coco_labelset import read_coco_labelset
from engine.formats.labelset import (
    ABSENT,
    OCCLUDED,
    VISIBLE,
    Keypoint,
)
from engine.formats.outlines import fill_outlines

FIXTURES = Path(__file__).parents[2] / "fixtures" / "coco"
LABELME2COCO = FIXTURES / "labelme2coco_annotations.json"
VOC_SIZES = {"2011_000003.jpg": (500, 338), "2011_000025.jpg": (500, 375),
             "2011_000006.jpg": (500, 375)}
MMPOSE_SIZES = {"000000000785.jpg": (640, 425), "000000040083.jpg": (500, 333),
                "000000196141.jpg": (640, 429), "000000197388.jpg": (640, 392)}


def _blank(path: Path, width: int, height: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height)).save(path)  # cv2.imwrite cannot take every name
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _place(fixture: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(fixture, target)
    return target


def _write_json(path: Path, document: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _labelme2coco_folder(root: Path, *, with_images: bool = True) -> Path:
    """labelme2coco's output as it writes it: annotations.json, JPEGImages/ beside it."""
    source = _place(LABELME2COCO, root / "data_dataset_coco" / "annotations.json")
    if with_images:
        for name, (width, height) in VOC_SIZES.items():
            _blank(source.parent / "JPEGImages" / name, width, height)
    return source


def _flat(points: np.ndarray) -> list[float]:
    return np.asarray(points).reshape(-1).tolist()


# -- the files real tools wrote --------------------------------------------------------------


def test_labelme2coco_images_are_found_beside_the_json_under_their_own_names(tmp_path):
    source = _labelme2coco_folder(tmp_path)
    before = _digest(source)
    labelset = read_coco_labelset(source)
    assert labelset.format == "coco" and labelset.problems == []
    folder = source.parent / "JPEGImages"
    # the bug of issue 19: names came out as "JPEGImages/..." and the images were "missing"
    assert [(str(i.name), i.path, i.width, i.height) for i in labelset.images] == [
        ("2011_000003.jpg", folder / "2011_000003.jpg", 500, 338),
        ("2011_000025.jpg", folder / "2011_000025.jpg", 500, 375),
        ("2011_000006.jpg", folder / "2011_000006.jpg", 500, 375)]
    assert all(i.path.is_absolute() and i.split is None for i in labelset.images)
    assert labelset.labels[:3] == ["_background_", "aeroplane", "bicycle"]
    assert len(labelset.labels) == 21 and labelset.labels[15] == "person"
    assert [[(o.label, o.kind, o.where, len(o.polygons)) for o in i.objects]
            for i in labelset.images] == [
        [("person", "polygon", "annotation id 0", 1), ("person", "polygon", "annotation id 1", 2),
         ("bottle", "polygon", "annotation id 2", 1)],
        [("bus", "polygon", "annotation id 3", 1), ("bus", "polygon", "annotation id 4", 1),
         ("car", "polygon", "annotation id 5", 1)],
        [("person", "polygon", "annotation id 6", 1), ("person", "polygon", "annotation id 7", 1),
         ("person", "polygon", "annotation id 8", 1), ("chair", "polygon", "annotation id 9", 1),
         ("person", "polygon", "annotation id 10", 1),
         ("sofa", "polygon", "annotation id 11", 4)]]
    bottle = labelset.images[0].objects[2]
    assert bottle.polygons[0].tolist() == [[374.81422924901193, 159.33596837944665],
                                           [369.81422924901193, 170.33596837944665],
                                           [369.81422924901193, 210.33596837944665],
                                           [375.81422924901193, 212.33596837944665],
                                           [387.81422924901193, 209.33596837944665],
                                           [385.81422924901193, 185.33596837944665],
                                           [385.81422924901193, 168.33596837944665],
                                           [385.81422924901193, 165.33596837944665],
                                           [382.81422924901193, 159.33596837944665]]
    assert bottle.holes == () and bottle.box is None and bottle.keypoints == ()
    sofa = labelset.images[2].objects[5]
    assert [len(part) for part in sofa.polygons] == [9, 3, 9, 4]
    # every ring is the file's numbers, as written
    document = json.loads(LABELME2COCO.read_text())
    objects = [o for i in labelset.images for o in i.objects]
    by_where = {f"annotation id {a['id']}": a["segmentation"] for a in document["annotations"]}
    for item in objects:
        assert [_flat(p) for p in item.polygons] == by_where[item.where]
    assert _digest(source) == before


def test_labelme2coco_without_its_images_still_gives_every_label_and_says_where_it_looked(
        tmp_path):
    source = _labelme2coco_folder(tmp_path, with_images=False)
    labelset = read_coco_labelset(source)
    assert [i.path for i in labelset.images] == [None, None, None]
    assert labelset.object_count() == 12
    assert [(p.where, p.severity) for p in labelset.problems] == [
        ("image id 0", "error"), ("image id 1", "error"), ("image id 2", "error")]
    assert labelset.problems[0].reason == (
        "image not found (looked for 'JPEGImages/2011_000003.jpg' and '2011_000003.jpg' in the "
        "JSON's folder, images/); its labels are read")


def test_images_dir_is_looked_in_first_and_an_image_is_found_by_its_name_alone(tmp_path):
    source = _labelme2coco_folder(tmp_path, with_images=False)
    elsewhere = tmp_path / "photos"
    for name, (width, height) in VOC_SIZES.items():
        _blank(elsewhere / name, width, height)
    labelset = read_coco_labelset(source, images_dir=elsewhere)
    assert labelset.problems == []
    assert [i.path for i in labelset.images] == [elsewhere / n for n in VOC_SIZES]
    assert [str(i.name) for i in labelset.images] == list(VOC_SIZES)


def test_datumaro_instances_polygon_crowd_rle_and_box_in_its_annotations_images_layout(tmp_path):
    root = tmp_path / "coco_instances"
    val = _place(FIXTURES / "datumaro_instances_val.json",
                 root / "annotations" / "instances_val.json")
    train = _place(FIXTURES / "datumaro_instances_train.json",
                   root / "annotations" / "instances_train.json")
    _blank(root / "images" / "val" / "b.jpg", 5, 10)
    _blank(root / "images" / "train" / "a.jpg", 10, 5)
    labelset = read_coco_labelset(val)
    assert labelset.labels == ["a", "b", "c"]
    (image,) = labelset.images
    assert (str(image.name), image.path, image.width, image.height, image.split) == (
        "b.jpg", root / "images" / "val" / "b.jpg", 5, 10, "val")
    polygon, crowd = image.objects
    assert (polygon.label, polygon.kind, _flat(polygon.polygons[0])) == (
        "a", "polygon", [0.0, 0.0, 1.0, 0.0, 1.0, 2.0, 0.0, 2.0])
    assert (crowd.label, crowd.kind, crowd.where, crowd.holes) == (
        "b", "mask", "annotation id 2", ())
    expected = np.zeros((10, 5), np.uint8)
    expected[:, :2] = 1  # counts [0, 20, 30] down the columns: x 0 and 1
    assert np.array_equal(fill_outlines(crowd.polygons, crowd.holes, 10, 5), expected)
    assert labelset.problems == [] and crowd.crowd and not polygon.crowd

    (image,) = read_coco_labelset(train).images
    (box,) = image.objects
    assert (box.label, box.kind, box.box, box.polygons) == ("b", "rectangle", (2, 2, 5, 3), ())
    assert (image.path, image.split) == (root / "images" / "train" / "a.jpg", "train")


def test_roboflow_layout_finds_the_images_beside_the_json_in_each_split_folder(tmp_path):
    source = _place(FIXTURES / "datumaro_instances_train.json",
                    tmp_path / "train" / "_annotations.coco.json")
    _blank(tmp_path / "train" / "a.jpg", 10, 5)
    labelset = read_coco_labelset(source)
    assert labelset.problems == []
    assert [(i.path, i.split) for i in labelset.images] == [(tmp_path / "train" / "a.jpg",
                                                             "train")]


def test_datumaro_keypoints_without_names_and_with_a_0_based_skeleton(tmp_path):
    source = _place(FIXTURES / "datumaro_person_keypoints_val.json",
                    tmp_path / "annotations" / "person_keypoints_val.json")
    _blank(tmp_path / "images" / "val" / "b.jpg", 5, 10)
    labelset = read_coco_labelset(source)
    assert labelset.keypoint_names == ("1", "2", "3")
    assert labelset.skeleton == ((0, 1), (1, 2))
    assert [(p.where, p.severity, p.reason.split(";")[0].split(" (")[0])
            for p in labelset.problems] == [
        ("categories", "warning", "no category names its keypoints"),
        ("category 'a', skeleton", "warning", "counts joints from 0")]
    first, crowd = labelset.images[0].objects
    assert (first.label, first.kind, first.box) == ("a", "points", (0, 0, 1, 2))
    assert first.keypoints == (Keypoint("1", 1, 2, VISIBLE), Keypoint("2", 3, 4, VISIBLE),
                               Keypoint("3", 2, 3, VISIBLE))
    assert _flat(first.polygons[0]) == [0.0, 0.0, 1.0, 0.0, 1.0, 2.0, 0.0, 2.0]
    assert (crowd.label, crowd.kind, crowd.box, crowd.crowd) == ("b", "points", (0, 0, 1, 9), True)
    assert [(k.x, k.y) for k in crowd.keypoints] == [(2, 4), (4, 4), (4, 2)]


def test_mmpose_person_keypoints_with_names_1_based_skeleton_and_every_visibility(tmp_path):
    source = _place(FIXTURES / "mmpose_test_coco.json", tmp_path / "test_coco.json")
    for name, (width, height) in MMPOSE_SIZES.items():
        _blank(tmp_path / name, width, height)
    labelset = read_coco_labelset(source)
    assert labelset.problems == [] and labelset.labels == ["person"]
    assert labelset.keypoint_names[:3] == ("nose", "left_eye", "right_eye")
    assert len(labelset.keypoint_names) == 17 and labelset.keypoint_names[-1] == "right_ankle"
    assert labelset.skeleton[:2] == ((15, 13), (13, 11)) and len(labelset.skeleton) == 19
    objects = {o.where: o for i in labelset.images for o in i.objects}
    assert len(objects) == 14 and {o.kind for o in objects.values()} == {"points"}
    first = objects["annotation id 442619"]
    assert first.box == pytest.approx((280.79, 44.73, 280.79 + 218.7, 44.73 + 346.68))
    assert first.keypoints[:2] == (Keypoint("nose", 367, 81, VISIBLE),
                                   Keypoint("left_eye", 374, 73, VISIBLE))
    assert len(first.polygons) == 1
    nobody = objects["annotation id 1202706"]
    assert {k.visibility for k in nobody.keypoints} == {ABSENT}
    partial = objects["annotation id 460541"]
    assert partial.keypoints[2] == Keypoint("right_eye", 0, 0, ABSENT)
    document = json.loads((FIXTURES / "mmpose_test_coco.json").read_text())
    for annotation in document["annotations"]:
        item = objects[f"annotation id {annotation['id']}"]
        values = [v for k in item.keypoints for v in (k.x, k.y, k.visibility)]
        assert values == annotation["keypoints"]
        assert sum(k.visibility > 0 for k in item.keypoints) == annotation["num_keypoints"]
    assert OCCLUDED in {k.visibility for o in objects.values() for k in o.keypoints}


def test_a_compressed_rle_as_pycocotools_writes_it_traces_to_the_same_pixels(tmp_path):
    records = json.loads((FIXTURES / "cocoapi_results_first2.json").read_text())
    images, annotations = [], []
    for number, record in enumerate(records, start=1):
        height, width = record["segmentation"]["size"]
        images.append({"id": record["image_id"], "file_name": f"{number}.jpg", "width": width,
                       "height": height})
        annotations.append({"id": number, "image_id": record["image_id"], "category_id": 1,
                            "segmentation": record["segmentation"], "iscrowd": 0})
    source = _write_json(tmp_path / "instances.json", {
        "images": images, "annotations": annotations,
        "categories": [{"id": 1, "name": "thing"}]})
    labelset = read_coco_labelset(source)
    for image, record in zip(labelset.images, records, strict=True):
        (item,) = image.objects
        segmentation = record["segmentation"]
        expected = coco_mask.decode(segmentation | {"counts": segmentation["counts"].encode()})
        assert item.kind == "mask"
        filled = fill_outlines(item.polygons, item.holes, image.height, image.width)
        assert np.array_equal(filled, expected)


# -- bad input -------------------------------------------------------------------------------


def test_a_results_file_is_refused_with_what_to_import_instead():
    with pytest.raises(DatasetError, match="results file") as caught:
        read_coco_labelset(FIXTURES / "cocoapi_results_first2.json")
    assert caught.value.path == str(FIXTURES / "cocoapi_results_first2.json")


@pytest.mark.parametrize(("text", "line", "words"), [
    ('{\n "images": [],\n "annotations": [,]\n}', 3, "not valid JSON"),
    ('{"images": [], "annotations": []}', None, "not a COCO dataset"),
    ('"just text"', None, "not COCO JSON"),
])
def test_a_file_that_is_not_coco_names_the_file_and_line(tmp_path, text, line, words):
    source = tmp_path / "broken.json"
    source.write_text(text)
    with pytest.raises(DatasetError, match=words) as caught:
        read_coco_labelset(source)
    assert (caught.value.path, caught.value.line) == (str(source), line)


def _document(annotations: list[dict], **extra: object) -> dict:
    return {"images": [{"id": 1, "file_name": "a.png", "width": 20, "height": 10}],
            "annotations": annotations,
            "categories": [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}]} | extra


def test_bad_annotations_are_named_and_the_rest_is_read(tmp_path):
    good = [2, 2, 8, 2, 8, 6]
    source = _write_json(tmp_path / "a.json", _document([
        {"id": 1, "image_id": 1, "category_id": 3, "segmentation": [good]},
        {"id": 2, "image_id": 99, "category_id": 3, "segmentation": [good]},
        {"id": 3, "image_id": 1, "category_id": 5, "segmentation": [good]},
        {"id": 4, "image_id": 1, "category_id": 7, "segmentation": [[1, 1, 5, 5]]},
        {"id": 5, "image_id": 1, "category_id": 7, "segmentation": [good, [1, 1, 5, 5]]},
        {"id": 6, "image_id": 1, "category_id": 7, "segmentation": [],
         "bbox": [1, 1, float("nan"), 2]},
        {"id": 7, "image_id": 1, "category_id": 3,
         "segmentation": {"counts": [0, 6], "size": [2, 3]}},
        {"id": 8, "image_id": 1, "category_id": 3, "keypoints": [1, 2, 2, 3, 4, 2]},
        {"id": 9, "image_id": 1, "category_id": 3,
         "segmentation": {"counts": [0, 5], "size": [10, 20]}},
        "not an object",
    ], categories=[{"id": 3, "name": "cat", "keypoints": ["nose"]}, {"id": 7, "name": "dog"}]))
    _blank(tmp_path / "a.png", 20, 10)
    before = _digest(source)
    labelset = read_coco_labelset(source)
    (image,) = labelset.images
    assert [(o.where, o.label, o.kind, len(o.polygons)) for o in image.objects] == [
        ("annotation id 1", "cat", "polygon", 1), ("annotation id 5", "dog", "polygon", 1)]
    assert [p.line() for p in labelset.problems] == [f"{source}, {where}: {reason}" for where,
                                                     reason in [
        ("annotation id 2", "image_id 99 is not in images; the annotation is left out"),
        ("annotation id 3", "category_id 5 is not in categories; the annotation is left out"),
        ("annotation id 4", "polygon 0 has 2 points; a polygon needs at least 3 (6 numbers); "
                            "the annotation is left out"),
        ("annotation id 5", "polygon 1 has 2 points; a polygon needs at least 3 (6 numbers); "
                            "that part is left out"),
        ("annotation id 6", "bbox [1, 1, nan, 2] is not [x, y, width, height]; not read"),
        ("annotation id 6", "no segmentation, keypoints or bbox; the annotation is left out"),
        ("annotation id 7", "the RLE's size [2, 3] is not the image's [10, 20] (height, width); "
                            "the annotation is left out"),
        ("annotation id 8", "keypoints hold 6 values; the category's joints (1) need 3 "
                            "(x, y, visibility each); the annotation is left out"),
        ("annotation id 9", "the RLE cannot be read (RLE runs cover 5 pixels, the size "
                            "10x20 holds 200); the annotation is left out"),
        ("annotations[9]", "not an object; the annotation is left out"),
    ]]
    assert _digest(source) == before


def test_bad_image_entries_are_named_and_their_annotations_go_with_them(tmp_path):
    source = _write_json(tmp_path / "a.json", {
        "images": [{"id": 1, "file_name": "a.png", "width": 20, "height": 10},
                   {"id": 2, "file_name": "a.png", "width": 20, "height": 10},
                   {"id": 3, "file_name": "c.png"},
                   {"file_name": "d.png", "width": 4, "height": 4}],
        "annotations": [{"id": n, "image_id": n, "category_id": 1, "bbox": [0, 0, 2, 2]}
                        for n in (1, 2, 3)],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2}]})
    _blank(tmp_path / "a.png", 20, 10)
    labelset = read_coco_labelset(source)
    assert [str(i.name) for i in labelset.images] == ["a.png"]
    assert labelset.object_count() == 1 and labelset.labels == ["cat"]
    assert [(p.where, p.reason) for p in labelset.problems] == [
        ("categories[1]", "category id 2 has no name; annotations of it are left out"),
        ("image id 2", "file_name 'a.png' is also image id 1's; the image entry is left out"),
        ("images[3]", "no whole-number or text id, so no annotation can name it; the image "
                      "entry is left out"),
        ("image id 3", "no usable width and height (None, None); the image and its "
                       "annotations are left out")]


@pytest.mark.parametrize(("skeleton", "expected", "reason"), [
    ([[1, 2], [2, 3]], ((0, 1), (1, 2)), None),
    ([[0, 1], [1, 2]], ((0, 1), (1, 2)), "counts joints from 0"),
    ([[0, 3]], (), "holds both 0 and 3 with 3 joints"),
    ([[1, 4]], (), "names a joint beyond the 3 joints"),
    ([[1, "x"]], (), "not a list of [a, b] joint numbers"),
])
def test_a_skeleton_counts_from_1_or_0_and_one_that_fits_neither_is_reported(
        tmp_path, skeleton, expected, reason):
    source = _write_json(tmp_path / "a.json", _document([], categories=[
        {"id": 1, "name": "person", "keypoints": ["a", "b", "c"], "skeleton": skeleton}]))
    labelset = read_coco_labelset(source)
    assert labelset.keypoint_names == ("a", "b", "c") and labelset.skeleton == expected
    reasons = [p.reason for p in labelset.problems if p.where == "category 'person', skeleton"]
    assert [reason in r for r in reasons] == ([True] if reason else [])
    assert ("image not found (looked for 'a.png' in the JSON's folder, images/)" in
            [p.reason.split(";")[0] for p in labelset.problems])


def test_an_entry_without_a_size_takes_it_from_the_image_file(tmp_path):
    source = _write_json(tmp_path / "a.json", {
        "images": [{"id": 1, "file_name": "a.png"}], "annotations": [],
        "categories": [{"id": 1, "name": "cat"}]})
    _blank(tmp_path / "a.png", 7, 3)
    (image,) = read_coco_labelset(source).images
    assert (image.width, image.height) == (7, 3)


def test_names_that_are_not_utf8_are_reported_and_the_image_is_still_found(tmp_path):
    # a tool that wrote Latin-1 bytes into the JSON; the image on disk has the same bytes
    text = ('{"images": [{"id": 1, "file_name": "caf\xe9.png", "width": 4, "height": 4}],'
            ' "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0,0,1,1]}],'
            ' "categories": [{"id": 1, "name": "b\xe9b\xe9"}]}')
    source = tmp_path / "latin.json"
    source.write_bytes(text.encode("latin-1"))
    _blank(Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9.png")), 4, 4)
    labelset = read_coco_labelset(source)
    (image,) = labelset.images
    assert image.name == PurePosixPath("caf\ufffd.png") and image.path is not None
    assert image.path.exists() and image.objects[0].label == "b\ufffdb\ufffd"
    assert labelset.labels == ["b\ufffdb\ufffd"]
    assert [(p.where, p.reason, p.severity) for p in labelset.problems] == [
        ("categories[0]", "name is not UTF-8 text; read as 'b\ufffdb\ufffd'", "warning"),
        ("image id 1", "file_name is not UTF-8 text; read as 'caf\ufffd.png'", "warning")]


def test_an_absolute_windows_file_name_is_looked_for_by_its_name(tmp_path):
    source = _write_json(tmp_path / "a.json", _document([], images=[
        {"id": 1, "file_name": "C:\\Users\\me\\data\\a.png", "width": 20, "height": 10}]))
    _blank(tmp_path / "images" / "a.png", 20, 10)
    labelset = read_coco_labelset(source)
    (image,) = labelset.images
    assert (image.name, image.path) == (PurePosixPath("a.png"), tmp_path / "images" / "a.png")
    (problem,) = labelset.problems
    assert problem.severity == "warning" and "absolute path" in problem.reason


def test_images_of_one_name_in_two_folders_keep_their_folders(tmp_path):
    source = _write_json(tmp_path / "a.json", _document([], images=[
        {"id": 1, "file_name": "day/x.png", "width": 20, "height": 10},
        {"id": 2, "file_name": "night\\x.png", "width": 20, "height": 10},
        {"id": 3, "file_name": "y.png", "width": 20, "height": 10}]))
    for name in ("day/x.png", "night/x.png", "y.png"):
        _blank(tmp_path / name, 20, 10)
    labelset = read_coco_labelset(source)
    assert [(str(i.name), i.path) for i in labelset.images] == [
        ("day/x.png", tmp_path / "day" / "x.png"), ("night/x.png", tmp_path / "night" / "x.png"),
        ("y.png", tmp_path / "y.png")]
    assert [(p.where, p.severity) for p in labelset.problems] == [
        ("image id 1", "warning"), ("image id 2", "warning")]
    assert "also called 'x.png'" in labelset.problems[0].reason
