"""A neutral label set fitted to each task, and written as a YOLO dataset the engine reads."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from PIL import Image

from engine.data.labelset_fit import FitOptions, fit_labelset, match_joints
from engine.data.labelset_yolo import write_yolo_dataset
from engine.formats.dataset_yaml import read_dataset_yaml
from engine.formats.labelset import (
    ABSENT,
    OCCLUDED,
    VISIBLE,
    Keypoint,
    LabeledImage,
    LabeledObject,
    LabelSet,
)
from engine.formats.yolo_labels import parse_line

W, H = 200, 100


def _image(objects=(), tags=(), name="a.jpg", path=None, split=None, data=None):
    return LabeledImage(PurePosixPath(name), W, H, file="labels.json", path=path,
                        objects=tuple(objects), tags=tuple(tags), split=split, image_data=data)


def _polygon(label="cat", where="shape 0", holes=()):
    square = np.array([[20, 10], [120, 10], [120, 90], [20, 90]], np.float64)
    return LabeledObject(label, "polygon", where, polygons=(square,), holes=tuple(holes))


def _rectangle(label="cat", where="shape 1"):
    return LabeledObject(label, "rectangle", where, box=(10.0, 20.0, 50.0, 60.0))


def _person(points, label="person", where="skeleton 0"):
    return LabeledObject(label, "points", where, box=(0.0, 0.0, 100.0, 50.0),
                         keypoints=tuple(points))


def test_a_polygon_is_normalised_and_a_rectangle_becomes_four_points_with_a_line():
    labels = LabelSet("test", Path("."), [_image([_polygon(), _rectangle()])], ["cat"])
    fitted = fit_labelset(labels, FitOptions("segment"))
    first, second = fitted.images[0].objects
    assert first.polygon == pytest.approx((0.1, 0.1, 0.6, 0.1, 0.6, 0.9, 0.1, 0.9), abs=1e-12)
    assert second.polygon == pytest.approx((0.05, 0.2, 0.25, 0.2, 0.25, 0.6, 0.05, 0.6))
    assert (fitted.read, fitted.written, fitted.skipped) == (2, 2, 0)
    [line] = [p for p in fitted.problems]
    assert (line.file, line.where, line.severity) == ("labels.json", "shape 1", "warning")
    assert "4-point polygon" in line.reason


def test_rectangles_skip_leaves_them_out_and_says_so():
    labels = LabelSet("test", Path("."), [_image([_polygon(), _rectangle()])], ["cat"])
    fitted = fit_labelset(labels, FitOptions("segment", rectangles="skip"))
    assert len(fitted.images[0].objects) == 1
    assert (fitted.read, fitted.written, fitted.skipped) == (2, 1, 1)
    assert fitted.problems[0].where == "shape 1" and fitted.problems[0].severity == "error"


def test_a_hole_is_joined_into_the_outline_and_fills_back_as_a_hole():
    import cv2

    hole = np.array([[50, 30], [90, 30], [90, 70], [50, 70]], np.float64)
    labels = LabelSet("test", Path("."), [_image([_polygon(holes=(hole,))])], ["cat"])
    [obj] = fit_labelset(labels, FitOptions("segment")).images[0].objects
    points = np.array(obj.polygon).reshape(-1, 2) * [W, H]
    mask = np.zeros((H, W), np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    assert mask[50, 70] == 0 and mask[50, 30] == 1  # the hole is open, the ring is filled


def test_a_pose_object_maps_joints_by_name_and_lists_what_does_not_fit():
    points = [Keypoint("Left Eye", 10, 20, VISIBLE), Keypoint("nose", 30, 40, OCCLUDED),
              Keypoint("tail", 5, 5, VISIBLE)]
    labels = LabelSet("test", Path("."), [_image([_person(points), _polygon()])],
                      ["person"], keypoint_names=("Left Eye", "nose", "tail"))
    options = FitOptions("pose", keypoint_names=["nose", "left_eye", "right_eye"])
    fitted = fit_labelset(labels, options)
    [obj] = fitted.images[0].objects
    assert obj.box == pytest.approx((0.25, 0.25, 0.5, 0.5))
    assert obj.keypoints == pytest.approx((0.15, 0.4, 1, 0.05, 0.2, 2, 0, 0, 0))
    assert fitted.unmatched_joints == ("tail",)
    reasons = [p.reason for p in fitted.problems]
    assert any("'tail' is not in the keypoint schema" in r for r in reasons)
    assert any("1 of 3 joints not labelled" in r for r in reasons)
    assert any("a polygon without keypoints" in r for r in reasons)
    assert (fitted.read, fitted.written, fitted.skipped) == (2, 1, 1)


def test_a_chosen_joint_map_wins_and_an_absent_joint_is_not_labelled():
    assert match_joints(["tail", "Nose"], ["nose", "rump"], {"tail": "rump"}) == {
        "tail": 1, "Nose": 0}
    points = [Keypoint("tail", 40, 50, VISIBLE), Keypoint("Nose", 0, 0, ABSENT)]
    labels = LabelSet("test", Path("."), [_image([_person(points)])], ["person"])
    fitted = fit_labelset(labels, FitOptions("pose", keypoint_names=["nose", "rump"],
                                             joint_map={"tail": "rump"}, keypoint_dims=2))
    assert fitted.images[0].objects[0].keypoints == pytest.approx((0, 0, 0.2, 0.5))


def test_a_label_outside_the_project_classes_is_added_once_or_left_out():
    labels = LabelSet("test", Path("."), [_image([_polygon("dog"), _polygon("dog", "shape 2")])],
                      ["dog"])
    added = fit_labelset(labels, FitOptions("segment", classes=["cat"]))
    assert added.classes == ["cat", "dog"] and added.classes_added == ("dog",)
    assert [p.where for p in added.problems] == ["shape 0"]
    refused = fit_labelset(labels, FitOptions("segment", classes=["cat"], add_classes=False))
    assert refused.written == 0 and [p.where for p in refused.problems] == ["shape 0", "shape 2"]


def test_classify_takes_the_first_tag_and_lists_objects():
    labels = LabelSet("test", Path("."), [_image([_polygon()], tags=["dog", "cat"])])
    fitted = fit_labelset(labels, FitOptions("classify"))
    assert fitted.images[0].class_index == 0 and fitted.classes == ["dog"]
    assert len(fitted.problems) == 2


def test_the_yolo_dataset_links_images_by_name_and_the_engine_reads_it(tmp_path):
    source = tmp_path / "src" / "JPEGImages"
    source.mkdir(parents=True)
    Image.new("RGB", (W, H)).save(source / "a.jpg")
    Image.new("RGB", (W, H)).save(source / "b.jpg")
    before = (source / "a.jpg").read_bytes()
    images = [
        _image([_polygon()], name="JPEGImages/a.jpg", path=source / "a.jpg"),
        _image([_polygon("dog")], name="JPEGImages/b.jpg", path=source / "b.jpg", split="val"),
        _image([_polygon()], name="c.jpg", data=(source / "a.jpg").read_bytes()),
        _image([_polygon()], name="missing.jpg"),
    ]
    fitted = fit_labelset(LabelSet("test", tmp_path, images, ["cat", "dog"]),
                          FitOptions("segment"))
    out = tmp_path / "out"
    written = write_yolo_dataset(fitted, out)
    assert (out / "images/train/a.jpg").samefile(source / "a.jpg")  # linked, not moved
    assert (source / "a.jpg").read_bytes() == before
    assert (out / "images/val/b.jpg").is_file() and (out / "images/train/c.jpg").is_file()
    assert (written.images_placed, written.images_missing, written.label_files) == (3, 1, 4)
    assert "put the image at" in written.problems[0].reason
    row = parse_line((out / "labels/val/b.txt").read_text().strip(), "segment")
    assert row.class_id == 1
    config = read_dataset_yaml(out / "data.yaml")
    assert config["names"] == {0: "cat", 1: "dog"} and config["val"] == "images/val"


def test_two_images_of_one_name_keep_their_folders(tmp_path):
    images = [_image([_polygon()], name="x/a.jpg"), _image([_polygon()], name="y/a.jpg")]
    fitted = fit_labelset(LabelSet("test", tmp_path, images, ["cat"]), FitOptions("segment"))
    write_yolo_dataset(fitted, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out/labels/train").iterdir()) == [
        "x_a.txt", "y_a.txt"]


def test_a_pose_source_that_declares_no_joints_takes_its_objects_joint_names_in_order():
    # a CVAT <points> shape or a labelme point group names its joints only on the points
    first = LabeledObject("hand", "points", "points 1", keypoints=(
        Keypoint("thumb", 20, 10), Keypoint("index", 40, 30)))
    second = LabeledObject("hand", "points", "points 2", keypoints=(
        Keypoint("index", 60, 50), Keypoint("ring", 80, 70)))
    labels = LabelSet("cvat", Path("a.xml"), [_image([first, second])], ["hand"])
    fitted = fit_labelset(labels, FitOptions("pose"))
    assert fitted.keypoint_names == ("thumb", "index", "ring")
    assert (fitted.written, fitted.skipped, fitted.unmatched_joints) == (2, 0, ())
    rows = [obj.keypoints for obj in fitted.images[0].objects]
    assert rows[0] == pytest.approx((0.1, 0.1, 2, 0.2, 0.3, 2, 0, 0, 0))
    assert rows[1] == pytest.approx((0, 0, 0, 0.3, 0.5, 2, 0.4, 0.7, 2))


def test_a_keypoints_object_with_an_outline_is_that_outline_in_a_segment_fit():
    # COCO person_keypoints annotations carry the person's polygons beside the joints
    square = np.array([[20, 10], [120, 10], [120, 90], [20, 90]], np.float64)
    person = LabeledObject("person", "points", "annotation id 1", polygons=(square,),
                           box=(20.0, 10.0, 120.0, 90.0), keypoints=(Keypoint("nose", 50, 50),))
    bare = LabeledObject("person", "points", "annotation id 2",
                         keypoints=(Keypoint("nose", 50, 50),))
    fitted = fit_labelset(LabelSet("coco", Path("a.json"), [_image([person, bare])]),
                          FitOptions("segment"))
    assert (fitted.written, fitted.skipped) == (1, 1)
    assert fitted.images[0].objects[0].polygon == pytest.approx(
        (0.1, 0.1, 0.6, 0.1, 0.6, 0.9, 0.1, 0.9))
    assert [p.where for p in fitted.problems] == ["annotation id 2"]


@pytest.mark.parametrize("task", ["detect", "segment", "pose"])
def test_image_classes_in_a_row_task_are_listed_not_dropped(task):
    tagged = _image(tags=("cat", "indoor"), name="a.jpg")
    fitted = fit_labelset(LabelSet("labelme", Path("."), [tagged, _image(name="b.jpg")]),
                          FitOptions(task))
    assert [(p.where, p.severity) for p in fitted.problems] == [("image a.jpg", "warning")]
    assert "cat, indoor" in fitted.problems[0].reason and "classify" in fitted.problems[0].reason


def test_labelmes_unused_background_category_is_not_a_class():
    # labelme2coco declares category 0 '_background_', as its labels.txt does; VOC masks too
    labels = LabelSet("coco", Path("a.json"), [_image([_polygon("cat")])],
                      ["_background_", "cat", "dog"])
    fitted = fit_labelset(labels, FitOptions("segment"))
    assert fitted.classes == ["cat", "dog"]
    assert fitted.images[0].objects[0].class_index == 0
    drawn = LabelSet("coco", Path("a.json"), [_image([_polygon("_background_")])],
                     ["_background_", "cat"])
    assert fit_labelset(drawn, FitOptions("segment")).classes == ["_background_", "cat"]


def test_a_pose_object_whose_box_has_no_area_is_kept_with_a_line():
    lone = LabeledObject("person", "points", "skeleton 3",
                         keypoints=(Keypoint("nose", 40, 50, OCCLUDED),))
    labels = LabelSet("test", Path("."), [_image([lone])], ["person"])
    fitted = fit_labelset(labels, FitOptions("pose", keypoint_names=["nose", "tail"]))
    assert fitted.written == 1
    assert any(p.where == "skeleton 3" and "no area" in p.reason for p in fitted.problems)
