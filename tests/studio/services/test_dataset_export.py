"""Exporting a project: YOLO layouts the engine trains on (round trip identical), COCO JSON,
trash and drafts left out, atomic and cancellable."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from sqlalchemy import select, update

from engine.cancel import CancelToken
from engine.data.classify_folder import load_classify_folder
from engine.data.detect_dataset import load_detect_dataset
from engine.data.detect_labels import verify_split
from engine.data.figure_samples import FLIP_IDX, KEYPOINT_NAMES, SKELETON, make_figures_dataset
from engine.data.shape_samples import make_shapes_dataset
from engine.errors import Cancelled
from engine.formats.yolo_labels import format_number as number
from studio.errors import ProjectError
from studio.services.dataset_export import EXPORT_MARKER, export_coco, export_yolo
from studio.services.importers import import_dataset
from studio.services.keypoint_schemas import KeypointSchema
from studio.state.models import Annotation, Image, utc_now

FIGURES_SCHEMA = KeypointSchema.build(KEYPOINT_NAMES, SKELETON, FLIP_IDX)


def parsed(path: Path) -> list[tuple[float, ...]]:
    return [tuple(float(v) for v in line.split()) for line in path.read_text().splitlines()
            if line.strip()]


def assert_same_labels(source_root: Path, export_root: Path) -> int:
    sources = sorted((source_root / "labels").rglob("*.txt"))
    assert sources
    for source in sources:
        exported = export_root / source.relative_to(source_root)
        assert parsed(exported) == parsed(source), exported
    exported_files = sorted((export_root / "labels").rglob("*.txt"))
    assert [p.relative_to(export_root) for p in exported_files] == [
        p.relative_to(source_root) for p in sources]
    return len(sources)


def test_segment_round_trip_gives_identical_labels(make_project, tmp_path):
    source = make_shapes_dataset(tmp_path / "shapes", size=64, train=4, val=2)
    project = make_project("segment", classes=())
    imported = import_dataset(project, source)
    out = tmp_path / "export"
    summary = export_yolo(project, out, progress=lambda *_: None)
    assert summary.images == 6 and summary.annotations == imported.annotations
    assert summary.linked + summary.copied == 6 and (out / EXPORT_MARKER).is_file()
    assert_same_labels(source.parent, out)
    config = yaml.safe_load((out / "data.yaml").read_text())
    assert config["names"] == yaml.safe_load(source.read_text())["names"]
    dataset = load_detect_dataset(out / "data.yaml", "segment")
    report = verify_split(dataset.splits["train"], "segment", dataset.names, cache=False)
    assert len(report.samples) == 4 and not report.errors


def test_pose_round_trip_and_yaml_layout(make_project, tmp_path):
    source = make_figures_dataset(tmp_path / "figures", size=64, train=3, val=2)
    project = make_project("pose", classes=(), keypoints=FIGURES_SCHEMA)
    import_dataset(project, source)
    out = tmp_path / "export"
    export_yolo(project, out)
    assert_same_labels(source.parent, out)
    config = yaml.safe_load((out / "data.yaml").read_text())
    assert config["kpt_shape"] == [5, 3] and config["flip_idx"] == list(FLIP_IDX)
    assert config["kpt_names"] == list(KEYPOINT_NAMES)
    assert config["skeleton"] == [list(edge) for edge in SKELETON]
    dataset = load_detect_dataset(out / "data.yaml", "pose")
    assert dataset.kpt_shape == (5, 3) and set(dataset.splits) == {"train", "val"}


def test_trash_and_drafts_are_not_exported(make_project, tmp_path):
    source = make_shapes_dataset(tmp_path / "shapes", size=64, train=3, val=1, max_shapes=3)
    project = make_project("segment", classes=())
    import_dataset(project, source)
    with project.database.session() as session:
        images = session.scalars(select(Image).order_by(Image.id)).all()
        session.execute(update(Image).where(Image.id == images[0].id).values(deleted_at=utc_now()))
        kept = session.scalars(select(Annotation).where(Annotation.image_id == images[1].id)
                               .order_by(Annotation.position)).all()
        kept[0].draft = True
        total = len(kept)
        deleted_name = Path(images[0].path).name
        second = Path(images[1].path)
    out = tmp_path / "export"
    summary = export_yolo(project, out)
    assert summary.images == 3
    assert not (out / "images" / "train" / deleted_name).exists()
    label = out / "labels" / "train" / second.with_suffix(".txt").name
    expected = parsed(source.parent / "labels" / "train" / second.with_suffix(".txt").name)
    lines = parsed(label) if label.exists() else []
    assert len(lines) == total - 1 and lines == expected[1:]


def test_classify_export_is_a_folder_per_class(make_project, tmp_path):
    root = tmp_path / "pets"
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for name in ("cat", "dog"):
            folder = root / split / name
            folder.mkdir(parents=True)
            cv2.imwrite(str(folder / f"{name}.jpg"), rng.integers(0, 255, (32, 32, 3), np.uint8))
    project = make_project("classify", classes=())
    import_dataset(project, root)
    out = tmp_path / "export"
    summary = export_yolo(project, out)
    assert summary.images == 4 and (out / "val" / "dog" / "dog.jpg").is_file()
    report = load_classify_folder(out)
    assert report.splits.names == ("cat", "dog") and len(report.splits.train) == 2


def test_export_refuses_a_folder_with_other_files_and_replaces_an_earlier_export(
        make_project, tmp_path):
    source = make_shapes_dataset(tmp_path / "shapes", size=64, train=2, val=1)
    project = make_project("segment", classes=())
    import_dataset(project, source)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep me")
    with pytest.raises(ProjectError, match="not empty"):
        export_yolo(project, busy)
    assert [p.name for p in busy.iterdir()] == ["mine.txt"]
    out = tmp_path / "export"
    export_yolo(project, out)
    (out / "stale.txt").write_text("from before")
    export_yolo(project, out)
    assert not (out / "stale.txt").exists() and (out / "data.yaml").is_file()


def test_cancelled_export_leaves_nothing(make_project, tmp_path):
    source = make_shapes_dataset(tmp_path / "shapes", size=64, train=2, val=1)
    project = make_project("segment", classes=())
    import_dataset(project, source)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        export_yolo(project, tmp_path / "export", cancel=token)
    assert not (tmp_path / "export").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".export")] == []


def test_coco_export_round_trip(make_project, tmp_path):
    source = make_shapes_dataset(tmp_path / "shapes", size=64, train=3, val=1)
    project = make_project("segment", classes=())
    import_dataset(project, source)
    json_path = tmp_path / "coco" / "instances_all.json"
    summary = export_coco(project, json_path, images_folder=tmp_path / "coco" / "images")
    content = json.loads(json_path.read_text())
    assert len(content["images"]) == summary.images == 4
    assert [c["name"] for c in content["categories"]] == [c.name for c in project.classes()]
    again = make_project("segment", classes=())
    imported = import_dataset(again, json_path)
    assert imported.images == 4 and imported.annotations == summary.annotations
    assert not imported.problems

    def polygons(p):
        with p.database.session() as session:
            found = session.execute(select(Image.path, Annotation.class_index, Annotation.polygon)
                                    .join(Annotation)).all()
        return sorted((Path(path).name, cls, tuple(round(v, 4) for v in poly))
                      for path, cls, poly in found)

    assert polygons(again) == polygons(project)


def test_coco_export_refuses_classify(make_project, tmp_path):
    with pytest.raises(ProjectError, match="classify"):
        export_coco(make_project("classify"), tmp_path / "x.json")


@pytest.mark.parametrize("value", [0.123456, 1.0, 0.0, 1e-07, 0.1 + 0.2, 123.5])
def test_number_reads_back_exactly(value):
    text = number(value)
    assert float(text) == value and "e" not in text


def test_coco_pose_round_trip(make_project, tmp_path):
    source = make_figures_dataset(tmp_path / "figures", size=64, train=2, val=1)
    project = make_project("pose", classes=(), keypoints=FIGURES_SCHEMA)
    import_dataset(project, source)
    json_path = tmp_path / "coco" / "person_keypoints_val.json"
    summary = export_coco(project, json_path)
    assert summary.images_root == source.parent / "images"
    category = json.loads(json_path.read_text())["categories"][0]
    assert category["keypoints"] == list(KEYPOINT_NAMES)
    assert category["skeleton"] == [[a + 1, b + 1] for a, b in SKELETON]
    again = make_project("pose", classes=(), keypoints=FIGURES_SCHEMA)
    imported = import_dataset(again, json_path, images_dir=summary.images_root)
    assert imported.images == 3 and imported.annotations == summary.annotations
    with project.database.session() as session:
        before = session.scalars(select(Annotation).order_by(Annotation.id)).all()
    with again.database.session() as session:
        after = session.scalars(select(Annotation).order_by(Annotation.id)).all()
    for old, new in zip(before, after, strict=True):
        assert new.keypoints == pytest.approx(old.keypoints, abs=1e-5)
        assert new.box == pytest.approx(old.box, abs=1e-5)
