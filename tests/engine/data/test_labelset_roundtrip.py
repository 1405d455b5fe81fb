"""The issue's round trip on the tools' own files: tool file -> label set -> fit -> YOLO dataset
-> read back -> the tool's writer -> the tool's reader. Every shape the task keeps comes back
within 1e-6 of the image's size (masks: the same pixels)."""

from __future__ import annotations

import json
import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from PIL import Image

from engine.data.labelset_fit import FitOptions, fit_labelset
from engine.data.labelset_yolo import write_yolo_dataset
from engine.formats.coco_labelset import read_coco_labelset
from engine.formats.coco_labelset_write import write_coco_labelset
from engine.formats.cvat import read_cvat
from engine.formats.cvat_write import write_cvat
from engine.formats.labelme_labelset import read_labelme_folder
from engine.formats.labelme_labelset_write import write_labelme_folder
from engine.formats.labelset import ABSENT, LabeledObject, LabelSet
from engine.formats.masks import read_masks
from engine.formats.masks_write import write_masks
from engine.formats.outlines import fill_outlines
from engine.formats.yolo_dataset import read_yolo_dataset

FIXTURES = Path(__file__).parents[2] / "fixtures"
TOLERANCE = 1e-6

# pycocotools 2.0 predates numpy 2's copy keyword and warns on every decode.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")


def _blank(path: Path, width: int, height: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), (90, 90, 90)).save(path)


def _blanks_for(labels: LabelSet, folder: Path, beside: str = "") -> None:
    """Blank photos of the sizes ``labels`` gives, where its reader looks for them."""
    for image in labels.images:
        _blank(folder / beside / image.name, image.width, image.height)


def _through_yolo(labels: LabelSet, task: str, folder: Path) -> LabelSet:
    """``labels`` fitted to ``task``, written as a YOLO dataset and read back from it."""
    fitted = fit_labelset(labels, FitOptions(task))
    written = write_yolo_dataset(fitted, folder)
    assert written.images_missing == 0
    back = read_yolo_dataset(folder, task)
    assert [p.line() for p in back.problems] == []
    return back


def _with_images(labels: LabelSet, folder: Path, under: str = "") -> None:
    """Link each image where a writer of ``labels`` into ``folder`` expects it."""
    for image in labels.images:
        assert image.path is not None
        target = folder / under / image.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(image.path, target)


def _by_name(labels: LabelSet) -> dict[str, list[LabeledObject]]:
    return {PurePosixPath(image.name).name: list(image.objects) for image in labels.images}


def _sizes(labels: LabelSet) -> dict[str, float]:
    return {PurePosixPath(i.name).name: max(i.width, i.height) for i in labels.images}


def _rings(obj: LabeledObject) -> list[np.ndarray]:
    if obj.kind == "rectangle":
        x1, y1, x2, y2 = obj.box
        return [np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])]
    return [np.asarray(p) for p in (*obj.polygons, *obj.holes)]


def _same_points(first: np.ndarray, second: np.ndarray, tolerance: float) -> bool:
    """Every point of each within ``tolerance`` of a point of the other (a joined outline
    walks every part's points, and its links run between those points)."""
    gaps = np.abs(first[:, None, :] - second[None, :, :]).max(-1)
    return bool(gaps.min(1).max() <= tolerance and gaps.min(0).max() <= tolerance)


def _assert_outlines_kept(first: LabelSet, last: LabelSet) -> None:
    sizes, back = _sizes(first), _by_name(last)
    for name, objects in _by_name(first).items():
        kept = [o for o in objects if o.kind in ("polygon", "rectangle", "mask")]
        assert [o.label for o in kept] == [o.label for o in back[name]], name
        for before, after in zip(kept, back[name], strict=True):
            rings, tolerance = _rings(before), TOLERANCE * sizes[name]
            final = np.concatenate(_rings(after))
            if len(rings) == 1:  # one ring comes back point for point
                assert final.shape == rings[0].shape and np.allclose(
                    final, rings[0], rtol=0, atol=tolerance), (name, before.where)
            else:
                assert _same_points(np.concatenate(rings), final, tolerance), (
                    name, before.where)


def _assert_boxes_kept(first: LabelSet, last: LabelSet) -> None:
    sizes, back = _sizes(first), _by_name(last)
    for name, objects in _by_name(first).items():
        kept = [o for o in objects if o.bounds() is not None]
        assert [o.label for o in kept] == [o.label for o in back[name]], name
        for before, after in zip(kept, back[name], strict=True):
            assert np.allclose(before.bounds(), after.bounds(), rtol=0,
                               atol=TOLERANCE * sizes[name]), (name, before.where)


def _assert_keypoints_kept(first: LabelSet, last: LabelSet) -> None:
    sizes, back = _sizes(first), _by_name(last)
    for name, objects in _by_name(first).items():
        kept = [o for o in objects if any(k.visibility != ABSENT for k in o.keypoints)]
        assert [o.label for o in kept] == [o.label for o in back[name]], name
        for before, after in zip(kept, back[name], strict=True):
            joints = {k.name: k for k in after.keypoints}
            for point in before.keypoints:
                if point.visibility == ABSENT:
                    assert point.name not in joints or joints[point.name].visibility == ABSENT
                    continue
                again = joints[point.name]
                assert again.visibility == point.visibility, (name, before.where, point.name)
                assert np.allclose((point.x, point.y), (again.x, again.y), rtol=0,
                                   atol=TOLERANCE * sizes[name]), (name, point.name)
            assert np.allclose(before.bounds(), after.bounds(), rtol=0,
                               atol=TOLERANCE * sizes[name])


# -- labelme -----------------------------------------------------------------------------------


def _labelme_folder(tmp_path: Path, files: list[Path]) -> Path:
    folder = tmp_path / "labelme"
    folder.mkdir()
    for file in files:
        shutil.copy(file, folder)
        size = json.loads(file.read_text())
        _blank(folder / PurePosixPath(size["imagePath"]).name, size["imageWidth"],
               size["imageHeight"])
    return folder


def _labelme_again(back: LabelSet, tmp_path: Path) -> LabelSet:
    output = tmp_path / "labelme-again"
    _with_images(back, output)
    write_labelme_folder(back, output)
    return read_labelme_folder(output)


def test_labelmes_instance_example_keeps_every_outline_through_yolo(tmp_path):
    folder = _labelme_folder(tmp_path, sorted((FIXTURES / "labelme").glob("2011_*.json")))
    first = read_labelme_folder(folder)
    back = _through_yolo(first, "segment", tmp_path / "yolo")
    last = _labelme_again(back, tmp_path)
    assert last.object_count() == first.object_count() == 12
    _assert_outlines_kept(first, last)


def test_labelmes_primitives_keep_rectangles_circles_polygons_and_masks_through_yolo(tmp_path):
    folder = _labelme_folder(tmp_path, [FIXTURES / "labelme" / "primitives.json"])
    first = read_labelme_folder(folder)
    outlined = LabelSet(first.format, first.source, [
        image.__class__(**{**image.__dict__, "objects": tuple(
            o for o in image.objects if o.kind != "points")}) for image in first.images],
        first.labels)
    back = _through_yolo(outlined, "segment", tmp_path / "yolo")
    last = _labelme_again(back, tmp_path)
    assert last.object_count() == outlined.object_count() == 5
    _assert_outlines_kept(outlined, last)


def test_labelmes_boxes_keep_their_corners_through_yolo(tmp_path):
    folder = _labelme_folder(tmp_path, sorted((FIXTURES / "labelme" / "bbox_detection").glob(
        "*.json")))
    first = read_labelme_folder(folder)
    back = _through_yolo(first, "detect", tmp_path / "yolo")
    last = _labelme_again(back, tmp_path)
    assert last.object_count() == first.object_count() == 9
    _assert_boxes_kept(first, last)


# -- CVAT --------------------------------------------------------------------------------------


def _cvat(tmp_path: Path, fixture: str) -> LabelSet:
    source = tmp_path / "cvat" / "annotations.xml"
    source.parent.mkdir()
    shutil.copy(FIXTURES / "cvat" / fixture, source)
    for image in ET.parse(source).getroot().iter("image"):  # the export's folders
        subset = image.get("subset", "")
        _blank(source.parent / "images" / subset / image.get("name"), int(image.get("width")),
               int(image.get("height")))
    return read_cvat(source)


def _cvat_again(back: LabelSet, tmp_path: Path) -> LabelSet:
    output = tmp_path / "cvat-again"
    _with_images(back, output)
    write_cvat(back, output)
    return read_cvat(output / "annotations.xml")


def test_cvats_documented_example_keeps_its_polygon_box_and_mask_through_yolo(tmp_path):
    first = _cvat(tmp_path, "cvat_docs_example.xml")
    back = _through_yolo(first, "segment", tmp_path / "yolo")
    last = _cvat_again(back, tmp_path)
    _assert_outlines_kept(first, last)
    assert last.object_count() == 3  # box, 69-point polygon, mask


def test_a_cvat_skeleton_keeps_every_joint_and_its_visibility_through_yolo(tmp_path):
    first = _cvat(tmp_path, "skeleton_outside.xml")
    back = _through_yolo(first, "pose", tmp_path / "yolo")
    assert back.keypoint_names == first.keypoint_names
    last = _cvat_again(back, tmp_path)
    _assert_keypoints_kept(first, last)
    assert last.object_count() == first.object_count() > 0


def test_a_cvat_project_keeps_its_boxes_per_subset_through_yolo(tmp_path):
    first = _cvat(tmp_path, "datumaro_project.xml")
    back = _through_yolo(first, "detect", tmp_path / "yolo")
    assert sorted({i.split for i in back.images}) == ["test", "train", "val"]
    for split in ("test", "train", "val"):
        part = [i for i in first.images if i.split and i.split.lower().startswith(split[:3])]
        again = [i for i in back.images if i.split == split]
        kept = LabelSet(first.format, first.source, part)
        returned = LabelSet(back.format, back.source, again)
        _assert_boxes_kept(kept, returned)


# -- COCO --------------------------------------------------------------------------------------


def _coco(tmp_path: Path, fixture: str) -> LabelSet:
    source = tmp_path / "coco" / "annotations.json"
    source.parent.mkdir()
    shutil.copy(FIXTURES / "coco" / fixture, source)
    for image in json.loads(source.read_text())["images"]:
        _blank(source.parent / image["file_name"], image["width"], image["height"])
    return read_coco_labelset(source)


def _coco_again(back: LabelSet, tmp_path: Path) -> LabelSet:
    output = tmp_path / "coco-again"
    _with_images(back, output)
    written = write_coco_labelset(back, output / "_annotations.coco.json")
    _pycocotools_reads(written, back.object_count())
    return read_coco_labelset(written)


def _pycocotools_reads(path: Path, objects: int) -> None:
    """COCO's own reader loads the file, and every annotation's outline paints pixels."""
    from pycocotools.coco import COCO

    coco = COCO(str(path))
    annotations = coco.loadAnns(coco.getAnnIds())
    assert len(annotations) == objects
    for annotation in annotations:
        if annotation["segmentation"]:
            assert coco.annToMask(annotation).sum() > 0, annotation["id"]


def test_labelme2cocos_file_keeps_every_outline_through_yolo(tmp_path):
    first = _coco(tmp_path, "labelme2coco_annotations.json")
    back = _through_yolo(first, "segment", tmp_path / "yolo")
    last = _coco_again(back, tmp_path)
    assert last.object_count() == first.object_count() == 12
    _assert_outlines_kept(first, last)


def test_mmposes_coco_keypoints_keep_every_joint_and_visibility_through_yolo(tmp_path):
    first = _coco(tmp_path, "mmpose_test_coco.json")
    back = _through_yolo(first, "pose", tmp_path / "yolo")
    last = _coco_again(back, tmp_path)
    _assert_keypoints_kept(first, last)
    assert last.object_count() == 12  # two annotations label no joint at all


# -- masks -------------------------------------------------------------------------------------


def test_labelme2vocs_masks_come_back_as_the_same_pixels_through_yolo(tmp_path):
    source = tmp_path / "voc"
    shutil.copytree(FIXTURES / "voc_masks" / "labelme2voc", source)
    for png in (source / "SegmentationObject").glob("*.png"):
        width, height = Image.open(png).size
        _blank(source / "JPEGImages" / f"{png.stem}.jpg", width, height)
    first = read_masks(source)
    back = _through_yolo(first, "segment", tmp_path / "yolo")
    output = tmp_path / "voc-again"
    _with_images(back, output, "JPEGImages")
    write_masks(back, output)
    last = read_masks(output)
    assert last.object_count() == first.object_count() == 12
    again = _by_name(last)
    for image in first.images:
        name = PurePosixPath(image.name).name
        assert [o.label for o in image.objects] == [o.label for o in again[name]]
        for before, after in zip(image.objects, again[name], strict=True):
            painted = fill_outlines(before.polygons, before.holes, image.height, image.width)
            repainted = fill_outlines(after.polygons, after.holes, image.height, image.width)
            assert np.array_equal(painted, repainted), (name, before.where)
