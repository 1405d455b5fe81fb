"""The COCO JSON codec: instance and results files it writes read back as what was written
(hypothesis round trips), in ASCII; reading names the file, line and key of what is wrong and
gives a reason for each image entry it cannot use."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from pycocotools.coco import COCO

from engine.formats.coco import (
    CocoAnnotation,
    CocoImage,
    ImagePredictions,
    split_name,
    write_coco_ground_truth,
    write_coco_json,
    write_coco_results,
)
from engine.formats.coco_labelset import read_coco_labelset

pixels = st.floats(0, 4096)
names = st.text(min_size=1, max_size=12)


@st.composite
def documents(draw):
    """Images, polygon annotations on them and categories, as the writer takes them."""
    count = draw(st.integers(1, 4))
    images = [CocoImage(i + 1, draw(st.integers(1, 5000)), draw(st.integers(1, 5000)),
                        f"dir/{i}.jpg") for i in range(count)]
    categories = dict(enumerate(draw(st.lists(names, min_size=1, max_size=5)), start=1))
    annotations = []
    for _ in range(draw(st.integers(0, 6))):
        points = np.array(draw(st.lists(pixels, min_size=6, max_size=20).filter(
            lambda v: len(v) % 2 == 0))).reshape(-1, 2)
        box = [*points.min(0), *points.max(0)]
        annotations.append(CocoAnnotation(
            draw(st.sampled_from(images)).id, draw(st.sampled_from(sorted(categories))), box,
            polygons=[points]))
    return images, annotations, categories


@given(documents())
def test_an_instances_file_reads_back_as_written(tmp_path_factory, document):
    images, annotations, categories = document
    path = tmp_path_factory.mktemp("coco") / "instances_val2017.json"
    write_coco_ground_truth(path, images, annotations, categories)
    content = json.loads(path.read_text())
    assert {i["id"]: (i["file_name"], i["width"], i["height"]) for i in content["images"]} == {
        image.id: (image.file_name, image.width, image.height) for image in images}
    assert {c["id"]: c["name"] for c in content["categories"]} == categories
    assert [a["id"] for a in content["annotations"]] == list(range(1, len(annotations) + 1))
    for record, annotation in zip(content["annotations"], annotations, strict=True):
        (polygon,) = annotation.polygons
        assert record["segmentation"] == [polygon.reshape(-1).tolist()]
        x1, y1, x2, y2 = (float(v) for v in annotation.box)
        assert record["bbox"] == [x1, y1, x2 - x1, y2 - y1]
        assert record["image_id"] == annotation.image_id
        assert record["category_id"] == annotation.category_id


@given(st.lists(st.tuples(pixels, pixels, pixels, pixels, st.floats(0, 1), st.integers(0, 79)),
                max_size=8))
def test_a_results_file_reads_back_as_written(tmp_path_factory, rows):
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h, _, _ in rows]).reshape(-1, 4)
    scores = np.array([row[4] for row in rows])
    classes = np.array([row[5] for row in rows], np.int64)
    path = tmp_path_factory.mktemp("coco") / "predictions.json"
    write_coco_results(path, [ImagePredictions(7, boxes, scores, classes)])
    records = json.loads(path.read_text())
    assert [r["category_id"] for r in records] == classes.tolist()
    assert [r["score"] for r in records] == scores.tolist()
    for record, box in zip(records, boxes, strict=True):
        assert record["bbox"] == [box[0], box[1], box[2] - box[0], box[3] - box[1]]


def test_rounded_results_are_within_half_a_unit_of_the_last_decimal(tmp_path):
    boxes = np.array([[1.234567, 2.345678, 10.987654, 20.876543]])
    path = write_coco_results(tmp_path / "p.json", [ImagePredictions(1, boxes, np.array([0.98765]),
                                                                     np.array([0]))], decimals=3)
    (record,) = json.loads(path.read_text())
    np.testing.assert_allclose(record["bbox"], [1.235, 2.346, 9.753, 18.531], atol=5e-4)
    assert record["score"] == 0.988


def test_files_are_ascii_and_names_beyond_it_read_back(tmp_path):
    path = write_coco_ground_truth(tmp_path / "g.json", [CocoImage(1, 10, 10, "é.jpg")], [],
                                   {1: "狗"})
    assert path.read_bytes().isascii()
    labels = read_coco_labelset(path)
    assert labels.labels == ["狗"] and str(labels.images[0].name) == "é.jpg"
    assert COCO(str(path)).cats[1]["name"] == "狗"  # pycocotools reads it too


def test_keypoint_categories_count_from_one_and_read_from_zero(tmp_path):
    extra = {"keypoints": ["nose", "left_eye", "right_eye"], "skeleton": [[1, 2], [1, 3]]}
    annotation = CocoAnnotation(1, 1, [0, 0, 4, 4], extra={"keypoints": [1, 1, 2, 2, 2, 1, 0, 0, 0],
                                                          "num_keypoints": 2})
    path = write_coco_ground_truth(tmp_path / "person_keypoints_val.json",
                                   [CocoImage(1, 8, 8)], [annotation], {1: "person"},
                                   category_extra=extra)
    content = json.loads(path.read_text())
    labels = read_coco_labelset(path)
    assert labels.keypoint_names == ("nose", "left_eye", "right_eye")
    assert labels.skeleton == ((0, 1), (0, 2))
    assert content["annotations"][0]["keypoints"] == [1, 1, 2, 2, 2, 1, 0, 0, 0]
    assert split_name(path) == "val"


def test_a_document_from_another_writer_reads(tmp_path):
    """What COCO's own files hold beyond what we write (licenses, crowd RLE, extra keys)."""
    document = {
        "info": {"year": 2017}, "licenses": [{"id": 1, "name": "CC BY 4.0"}],
        "images": [{"id": 139, "file_name": "000000000139.jpg", "width": 640, "height": 426,
                    "license": 1, "coco_url": "http://images.cocodataset.org/val2017/x.jpg"}],
        "annotations": [{"id": 900100000139, "image_id": 139, "category_id": 1, "iscrowd": 1,
                         "bbox": [0, 0, 2, 2], "area": 4,
                         "segmentation": {"counts": [0, 4, 0], "size": [2, 2]}}],
        "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
    }
    path = write_coco_json(tmp_path / "instances_val2017.json", document)
    assert json.loads(Path(path).read_text()) == document
    labels = read_coco_labelset(path)
    assert str(labels.images[0].name) == "000000000139.jpg" and labels.labels == ["person"]
