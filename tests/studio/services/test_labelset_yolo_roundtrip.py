"""The issue's whole round trip for a pose source and a COCO source: tool file -> project ->
YOLO -> project -> tool format keeps every joint (with its visibility) and every polygon
within 1e-6 of the image size."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from engine.formats.coco_labelset import read_coco_labelset
from engine.formats.cvat import read_cvat
from engine.formats.labelset import ABSENT
from studio.services.dataset_export import export_coco, export_yolo
from studio.services.export_labelset import export_tool_format
from studio.services.importers import import_dataset
from studio.state.models import Image

from .test_import_labelset import FIXTURES, blank, cvat_folder

# pycocotools 2.0 predates numpy 2's copy keyword and warns on every decode.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _through_yolo(make_project, first, tmp_path: Path, task: str, **options):
    """``first`` exported as YOLO and imported into a new project of ``task``."""
    with first.database.session() as session:  # a YOLO yaml needs train and val images
        for number, image in enumerate(session.scalars(select(Image).order_by(Image.id))):
            image.split = "val" if number == 0 else "train"
    export_yolo(first, tmp_path / "yolo")
    second = make_project(task, classes=(), **options)
    summary = import_dataset(second, tmp_path / "yolo", f"yolo-{task}")
    return second, summary


def test_cvat_skeletons_through_yolo_keep_every_joint_and_its_visibility(make_project,
                                                                          tmp_path):
    source = cvat_folder(tmp_path / "cvat")
    first = make_project("pose", classes=())
    import_dataset(first, source, joint_map={"neck": "left_shoulder"})
    second, summary = _through_yolo(make_project, first, tmp_path, "pose")
    export_tool_format(second, tmp_path / "out", "cvat")
    back = {image.name.name: image for image in read_cvat(tmp_path / "out").images}
    # frame_02's one skeleton has a single labelled joint: a box without area, which YOLO
    # cannot train on; the YOLO import says so by file and line instead of dropping it silently
    assert set(back) == {"frame_01.jpg"}
    assert any("frame_02.txt" in p["path"] for p in summary.problems), summary.problems
    checked = 0
    for image in read_cvat(source).images:
        if image.name.name not in back:
            continue
        again = back[image.name.name]
        assert len(again.objects) == len(image.objects)
        for obj, other in zip(image.objects, again.objects, strict=True):
            joints = {k.name: k for k in other.keypoints}
            for point in obj.keypoints:
                kept = joints["left_shoulder" if point.name == "neck" else point.name]
                assert kept.visibility == point.visibility
                if point.visibility != ABSENT:
                    assert abs(kept.x - point.x) <= 1e-6 * image.width
                    assert abs(kept.y - point.y) <= 1e-6 * image.height
                    checked += 1
    assert checked > 0


def test_labelme2coco_through_yolo_keeps_every_single_part_polygon(make_project, tmp_path):
    root = tmp_path / "coco"
    root.mkdir()
    shutil.copy(FIXTURES / "coco" / "labelme2coco_annotations.json", root / "annotations.json")
    for entry in json.loads((root / "annotations.json").read_text())["images"]:
        blank(root / entry["file_name"], entry["width"], entry["height"])
    first = make_project("segment", classes=())
    import_dataset(first, root / "annotations.json")
    second, _ = _through_yolo(make_project, first, tmp_path, "segment")
    export_coco(second, tmp_path / "out" / "annotations.json",
                images_folder=tmp_path / "out")
    back = {image.name.name: image
            for image in read_coco_labelset(tmp_path / "out" / "annotations.json").images}
    compared = 0
    for image in read_coco_labelset(root / "annotations.json").images:
        again = back[image.name.name]
        assert [o.label for o in again.objects] == [o.label for o in image.objects]
        for obj, other in zip(image.objects, again.objects, strict=True):
            if len(obj.polygons) == 1:  # parts come back joined into one outline
                drawn = np.clip(obj.polygons[0], 0, (image.width, image.height))
                assert np.abs(other.polygons[0] - drawn).max() <= 1e-6 * image.width
                compared += 1
    assert compared >= 10
