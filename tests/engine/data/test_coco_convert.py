"""COCO JSON to YOLO labels: polygons and RLE masks round trip within a pixel, several parts
merge into one outline, and every skipped annotation is reported with its id. The RLE codec
itself is checked against pycocotools in tests/engine/utils/test_rle.py."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from pycocotools import mask as coco_mask

from engine.data.coco_convert import (
    convert_coco,
    convert_from_cli,
    mask_to_polygon,
    merge_polygons,
)
from engine.data.detect_dataset import load_detect_dataset
from engine.data.detect_labels import read_labels, verify_split
from engine.errors import DatasetError, SettingsError

from .detect_samples import write_image

# pycocotools 2.0 predates numpy 2's copy keyword and warns on every decode.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")

WIDTH, HEIGHT = 64, 48
CATEGORIES = [{"id": 18, "name": "dog"}, {"id": 3, "name": "car"}]  # sorted: car 0, dog 1
TRIANGLE = [[10, 5], [50, 8], [30, 40]]
SQUARE = [[5, 30], [15, 30], [15, 42], [5, 42]]


def _coco(path: Path, annotations, images=None, categories=CATEGORIES) -> Path:
    images = images or [
        {"id": 1, "file_name": "a.jpg", "width": WIDTH, "height": HEIGHT},
        {"id": 2, "file_name": "b.jpg", "width": WIDTH, "height": HEIGHT},
    ]
    for number, annotation in enumerate(annotations, 1):
        annotation.setdefault("id", 100 + number)
        annotation.setdefault("image_id", 1)
        annotation.setdefault("category_id", 3)
        annotation.setdefault("bbox", [5, 5, 45, 37])
        annotation.setdefault("iscrowd", 0)
    content = {"images": images, "annotations": annotations, "categories": categories}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content))
    return path


def _flat(points) -> list[float]:
    return [float(v) for point in points for v in point]


def _labels(
    output: Path, name: str = "a", split: str = "instances", task="segment", nc=2, kpt_shape=None
):
    instances, problems = read_labels(
        output / "labels" / split / f"{name}.txt", task, nc, kpt_shape
    )
    assert problems == []
    return instances


# -- RLE ---------------------------------------------------------------------------------------


def _runs(mask: np.ndarray) -> list[int]:
    """Uncompressed COCO counts of a mask, computed the slow obvious way."""
    runs, current, length = [], 0, 0
    for value in mask.T.reshape(-1):
        if value != current:
            runs.append(length)
            current, length = value, 0
        length += 1
    return [*runs, length]


# -- geometry ----------------------------------------------------------------------------------


def test_merged_parts_fill_like_the_parts():
    parts = [np.array(SQUARE, float), np.array(TRIANGLE, float), np.array(SQUARE) + [40, 0]]
    merged = merge_polygons(parts)
    assert {tuple(p) for part in parts for p in part} == {tuple(p) for p in merged}
    separate = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.fillPoly(separate, [p.astype(np.int32) for p in parts], 1)
    joined = np.zeros_like(separate)
    cv2.fillPoly(joined, [merged.astype(np.int32)], 1)
    assert (joined >= separate).all()  # every part's pixel is covered
    assert joined.sum() - separate.sum() < 2 * (WIDTH + HEIGHT)  # plus thin links only


def test_one_part_is_returned_as_it_is():
    assert np.array_equal(merge_polygons([np.array(TRIANGLE)]), TRIANGLE)


def test_mask_outline_stays_within_a_pixel():
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.fillPoly(mask, [np.array(TRIANGLE, np.int32)], 1)
    polygon = mask_to_polygon(mask)
    assert all(_distance_to(TRIANGLE, point) <= 1.5 for point in polygon)
    assert mask_to_polygon(np.zeros((4, 4))) is None


def _distance_to(polygon, point) -> float:
    contour = np.array(polygon, np.float32).reshape(-1, 1, 2)
    return abs(cv2.pointPolygonTest(contour, (float(point[0]), float(point[1])), True))


# -- conversion --------------------------------------------------------------------------------


def test_polygons_round_trip_within_a_pixel(tmp_path):
    rng = np.random.default_rng(1)
    polygons = []
    for _ in range(4):
        centre = rng.uniform([15, 12], [WIDTH - 15, HEIGHT - 12])
        angles = np.sort(rng.uniform(0, 2 * np.pi, 7))
        polygons.append(centre + np.stack([np.cos(angles), np.sin(angles)], 1) * 10)
    source = _coco(
        tmp_path / "in" / "instances.json",
        [
            {"segmentation": [_flat(p)], "category_id": 18 if i % 2 else 3}
            for i, p in enumerate(polygons)
        ],
    )
    report = convert_coco(source, tmp_path / "out")
    assert (report.label_files, report.objects, report.problems) == (1, 4, ())
    instances = _labels(tmp_path / "out")
    assert instances.cls.tolist() == [0, 1, 0, 1]
    for drawn, parsed in zip(polygons, instances.segments, strict=True):
        pixels = parsed * [WIDTH, HEIGHT]
        assert np.abs(pixels - drawn).max() < 1.0


@pytest.mark.parametrize("compressed", [True, False])
def test_rle_masks_round_trip_within_a_pixel(tmp_path, compressed):
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    cv2.fillPoly(mask, [np.array(TRIANGLE, np.int32)], 1)
    if compressed:
        rle = coco_mask.encode(np.asfortranarray(mask))
        rle = {"size": rle["size"], "counts": rle["counts"].decode()}
    else:
        rle = {"size": [HEIGHT, WIDTH], "counts": _runs(mask)}
    source = _coco(tmp_path / "instances.json", [{"segmentation": rle}])
    report = convert_coco(source, tmp_path / "out")
    assert report.problems == ()
    outline = _labels(tmp_path / "out").segments[0] * [WIDTH, HEIGHT]
    assert all(_distance_to(TRIANGLE, point) <= 1.5 for point in outline)
    redrawn = np.zeros_like(mask)
    cv2.fillPoly(redrawn, [np.round(outline).astype(np.int32)], 1)
    assert (redrawn & mask).sum() / (redrawn | mask).sum() > 0.95


def test_several_polygons_of_one_object_become_one_row(tmp_path):
    source = _coco(
        tmp_path / "instances.json", [{"segmentation": [_flat(SQUARE), _flat(TRIANGLE)]}]
    )
    convert_coco(source, tmp_path / "out")
    text = (tmp_path / "out" / "labels" / "instances" / "a.txt").read_text()
    assert len(text.splitlines()) == 1
    assert len(_labels(tmp_path / "out").segments[0]) == len(SQUARE) + len(TRIANGLE) + 2


def test_crowd_objects_are_skipped_unless_asked(tmp_path):
    source = _coco(
        tmp_path / "instances.json",
        [
            {"segmentation": [_flat(TRIANGLE)]},
            {"segmentation": [_flat(SQUARE)], "iscrowd": 1},
        ],
    )
    report = convert_coco(source, tmp_path / "out")
    assert (report.objects, report.crowd_skipped) == (1, 1)
    assert "1 crowd objects skipped" in report.summary()
    assert convert_coco(source, tmp_path / "all", include_crowd=True).objects == 2


def test_bad_annotations_are_reported_with_their_id(tmp_path):
    source = _coco(
        tmp_path / "instances.json",
        [
            {"id": 7, "segmentation": [_flat(TRIANGLE)], "image_id": 99},
            {"id": 8, "segmentation": [_flat(TRIANGLE)], "bbox": [1, 1, 0, 5]},
            {"id": 9, "segmentation": [[1, 1, 2, 2]]},
            {"id": 10, "segmentation": [_flat(TRIANGLE)], "category_id": 4},
            {"id": 11, "segmentation": [[0, 0, 5, 5, 10, 10]]},
            {"id": 12, "segmentation": {"size": [3, 3], "counts": [9]}},
            {"id": 13, "segmentation": [_flat(TRIANGLE)]},
        ],
    )
    report = convert_coco(source, tmp_path / "out")
    reasons = [p.reason for p in report.problems]
    assert reasons == [
        "annotation 7: image_id 99 is not among the images; skipped",
        "annotation 8: bad bbox [1, 1, 0, 5] (need [left, top, width, height] with width, "
        "height > 0); skipped",
        "annotation 9: degenerate polygon (parts [0] have fewer than 3 points or no area); skipped",
        "annotation 10: category_id 4 is not among the categories; skipped",
        "annotation 11: degenerate polygon (parts [0] have fewer than 3 points or no area); "
        "skipped",
        "annotation 12: RLE size [3, 3] differs from the image's 48×64; skipped",
    ]
    assert all(p.path == source for p in report.problems)
    assert report.objects == 1


def test_images_without_objects_get_no_file_and_sizes_come_from_images(tmp_path):
    images_dir = tmp_path / "pictures"
    write_image(images_dir / "a.jpg", size=32)
    write_image(images_dir / "sub" / "b.jpg", size=32)
    source = _coco(
        tmp_path / "instances_train2017.json",
        [{"segmentation": [[2, 2, 30, 2, 16, 30]], "bbox": [2, 2, 28, 28]}],
        images=[{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "sub/b.jpg"}],
    )
    report = convert_coco(source, tmp_path / "out", images_dir=images_dir)
    assert report.split == "train2017" and report.images_placed == 2
    labels = tmp_path / "out" / "labels" / "train2017"
    assert [p.name for p in labels.rglob("*.txt")] == ["a.txt"]
    dataset = load_detect_dataset(report.yaml_path, "segment")
    assert dataset.names == {0: "car", 1: "dog"}
    assert [p.name for p in dataset.splits["train"]] == ["a.jpg", "b.jpg"]
    split = verify_split(dataset.splits["train"], "segment", dataset.names, cache=False)
    assert [len(s.instances) for s in split.samples] == [1, 0] and split.problems == ()
    np.testing.assert_allclose(split.samples[0].instances.segments[0][2], [0.5, 30 / 32])


def test_pose_keeps_visibility_and_writes_the_keypoint_layout(tmp_path):
    names = ["nose", "left_eye", "right_eye"]
    categories = [{"id": 1, "name": "person", "keypoints": names, "skeleton": [[1, 2], [1, 3]]}]
    source = _coco(
        tmp_path / "person_keypoints_val.json",
        [
            {
                "category_id": 1,
                "bbox": [16, 12, 32, 24],
                "num_keypoints": 2,
                "keypoints": [32, 24, 2, 40, 20, 1, 0, 0, 0],
            },
        ],
        categories=categories,
    )
    report = convert_coco(source, tmp_path / "out", task="pose")
    row = (tmp_path / "out" / "labels" / "val" / "a.txt").read_text().split()
    assert row == [
        "0",
        "0.5",
        "0.5",
        "0.5",
        "0.5",
        "0.5",
        "0.5",
        "2",
        "0.625",
        "0.4166666666666667",  # 20 / 48 exactly: the codec's numbers read back as written
        "1",
        "0",
        "0",
        "0",
    ]
    config = yaml.safe_load(report.yaml_path.read_text())
    assert config["kpt_shape"] == [3, 3] and config["flip_idx"] == [0, 2, 1]
    assert config["kpt_names"] == names and config["skeleton"] == [[0, 1], [0, 2]]
    instances = _labels(tmp_path / "out", split="val", task="pose", nc=1, kpt_shape=(3, 3))
    np.testing.assert_allclose(instances.keypoints[0, :, 2], [2, 1, 0])


def test_pose_without_keypoint_names_takes_k_from_the_objects_and_says_flip_idx_is_missing(
    tmp_path,
):
    source = _coco(
        tmp_path / "person.json",
        [{"category_id": 3, "keypoints": [32, 24, 2, 40, 20, 2]}],
        categories=[{"id": 3}],
    )
    report = convert_coco(source, tmp_path / "out", task="pose")
    config = yaml.safe_load(report.yaml_path.read_text())
    assert config["kpt_shape"] == [2, 3] and "flip_idx" not in config
    assert config["names"] == {0: "class_0"}
    assert [p.severity for p in report.problems] == ["warning"]
    assert report.problems[0].reason.startswith("no flip_idx written")


def test_pose_without_keypoints_is_refused(tmp_path):
    source = _coco(tmp_path / "person.json", [{"segmentation": [_flat(TRIANGLE)]}])
    with pytest.raises(DatasetError, match="task=pose needs COCO keypoint annotations"):
        convert_coco(source, tmp_path / "out", task="pose")


def test_input_is_never_modified(tmp_path):
    images_dir = tmp_path / "pictures"
    image = write_image(images_dir / "a.jpg")
    source = _coco(tmp_path / "instances.json", [{"segmentation": [_flat(TRIANGLE)]}])

    def digest():
        return [hashlib.sha256(p.read_bytes()).hexdigest() for p in (source, image)]

    before = digest()
    convert_coco(source, tmp_path / "out", images_dir=images_dir)
    convert_coco(source, tmp_path / "out", images_dir=images_dir)  # again, over its own output
    assert digest() == before
    leftovers = [p for p in (tmp_path / "out").rglob(".*")]
    assert leftovers == []


def test_a_second_json_adds_its_split_to_the_yaml(tmp_path):
    polygon = [{"segmentation": [_flat(TRIANGLE)]}]
    convert_coco(_coco(tmp_path / "instances_train.json", polygon), tmp_path / "out")
    convert_coco(_coco(tmp_path / "instances_val.json", polygon), tmp_path / "out")
    config = yaml.safe_load((tmp_path / "out" / "dataset.yaml").read_text())
    assert (config["train"], config["val"]) == ("images/train", "images/val")


def test_yaml_of_other_classes_is_refused_before_anything_is_written(tmp_path):
    polygon = [{"segmentation": [_flat(TRIANGLE)]}]
    convert_coco(_coco(tmp_path / "instances_train.json", polygon), tmp_path / "out")
    other = _coco(tmp_path / "instances_val.json", polygon, categories=[{"id": 3, "name": "x"}])
    with pytest.raises(DatasetError, match="already describes other classes"):
        convert_coco(other, tmp_path / "out")
    assert not (tmp_path / "out" / "labels" / "val").exists()


@pytest.mark.parametrize(
    ("content", "key"),
    [('{"images": [], "annotations": []}', "categories"), ("[1]", None)],
)
def test_not_coco_json_is_a_dataset_error(tmp_path, content, key):
    path = tmp_path / "x.json"
    path.write_text(content)
    with pytest.raises(DatasetError) as caught:
        convert_coco(path, tmp_path / "out")
    assert caught.value.key == key


def test_broken_json_names_its_line(tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{\n "images": [\n')
    with pytest.raises(DatasetError, match="not valid JSON") as caught:
        convert_coco(path, tmp_path / "out")
    assert caught.value.line == 3


def test_cli_glue(tmp_path):
    source = _coco(
        tmp_path / "instances.json",
        [{"segmentation": [_flat(TRIANGLE)]}, {"segmentation": [_flat(SQUARE)], "iscrowd": 1}],
    )
    report = convert_from_cli({"source": str(source), "include_crowd": "True"})
    assert report.output_dir == tmp_path / "instances-yolo" and report.objects == 2
    with pytest.raises(SettingsError, match="did you mean 'source'") as caught:
        convert_from_cli({"sourc": str(source)})
    assert caught.value.key == "sourc"
    with pytest.raises(SettingsError, match="is not True or False"):
        convert_from_cli({"source": str(source), "include_crowd": "maybe"})


def test_the_yolo_command_converts_a_coco_file(tmp_path, capsys):
    import json

    from engine.cli import main

    coco = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 50}],
        "categories": [{"id": 3, "name": "cat"}],
        "annotations": [{"id": 9, "image_id": 1, "category_id": 3, "iscrowd": 0,
                         "bbox": [10, 10, 20, 20],
                         "segmentation": [[10, 10, 30, 10, 30, 30, 10, 30]]}],
    }
    source = tmp_path / "instances_val.json"
    source.write_text(json.dumps(coco))
    assert main(["convert", f"source={source}", f"output={tmp_path / 'out'}"]) == 0
    labels = list((tmp_path / "out").rglob("a.txt"))
    assert len(labels) == 1
    values = [float(v) for v in labels[0].read_text().split()]
    assert values[0] == 0 and min(values[1::2]) == pytest.approx(0.1)
    assert "cat" in (tmp_path / "out" / "dataset.yaml").read_text()
    assert main(["convert", f"sourse={source}"]) == 1
    assert "did you mean 'source'" in capsys.readouterr().err
