"""Whole-image edits (issue 17, "Images"): the trash (move, restore, empty for good without
touching the user's files), background images as labelled negatives, tags, and the 0002
migration of a project made by the 0001 schema."""

from __future__ import annotations

import sqlite3

import pytest
from alembic import command
from sqlalchemy import create_engine, func, select

from engine.data.detect_dataset import load_detect_dataset
from engine.data.detect_labels import verify_split
from engine.data.shape_samples import make_shapes_dataset
from studio.services.dataset_export import export_coco, export_yolo
from studio.services.dataset_stats import compute_stats
from studio.services.image_edits import (
    add_tags,
    empty_trash,
    parse_tags,
    remove_tags,
    restore_images,
    set_background,
    tags_of,
    trash_images,
)
from studio.services.image_queries import (
    ImageFilter,
    count_all,
    load_rows,
    matching_ids,
    tag_choices,
    trash_count,
)
from studio.services.projects import open_project
from studio.state import database as database_module
from studio.state.models import Annotation, Image, ImageTag
from tests.studio.services.test_image_queries import SQUARE, add_images


def _project(make_project, tmp_path):
    project = make_project("segment", classes=("circle", "square"))
    ids = add_images(project, tmp_path / "images", [
        {"name": "a.jpg", "split": "train", "labels": [(0, SQUARE)]},
        {"name": "b.jpg", "split": "train", "labels": []},
        {"name": "c.jpg", "split": "val", "labels": [(1, SQUARE)]},
        {"name": "d.jpg", "split": "val", "labels": []},
        {"name": "e.jpg", "split": "train", "labels": []},
    ])
    return project, ids


def _ids(project, **kw):
    with project.database.session() as session:
        return matching_ids(session, ImageFilter(**kw))


def test_trash_then_restore_moves_images_out_of_every_list_and_back(make_project, tmp_path):
    project, ids = _project(make_project, tmp_path)
    assert trash_images(project.database, [ids[1], ids[0]]) == ids[:2]
    assert trash_images(project.database, [ids[0]]) == []  # already there
    assert _ids(project) == ids[2:]
    assert _ids(project, trash=True) == ids[:2]
    with project.database.session() as session:
        assert count_all(session) == 3 and trash_count(session) == 2
        stats = compute_stats(session)
        assert (stats.images, stats.labelled, stats.trash) == (3, 1, 2)
        assert [row.deleted for row in load_rows(session, ids[:3])] == [True, True, False]
    assert restore_images(project.database, [ids[1], ids[2]]) == [ids[1]]
    assert _ids(project) == ids[1:] and _ids(project, trash=True) == [ids[0]]


def test_emptying_the_trash_removes_copied_files_only(make_project, tmp_path):
    project, ids = _project(make_project, tmp_path)
    outside = tmp_path / "images" / "a.jpg"  # referenced in place: the user's file
    copied = project.images_folder / "copy.jpg"
    copied.parent.mkdir(parents=True, exist_ok=True)
    copied.write_bytes(outside.read_bytes())
    stored = copied.relative_to(project.folder).as_posix()
    with project.database.session() as session:
        copy_image = Image(path=stored, copied=True, width=64, height=64)
        copy_image.annotations.append(Annotation(kind="polygon", class_index=0, polygon=SQUARE))
        copy_image.tags.append(ImageTag(tag="night"))
        session.add(copy_image)
        session.flush()
        copy_id = copy_image.id
    trash_images(project.database, [ids[0], copy_id])
    result = empty_trash(project)
    assert (result.images, result.files_removed, result.problems) == (2, 1, [])
    assert outside.is_file()  # never deleted: it is not in the project
    assert not copied.exists()
    with project.database.session() as session:
        assert session.scalar(select(func.count(Image.id))) == 4
        assert session.scalar(select(func.count(Annotation.id)).where(
            Annotation.image_id == copy_id)) == 0  # labels and tags went with the image
        assert session.scalar(select(func.count(ImageTag.id))) == 0
    assert _ids(project) == ids[1:] and _ids(project, trash=True) == []


def test_a_link_out_of_the_project_is_not_followed_when_emptying(make_project, tmp_path):
    project, ids = _project(make_project, tmp_path)
    user_file = tmp_path / "images" / "b.jpg"
    link = project.images_folder / "linked.jpg"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(user_file)
    with project.database.session() as session:
        image = Image(path=link.relative_to(project.folder).as_posix(), copied=True,
                      width=64, height=64)
        session.add(image)
        session.flush()
        image_id = image.id
    trash_images(project.database, [image_id])
    assert empty_trash(project).files_removed == 0
    assert user_file.is_file() and link.is_symlink()


def test_only_the_chosen_trashed_images_are_emptied(make_project, tmp_path):
    project, ids = _project(make_project, tmp_path)
    trash_images(project.database, ids[:2])
    assert empty_trash(project, [ids[1], ids[3]]).images == 1  # ids[3] is not in the trash
    assert _ids(project, trash=True) == [ids[0]] and ids[3] in _ids(project)


def test_background_is_marked_only_on_images_without_labels(make_project, tmp_path):
    project, ids = _project(make_project, tmp_path)
    change = set_background(project.database, [ids[0], ids[1], ids[3]])
    assert (change.changed, change.with_labels) == ((ids[1], ids[3]), 1)
    assert set_background(project.database, ids[1:2]).changed == ()  # marked already
    assert _ids(project, background=True) == [ids[1], ids[3]]
    assert _ids(project, labelled=False, background=False) == [ids[4]]
    with project.database.session() as session:
        stats = compute_stats(session)
        rows = load_rows(session, ids)
    assert (stats.labelled, stats.background, stats.unlabelled) == (2, 2, 1)
    assert [row.background for row in rows] == [False, True, False, True, False]
    assert set_background(project.database, [ids[3]], False).changed == (ids[3],)
    assert _ids(project, background=True) == [ids[1]]


def test_export_writes_empty_labels_for_background_and_leaves_unlabelled_out(make_project,
                                                                            tmp_path):
    project, ids = _project(make_project, tmp_path)
    set_background(project.database, [ids[1], ids[3]])
    out = tmp_path / "export"
    summary = export_yolo(project, out)
    assert (summary.images, summary.backgrounds, summary.unlabelled) == (4, 2, 1)
    assert (out / "labels" / "train" / "b.txt").read_text() == ""
    assert (out / "labels" / "val" / "d.txt").read_text() == ""
    assert not (out / "images" / "train" / "e.jpg").exists()  # never labelled: left out
    assert any("1 image with no labels" in p["reason"] for p in summary.problems)
    dataset = load_detect_dataset(out / "data.yaml", "segment")
    report = verify_split(dataset.splits["train"], "segment", dataset.names, cache=False)
    assert len(report.samples) == 2 and report.backgrounds == 1 and not report.errors
    coco = export_coco(project, tmp_path / "coco.json")
    assert coco.images == 4 and coco.annotations == 2


def test_tags_are_added_removed_listed_and_filtered(make_project, tmp_path):
    project, ids = _project(make_project, tmp_path)
    assert parse_tags(" night ,rain,, night  shift , rain") == ["night", "rain", "night shift"]
    with pytest.raises(ValueError, match="at most 100"):
        parse_tags("x" * 101)
    assert add_tags(project.database, ids[:3], ["night", "rain"]) == 6
    assert add_tags(project.database, ids[:4], ["night"]) == 1  # three had it already
    assert tags_of(project.database, ids[:2]) == {"night": 2, "rain": 2}
    assert _ids(project, tag="rain") == ids[:3]
    assert remove_tags(project.database, [ids[0]], ["rain"]) == 1
    assert _ids(project, tag="rain") == ids[1:3]
    trash_images(project.database, [ids[1]])
    with project.database.session() as session:
        assert tag_choices(session) == [("night", 3), ("rain", 1)]  # the trash not counted
        assert load_rows(session, [ids[2]])[0].tags == ("night", "rain")


def test_a_project_made_by_the_0001_schema_migrates(tmp_path):
    """A project folder as the first release wrote it opens, its rows kept, with no image
    marked background and no tags; a backup of the old database is kept beside it."""
    folder = tmp_path / "old"
    folder.mkdir()
    path = folder / "project.db"
    engine = create_engine(f"sqlite:///{path}")
    config = database_module._alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    engine.dispose()
    with sqlite3.connect(path) as connection:
        connection.execute(
            "INSERT INTO project (id, name, task, created_at, keypoint_names, keypoint_dims,"
            " skeleton, flip_idx, options) VALUES (1, 'old', 'segment', '2026-01-01', '[]', 3,"
            " '[]', '[]', '{}')")
        connection.execute("INSERT INTO classes (id, \"index\", name, color) VALUES "
                           "(1, 0, 'cat', '#0072b2')")
        connection.execute(
            "INSERT INTO images (id, path, copied, width, height, file_hash, split, reviewed,"
            " added_at) VALUES (7, '/data/a.jpg', 0, 64, 48, '', 'train', 0, '2026-01-01')")
    project = open_project(folder)
    try:
        with project.database.session() as session:
            image = session.get(Image, 7)
            assert (image.path, image.background, image.tags) == ("/data/a.jpg", False, [])
        add_tags(project.database, [7], ["old"])
        assert set_background(project.database, [7]).changed == (7,)
        assert _ids(project, tag="old", background=True) == [7]
    finally:
        project.close()
    assert list(folder.glob("project.db.backup-0001-*"))


def test_an_imported_dataset_keeps_its_negatives_and_a_plain_folder_stays_unlabelled(
        make_project, tmp_path):
    """A YOLO image without a label file, or with an empty one, is background in the dataset's
    terms: it comes in marked, and goes out again with an empty label file."""
    from studio.services.importers import import_dataset

    source = make_shapes_dataset(tmp_path / "shapes", size=64, train=3, val=1)
    labels = source.parent / "labels" / "train"
    first, second = sorted(labels.glob("*.txt"))[:2]
    first.write_text("")
    second.unlink()
    plain = tmp_path / "plain"
    plain.mkdir()
    val_image = next((source.parent / "images" / "val").iterdir())
    (plain / f"extra{val_image.suffix}").write_bytes(val_image.read_bytes())
    project = make_project("segment", classes=())
    import_dataset(project, source)
    import_dataset(project, plain)
    with project.database.session() as session:
        stats = compute_stats(session)
    assert (stats.images, stats.labelled, stats.background, stats.unlabelled) == (5, 2, 2, 1)
    summary = export_yolo(project, tmp_path / "export")
    assert (summary.images, summary.backgrounds, summary.unlabelled) == (4, 2, 1)
    out = tmp_path / "export" / "labels" / "train"
    assert (out / first.name).read_text() == "" and (out / second.name).read_text() == ""
