"""Pascal VOC mask PNGs: read from what labelme2voc and Datumaro wrote, written back, re-read
(the writer alone: test_masks_write)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from engine.errors import DatasetError
from engine.formats.labelset import LabeledImage, LabeledObject
from engine.formats.masks import (
    DEFAULT_NAMES_SOURCE,
    read_class_names,
    read_masks,
    voc_colormap,
)
from engine.formats.masks_write import write_masks
from engine.formats.outlines import fill_outlines

FIXTURES = Path(__file__).parents[2] / "fixtures"
LABELME2VOC = FIXTURES / "voc_masks" / "labelme2voc"
DATUMARO = FIXTURES / "voc_masks" / "datumaro_voc_dataset1"
LABELME_SIZES = {"2011_000003": (500, 338), "2011_000006": (500, 375),
                 "2011_000025": (500, 375)}


def _labelme2voc_copy(tmp_path: Path) -> Path:
    """The labelme2voc fixture with blank photos of the real sizes in JPEGImages/."""
    root = tmp_path / "voc"
    shutil.copytree(LABELME2VOC, root)
    (root / "JPEGImages").mkdir()
    for stem, size in LABELME_SIZES.items():
        Image.new("RGB", size).save(root / "JPEGImages" / f"{stem}.jpg")
    return root


def _save_indices(path: Path, indices: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(indices.astype(np.uint8))
    image.putpalette(voc_colormap().tobytes())
    image.save(path)


def _voc(tmp_path: Path, objects: np.ndarray | None, classes: np.ndarray | None,
         stem: str = "a", image: bool = True) -> Path:
    root = tmp_path / "set"
    if objects is not None:
        _save_indices(root / "SegmentationObject" / f"{stem}.png", objects)
    if classes is not None:
        _save_indices(root / "SegmentationClass" / f"{stem}.png", classes)
    shape = (objects if objects is not None else classes).shape
    if image:
        (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (shape[1], shape[0])).save(root / "JPEGImages" / f"{stem}.png")
    return root


def _filled(item: LabeledObject, image: LabeledImage) -> np.ndarray:
    return fill_outlines(item.polygons, item.holes, image.height, image.width).astype(bool)


def _digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _labelme_instances(stem: str) -> dict[tuple, list[np.ndarray]]:
    """labelme's own instances: shapes joined by (label, group_id), as labelme2voc joins them."""
    document = json.loads((FIXTURES / "labelme" / f"{stem}.json").read_text())
    groups: dict[tuple, list[np.ndarray]] = {}
    for number, shape in enumerate(document["shapes"]):
        group = shape["group_id"] if shape["group_id"] is not None else f"shape {number}"
        groups.setdefault((shape["label"], group), []).append(np.array(shape["points"]))
    return groups


def test_labelme2voc_output_gives_every_instance_of_labelmes_json_with_its_class(tmp_path):
    root = _labelme2voc_copy(tmp_path)
    before = _digests(root)
    labelset = read_masks(root)
    assert _digests(root) == before  # read only
    assert labelset.format == "masks" and len(labelset.images) == 3
    assert labelset.labels[14] == "person" and labelset.labels[15] == "potted plant"
    assert read_class_names(root).source == "class_names.txt"
    counts = {image.name.stem: Counter(o.label for o in image.objects)
              for image in labelset.images}
    assert counts == {"2011_000003": {"person": 2, "bottle": 1},
                      "2011_000006": {"person": 4, "chair": 1, "sofa": 1},
                      "2011_000025": {"bus": 2, "car": 1}}
    for image in labelset.images:
        assert image.path == root / "JPEGImages" / f"{image.name.stem}.jpg"
        assert (image.width, image.height) == LABELME_SIZES[image.name.stem]
        expected = {key: value for key, value in _labelme_instances(image.name.stem).items()
                    if key[0] != "__ignore__"}
        assert sum(Counter(o.label for o in image.objects).values()) == len(expected)
        matched = set()
        for item in image.objects:  # each object lies on labelme's instance of its class
            mine = _filled(item, image)
            scores = {}
            for key, polygons in expected.items():
                theirs = np.zeros(mine.shape, np.uint8)
                cv2.fillPoly(theirs, [np.round(p).astype(np.int32) for p in polygons], 1)
                scores[key] = (mine & (theirs > 0)).sum() / (mine | (theirs > 0)).sum()
            best = max(scores, key=scores.get)
            assert best[0] == item.label and scores[best] > 0.85, (item.where, scores[best])
            matched.add(best)
        assert matched == set(expected)
    sofa = next(o for i in labelset.images for o in i.objects if o.label == "sofa")
    assert sofa.kind == "mask" and sofa.where == "instance 7" and len(sofa.polygons) == 4
    assert [p.line() for p in labelset.problems] == [
        "SegmentationObject/2011_000006.png, instance 2: 1 of its 11672 pixels are in parts "
        "too thin to outline (single pixels or 1-pixel lines): left out of the object",
        "SegmentationClass: 2 images have void pixels (255: borders or regions to ignore) "
        "outside every object (2011_000003, 2011_000006): read as background, as YOLO labels "
        "cannot mark pixels to ignore"]


def test_datumaro_rgb_masks_read_by_voc_colour_with_splits_and_standard_names():
    before = _digests(DATUMARO)
    labelset = read_masks(DATUMARO)
    assert _digests(DATUMARO) == before
    first, second = labelset.images
    assert (first.name.as_posix(), first.split, second.name.as_posix(), second.split) == (
        "JPEGImages/2007_000001.jpg", "train", "JPEGImages/2007_000002.jpg", "test")
    (item,) = first.objects
    assert (item.label, item.kind, item.where) == ("bicycle", "mask", "instance 1")
    assert _filled(item, first).all() and (first.width, first.height) == (20, 10)
    assert second.objects == () and second.path == DATUMARO / "JPEGImages/2007_000002.jpg"
    assert [(p.file, p.where, p.severity) for p in labelset.problems] == [
        ("labels.txt", "", "warning"),
        ("ImageSets/Segmentation/test.txt", "2007_000002", "warning")]
    assert DEFAULT_NAMES_SOURCE in labelset.problems[0].reason
    assert len(labelset.labels) == 20 and labelset.labels[-1] == "tvmonitor"


def test_voc_colour_map_is_the_one_labelme2voc_wrote():
    colors = voc_colormap()
    assert colors[1].tolist() == [128, 0, 0] and colors[2].tolist() == [0, 128, 0]
    assert colors[15].tolist() == [192, 128, 128] and colors[255].tolist() == [224, 224, 192]
    with Image.open(LABELME2VOC / "SegmentationClass" / "2011_000003.png") as written:
        assert written.getpalette() == colors.ravel().tolist()
    assert len({tuple(c) for c in colors.tolist()}) == 256


def test_a_donut_keeps_its_hole_and_an_instance_inside_it_is_its_own(tmp_path):
    objects = np.zeros((40, 40), np.uint8)
    objects[5:35, 5:35] = 1
    objects[12:28, 12:28] = 0  # the hole
    objects[16:24, 16:24] = 2  # a car parked in the hole
    classes = np.where(objects == 1, 15, np.where(objects == 2, 7, 0))
    labelset = read_masks(_voc(tmp_path, objects, classes))
    (image,) = labelset.images
    donut, car = image.objects
    assert (donut.label, len(donut.polygons), len(donut.holes)) == ("person", 1, 1)
    assert (car.label, len(car.polygons), len(car.holes)) == ("car", 1, 0)
    assert np.array_equal(_filled(donut, image), objects == 1)
    assert np.array_equal(_filled(car, image), objects == 2)


def test_round_trip_read_write_read_keeps_every_pixel_of_labelme2voc(tmp_path):
    root = _labelme2voc_copy(tmp_path)
    first = read_masks(root)
    written = write_masks(first, tmp_path / "out")
    assert {p.relative_to(tmp_path / "out").as_posix() for p in written} == {
        *(f"Segmentation{kind}/{stem}.png" for kind in ("Object", "Class")
          for stem in LABELME_SIZES), "labels.txt"}
    lines = (tmp_path / "out" / "labels.txt").read_text().splitlines()
    assert lines[:3] == ["__ignore__", "_background_", "aeroplane"] and len(lines) == 22
    for stem in LABELME_SIZES:  # the class PNG comes back, less the ignore regions and the
        original = np.array(Image.open(root / "SegmentationClass" / f"{stem}.png"))
        with Image.open(tmp_path / "out" / "SegmentationClass" / f"{stem}.png") as image:
            assert image.mode == "P" and image.getpalette() == voc_colormap().ravel().tolist()
            rewritten = np.array(image)
        differ = rewritten != np.where(original == 255, 0, original)
        assert differ.sum() == (1 if stem == "2011_000006" else 0)  # one stray pixel
    for image in first.images:  # instance ids renumbered in order, the same pixels
        ids = np.array(Image.open(tmp_path / "out" / "SegmentationObject"
                                  / f"{image.name.stem}.png"))
        for number, item in enumerate(image.objects, start=1):
            assert np.array_equal(ids == number, _filled(item, image))
    shutil.copytree(root / "JPEGImages", tmp_path / "out" / "JPEGImages")
    second = read_masks(tmp_path / "out")
    assert second.labels == first.labels and second.problems == []
    for one, two in zip(first.images, second.images, strict=True):
        assert [o.label for o in one.objects] == [o.label for o in two.objects]
        for a, b in zip(one.objects, two.objects, strict=True):
            assert np.array_equal(_filled(a, one), _filled(b, two))
    write_masks(second, tmp_path / "again")  # the same files, byte for byte
    shutil.rmtree(tmp_path / "out" / "JPEGImages")
    assert _digests(tmp_path / "again") == _digests(tmp_path / "out")


def test_class_pngs_alone_give_one_object_per_connected_region(tmp_path):
    classes = np.zeros((30, 40), np.uint8)
    classes[2:8, 2:10] = 7
    classes[20:28, 25:38] = 7
    classes[10:18, 12:20] = 15
    classes[18:22, 20:24] = 15  # touches the person at a corner: the same region (as traced)
    classes[0:30, 39] = 255  # a void border is not an object
    labelset = read_masks(_voc(tmp_path, None, classes))
    (image,) = labelset.images
    assert [(o.label, o.where) for o in image.objects] == [
        ("car", "class 'car' component 1"), ("car", "class 'car' component 2"),
        ("person", "class 'person' component 1")]
    assert np.array_equal(_filled(image.objects[1], image)[20:28, 25:38], np.ones((8, 13), bool))
    assert np.array_equal(_filled(image.objects[2], image), classes == 15)
    assert image.file == "SegmentationClass/a.png"
    assert any("connected region" in p.reason and p.severity == "warning"
               for p in labelset.problems)


def test_instances_of_mixed_background_or_unnamed_class_are_reported(tmp_path):
    objects = np.zeros((20, 30), np.uint8)
    objects[1:9, 1:9] = 1  # mostly person, some chair
    objects[1:9, 12:20] = 2  # no class at all
    objects[12:18, 1:9] = 3  # class 40: past the names
    objects[12:18, 12:20] = 4  # half background
    classes = np.zeros_like(objects)
    classes[1:9, 1:9] = 15
    classes[1:3, 1:9] = 9
    classes[12:18, 1:9] = 40
    classes[12:18, 12:16] = 6
    labelset = read_masks(_voc(tmp_path, objects, classes))
    (image,) = labelset.images
    assert [(o.where, o.label) for o in image.objects] == [("instance 1", "person"),
                                                         ("instance 4", "bus")]
    lines = {(p.where, p.severity): p.reason for p in labelset.problems if p.where}
    assert "several classes ('person' 48 px, 'chair' 16 px)" in lines[("instance 1", "warning")]
    assert "background or void here: no class" in lines[("instance 2", "error")]
    assert "class index 40 is not among the 21 names" in lines[("instance 3", "error")]
    assert "24 of its 48 pixels are background" in lines[("instance 4", "warning")]
    assert all(p.file == "SegmentationClass/a.png" for p in labelset.problems if p.where)


def test_corrupt_png_size_mismatch_and_missing_image_leave_the_rest_read(tmp_path):
    good = np.zeros((10, 12), np.uint8)
    good[2:8, 2:8] = 1
    root = _voc(tmp_path, good, good * 7, stem="good")
    _voc(tmp_path, good, good * 7, stem="corrupt")
    (root / "SegmentationObject" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    _voc(tmp_path, good, np.zeros((11, 12), np.uint8), stem="masks_differ")
    _voc(tmp_path, good, good * 7, stem="photo_differs", image=False)
    Image.new("RGB", (13, 10)).save(root / "JPEGImages" / "photo_differs.jpg")
    _voc(tmp_path, good, good * 7, stem="no_photo", image=False)
    _voc(tmp_path, good, None, stem="no_classes")
    before = _digests(root)
    labelset = read_masks(root)
    assert _digests(root) == before
    assert [(i.name.as_posix(), i.path is None) for i in labelset.images] == [
        ("JPEGImages/good.png", False), ("JPEGImages/no_photo.jpg", True)]
    assert all(len(i.objects) == 1 and i.objects[0].label == "car" for i in labelset.images)
    reasons = {p.file: (p.severity, p.reason) for p in labelset.problems}
    assert reasons["SegmentationObject/corrupt.png"][1].startswith("cannot be read as a PNG")
    assert reasons["SegmentationObject/masks_differ.png"] == (
        "error", "is 12x10 but SegmentationClass/masks_differ.png is 12x11: left out")
    assert "JPEGImages/photo_differs.jpg is 13x10 but the mask is 12x10" in reasons[
        "SegmentationObject/photo_differs.png"][1]
    assert reasons["SegmentationObject/no_photo.png"][0] == "warning"
    assert reasons["SegmentationObject/no_classes.png"] == (
        "error", "no SegmentationClass/no_classes.png: its instances have no class; left out")


def test_rgb_masks_map_labelmap_colours_and_name_an_unknown_colour(tmp_path):
    root = tmp_path / "set"
    (root / "SegmentationClass").mkdir(parents=True)
    (root / "labelmap.txt").write_text("# label:color_rgb:parts:actions\n"
                                       "background:0,0,0::\nkite:10,200,30::\nboat:::\n")
    rgb = np.zeros((10, 20, 3), np.uint8)
    rgb[1:5, 1:5] = (10, 200, 30)
    rgb[6:9, 1:5] = voc_colormap()[2]  # boat has no colour of its own: its VOC one
    rgb[1:5, 10:14] = (1, 2, 3)
    Image.fromarray(rgb).save(root / "SegmentationClass" / "a.png")
    labelset = read_masks(root)
    names = read_class_names(root)
    assert (names.names, names.source) == (("background", "kite", "boat"), "labelmap.txt")
    assert [o.label for o in labelset.images[0].objects] == ["kite", "boat"]
    (unknown,) = [p for p in labelset.problems if p.where.startswith("colour")]
    assert unknown.line() == ("SegmentationClass/a.png, colour (1, 2, 3): 16 pixels of a "
                              "colour not in labelmap.txt: read as void")


def test_labels_txt_in_labelmes_convention_and_a_plain_list(tmp_path):
    (tmp_path / "labels.txt").write_text("__ignore__\n_background_\ncat\ndog\n")
    assert read_class_names(tmp_path).names == ("_background_", "cat", "dog")
    (tmp_path / "labels.txt").write_text("cat\ndog\n")
    assert read_class_names(tmp_path).names == ("_background_", "cat", "dog")
    (tmp_path / "labels.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(DatasetError, match="labels.txt"):
        read_class_names(tmp_path)
    with pytest.raises(DatasetError, match="no SegmentationObject/ or SegmentationClass/"):
        read_masks(tmp_path)


def test_a_palette_png_is_read_by_its_indices_whatever_its_colours(tmp_path):
    indices = np.zeros((8, 8), np.uint8)
    indices[2:6, 2:6] = 15
    root = tmp_path / "set"
    (root / "SegmentationClass").mkdir(parents=True)
    image = Image.fromarray(indices)
    image.putpalette([255, 0, 0] * 256)  # every index drawn red: only the index tells
    image.save(root / "SegmentationClass" / "a.png")
    labelset = read_masks(root)
    assert [o.label for o in labelset.images[0].objects] == ["person"]
    assert not [p for p in labelset.problems if p.severity == "error"]


def test_a_photo_turned_by_its_exif_matches_masks_of_its_shown_size(tmp_path):
    indices = np.zeros((10, 16), np.uint8)  # shown 16 wide, 10 high
    indices[2:8, 2:8] = 1
    root = _voc(tmp_path, indices, indices * 7, image=False)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 10x16, shown turned a quarter
    (root / "JPEGImages").mkdir()
    Image.new("RGB", (10, 16)).save(root / "JPEGImages" / "a.jpg", exif=exif)
    labelset = read_masks(root)
    (image,) = labelset.images
    assert (image.width, image.height, len(image.objects)) == (16, 10, 1)
    assert image.path == root / "JPEGImages" / "a.jpg"
