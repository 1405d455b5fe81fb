"""Create and open projects: a folder with ``project.db``, the lock, and the project's runs
and exports. ``Project`` is what the rest of the studio holds while a project is open."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..errors import ProjectError
from ..state import Database, ProjectClass, ProjectLock, ProjectSettings, open_database
from ..state.database import DATABASE_FILE
from ..state.models import KEYPOINTS, TASKS, annotation_kind
from .keypoint_schemas import KeypointSchema
from .palette import class_color


@dataclass
class ClassInfo:
    index: int
    name: str
    color: str


class Project:
    """An open project: its folder, database and lock. ``close`` releases both."""

    def __init__(self, folder: Path, database: Database, lock: ProjectLock) -> None:
        self.folder = folder
        self.database = database
        self._lock = lock
        self._closed = False

    @property
    def name(self) -> str:
        return self.settings().name

    @property
    def task(self) -> str:
        return self.settings().task

    def settings(self) -> ProjectSettings:
        with self.database.session() as session:
            return session.scalars(select(ProjectSettings)).one()

    def classes(self) -> list[ClassInfo]:
        with self.database.session() as session:
            rows = session.scalars(select(ProjectClass).order_by(ProjectClass.index)).all()
            return [ClassInfo(row.index, row.name, row.color) for row in rows]

    def keypoint_schema(self) -> KeypointSchema | None:
        settings = self.settings()
        if annotation_kind(settings.task) != KEYPOINTS:
            return None
        return KeypointSchema.build(settings.keypoint_names, settings.skeleton,
                                    settings.flip_idx, settings.keypoint_dims)

    def update_options(self, **values: Any) -> None:
        """Merge ``values`` into the project's options (e.g. ``train_defaults``)."""
        with self.database.session() as session:
            settings = session.scalars(select(ProjectSettings)).one()
            settings.options = {**(settings.options or {}), **values}

    def set_classes(self, names: Sequence[str]) -> None:
        """Make the class list ``names`` (existing classes keep their colours)."""
        with self.database.session() as session:
            existing = {row.index: row for row in session.scalars(select(ProjectClass))}
            for index, name in enumerate(names):
                row = existing.pop(index, None)
                if row is None:
                    session.add(ProjectClass(index=index, name=name, color=class_color(index)))
                else:
                    row.name = name
            for row in existing.values():
                session.delete(row)

    def resolve(self, stored_path: str) -> Path:
        """An image's file from its stored path (copies are relative to the project)."""
        path = Path(stored_path)
        return path if path.is_absolute() else self.folder / path

    @property
    def images_folder(self) -> Path:
        """Where copied images go."""
        return self.folder / "images"

    @property
    def cache_folder(self) -> Path:
        """Thumbnails and other files that can be made again."""
        return self.folder / ".cache"

    def close(self) -> None:
        """Release the database and the lock (again: nothing)."""
        if self._closed:
            return
        self._closed = True
        self.database.close()
        self._lock.release()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def create_project(
    folder: str | Path,
    *,
    name: str,
    task: str,
    classes: Sequence[str] = (),
    keypoints: KeypointSchema | None = None,
) -> Project:
    """A new project in ``folder`` (created if missing; it must not hold a project already)."""
    folder = Path(folder).expanduser().resolve()
    if task not in TASKS:
        raise ProjectError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}",
                           key="task")
    if annotation_kind(task) == KEYPOINTS and keypoints is None:
        raise ProjectError(f"a {task} project needs a keypoint schema (names, skeleton, flip "
                           "pairs); choose a template or build one", key="keypoints")
    if (folder / DATABASE_FILE).exists():
        raise ProjectError("already holds a YOLO Studio project; open it instead", path=folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProjectError(f"cannot be created ({exc.strerror}). Choose a folder you can "
                           "write to", path=folder) from exc
    if not os.access(folder, os.W_OK):
        raise ProjectError("is read-only; choose a folder you can write to", path=folder)
    lock = ProjectLock(folder)
    try:
        database = open_database(folder, create=True)
    except BaseException:
        lock.release()
        raise
    with database.session() as session:
        schema = keypoints or KeypointSchema(names=())
        session.add(ProjectSettings(
            name=name or folder.name, task=task, keypoint_names=list(schema.names),
            keypoint_dims=schema.dims, skeleton=[list(e) for e in schema.skeleton],
            flip_idx=list(schema.flip_idx), options={},
        ))
    project = Project(folder, database, lock)
    project.set_classes(classes)
    return project


def open_project(folder: str | Path) -> Project:
    """The project in ``folder``, locked for this process and migrated to the newest schema."""
    folder = Path(folder).expanduser().resolve()
    if not (folder / DATABASE_FILE).is_file():
        raise ProjectError(f"is not a YOLO Studio project (no {DATABASE_FILE}). Open the "
                           "folder that holds it, or create a new project", path=folder)
    lock = ProjectLock(folder)
    try:
        database = open_database(folder)
    except BaseException:
        lock.release()
        raise
    return Project(folder, database, lock)
