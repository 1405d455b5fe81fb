"""Pascal VOC mask PNGs written from a LabelSet (engine.formats.masks_write): shapes filled in
order, what cannot be a mask reported, written masks read back and written again the same."""

from __future__ import annotations

import shutil
from pathlib import PurePosixPath

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from engine.errors import DatasetError
from engine.formats.labelset import Keypoint, LabeledImage, LabeledObject, LabelSet, Problem
from engine.formats.masks import (
    read_masks,
)
from engine.formats.masks_write import write_masks

from .test_masks import _voc


def _square(x: float, y: float, size: float) -> np.ndarray:
    return np.array([[x, y], [x + size, y], [x + size, y + size], [x, y + size]], np.float64)


def test_writer_fills_shapes_in_order_and_reports_what_cannot_be_a_mask(tmp_path):
    donut = LabeledObject("cat", "polygon", "shape 0", polygons=(_square(2, 2, 20),),
                          holes=(_square(8, 8, 6),))
    box = LabeledObject("dog", "rectangle", "shape 1", box=(18.0, 18.0, 26.0, 26.0))
    points = LabeledObject("cat", "points", "shape 2", keypoints=(Keypoint("nose", 3, 3),))
    ignore = LabeledObject("__ignore__", "polygon", "shape 3", polygons=(_square(0, 25, 4),))
    hidden = LabeledObject("cat", "polygon", "shape 4", polygons=(_square(19, 19, 3),))
    over = LabeledObject("dog", "rectangle", "shape 5", box=(18.0, 18.0, 26.0, 26.0))
    image = LabeledImage(name=PurePosixPath("JPEGImages/x.jpg"), width=32, height=30, file="x.json",
                         objects=(donut, box, points, ignore, hidden, over), split="val")
    twin = LabeledImage(name=PurePosixPath("other/x.png"), width=4, height=4, file="y.json")
    hidden_file = LabeledImage(name=PurePosixPath(".x.png"), width=4, height=4, file="z.json")
    odd = LabeledImage(name=PurePosixPath("img (1).jpg"), width=4, height=4, file="o.json")
    labelset = LabelSet("labelme", tmp_path, images=[image, twin, hidden_file, odd],
                        labels=["cat"])
    problems: list[Problem] = []
    written = write_masks(labelset, tmp_path / "out", problems)
    assert labelset.problems == []  # recorded where asked
    assert [(p.file, p.where) for p in problems] == [
        ("x.json", "shape 2"), ("x.json", "shape 1"), ("x.json", "shape 4"),
        ("y.json", "other/x.png"), ("z.json", ".x.png")]
    assert "points object cannot be painted" in problems[0].reason
    assert "repeats JPEGImages/x.jpg" in problems[3].reason
    ids = np.array(Image.open(tmp_path / "out" / "SegmentationObject" / "x.png"))
    classes = np.array(Image.open(tmp_path / "out" / "SegmentationClass" / "x.png"))
    assert ids[5, 5] == 1 and ids[10, 10] == 0 and classes[5, 5] == 1  # the hole stays empty
    assert ids[24, 24] == 4 and classes[24, 24] == 2  # the last dog on top
    assert classes[27, 1] == 255 and ids[27, 1] == 0  # __ignore__: void class, no instance
    assert set(np.unique(ids).tolist()) == {0, 1, 4}
    assert (tmp_path / "out" / "labels.txt").read_text() == "__ignore__\n_background_\ncat\ndog\n"
    assert (tmp_path / "out" / "ImageSets" / "Segmentation" / "val.txt").read_text() == "x\n"
    assert (tmp_path / "out" / "SegmentationClass" / "img (1).png").is_file()
    assert len(written) == 6 and not list((tmp_path / "out").rglob("*.tmp"))


def test_writer_refuses_more_classes_than_a_png_holds(tmp_path):
    labelset = LabelSet("yolo", tmp_path, labels=[f"c{i}" for i in range(255)])
    with pytest.raises(DatasetError, match="255 classes"):
        write_masks(labelset, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 24), st.integers(0, 24), st.integers(3, 12),
                          st.integers(3, 12), st.integers(1, 3)), min_size=1, max_size=5))
def test_written_masks_read_back_and_write_again_pixel_for_pixel(tmp_path_factory, blocks):
    tmp_path = tmp_path_factory.mktemp("masks")
    objects = np.zeros((32, 36), np.uint8)
    classes = np.zeros_like(objects)
    for number, (x, y, w, h, index) in enumerate(blocks, start=1):
        objects[y:y + h, x:x + w], classes[y:y + h, x:x + w] = number, index
    first = read_masks(_voc(tmp_path, objects, classes))
    write_masks(first, tmp_path / "one")
    shutil.copytree(tmp_path / "set" / "JPEGImages", tmp_path / "one" / "JPEGImages")
    write_masks(read_masks(tmp_path / "one"), tmp_path / "two")
    for kind in ("SegmentationObject", "SegmentationClass"):
        one = np.array(Image.open(tmp_path / "one" / kind / "a.png"))
        two = np.array(Image.open(tmp_path / "two" / kind / "a.png"))
        assert np.array_equal(one, two)
    kept = np.array(Image.open(tmp_path / "one" / "SegmentationClass" / "a.png"))
    if not any("too thin" in p.reason for p in first.problems):
        assert np.array_equal(kept, classes)  # nothing reported lost: every pixel kept


def test_a_yolo_outline_joining_two_parts_paints_no_line_over_what_its_link_crosses(tmp_path):
    # a YOLO row holds an object in parts as one outline, walked from part to part and back
    from engine.data.polygons import merge_polygons

    under = LabeledObject("cat", "polygon", "line 1", polygons=(_square(10, 8, 4),))
    joined = merge_polygons([_square(0, 9, 4), _square(20, 9, 4)])
    parts = LabeledObject("dog", "polygon", "line 2", polygons=(joined,))
    image = LabeledImage(PurePosixPath("a.jpg"), 30, 20, "a.txt", objects=(under, parts))
    write_masks(LabelSet("yolo", tmp_path, [image], ["cat", "dog"]), tmp_path / "out")
    instances = np.array(Image.open(tmp_path / "out" / "SegmentationObject" / "a.png"))
    assert (instances == 1).sum() == 25  # the 5x5 pixels of the square under the link
    assert (instances == 2).sum() == 50  # two 5x5 parts, and nothing between them
