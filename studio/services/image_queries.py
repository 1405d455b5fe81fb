"""Filtered, paged queries over a project's images (the Datasets page's browser).

Everything is one SQL statement per question, so a filter over 10,000+ images costs
milliseconds: the filter becomes ``WHERE`` conditions (``EXISTS`` sub-queries on the indexed
``annotations.image_id`` for class and labelled), never a Python loop over rows. Images in the
trash (``deleted_at`` set) are left out unless the filter asks for the trash; draft annotations
(a model's, not yet accepted) are never counted.

An image is *background* when it is marked so and has no accepted label: a label added later
wins over the mark (the export writes it), so every count here uses that one definition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from ..state.models import SPLITS, Annotation, Image, ImageTag

UNASSIGNED = "unassigned"
"""``ImageFilter.split`` for images in no split."""


@dataclass(frozen=True)
class ImageFilter:
    """Which images to show. ``None`` (or ``""`` for ``search``) means "any".

    ``split``: ``train``, ``val``, ``test`` or ``UNASSIGNED``; ``class_index``: images with at
    least one label of that class; ``labelled``: images with / without any label;
    ``background``: images that are / are not background (marked, no label);
    ``has_issues``: images the importer could not read (``Image.problem``) / readable ones;
    ``tag``: images with that tag; ``search``: part of the file name (not its folders),
    case-insensitive; ``trash``: the images in the trash instead of the others.
    """

    split: str | None = None
    class_index: int | None = None
    labelled: bool | None = None
    has_issues: bool | None = None
    search: str = ""
    background: bool | None = None
    tag: str | None = None
    trash: bool = False

    @property
    def is_empty(self) -> bool:
        """True when the filter lets every image (out of the trash) through."""
        unset = (self.split, self.class_index, self.labelled, self.has_issues, self.background,
                 self.tag) == (None,) * 6
        return unset and not self.search.strip() and not self.trash


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
    background: bool = False  # marked and without labels
    tags: tuple[str, ...] = ()
    deleted: bool = False  # in the trash

    @property
    def file_name(self) -> str:
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]


def live_annotation() -> list[ColumnElement[bool]]:
    """Conditions of an accepted label: not in the trash, not a draft."""
    return [Annotation.deleted_at.is_(None), Annotation.draft.is_(False)]


def has_live_label() -> ColumnElement[bool]:
    """SQL: the image has at least one accepted label."""
    return exists().where(Annotation.image_id == Image.id, *live_annotation())


def is_background() -> ColumnElement[bool]:
    """SQL: the image is background (marked, and no accepted label)."""
    return Image.background.is_(True) & ~has_live_label()


def file_name_column() -> ColumnElement[str]:
    """SQL for the part of ``Image.path`` after its last ``/`` or ``\\``."""
    path = func.replace(Image.path, "\\", "/")
    folder = func.rtrim(path, func.replace(path, "/", ""))  # strips the name's characters
    return func.substr(path, func.length(folder) + 1)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def filter_conditions(image_filter: ImageFilter) -> list[ColumnElement[bool]]:
    """The ``WHERE`` conditions on ``Image`` for ``image_filter`` (the trash, or all but it)."""
    f = image_filter
    in_trash = Image.deleted_at.is_not(None) if f.trash else Image.deleted_at.is_(None)
    conditions: list[ColumnElement[bool]] = [in_trash]
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
        conditions.append(has_live_label() if f.labelled else ~has_live_label())
    if f.background is not None:
        conditions.append(is_background() if f.background else ~is_background())
    if f.tag is not None:
        conditions.append(exists().where(ImageTag.image_id == Image.id, ImageTag.tag == f.tag))
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
    """The details, labels and tags of ``image_ids`` (a page: three indexed queries), in that
    order.
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
    tags: dict[int, list[str]] = {}
    for image_id, tag in session.execute(select(ImageTag.image_id, ImageTag.tag)
                                         .where(ImageTag.image_id.in_(ids))
                                         .order_by(ImageTag.image_id, ImageTag.tag)):
        tags.setdefault(image_id, []).append(tag)
    images = select(Image.id, Image.path, Image.width, Image.height, Image.split, Image.problem,
                    Image.file_hash, Image.reviewed, Image.background,
                    Image.deleted_at).where(Image.id.in_(ids))
    rows = {
        row.id: ImageRow(row.id, row.path, int(row.width or 0), int(row.height or 0), row.split,
                         row.problem, row.file_hash or "", bool(row.reviewed),
                         tuple(shapes.get(row.id, ())),
                         background=bool(row.background) and row.id not in shapes,
                         tags=tuple(tags.get(row.id, ())), deleted=row.deleted_at is not None)
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


def tag_choices(session: Session) -> list[tuple[str, int]]:
    """``(tag, images with it)`` for every tag of an image out of the trash, by name."""
    statement = (select(ImageTag.tag, func.count(ImageTag.image_id))
                 .join(Image, Image.id == ImageTag.image_id).where(Image.deleted_at.is_(None))
                 .group_by(ImageTag.tag).order_by(ImageTag.tag))
    return [(str(tag), int(count)) for tag, count in session.execute(statement)]


def trash_count(session: Session) -> int:
    """How many images are in the trash."""
    return count_matching(session, ImageFilter(trash=True))
