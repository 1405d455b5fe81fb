"""Filtered, paged queries over a project's images (the Datasets page's browser).

Everything is one SQL statement per question, so a filter over 10,000+ images costs
milliseconds: the filter becomes ``WHERE`` conditions (``EXISTS`` sub-queries on the indexed
``annotations.image_id`` for class and labelled), never a Python loop over rows. Images in the
trash (``deleted_at`` set) and draft annotations (a model's, not yet accepted) are left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from ..state.models import SPLITS, Annotation, Image

UNASSIGNED = "unassigned"
"""``ImageFilter.split`` for images in no split."""


@dataclass(frozen=True)
class ImageFilter:
    """Which images to show. ``None`` (or ``""`` for ``search``) means "any".

    ``split``: ``train``, ``val``, ``test`` or ``UNASSIGNED``; ``class_index``: images with at
    least one label of that class; ``labelled``: images with / without any label;
    ``has_issues``: images the importer could not read (``Image.problem``) / readable ones;
    ``search``: part of the file name (not its folders), case-insensitive.
    """

    split: str | None = None
    class_index: int | None = None
    labelled: bool | None = None
    has_issues: bool | None = None
    search: str = ""

    @property
    def is_empty(self) -> bool:
        """True when the filter lets every image through."""
        unset = (self.split, self.class_index, self.labelled, self.has_issues) == (None,) * 4
        return unset and not self.search.strip()


@dataclass(frozen=True)
class Shape:
    """One label's geometry, as stored (normalised 0..1; see ``studio.state.models``)."""

    kind: str
    class_index: int
    polygon: tuple[float, ...] | None = None
    box: tuple[float, ...] | None = None
    keypoints: tuple[float, ...] | None = None


@dataclass(frozen=True)
class ImageRow:
    """What the browser shows of an image: its file, split, problem and labels."""

    id: int
    path: str
    width: int
    height: int
    split: str | None
    problem: str | None
    file_hash: str
    reviewed: bool
    shapes: tuple[Shape, ...] = ()

    @property
    def file_name(self) -> str:
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]


def live_annotation() -> list[ColumnElement[bool]]:
    """Conditions of an accepted label: not in the trash, not a draft."""
    return [Annotation.deleted_at.is_(None), Annotation.draft.is_(False)]


def file_name_column() -> ColumnElement[str]:
    """SQL for the part of ``Image.path`` after its last ``/`` or ``\\``."""
    path = func.replace(Image.path, "\\", "/")
    folder = func.rtrim(path, func.replace(path, "/", ""))  # strips the name's characters
    return func.substr(path, func.length(folder) + 1)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def filter_conditions(image_filter: ImageFilter) -> list[ColumnElement[bool]]:
    """The ``WHERE`` conditions on ``Image`` for ``image_filter`` (trash always excluded)."""
    f = image_filter
    conditions: list[ColumnElement[bool]] = [Image.deleted_at.is_(None)]
    if f.split == UNASSIGNED:
        conditions.append(Image.split.is_(None))
    elif f.split is not None:
        if f.split not in SPLITS:
            raise ValueError(f"unknown split {f.split!r}; use one of {SPLITS} or UNASSIGNED")
        conditions.append(Image.split == f.split)
    if f.class_index is not None:
        conditions.append(exists().where(Annotation.image_id == Image.id,
                                         Annotation.class_index == f.class_index,
                                         *live_annotation()))
    if f.labelled is not None:
        labelled = exists().where(Annotation.image_id == Image.id, *live_annotation())
        conditions.append(labelled if f.labelled else ~labelled)
    if f.has_issues is not None:
        conditions.append(Image.problem.is_not(None) if f.has_issues else Image.problem.is_(None))
    term = f.search.strip()
    if term:
        conditions.append(file_name_column().like(f"%{_escape_like(term)}%", escape="\\"))
    return conditions


def matching_ids(session: Session, image_filter: ImageFilter) -> list[int]:
    """The ids of the images that pass the filter, in import order (one column: cheap even
    for 100,000 images; the rows' details come a page at a time from ``load_rows``)."""
    statement = select(Image.id).where(*filter_conditions(image_filter)).order_by(Image.id)
    return list(session.scalars(statement))


def paged_ids(session: Session, image_filter: ImageFilter, offset: int, limit: int) -> list[int]:
    """One page of ``matching_ids``."""
    statement = (select(Image.id).where(*filter_conditions(image_filter)).order_by(Image.id)
                 .offset(offset).limit(limit))
    return list(session.scalars(statement))


def count_matching(session: Session, image_filter: ImageFilter) -> int:
    """How many images pass the filter."""
    statement = select(func.count(Image.id)).where(*filter_conditions(image_filter))
    return int(session.scalar(statement) or 0)


def count_all(session: Session) -> int:
    """How many images the project has (not counting the trash)."""
    return count_matching(session, ImageFilter())


def split_counts(session: Session) -> dict[str, int]:
    """Images per split, with ``UNASSIGNED`` for those in none (trash excluded)."""
    statement = (select(Image.split, func.count(Image.id)).where(Image.deleted_at.is_(None))
                 .group_by(Image.split))
    counts = dict.fromkeys((*SPLITS, UNASSIGNED), 0)
    for split, count in session.execute(statement):
        counts[split or UNASSIGNED] = int(count)
    return counts


def _tuple(values: Any) -> tuple[float, ...] | None:
    return tuple(float(v) for v in values) if values else None


def load_rows(session: Session, image_ids: Sequence[int]) -> list[ImageRow]:
    """The details and labels of ``image_ids`` (a page: two indexed queries), in that order.
    Ids no longer in the project are left out."""
    if not image_ids:
        return []
    ids = list(image_ids)
    shapes: dict[int, list[Shape]] = {}
    annotations = (select(Annotation.image_id, Annotation.kind, Annotation.class_index,
                          Annotation.polygon, Annotation.box, Annotation.keypoints)
                   .where(Annotation.image_id.in_(ids), *live_annotation())
                   .order_by(Annotation.image_id, Annotation.position, Annotation.id))
    for image_id, kind, class_index, polygon, box, keypoints in session.execute(annotations):
        shapes.setdefault(image_id, []).append(
            Shape(kind, int(class_index), _tuple(polygon), _tuple(box), _tuple(keypoints)))
    images = select(Image.id, Image.path, Image.width, Image.height, Image.split, Image.problem,
                    Image.file_hash, Image.reviewed).where(Image.id.in_(ids))
    rows = {
        row.id: ImageRow(row.id, row.path, int(row.width or 0), int(row.height or 0), row.split,
                         row.problem, row.file_hash or "", bool(row.reviewed),
                         tuple(shapes.get(row.id, ())))
        for row in session.execute(images)
    }
    return [rows[i] for i in ids if i in rows]


def class_choices(session: Session) -> list[tuple[int, int]]:
    """``(class_index, images with it)`` for every class that has a label."""
    statement = (select(Annotation.class_index, func.count(func.distinct(Annotation.image_id)))
                 .join(Image, Image.id == Annotation.image_id)
                 .where(Image.deleted_at.is_(None), *live_annotation())
                 .group_by(Annotation.class_index).order_by(Annotation.class_index))
    return [(int(index), int(count)) for index, count in session.execute(statement)]
