"""Importing datasets into a project: YOLO classify/segment/pose, COCO JSON, image folders,
with the bad inputs an import must survive (reported, skipped, source untouched)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from sqlalchemy import select

from engine.cancel import CancelToken
from engine.data.figure_samples import FLIP_IDX, KEYPOINT_NAMES, SKELETON, make_figures_dataset
from engine.data.shape_samples import make_shapes_dataset
from studio.errors import ImportProblem
from studio.services import image_files
from studio.services.importers import detect_format, import_dataset
from studio.services.keypoint_schemas import KeypointSchema
from studio.state.models import Annotation, Image, ImportRecord

FIGURES_SCHEMA = KeypointSchema.build(KEYPOINT_NAMES, SKELETON, FLIP_IDX)


@pytest.fixture
def shapes(tmp_path) -> Path:
    return make_shapes_dataset(tmp_path / "shapes", size=64, train=4, val=2, max_shapes=3)


@pytest.fixture
def figures(tmp_path) -> Path:
    return make_figures_dataset(tmp_path / "figures", size=64, train=3, val=2, max_figures=2)


def write_jpg(path: Path, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (40, 48, 3), np.uint8)
    cv2.imwrite(str(path), pixels)
    return path


@pytest.fixture
def classify_folder(tmp_path) -> Path:
    root = tmp_path / "pets"
    for split, count in (("train", 3), ("val", 1)):
        for name in ("cat", "dog"):
            for i in range(count):
                write_jpg(root / split / name / f"{name}{i}.jpg", seed=i)
    return root


def label_lines(path: Path) -> list[list[float]]:
    return [[float(v) for v in line.split()] for line in path.read_text().splitlines()
            if line.strip()]


def rows(project, model, *where):
    with project.database.session() as session:
        return session.scalars(select(model).where(*where)).all()


# -- YOLO segment ------------------------------------------------------------------------------


def test_segment_import_keeps_numbers_and_merges_classes(make_project, shapes):
    project = make_project("segment", classes=("circle", "square"))
    summary = import_dataset(project, shapes, progress=lambda *_: None)
    assert summary.status == "completed" and summary.format == "yolo-segment"
    assert summary.images == 6 and not summary.problems
    names = [c.name for c in project.classes()]
    assert names == ["circle", "square", "triangle", "rectangle", "star"]
    assert summary.classes_added == ["triangle", "rectangle", "star"]
    source_to_project = [0, 2, 3, 4]
    image = rows(project, Image, Image.path.like("%train_0000.jpg"))[0]
    assert Path(image.path).is_absolute() and not image.copied and image.split == "train"
    assert (image.width, image.height) == (64, 64) and len(image.file_hash) == 40
    expected = label_lines(shapes.parent / "labels" / "train" / "train_0000.txt")
    stored = rows(project, Annotation, Annotation.image_id == image.id)
    assert [[a.class_index, *a.polygon] for a in stored] == [
        [source_to_project[int(line[0])], *line[1:]] for line in expected]
    assert all(a.kind == "polygon" for a in stored)
    record = rows(project, ImportRecord)[0]
    assert record.status == "completed" and record.images == 6
    assert record.annotations == summary.annotations > 0


def test_reimport_adds_no_duplicates(make_project, shapes):
    project = make_project("segment")
    first = import_dataset(project, shapes)
    again = import_dataset(project, shapes.parent)  # the folder holding the one yaml
    assert again.images == 0 and again.already_present == first.images
    assert len(rows(project, Image)) == first.images
    assert len(rows(project, Annotation)) == first.annotations


def test_copy_mode_stores_relative_paths_and_does_not_duplicate(make_project, shapes):
    project = make_project("segment")
    summary = import_dataset(project, shapes, copy=True)
    images = rows(project, Image)
    assert len(images) == summary.images == 6
    for image in images:
        assert image.copied and not Path(image.path).is_absolute()
        assert image.path.startswith("images/")
        copy = project.resolve(image.path)
        assert copy.is_file() and image_files.file_sha1(copy) == image.file_hash
    again = import_dataset(project, shapes, copy=True)
    assert again.images == 0 and again.already_present == 6
    assert len(rows(project, Image)) == 6


def test_corrupt_image_is_reported_and_skipped(make_project, shapes):
    bad = shapes.parent / "images" / "train" / "train_0001.jpg"
    bad.write_bytes(b"this is not a jpeg")
    project = make_project("segment")
    summary = import_dataset(project, shapes)
    assert summary.images == 5 and summary.skipped == 1
    problem = next(p for p in summary.problems if p["path"] == str(bad))
    assert "skipped" in problem["reason"]
    assert bad.read_bytes() == b"this is not a jpeg"  # never repaired in place
    assert not rows(project, Image, Image.path == str(bad))


def test_bad_label_line_is_reported_with_file_and_line(make_project, shapes):
    label = shapes.parent / "labels" / "train" / "train_0002.txt"
    good = label.read_text().splitlines()
    label.write_text("\n".join([*good, "0 0.1 0.2", "7 0.1 0.1 0.5 0.1 0.3 0.6"]) + "\n")
    before = label.read_bytes()
    project = make_project("segment", classes=())
    summary = import_dataset(project, shapes)
    found = {(p["path"], p["line"]) for p in summary.problems}
    assert (str(label), len(good) + 1) in found and (str(label), len(good) + 2) in found
    image = rows(project, Image, Image.path == str(shapes.parent / "images/train/train_0002.jpg"))
    assert len(rows(project, Annotation, Annotation.image_id == image[0].id)) == len(good)
    assert label.read_bytes() == before
    assert rows(project, ImportRecord)[0].problems == summary.problems


def test_yaml_with_missing_folder_names_yaml_and_key(make_project, shapes):
    config = yaml.safe_load(shapes.read_text())
    config["val"] = "images/nowhere"
    shapes.write_text(yaml.safe_dump(config))
    project = make_project("segment")
    with pytest.raises(ImportProblem) as caught:
        import_dataset(project, shapes)
    assert str(shapes) in str(caught.value) and "key 'val'" in str(caught.value)
    assert not rows(project, Image)
    record = rows(project, ImportRecord)[0]
    assert record.status == "failed" and record.problems[0]["path"] == str(shapes)


# -- pose --------------------------------------------------------------------------------------


def test_pose_import_stores_box_and_keypoints(make_project, figures):
    project = make_project("pose", classes=(), keypoints=FIGURES_SCHEMA)
    summary = import_dataset(project, figures)
    assert summary.format == "yolo-pose" and summary.images == 5
    annotation = rows(project, Annotation)[0]
    image = rows(project, Image, Image.id == annotation.image_id)[0]
    label = Path(image.path.replace("/images/", "/labels/")).with_suffix(".txt")
    first = label_lines(label)[0]
    assert annotation.kind == "pose" and annotation.box == first[1:5]
    assert annotation.keypoints == first[5:] and len(annotation.keypoints) == 15


def test_pose_keypoint_count_mismatch_is_refused(make_project, figures):
    project = make_project("pose")  # COCO person: 17 keypoints; the figures have 5
    with pytest.raises(ImportProblem, match="5 keypoints.*17") as caught:
        import_dataset(project, figures)
    assert "kpt_shape" in str(caught.value)
    assert not rows(project, Image)


# -- classify, folders, formats ----------------------------------------------------------------


def test_classify_folder_import(make_project, classify_folder):
    assert detect_format(classify_folder) == "yolo-classify"
    project = make_project("classify", classes=("dog",))
    summary = import_dataset(project, classify_folder)
    assert summary.images == 8 and summary.annotations == 8
    assert [c.name for c in project.classes()] == ["dog", "cat"]
    cat = rows(project, Image, Image.path.like("%/val/cat/cat0.jpg"))[0]
    assert cat.split == "val" and (cat.width, cat.height) == (48, 40)
    (annotation,) = rows(project, Annotation, Annotation.image_id == cat.id)
    assert annotation.kind == "class" and annotation.class_index == 1


def test_plain_image_folder(make_project, tmp_path):
    folder = tmp_path / "loose"
    for i in range(3):
        write_jpg(folder / "sub" / f"{i}.jpg", seed=i)
    (folder / "notes.txt").write_text("not an image")
    assert detect_format(folder) == "images"
    project = make_project("segment")
    summary = import_dataset(project, folder)
    assert summary.images == 3 and summary.annotations == 0
    assert {image.split for image in rows(project, Image)} == {None}


def test_format_that_does_not_fit_the_task_is_refused(make_project, classify_folder):
    project = make_project("segment")
    with pytest.raises(ImportProblem, match="into a classification project"):
        import_dataset(project, classify_folder)


def test_detect_format(tmp_path, shapes, figures):
    assert detect_format(shapes) == "yolo-segment"
    assert detect_format(figures) == "yolo-pose"
    assert detect_format(tmp_path / "missing") is None
    (tmp_path / "a.json").write_text("{}")
    assert detect_format(tmp_path / "a.json") == "coco"


# -- COCO --------------------------------------------------------------------------------------


def coco_dataset(root: Path) -> Path:
    for i in range(2):
        write_jpg(root / "images" / f"img{i}.jpg", seed=i)
    square = [4.0, 4.0, 20.0, 4.0, 20.0, 20.0, 4.0, 20.0]
    content = {
        "images": [{"id": i + 1, "file_name": f"img{i}.jpg", "width": 48, "height": 40}
                   for i in range(2)],
        "categories": [{"id": 3, "name": "square"}, {"id": 7, "name": "blob"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [4, 4, 16, 16],
             "segmentation": [square], "iscrowd": 0, "area": 256},
            {"id": 2, "image_id": 99, "category_id": 3, "bbox": [4, 4, 16, 16],
             "segmentation": [square], "iscrowd": 0, "area": 256},
            {"id": 3, "image_id": 2, "category_id": 42, "bbox": [4, 4, 16, 16],
             "segmentation": [square], "iscrowd": 0, "area": 256},
            {"id": 4, "image_id": 2, "category_id": 7, "bbox": [4, 4, 16, 16],
             "segmentation": [square], "iscrowd": 0, "area": 256},
        ],
    }
    path = root / "annotations" / "instances_val.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(content))
    return path


def test_coco_import_reports_dangling_ids(make_project, tmp_path):
    source = coco_dataset(tmp_path / "coco")
    project = make_project("segment", classes=("blob",))
    summary = import_dataset(project, source)
    assert summary.format == "coco" and summary.images == 2 and summary.annotations == 2
    reasons = " | ".join(p["reason"] for p in summary.problems)
    assert "annotation id 2: image_id 99" in reasons and "annotation id 3: category_id 42" in reasons
    assert all(p["path"] == str(source) for p in summary.problems)
    assert [c.name for c in project.classes()] == ["blob", "square"]
    by_class = {a.class_index: a for a in rows(project, Annotation)}
    assert by_class[1].polygon == pytest.approx(
        [4 / 48, 4 / 40, 20 / 48, 4 / 40, 20 / 48, 20 / 40, 4 / 48, 20 / 40], abs=1e-6)
    assert {image.split for image in rows(project, Image)} == {"val"}


def test_coco_without_images_folder_is_a_clear_error(make_project, tmp_path):
    source = coco_dataset(tmp_path / "coco")
    for image in (tmp_path / "coco" / "images").iterdir():
        image.unlink()
    with pytest.raises(ImportProblem, match="cannot find its images"):
        import_dataset(make_project("segment"), source)


# -- cancel ------------------------------------------------------------------------------------


def test_cancel_keeps_committed_batches_and_records_it(make_project, shapes, monkeypatch):
    monkeypatch.setattr(image_files, "BATCH", 2)
    token = CancelToken()

    def progress(done: int, total: int, text: str) -> None:
        if done >= 2:
            token.cancel()

    project = make_project("segment")
    summary = import_dataset(project, shapes, progress=progress, cancel=token)
    assert summary.status == "cancelled" and summary.images == 2
    assert len(rows(project, Image)) == 2
    record = rows(project, ImportRecord)[0]
    assert record.status == "cancelled" and record.images == 2 and record.finished_at
