"""The project database: pragmas, migrations (backup first, newer schemas refused), the lock,
and clear errors for folders that can't be written."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import select, text

from studio.errors import ProjectError, ProjectLocked
from studio.services.keypoint_schemas import COCO_PERSON, KeypointSchema
from studio.services.projects import create_project, open_project
from studio.state import Image, ProjectClass
from studio.state.database import schema_head


def test_a_new_project_uses_wal_full_sync_and_foreign_keys(make_project):
    project = make_project("segment", classes=["a", "b"])
    with project.database.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert revision == schema_head()
    assert [c.name for c in project.classes()] == ["a", "b"]
    assert project.database.integrity_check() == "ok"


EXTRA_REVISION = """
from alembic import op
import sqlalchemy as sa

revision = "0999_test"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("test_note", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("images") as batch:
        batch.drop_column("test_note")
"""


def test_an_older_schema_is_backed_up_then_migrated(tmp_path, monkeypatch):
    import shutil

    from studio.state import database as database_module

    project = create_project(tmp_path / "p", name="p", task="segment", classes=["x"])
    with project.database.session() as session:
        session.add(Image(path="/data/a.jpg", width=4, height=3))
    project.close()
    old_head = schema_head()
    # a later version of the studio: the same migrations plus one more
    scripts = tmp_path / "migrations"
    shutil.copytree(database_module.MIGRATIONS, scripts,
                    ignore=shutil.ignore_patterns("__pycache__"))
    (scripts / "versions" / "0999_test.py").write_text(EXTRA_REVISION.format(head=old_head))
    monkeypatch.setattr(database_module, "MIGRATIONS", scripts)
    assert schema_head() == "0999_test"
    project = open_project(tmp_path / "p")
    with project.database.engine.connect() as connection:
        assert connection.execute(text("SELECT path, test_note FROM images")).all() == [
            ("/data/a.jpg", None)]
    project.close()
    (backup,) = (tmp_path / "p").glob(f"project.db.backup-{old_head}-*")
    with sqlite3.connect(backup) as connection:  # the copy is the project as it was
        assert connection.execute("SELECT version_num FROM alembic_version").fetchone() == (
            old_head,)
        assert connection.execute("SELECT path FROM images").fetchall() == [("/data/a.jpg",)]


def test_a_project_from_a_newer_version_is_refused_unchanged(tmp_path):
    project = create_project(tmp_path / "p", name="p", task="classify", classes=["x"])
    project.close()
    database = tmp_path / "p" / "project.db"
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_future'")
    before = database.read_bytes()
    with pytest.raises(ProjectError, match=r"newer YOLO Studio \(schema 9999_future; this "
                                           r"version knows up to "):
        open_project(tmp_path / "p")
    assert database.read_bytes() == before
    reopened = None
    with sqlite3.connect(database) as connection:
        connection.execute("UPDATE alembic_version SET version_num = ?", (schema_head(),))
    reopened = open_project(tmp_path / "p")  # the lock was released by the refusal
    reopened.close()


def test_a_second_instance_is_told_who_has_the_project(tmp_path):
    project = create_project(tmp_path / "p", name="p", task="segment", classes=["x"])
    code = ("import sys; from studio.services.projects import open_project\n"
            "try:\n    open_project(sys.argv[1])\nexcept Exception as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "p")],
                         capture_output=True, text=True, check=True).stdout
    assert "is open in another YOLO Studio" in out and f"process {os.getpid()}" in out
    with pytest.raises(ProjectLocked):
        open_project(tmp_path / "p")
    project.close()
    open_project(tmp_path / "p").close()  # free again once closed


def test_a_killed_holder_does_not_leave_the_project_locked(tmp_path):
    create_project(tmp_path / "p", name="p", task="segment", classes=["x"]).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from studio.services.projects import "
         "open_project; p = open_project(sys.argv[1]); print('open', flush=True); "
         "time.sleep(60)", str(tmp_path / "p")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "open"
    with pytest.raises(ProjectLocked):
        open_project(tmp_path / "p")
    holder.kill()
    holder.wait()
    project = open_project(tmp_path / "p")
    assert project.database.integrity_check() == "ok"
    project.close()


def test_a_folder_that_cannot_be_written_is_named(tmp_path, monkeypatch):
    create_project(tmp_path / "p", name="p", task="segment", classes=["x"]).close()
    real_open = os.open

    def refuse(path, flags, *args):  # as a read-only folder answers (root would get through)
        if str(path).endswith("project.lock"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(ProjectError, match=r"p: cannot be opened for writing \(Permission "
                                           r"denied\)\. Check that the folder is writable"):
        open_project(tmp_path / "p")


def test_a_read_only_database_gets_a_clear_message_on_write(make_project, monkeypatch):
    project = make_project("segment", classes=["x"])
    project.database.engine.dispose()
    with project.database.engine.connect() as connection:
        connection.execute(text("PRAGMA query_only=ON"))  # this connection refuses writes
        connection.commit()
    from sqlalchemy import event

    event.listen(project.database.engine, "connect",
                 lambda dbapi, _r: dbapi.execute("PRAGMA query_only=ON"))
    project.database.engine.dispose()
    with pytest.raises(ProjectError, match="could not be written|read-only"):
        with project.database.session() as session:
            session.add(ProjectClass(index=5, name="y", color="#000000"))


def test_foreign_keys_cascade_annotations_with_their_image(make_project):
    from studio.state import Annotation

    project = make_project("segment", classes=["x"])
    with project.database.session() as session:
        image = Image(path="/tmp/a.jpg", width=10, height=10)
        image.annotations.append(Annotation(kind="polygon", class_index=0,
                                            polygon=[0.1, 0.1, 0.5, 0.1, 0.3, 0.4]))
        session.add(image)
    with project.database.session() as session:
        session.execute(text("DELETE FROM images"))
    with project.database.session() as session:
        assert session.scalars(select(Annotation)).all() == []


def test_creating_refuses_an_existing_project_and_a_pose_project_without_schema(tmp_path):
    create_project(tmp_path / "p", name="p", task="segment", classes=["x"]).close()
    with pytest.raises(ProjectError, match="already holds a YOLO Studio project"):
        create_project(tmp_path / "p", name="p", task="segment")
    with pytest.raises(ProjectError, match="needs a keypoint schema"):
        create_project(tmp_path / "q", name="q", task="pose")
    with pytest.raises(ProjectError, match="unknown task 'detect'"):
        create_project(tmp_path / "r", name="r", task="detect")
    with pytest.raises(ProjectError, match="is not a YOLO Studio project"):
        open_project(tmp_path / "nothing")


def test_a_pose_project_keeps_its_schema(tmp_path):
    project = create_project(tmp_path / "p", name="p", task="pose", classes=["person"],
                             keypoints=COCO_PERSON)
    project.close()
    project = open_project(tmp_path / "p")
    schema = project.keypoint_schema()
    assert schema == COCO_PERSON and ("left_eye", "right_eye") in schema.flip_pairs
    project.close()


def test_keypoint_schemas_derive_flip_pairs_and_reject_bad_ones():
    schema = KeypointSchema.build(["head", "left_hand", "right_hand"], [(0, 1), (0, 2)])
    assert schema.flip_idx == (0, 2, 1) and schema.flip_pairs == [("left_hand", "right_hand")]
    assert KeypointSchema.build(["a", "b"]).flip_idx == (0, 1)
    with pytest.raises(ValueError, match="edge"):
        KeypointSchema.build(["a", "b"], [(0, 2)])
    with pytest.raises(ValueError, match="differ"):
        KeypointSchema.build(["a", "a"])
    with pytest.raises(ValueError, match="inverse"):
        KeypointSchema.build(["a", "b", "c"], flip_idx=[1, 2, 0])


def test_a_full_disk_gets_a_message_that_keeps_the_edit(make_project, monkeypatch):
    import sqlite3 as sqlite

    from sqlalchemy.exc import OperationalError
    from sqlalchemy.orm import Session

    project = make_project("segment", classes=["x"])

    def full(self):
        raise OperationalError("COMMIT", {}, sqlite.OperationalError("database or disk is full"))

    monkeypatch.setattr(Session, "commit", full)
    with pytest.raises(ProjectError, match=r"project\.db: could not be written because the "
                                           r"disk is full\. Free some space"):
        with project.database.session() as session:
            session.add(ProjectClass(index=5, name="y", color="#000000"))
    monkeypatch.undo()
    assert [c.name for c in project.classes()] == ["x"]  # nothing half-written
