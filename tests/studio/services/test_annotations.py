"""The annotations service: load/save, the trash, and the autosave thread (also under kill -9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from studio.services import annotations as service
from studio.services.annotations import AnnotationData, AutosaveWriter
from studio.services.projects import open_project
from studio.state import Annotation, Image

ROOT = Path(__file__).resolve().parents[3]


def add_images(project, count=2):
    with project.database.session() as session:
        rows = [Image(path=f"/data/image_{i}.png", width=100, height=50) for i in range(count)]
        session.add_all(rows)
        session.flush()
        return [row.id for row in rows]


def polygon(marker: float, class_index: int = 0, **kw) -> AnnotationData:
    return AnnotationData("polygon", class_index, polygon=(marker, 0.1, 0.5, 0.1, 0.5, 0.5), **kw)


def live_rows(project, image_id):
    with project.database.session() as session:
        return list(session.scalars(select(Annotation).where(
            Annotation.image_id == image_id, Annotation.deleted_at.is_(None))
            .order_by(Annotation.position)))


def test_save_and_load_round_trip_in_order_and_missing_rows_go_to_the_trash(make_project):
    project = make_project("segment")
    image = add_images(project)[0]
    first, second = polygon(0.1), polygon(0.2, 1)
    ids = service.save_annotations(project.database, image, [first, second])
    loaded = service.load_annotations(project.database, image)
    assert [(a.polygon, a.class_index, a.id) for a in loaded] == [
        (first.polygon, 0, ids[first.key]), (second.polygon, 1, ids[second.key])]
    # the same rows are updated (matched by id), the one left out is trashed
    edited = AnnotationData("polygon", 1, polygon=(0.3, 0.3, 0.4, 0.3, 0.4, 0.4),
                            id=loaded[1].id)
    service.save_annotations(project.database, image, [edited])
    assert [(a.id, a.polygon) for a in service.load_annotations(project.database, image)] == [
        (loaded[1].id, edited.polygon)]
    trashed = service.load_annotations(project.database, image, deleted=True)
    assert [a.id for a in trashed] == [loaded[0].id]
    # a trashed row saved again (undo of a delete) comes back
    service.save_annotations(project.database, image, [trashed[0], edited])
    assert [a.id for a in service.load_annotations(project.database, image)] == [
        loaded[0].id, loaded[1].id]


def test_rows_added_elsewhere_are_kept_when_not_known(make_project):
    project = make_project("segment")
    image = add_images(project)[0]
    ids = service.save_annotations(project.database, image, [polygon(0.1)])
    other = service.save_annotations(project.database, image,
                                     [*service.load_annotations(project.database, image),
                                      polygon(0.2)])
    service.save_annotations(project.database, image, [], known_ids=set(ids.values()))
    assert [row.id for row in live_rows(project, image)] == [
        i for i in other.values() if i not in ids.values()]


def test_two_value_keypoints_store_zeros_for_unlabelled(make_project):
    project = make_project("pose")
    image = add_images(project)[0]
    pose = AnnotationData("pose", 0, box=(0.5, 0.5, 0.2, 0.2),
                          keypoints=(0.4, 0.4, 2.0, 0.6, 0.6, 0.0, 0.5, 0.5, 1.0))
    service.save_annotations(project.database, image, [pose], keypoint_dims=2)
    assert live_rows(project, image)[0].keypoints == [0.4, 0.4, 0.0, 0.0, 0.5, 0.5]
    loaded = service.load_annotations(project.database, image, keypoint_dims=2)[0]
    assert loaded.keypoints == (0.4, 0.4, 2.0, 0.0, 0.0, 0.0, 0.5, 0.5, 2.0)


def test_trash_and_restore_images_and_annotations(make_project):
    project = make_project("segment")
    images = add_images(project, 3)
    ids = service.save_annotations(project.database, images[0], [polygon(0.1)])
    annotation_id = next(iter(ids.values()))
    service.trash_images(project.database, [images[1]])
    service.trash_annotations(project.database, [annotation_id])
    assert service.list_image_ids(project.database) == [images[0], images[2]]
    trash = service.list_trash(project.database)
    assert {(e.kind, e.id) for e in trash} == {("image", images[1]),
                                               ("annotation", annotation_id)}
    assert [e.id for e in service.list_trash(project.database, images[0])] == [annotation_id]
    service.restore_images(project.database, [images[1]])
    service.restore_annotations(project.database, [annotation_id])
    assert service.list_image_ids(project.database) == images
    assert service.list_trash(project.database) == []
    assert [row.id for row in live_rows(project, images[0])] == [annotation_id]


def test_autosave_writes_the_latest_list_off_the_calling_thread(make_project):
    project = make_project("segment")
    image, other = add_images(project)
    threads, saved = set(), []

    def on_saved(image_id, assigned):
        threads.add(threading.current_thread().name)
        saved.append((image_id, assigned))

    writer = AutosaveWriter(project.database, on_saved=on_saved)
    try:
        items = []
        for index in range(50):  # coalesced: far fewer writes than edits
            items.append(polygon(index / 100, key=f"k{index}"))
            writer.submit(image, items)
        writer.submit(other, [polygon(0.9)])
        assert writer.flush(5)  # everything written before the timeout
        assert not writer.busy and writer.pending(image) is None
        assert [row.polygon[0] for row in live_rows(project, image)] == [
            i / 100 for i in range(50)]
        assert len(live_rows(project, other)) == 1
        assert threads == {"autosave"}
        assert len(saved) < 51
        # a removed instance goes to the trash even though it never had an id here
        writer.submit(image, items[1:])
        assert writer.flush(5)
        assert len(live_rows(project, image)) == 49
        result = writer.execute(lambda db: service.list_trash(db))
        assert len(result.result(5)) == 1
    finally:
        writer.close()


def test_a_failed_write_is_reported_kept_and_retried(make_project, monkeypatch):
    project = make_project("segment")
    image = add_images(project)[0]
    real, calls, errors = service.save_annotations, [], []

    def flaky(*args, **kw):
        calls.append(1)
        if len(calls) == 1:
            raise OSError("disk full")
        return real(*args, **kw)

    monkeypatch.setattr(service, "save_annotations", flaky)
    writer = AutosaveWriter(project.database, on_error=lambda i, exc: errors.append(str(exc)))
    writer.RETRY_SECONDS = 0.05
    try:
        writer.submit(image, [polygon(0.25)])
        assert writer.flush(5)
        assert errors == ["disk full"] and len(calls) == 2
        assert live_rows(project, image)[0].polygon[0] == 0.25
    finally:
        writer.close()


CHILD = """
import sys
from studio.services.annotations import AnnotationData, AutosaveWriter
from studio.services.projects import open_project

project = open_project(sys.argv[1])
images = [int(i) for i in sys.argv[2].split(",")]
writer = AutosaveWriter(project.database)
lists = {image: [] for image in images}
index = 0
while True:
    image = images[index % len(images)]
    lists[image].append(AnnotationData("polygon", index % 3, score=float(index),
                                       polygon=(0.1, 0.1, 0.5, 0.1, 0.3, 0.4), key=f"k{index}"))
    writer.submit(image, lists[image])
    if index % 4 == 3:
        writer.flush(30)
        print(index, flush=True)
    index += 1
"""


def test_a_killed_process_leaves_a_sound_database_with_every_flushed_edit(make_project):
    project = make_project("segment")
    images = add_images(project, 3)
    folder = project.folder
    project.close()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(folder), ",".join(map(str, images))], cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        flushed = -1
        deadline = time.monotonic() + 20
        while flushed < 120 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                pytest.fail(f"the writer process ended: {child.stderr.read()}")
            flushed = int(line)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    assert flushed >= 120
    reopened = open_project(folder)
    try:
        assert reopened.database.integrity_check() == "ok"
        with reopened.database.session() as session:
            scores = set(session.scalars(select(Annotation.score)
                                         .where(Annotation.deleted_at.is_(None))))
        assert set(map(float, range(flushed + 1))) <= scores
    finally:
        reopened.close()
