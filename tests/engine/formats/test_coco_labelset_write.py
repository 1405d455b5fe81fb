"""COCO JSON written from a LabelSet (engine.formats.coco_labelset_write): it loads in pycocotools
with the same masks, and read -> write -> read keeps every object within 1e-6."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO

from engine.formats.coco_labelset import read_coco_labelset
from engine.formats.coco_labelset_write import write_coco_labelset
from engine.formats.labelset import (
    ABSENT,
    OCCLUDED,
    VISIBLE,
    Keypoint,
    LabeledImage,
    LabeledObject,
    LabelSet,
)
from engine.formats.outlines import fill_outlines
from engine.utils import rle

from .test_coco_labelset import FIXTURES, MMPOSE_SIZES, _blank, _place


def _square(x: float, y: float, side: float) -> np.ndarray:
    return np.array([[x, y], [x + side, y], [x + side, y + side], [x, y + side]], np.float64)


def _every_kind() -> LabelSet:
    mask = np.zeros((40, 60), np.uint8)
    mask[5:30, 30:55] = 1
    mask[10:20, 35:45] = 0
    from engine.formats.outlines import trace_outlines

    outer, holes = trace_outlines(mask)
    objects = (
        LabeledObject("cat", "polygon", "shape 0",
                      polygons=(_square(2.25, 3.5, 10), _square(14, 3, 5.125))),
        LabeledObject("cat", "polygon", "shape 1", polygons=(_square(2, 20, 15),),
                      holes=(_square(6, 24, 5),)),
        LabeledObject("dog", "mask", "shape 2", polygons=outer, holes=holes),
        LabeledObject("dog", "rectangle", "shape 3", box=(1.5, 2.5, 11.0, 7.25)),
        LabeledObject("person", "points", "shape 4", box=(20, 5, 40, 35),
                      keypoints=(Keypoint("head", 30, 8, VISIBLE),
                                 Keypoint("hand", 25.5, 20.25, OCCLUDED),
                                 Keypoint("foot", 0, 0, ABSENT))),
    )
    image = LabeledImage(PurePosixPath("one.png"), 60, 40, "made", objects=objects)
    return LabelSet("labelme", Path("made"), images=[image], labels=["cat", "dog", "person"],
                    keypoint_names=("head", "hand", "foot"), skeleton=((0, 1), (1, 2)))


def _near_outline(item: LabeledObject, height: int, width: int) -> np.ndarray:
    """Pixels within 2 of the object's rings: where two fill rules may differ (pycocotools
    also leaves out the zero-width slits of a ring that touches itself)."""
    band = np.zeros((height, width), np.uint8)
    rings = [np.round(r).astype(np.int32).reshape(-1, 1, 2) for r in (*item.polygons,
                                                                     *item.holes)]
    cv2.polylines(band, rings, True, 1, thickness=5)
    return band.astype(bool)


def test_what_we_write_loads_in_pycocotools_and_its_masks_match_ours(tmp_path):
    labelset = _every_kind()
    output = write_coco_labelset(labelset, tmp_path / "out" / "_annotations.coco.json")
    assert output == tmp_path / "out" / "_annotations.coco.json"
    coco = COCO(str(output))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["cat", "dog", "person"]
    (person,) = coco.loadCats(coco.getCatIds(catNms=["person"]))
    assert person["keypoints"] == ["head", "hand", "foot"]
    assert person["skeleton"] == [[1, 2], [2, 3]]
    assert coco.loadImgs(1) == [{"id": 1, "file_name": "one.png", "width": 60, "height": 40}]
    annotations = coco.loadAnns(coco.getAnnIds(imgIds=[1]))
    assert [a["id"] for a in annotations] == [1, 2, 3, 4, 5]
    image = labelset.images[0]
    for annotation, item in zip(annotations[:3], image.objects[:3], strict=True):
        ours = fill_outlines(item.polygons, item.holes, 40, 60)
        theirs = coco.annToMask(annotation)
        assert not ((ours != theirs) & ~_near_outline(item, *ours.shape)).any(), item.where
        if isinstance(annotation["segmentation"], dict):  # RLE: exactly our pixels
            assert np.array_equal(ours, theirs)
            assert annotation["area"] == ours.sum()
    assert isinstance(annotations[0]["segmentation"], list)  # polygons stay polygons
    assert annotations[0]["bbox"] == [2.25, 3.0, 16.875, 10.5]
    rectangle, points = annotations[3:]
    assert (rectangle["segmentation"], rectangle["bbox"], rectangle["area"]) == (
        [], [1.5, 2.5, 9.5, 4.75], 9.5 * 4.75)
    assert points["keypoints"] == [30, 8, 2, 25.5, 20.25, 1, 0, 0, 0]
    assert (points["num_keypoints"], points["bbox"]) == (2, [20, 5, 20, 30])


def test_the_written_json_is_ascii_and_its_images_are_expected_beside_it(tmp_path):
    image = LabeledImage(PurePosixPath("狗.png"), 8, 6, "made", objects=(
        LabeledObject("狗", "rectangle", "shape 0", box=(1, 1, 3, 3)),))
    output = write_coco_labelset(LabelSet("x", Path("made"), images=[image]),
                                 tmp_path / "out" / "labels.json")
    assert output.read_bytes().isascii()
    _blank(tmp_path / "out" / "狗.png", 8, 6)
    again = read_coco_labelset(output)
    assert again.problems == [] and again.labels == ["狗"]
    assert again.images[0].path == tmp_path / "out" / "狗.png"


def _round_trip(labelset: LabelSet, folder: Path) -> LabelSet:
    output = write_coco_labelset(labelset, folder / "round" / "instances.json")
    for image in labelset.images:
        _blank(output.parent / image.name, image.width, image.height)
    return read_coco_labelset(output)


def _pycocotools_sees_our_outlines(labelset: LabelSet, written: Path) -> None:
    """Each written outline, filled by pycocotools, is ours but for boundary pixels."""
    coco = COCO(str(written))
    annotations = iter(coco.loadAnns(sorted(coco.getAnnIds())))
    for image in labelset.images:
        for item, annotation in zip(image.objects, annotations, strict=False):
            if not item.polygons:
                assert annotation["segmentation"] == []
                continue
            ours = fill_outlines(item.polygons, item.holes, image.height, image.width)
            theirs = coco.annToMask(annotation)
            assert not ((ours != theirs) & ~_near_outline(item, *ours.shape)).any(), item.where


def _same_objects(first: LabelSet, second: LabelSet) -> None:
    assert [str(i.name) for i in first.images] == [str(i.name) for i in second.images]
    for one, two in zip(first.images, second.images, strict=True):
        assert len(one.objects) == len(two.objects)
        for a, b in zip(one.objects, two.objects, strict=True):
            assert (a.label, a.kind, a.keypoints) == (b.label, b.kind, b.keypoints)
            if a.kind == "mask" or a.holes:
                assert np.array_equal(fill_outlines(a.polygons, a.holes, one.height, one.width),
                                      fill_outlines(b.polygons, b.holes, one.height, one.width))
            else:
                assert len(a.polygons) == len(b.polygons)
                for p, q in zip(a.polygons, b.polygons, strict=True):
                    assert np.allclose(p, q, rtol=0, atol=1e-6)
                assert (a.box is None) == (b.box is None)
                if a.box is not None:
                    assert np.allclose(a.box, b.box, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("fixture", "json_name", "sizes"), [
    ("labelme2coco_annotations.json", "annotations.json", None),
    ("datumaro_instances_val.json", "instances_val.json", None),
    ("datumaro_instances_train.json", "instances_train.json", None),
    ("datumaro_person_keypoints_val.json", "person_keypoints_val.json", None),
    ("mmpose_test_coco.json", "test_coco.json", MMPOSE_SIZES),
])
def test_real_files_read_write_read_keep_every_object(tmp_path, fixture, json_name, sizes):
    source = _place(FIXTURES / fixture, tmp_path / "in" / json_name)
    first = read_coco_labelset(source)
    second = _round_trip(first, tmp_path)
    _pycocotools_sees_our_outlines(first, tmp_path / "round" / "instances.json")
    assert second.labels == first.labels
    assert (second.keypoint_names, second.skeleton) == (first.keypoint_names, first.skeleton)
    assert not [p for p in second.problems if p.severity == "error"]
    _same_objects(first, second)


finite = st.floats(0, 100, allow_nan=False, allow_infinity=False)


@settings(max_examples=30, deadline=None)
@given(rings=st.lists(st.lists(st.tuples(finite, finite), min_size=3, max_size=8)
                      .filter(lambda r: r[0] != r[-1]), min_size=1, max_size=3),
       blocks=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(3, 20),
                                 st.integers(3, 20), st.booleans()), min_size=1, max_size=3),
       corners=st.tuples(finite, finite, finite, finite),
       joints=st.lists(st.tuples(finite, finite, st.sampled_from([ABSENT, OCCLUDED, VISIBLE])),
                       min_size=3, max_size=3))
def test_every_kind_round_trips(tmp_path_factory, rings, blocks, corners, joints):
    from engine.formats.outlines import trace_outlines

    mask = np.zeros((50, 60), np.uint8)
    for x, y, w, h, fill in blocks:
        mask[y:y + h, x:x + w] = 1 if fill else 0
    mask[0:4, 0:4] = 1  # never empty
    outer, holes = trace_outlines(mask)
    objects = (LabeledObject("a", "polygon", "shape 0",
                             polygons=tuple(np.array(r, np.float64) for r in rings)),
               LabeledObject("b", "mask", "shape 1", polygons=outer, holes=holes),
               LabeledObject("a", "rectangle", "shape 2", box=(
                   min(corners[0], corners[2]), min(corners[1], corners[3]),
                   max(corners[0], corners[2]), max(corners[1], corners[3]))),
               LabeledObject("c", "points", "shape 3", box=(0, 0, 50, 40), keypoints=tuple(
                   Keypoint(name, *((x, y) if v else (0, 0)), v)
                   for name, (x, y, v) in zip("xyz", joints, strict=True))))
    image = LabeledImage(PurePosixPath("x.png"), 60, 50, "made", objects=objects)
    labelset = LabelSet("x", Path("made"), images=[image], labels=["a", "b", "c"],
                        keypoint_names=("x", "y", "z"), skeleton=((0, 2),))
    again = _round_trip(labelset, tmp_path_factory.mktemp("round"))
    assert (again.labels, again.keypoint_names, again.skeleton) == (
        ["a", "b", "c"], ("x", "y", "z"), ((0, 2),))
    _same_objects(labelset, again)
    (image_again,) = again.images
    decoded = fill_outlines(image_again.objects[1].polygons, image_again.objects[1].holes,
                            50, 60)
    assert np.array_equal(decoded, mask)
    assert rle.area(rle.encode(decoded)) == mask.sum()
