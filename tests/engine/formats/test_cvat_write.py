"""CVAT for images 1.1 XML written by ``write_cvat``: the meta it declares, holes and parts,
and round trips through the reader (the real files CVAT and Datumaro wrote, and generated
sets) that keep every shape."""

from __future__ import annotations

from pathlib import PurePosixPath
from xml.etree import ElementTree as ET  # noqa: N817

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.formats.cvat import read_cvat
from engine.formats.cvat_write import write_cvat
from engine.formats.labelset import (
    ABSENT,
    OCCLUDED,
    VISIBLE,
    Keypoint,
    LabeledImage,
    LabeledObject,
    LabelSet,
)
from engine.formats.outlines import fill_outlines, trace_outlines

from .test_cvat import DOCS, PROJECT, SKELETON


def _same_objects(a: LabelSet, b: LabelSet, tolerance: float = 1e-6) -> None:
    assert len(a.images) == len(b.images)
    for left, right in zip(a.images, b.images, strict=True):
        assert (left.name, left.width, left.height, left.tags, left.split) == (
            right.name, right.width, right.height, right.tags, right.split)
        assert len(left.objects) == len(right.objects)
        for x, y in zip(left.objects, right.objects, strict=True):
            assert (x.label, x.kind) == (y.label, y.kind)
            if x.kind == "mask":  # pixels, compared as pixels
                assert np.array_equal(fill_outlines(x.polygons, x.holes, left.height, left.width),
                                      fill_outlines(y.polygons, y.holes, left.height, left.width))
                continue
            assert len(x.polygons) == len(y.polygons) and len(x.holes) == len(y.holes)
            for p, q in zip(x.polygons, y.polygons, strict=True):
                assert np.abs(p - q).max() <= tolerance
            if x.box is not None:
                assert np.abs(np.subtract(x.box, y.box)).max() <= tolerance
            named = {k.name: k for k in y.keypoints}
            for k in x.keypoints:
                assert named[k.name].visibility == k.visibility
                assert abs(named[k.name].x - k.x) <= tolerance
                assert abs(named[k.name].y - k.y) <= tolerance


@pytest.mark.parametrize("source", [DOCS, PROJECT, SKELETON], ids=lambda p: p.stem)
def test_read_write_read_keeps_every_shape(tmp_path, source):
    first = read_cvat(source)
    written = write_cvat(first, tmp_path / "out")
    assert written == [tmp_path / "out" / "annotations.xml"]
    second = read_cvat(written[0])
    _same_objects(first, second, tolerance=0.0)
    assert second.labels == first.labels
    assert (second.keypoint_names, second.skeleton) == (first.keypoint_names, first.skeleton)
    assert all("image not found" in p.reason for p in second.problems)


def test_the_written_meta_declares_skeletons_with_their_joints(tmp_path):
    (path,) = write_cvat(read_cvat(SKELETON), tmp_path)
    root = ET.parse(path).getroot()
    assert root.findtext("version") == "1.1"
    labels = root.findall("meta/task/labels/label")
    assert [(x.findtext("name"), x.findtext("type"), x.findtext("parent")) for x in labels] == [
        ("person", "skeleton", None), ("nose", "points", "person"),
        ("left_eye", "points", "person"), ("right_eye", "points", "person"),
        ("neck", "points", "person")]
    joints = root.findall("image/skeleton")[0].findall("points")
    assert [(j.get("label"), j.get("outside"), j.get("occluded")) for j in joints] == [
        ("nose", "0", "0"), ("left_eye", "0", "1"), ("right_eye", "1", "0"), ("neck", "0", "0")]


def test_holes_become_masks_and_parts_a_group(tmp_path):
    mask = np.zeros((40, 50), np.uint8)
    mask[5:30, 5:40] = 1
    mask[10:20, 12:25] = 0
    outer, holes = trace_outlines(mask)
    ring = np.array([[1.25, 2.5], [20.125, 2.5], [20.125, 30.75]])
    other = ring + 20
    labelset = LabelSet(format="test", source=tmp_path / "set", labels=["a", "b"], images=[
        LabeledImage(name=PurePosixPath("x/y.png"), width=50, height=40, file="t", objects=(
            LabeledObject("a", "polygon", "0", polygons=outer, holes=holes),
            LabeledObject("b", "polygon", "1", polygons=(ring, other)),
        ))])
    (path,) = write_cvat(labelset, tmp_path / "out")
    image = ET.parse(path).getroot().find("image")
    assert [child.tag for child in image] == ["mask", "polygon", "polygon"]
    assert image[1].get("group_id") == image[2].get("group_id") == "1"
    back = read_cvat(path).images[0].objects
    assert back[0].kind == "mask"
    assert np.array_equal(fill_outlines(back[0].polygons, back[0].holes, 40, 50), mask)
    assert back[1].kind == "polygon" and [p.tolist() for p in back[1].polygons] == [
        ring.tolist(), other.tolist()]


_coordinate = st.floats(0, 640, allow_nan=False, allow_infinity=False)


@st.composite
def _objects(draw):
    kind = draw(st.sampled_from(["polygon", "rectangle", "points"]))
    if kind == "polygon":
        ring = np.array(draw(st.lists(st.tuples(_coordinate, _coordinate), min_size=3,
                                      max_size=8)), np.float64)
        return LabeledObject("a", "polygon", "", polygons=(ring,))
    if kind == "rectangle":
        x1, x2 = sorted(draw(st.tuples(_coordinate, _coordinate)))
        y1, y2 = sorted(draw(st.tuples(_coordinate, _coordinate)))
        return LabeledObject("b", "rectangle", "", box=(x1, y1, x2, y2))
    visibility = st.sampled_from([VISIBLE, OCCLUDED, ABSENT])
    keypoints = []
    for name, seen in zip(("nose", "eye", "ear"), draw(st.lists(visibility, min_size=3,
                                                                  max_size=3)), strict=True):
        x, y = (0.0, 0.0) if seen == ABSENT else (draw(_coordinate), draw(_coordinate))
        keypoints.append(Keypoint(name, x, y, seen))
    return LabeledObject("c", "points", "", keypoints=tuple(keypoints))


@settings(max_examples=40, deadline=None)
@given(st.lists(_objects(), max_size=6), st.lists(st.sampled_from(["day", "night"]),
                                                  max_size=2, unique=True))
def test_generated_sets_round_trip_within_a_millionth_of_a_pixel(tmp_path_factory, objects,
                                                                 tags):
    folder = tmp_path_factory.mktemp("round")
    labelset = LabelSet(format="test", source=folder, labels=["a", "b", "c", "day", "night"],
                        keypoint_names=("nose", "eye", "ear"), skeleton=((0, 1), (1, 2)),
                        images=[LabeledImage(PurePosixPath("i.jpg"), 640, 640, "t",
                                             objects=tuple(objects), tags=tuple(tags),
                                             split="val")])
    back = read_cvat(write_cvat(labelset, folder)[0])
    _same_objects(labelset, back)
    if any(o.kind == "points" for o in objects):  # the schema is declared by a skeleton label
        assert (back.keypoint_names, back.skeleton) == (labelset.keypoint_names,
                                                        labelset.skeleton)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 20), st.integers(3, 12),
                          st.integers(3, 12), st.booleans()), min_size=1, max_size=4))
def test_traced_masks_round_trip_pixel_for_pixel(tmp_path_factory, blocks):
    mask = np.zeros((32, 44), np.uint8)
    for x, y, w, h, fill in blocks:
        mask[y:y + h, x:x + w] = 1 if fill else 0
    outer, holes = trace_outlines(mask)
    if not outer:
        return
    folder = tmp_path_factory.mktemp("masks")
    labelset = LabelSet(format="test", source=folder, labels=["m"], images=[
        LabeledImage(PurePosixPath("m.png"), 44, 32, "t", objects=(
            LabeledObject("m", "mask", "", polygons=outer, holes=holes),))])
    (obj,) = read_cvat(write_cvat(labelset, folder)[0]).images[0].objects
    assert obj.kind == "mask"
    assert np.array_equal(fill_outlines(obj.polygons, obj.holes, 32, 44),
                          fill_outlines(outer, holes, 32, 44))
