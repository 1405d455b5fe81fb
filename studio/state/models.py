"""The project database's tables (SQLAlchemy 2.0 declarative models).

Geometry is stored as the dataset formats hold it, normalised to 0..1 of the image's width and
height, so YOLO labels go in and come out unchanged: ``polygon`` is ``[x1, y1, x2, y2, ...]``,
``box`` is ``[cx, cy, w, h]`` and ``keypoints`` is ``[x1, y1, v1, x2, y2, v2, ...]`` (``v``: 0 not
labelled, 1 occluded, 2 visible; no ``v`` when the schema has two values per keypoint).
Deleted images and annotations keep their rows with ``deleted_at`` set (the trash).
An image marked ``background`` was checked and holds no objects: training uses it as a
negative (an empty label file), while an image with no labels and no mark is left out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from engine.tasks import all_tasks, find_task

SPLITS = ("train", "val", "test")
CLASS, POLYGON, KEYPOINTS = "class", "polygon", "pose"
"""The kinds of annotation, as ``annotations.kind`` stores them: an image's class, an
instance's polygon, an instance's box and keypoints (named after the pose task since the first
schema)."""
ANNOTATION_KINDS = (CLASS, POLYGON, KEYPOINTS)
TASKS = tuple(task.name for task in all_tasks() if task.annotation_kind in ANNOTATION_KINDS)
"""The tasks a project can have: those trained by a kind of annotation the studio draws (each
task declares its kind, engine/tasks/)."""


def annotation_kind(task: str) -> str | None:
    """The kind of annotation that trains ``task`` (None for a task the engine does not know)."""
    known = find_task(task)
    return known.annotation_kind if known is not None else None


def utc_now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class ProjectSettings(Base):
    """The project's one row: its task and, for pose, the keypoint schema."""

    __tablename__ = "project"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    keypoint_names: Mapped[list[Any]] = mapped_column(JSON, default=list)
    keypoint_dims: Mapped[int] = mapped_column(Integer, default=3)  # kpt_shape[1]: 2 or 3
    skeleton: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [[i, j], ...] 0-based
    flip_idx: Mapped[list[Any]] = mapped_column(JSON, default=list)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ProjectClass(Base):
    """A class: its index in the dataset (0-based, the label files' number), name and colour."""

    __tablename__ = "classes"
    __table_args__ = (UniqueConstraint("index"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    index: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    color: Mapped[str] = mapped_column(String(9))  # "#rrggbb"


class ImportRecord(Base):
    """One import: what was read, from where, and the problems found (file, line, reason)."""

    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(32))
    copied: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), default="running")  # completed/cancelled
    images: Mapped[int] = mapped_column(Integer, default=0)
    annotations: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{path, line, reason}]


class Image(Base):
    """An image of the project: referenced in place (``path`` absolute) or copied into the
    project folder (``path`` relative to it)."""

    __tablename__ = "images"
    __table_args__ = (
        UniqueConstraint("path"),
        Index("ix_images_split", "split"),
        Index("ix_images_deleted", "deleted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    copied: Mapped[bool] = mapped_column(Boolean, default=False)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    file_hash: Mapped[str] = mapped_column(String(64), default="")  # sha1 of the file
    split: Mapped[str | None] = mapped_column(String(8))
    reviewed: Mapped[bool] = mapped_column(Boolean, default=False)
    problem: Mapped[str | None] = mapped_column(Text)  # why it is unreadable, if it is
    import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id", ondelete="SET NULL"))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    background: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    annotations: Mapped[list[Annotation]] = relationship(
        back_populates="image", cascade="all, delete-orphan", order_by="Annotation.position"
    )
    tags: Mapped[list[ImageTag]] = relationship(
        back_populates="image", cascade="all, delete-orphan", order_by="ImageTag.tag"
    )


class ImageTag(Base):
    """A free-text tag of an image (one row per image and tag)."""

    __tablename__ = "image_tags"
    __table_args__ = (UniqueConstraint("image_id", "tag"), Index("ix_image_tags_tag", "tag"))

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(100))

    image: Mapped[Image] = relationship(back_populates="tags")


class Annotation(Base):
    """One label of an image (see the module docstring for the geometry)."""

    __tablename__ = "annotations"
    __table_args__ = (Index("ix_annotations_image", "image_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)  # order within the image
    kind: Mapped[str] = mapped_column(String(8))
    class_index: Mapped[int] = mapped_column(Integer)
    polygon: Mapped[list[Any] | None] = mapped_column(JSON)
    box: Mapped[list[Any] | None] = mapped_column(JSON)
    keypoints: Mapped[list[Any] | None] = mapped_column(JSON)
    draft: Mapped[bool] = mapped_column(Boolean, default=False)  # a model's, not yet accepted
    score: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    image: Mapped[Image] = relationship(back_populates="annotations")


class Run(Base):
    """A training run started from the studio (filled by the Train page)."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    folder: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(Text)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dataset_state: Mapped[str] = mapped_column(String(64), default="")  # annotations' digest
    status: Mapped[str] = mapped_column(String(16), default="running")
    message: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    epochs: Mapped[list[RunEpoch]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="RunEpoch.epoch"
    )


class RunEpoch(Base):
    """One epoch's losses and metrics of a run."""

    __tablename__ = "run_epochs"
    __table_args__ = (UniqueConstraint("run_id", "epoch"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    epoch: Mapped[int] = mapped_column(Integer)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    run: Mapped[Run] = relationship(back_populates="epochs")


class ExportRecord(Base):
    """One export of a run's model: format, where it is, and its parity figures."""

    __tablename__ = "exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    format: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utc_now)
