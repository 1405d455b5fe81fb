"""Importing other tools' labels into a project through the engine's label set (issue 19):
the tools' own sample files (tests/fixtures/<format>/) with blank images made at each file's
size, the rectangles choice, the joint map, labels outside the project's classes, zips,
embedded and missing images, and the source left byte for byte as it was."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from studio.errors import ImportProblem
from studio.services.importers import detect_format_why, import_dataset, source_joints
from studio.state.models import Annotation, Image

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
VOC_JSONS = ("2011_000003.json", "2011_000006.json", "2011_000025.json")


def blank(path: Path, width: int, height: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((height, width, 3), 90, np.uint8))
    return path


def labelme_folder(folder: Path, names=VOC_JSONS) -> Path:
    """The labelme sample JSONs copied into ``folder``, each with a blank image of its size."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(FIXTURES / "labelme" / name, folder / name)
        content = json.loads((folder / name).read_text())
        blank(folder / content["imagePath"], content["imageWidth"], content["imageHeight"])
    return folder


def cvat_folder(folder: Path, fixture: str = "skeleton_outside.xml") -> Path:
    """A CVAT export folder: annotations.xml and images/<name> at each image's size."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / "cvat" / fixture, folder / "annotations.xml")
    for image in ET.parse(folder / "annotations.xml").getroot().iter("image"):
        blank(folder / "images" / image.get("name"), int(image.get("width")),
              int(image.get("height")))
    return folder


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def images_of(project) -> dict[str, list[Annotation]]:
    """Each image's file name and its annotations."""
    with project.database.session() as session:
        images = session.scalars(select(Image)).all()
        return {Path(image.path).name: list(image.annotations) for image in images}


def reasons(summary) -> list[str]:
    return [p["reason"] for p in summary.problems]


# -- labelme -----------------------------------------------------------------------------------


def test_labelme_instance_example_imports_every_object_where_it_belongs(make_project,
                                                                        tmp_path):
    source = labelme_folder(tmp_path / "voc")
    before = digest(source)
    assert detect_format_why(source) == ("labelme", "2011_000003.json: JSON with shapes")
    project = make_project("segment", classes=("person",))
    summary = import_dataset(project, source)
    assert (summary.format, summary.images, summary.annotations) == ("labelme", 3, 12)
    names = [c.name for c in project.classes()]
    assert names == ["person", "bottle", "chair", "sofa", "bus", "car"]  # no __ignore__
    found = {image: Counter(names[a.class_index] for a in rows)
             for image, rows in images_of(project).items()}
    assert found == {
        "2011_000003.jpg": {"person": 2, "bottle": 1},
        "2011_000006.jpg": {"person": 4, "chair": 1, "sofa": 1},
        "2011_000025.jpg": {"bus": 2, "car": 1},
    }
    # each label outside the project's classes is one line, however often it is used
    added = [r for r in reasons(summary) if "not one of the project's classes" in r]
    assert len(added) == 5 and sum("'bus'" in r for r in added) == 1
    assert sum("__ignore__" in r for r in reasons(summary)) == 2
    # the bottle is one polygon: its points exactly as drawn, over the image's size
    drawn = json.loads((source / "2011_000003.json").read_text())["shapes"][3]["points"]
    bottle = next(a for a in images_of(project)["2011_000003.jpg"] if a.class_index == 1)
    assert bottle.polygon == pytest.approx(
        (np.asarray(drawn) / (500, 338)).reshape(-1).tolist(), abs=1e-12)
    assert digest(source) == before


def test_rectangles_become_polygons_or_are_skipped(make_project, tmp_path):
    source = labelme_folder(tmp_path / "shapes", ("primitives.json",))
    project = make_project("segment", classes=())
    summary = import_dataset(project, source, rectangles="polygon")
    rows = images_of(project)["primitives.jpg"]
    names = [c.name for c in project.classes()]
    rectangles = [a.polygon for a in rows if names[a.class_index] == "rectangle"]
    x1, y1, x2, y2 = 32 / 560, 35 / 450, 132 / 560, 135 / 450
    assert rectangles[0] == pytest.approx([x1, y1, x2, y1, x2, y2, x1, y2], abs=1e-12)
    assert len(rectangles) == 2
    assert sum("imported as a 4-point polygon" in r for r in reasons(summary)) == 2

    skipping = make_project("segment", classes=())
    summary = import_dataset(skipping, source, rectangles="skip")
    kept = [c.name for c in skipping.classes()]
    rows = images_of(skipping)["primitives.jpg"]
    assert "rectangle" not in [kept[a.class_index] for a in rows]
    assert len(rows) == 3  # the circle, the polygon and the mask; the point has no outline
    assert sum("a rectangle: left out" in r for r in reasons(summary)) == 2


def test_labelme_flags_give_a_classify_project_its_class(make_project, tmp_path):
    source = labelme_folder(tmp_path / "pets", ("classification_0001.json",))
    project = make_project("classify", classes=("dog", "cat"))
    summary = import_dataset(project, source)
    assert summary.images == 1 and summary.annotations == 1
    (rows,) = images_of(project).values()
    assert [(a.kind, a.class_index) for a in rows] == [("class", 1)]


def test_an_embedded_image_is_written_into_the_project_and_a_missing_one_is_a_line(
        make_project, tmp_path):
    source = tmp_path / "embedded"
    source.mkdir()
    ok, png = cv2.imencode(".png", np.full((30, 40, 3), 200, np.uint8))
    square = [[4, 4], [20, 4], [20, 20], [4, 20]]
    shape = {"label": "box", "points": square, "shape_type": "polygon", "group_id": None,
             "flags": {}}
    for name, data in (("inside", base64.b64encode(png.tobytes()).decode()), ("gone", None)):
        (source / f"{name}.json").write_text(json.dumps({
            "version": "5.7.0", "flags": {}, "shapes": [shape], "imagePath": f"{name}.png",
            "imageData": data, "imageHeight": 30, "imageWidth": 40}))
    before = digest(source)
    project = make_project("segment", classes=())
    summary = import_dataset(project, source)
    assert summary.images == 1 and summary.annotations == 1
    written = project.images_folder / "embedded" / "inside.png"
    assert written.read_bytes() == png.tobytes()
    assert list(images_of(project)) == ["inside.png"]
    gone = [p for p in summary.problems if "gone.png" in p["reason"]]
    assert len(gone) == 1 and gone[0]["path"].endswith("gone.json")
    assert digest(source) == before


def test_no_image_at_all_is_refused_with_where_to_put_them(make_project, tmp_path):
    source = tmp_path / "voc"
    source.mkdir()
    shutil.copy(FIXTURES / "labelme" / "2011_000025.json", source)
    with pytest.raises(ImportProblem, match="cannot find its images"):
        import_dataset(make_project("segment"), source)


# -- CVAT: skeletons and the joint map ---------------------------------------------------------


def test_cvat_skeleton_joints_by_name_and_by_the_users_map(make_project, tmp_path):
    source = cvat_folder(tmp_path / "cvat")
    before = digest(source)
    project = make_project("pose", classes=())  # the COCO person schema: no "neck"
    assert source_joints(project, source, "cvat") == ("nose", "left_eye", "right_eye", "neck")
    summary = import_dataset(project, source)
    assert summary.images == 2 and summary.annotations == 3
    assert sum("joint 'neck' is not in the keypoint schema" in r
               for r in reasons(summary)) == 1
    frame = images_of(project)["frame_01.jpg"][0]
    # nose visible, left_eye occluded, right_eye outside (absent, its coordinates ignored)
    assert frame.keypoints[:9] == pytest.approx(
        [320.5 / 640, 100.25 / 480, 2, 310 / 640, 90.75 / 480, 1, 0, 0, 0], abs=1e-12)
    assert frame.keypoints[15:18] == [0, 0, 0]  # left_shoulder: nothing mapped to it

    mapped = make_project("pose", classes=())
    import_dataset(mapped, source, joint_map={"neck": "left_shoulder"})
    frame = images_of(mapped)["frame_01.jpg"][0]
    assert frame.keypoints[15:18] == pytest.approx([321 / 640, 160 / 480, 2], abs=1e-12)
    assert digest(source) == before


def test_a_cvat_zip_is_extracted_safely_and_its_images_copied(make_project, tmp_path):
    folder = cvat_folder(tmp_path / "cvat")
    archive = tmp_path / "task.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zipped.write(path, path.relative_to(folder).as_posix())
    assert detect_format_why(archive) == ("cvat", "annotations.xml in the zip")
    project = make_project("pose", classes=())
    summary = import_dataset(project, archive, copy=False)
    assert summary.images == 2
    with project.database.session() as session:
        stored = session.scalars(select(Image)).all()
        assert all(image.copied and project.resolve(image.path).is_file() for image in stored)
    assert all(p["path"].startswith(str(archive)) for p in summary.problems)


def test_a_zip_slip_member_is_refused(make_project, tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("annotations.xml", (FIXTURES / "cvat" / "skeleton_outside.xml")
                        .read_text())
        zipped.writestr("../outside.txt", "x")
    project = make_project("pose", classes=())
    with pytest.raises(ImportProblem, match="zip slip"):
        import_dataset(project, archive)
    assert not (tmp_path / "outside.txt").exists()


# -- COCO, Label Studio, masks -----------------------------------------------------------------


def test_coco_written_by_labelme2coco_finds_its_images_beside_the_json(make_project, tmp_path):
    source = tmp_path / "coco"
    source.mkdir()
    shutil.copy(FIXTURES / "coco" / "labelme2coco_annotations.json", source / "annotations.json")
    content = json.loads((source / "annotations.json").read_text())
    for entry in content["images"]:  # file_name is JPEGImages/<name>, beside the JSON
        blank(source / entry["file_name"], entry["width"], entry["height"])
    project = make_project("segment", classes=())
    summary = import_dataset(project, source / "annotations.json")
    assert (summary.format, summary.images, summary.annotations) == ("coco", 3, 12)
    assert summary.problems == []
    assert sorted(c.name for c in project.classes()) == [
        "bottle", "bus", "car", "chair", "person", "sofa"]  # not labelme's _background_


def test_label_studio_polygons_in_percent(make_project, tmp_path):
    source = tmp_path / "ls"
    source.mkdir()
    name = "converter_test_export_yolo_data_polygons.json"
    shutil.copy(FIXTURES / "labelstudio" / name, source / name)
    # data.image is "/image2", a name without a suffix: the bytes of a JPEG
    source.joinpath("image2").write_bytes(
        cv2.imencode(".jpg", np.full((426, 640, 3), 90, np.uint8))[1].tobytes())
    assert detect_format_why(source / name)[0] == "labelstudio"
    project = make_project("segment", classes=())
    summary = import_dataset(project, source / name)
    assert summary.images == 1 and summary.annotations == 1
    (rows,) = images_of(project).values()
    points = json.loads((source / name).read_text())[0]["annotations"][0]["result"][0]
    expected = (np.asarray(points["value"]["points"]) / 100).reshape(-1)
    assert rows[0].polygon == pytest.approx(expected.tolist(), abs=1e-12)


def test_mask_pngs_become_polygons(make_project, tmp_path):
    source = tmp_path / "voc"
    shutil.copytree(FIXTURES / "voc_masks" / "labelme2voc", source)
    for png in (source / "SegmentationObject").glob("*.png"):
        height, width = cv2.imread(str(png)).shape[:2]
        blank(source / "JPEGImages" / f"{png.stem}.jpg", width, height)
    before = digest(source)
    assert detect_format_why(source)[0] == "masks"
    project = make_project("segment", classes=())
    summary = import_dataset(project, source)
    names = [c.name for c in project.classes()]
    found = {image: Counter(names[a.class_index] for a in rows)
             for image, rows in images_of(project).items()}
    assert found["2011_000025.jpg"] == {"bus": 2, "car": 1}
    assert found["2011_000006.jpg"] == {"person": 4, "chair": 1, "sofa": 1}
    assert summary.annotations == 12
    assert digest(source) == before


def test_label_studio_keypoints_by_joint_name(make_project, tmp_path):
    source = tmp_path / "ls"
    source.mkdir()
    name = "sdk_test_export_yolo_data_keypoints.json"
    shutil.copy(FIXTURES / "labelstudio" / name, source / name)
    blank(source / "image1.jpg", 216, 174)  # data.image is /data/upload/18/image1.jpg
    project = make_project("pose", classes=())  # COCO person: nose, left_eye, right_eye
    assert source_joints(project, source / name, "labelstudio") == (
        "nose", "left_eye", "right_eye")
    summary = import_dataset(project, source / name)
    assert summary.images == 1 and summary.annotations == 1
    (rows,) = images_of(project).values()
    results = json.loads((source / name).read_text())[0]["annotations"][0]["result"]
    points = {r["value"]["keypointlabels"][0]: (r["value"]["x"] / 100, r["value"]["y"] / 100)
              for r in results if r.get("type") == "keypointlabels"}
    keypoints = rows[0].keypoints
    for index, joint in enumerate(("nose", "left_eye", "right_eye")):
        assert keypoints[index * 3: index * 3 + 2] == pytest.approx(points[joint], abs=1e-12)


def test_a_yolo_zip_as_roboflow_writes_it(make_project, tmp_path):
    from engine.data.shape_samples import make_shapes_dataset

    folder = make_shapes_dataset(tmp_path / "shapes", size=32, train=2, val=1).parent
    archive = tmp_path / "shapes.zip"  # shapes/shapes.yaml, shapes/images/..., one top folder
    with zipfile.ZipFile(archive, "w") as zipped:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zipped.write(path, path.relative_to(folder.parent).as_posix())
    assert detect_format_why(archive)[0] == "yolo-segment"
    project = make_project("segment", classes=())
    summary = import_dataset(project, archive)
    assert summary.images == 3 and summary.annotations > 0
    with project.database.session() as session:
        stored = session.scalars(select(Image)).all()
        assert {image.split for image in stored} == {"train", "val"}
        assert all(image.copied and project.resolve(image.path).is_file() for image in stored)


def test_a_roboflow_coco_folder_reads_each_split(make_project, tmp_path):
    source = tmp_path / "roboflow"
    square = [2.0, 2.0, 12.0, 2.0, 12.0, 12.0, 2.0, 12.0]
    for split, name, label in (("train", "a.jpg", "cat"), ("valid", "b.jpg", "dog")):
        blank(source / split / name, 20, 16)
        (source / split / "_annotations.coco.json").write_text(json.dumps({
            "images": [{"id": 1, "file_name": name, "width": 20, "height": 16}],
            "categories": [{"id": 1, "name": label}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 10, 10],
                             "segmentation": [square], "area": 100, "iscrowd": 0}]}))
    assert detect_format_why(source)[0] == "coco"
    project = make_project("segment", classes=())
    summary = import_dataset(project, source)
    assert summary.images == 2 and summary.annotations == 2
    assert [c.name for c in project.classes()] == ["cat", "dog"]
    with project.database.session() as session:
        splits = {Path(i.path).name: i.split for i in session.scalars(select(Image))}
    assert splits == {"a.jpg": "train", "b.jpg": "val"}
