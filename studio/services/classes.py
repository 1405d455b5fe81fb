"""Editing a project's classes: add, rename, recolour, move, merge and delete.

Annotations name their class by number (``Annotation.class_index``, the label files' number),
so an edit that changes the numbering renumbers every annotation it touches, trashed ones
included, in the same transaction. Each edit is a plain operation value: ``impact`` says in a
sentence what it will do to the labels before it is done, ``apply`` does it in one transaction
and returns a ``ClassChange``, with which ``revert`` and ``reapply`` undo and redo it exactly
(class rows, and each touched annotation's class, trash state and ``updated_at``).

Deleting a class moves its labels to the trash, like any deleted annotation. Their class number
becomes ``DELETED_CLASS`` so that, once the classes after it have moved up one, they can never
be read as the class that took their number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from ..errors import ProjectError
from ..state import Annotation, Database, Image, ProjectClass
from ..state.models import utc_now
from .palette import PALETTE, class_color

DELETED_CLASS = -1
"""The class number of labels whose class was deleted (they are in the trash)."""
NAME_LIMIT = 200  # ProjectClass.name's column width


# -- the operations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AddClass:
    """A new class at the end of the list (``color`` None: the palette's next unused one)."""

    name: str
    color: str | None = None


@dataclass(frozen=True)
class RenameClass:
    index: int
    name: str


@dataclass(frozen=True)
class RecolorClass:
    index: int
    color: str


@dataclass(frozen=True)
class MoveClass:
    """Swap class ``index`` with its neighbour ``index + offset`` (``offset`` -1 or +1)."""

    index: int
    offset: int


@dataclass(frozen=True)
class MergeClass:
    """Class ``source``'s labels become ``target``'s; ``source`` goes, later classes move up."""

    source: int
    target: int


@dataclass(frozen=True)
class DeleteClass:
    """Class ``index`` goes, its labels to the trash; later classes move up one."""

    index: int


ClassOperation = AddClass | RenameClass | RecolorClass | MoveClass | MergeClass | DeleteClass


# -- what an operation did ----------------------------------------------------------------------


@dataclass(frozen=True)
class ClassRow:
    """One row of the classes table as it was (``id`` kept so that undo restores it exactly)."""

    id: int
    index: int
    name: str
    color: str


LabelRow = tuple[int, str | None, str | None, int]
"""An annotation's columns that a class edit changes, in the order its UPDATE takes them:
``(class_index, deleted_at, updated_at, id)``, the times as SQLite stores them (text), so that
undo writes back exactly what was there. Plain tuples: an edit may touch 100,000 labels."""


@dataclass(frozen=True)
class ClassChange:
    """What one operation did: the class list before and after, and each annotation it
    touched. ``text`` names the edit for an undo list ("Delete 'star'")."""

    text: str
    classes_before: tuple[ClassRow, ...]
    classes_after: tuple[ClassRow, ...]
    labels_before: tuple[LabelRow, ...] = ()
    labels_after: tuple[LabelRow, ...] = ()
    index_map: tuple[tuple[int, int], ...] = ()
    """``(old, new)`` class numbers that changed (``new`` DELETED_CLASS: the class went)."""


# -- impact -------------------------------------------------------------------------------------


def impact(database: Database, operation: ClassOperation) -> str:
    """One plain sentence on what ``operation`` will do to the project's labels.

    Raises ``ProjectError`` (saying what is wrong) for an operation that cannot be done."""
    with database.session() as session:
        rows = _class_rows(session)
        _check(rows, operation)
        by_index = {row.index: row for row in rows}
        if isinstance(operation, AddClass):
            return (f"Adds '{operation.name.strip()}' as class {len(rows)}; "
                    "no label changes.")
        if isinstance(operation, RenameClass):
            labels, images = _usage(session, operation.index)
            return (f"Renames '{by_index[operation.index].name}' to '{operation.name.strip()}'; "
                    f"its {_labels_on_images(labels, images)} keep their class.")
        if isinstance(operation, RecolorClass):
            return f"Changes the colour of '{by_index[operation.index].name}' everywhere."
        if isinstance(operation, MoveClass):
            first, second = by_index[operation.index], by_index[operation.index + operation.offset]
            return (f"'{first.name}' becomes class {second.index} and '{second.name}' class "
                    f"{first.index}; their labels follow them. Models trained before number the "
                    "classes the old way.")
        if isinstance(operation, MergeClass):
            source, target = by_index[operation.source], by_index[operation.target]
            labels, images = _usage(session, operation.source)
            return (f"Merging '{source.name}' into '{target.name}' makes its "
                    f"{_labels_on_images(labels, images)} '{target.name}' labels and removes "
                    f"'{source.name}'{_after(rows, operation.source)}.")
        labels, images = _usage(session, operation.index)
        return (f"Deleting '{by_index[operation.index].name}' moves its "
                f"{_labels_on_images(labels, images)} to the trash"
                f"{_after(rows, operation.index)}.")


def label_counts(database: Database) -> dict[int, int]:
    """``{class index: live labels on live images}`` for every class that has one."""
    with database.session() as session:
        rows = session.execute(
            select(Annotation.class_index, func.count(Annotation.id))
            .join(Image, Annotation.image_id == Image.id)
            .where(Annotation.deleted_at.is_(None), Image.deleted_at.is_(None))
            .group_by(Annotation.class_index))
        return {int(index): int(count) for index, count in rows}


def _usage(session: Session, index: int) -> tuple[int, int]:
    """Live labels of class ``index`` on live images, and on how many images."""
    row = session.execute(
        select(func.count(Annotation.id), func.count(func.distinct(Annotation.image_id)))
        .join(Image, Annotation.image_id == Image.id)
        .where(Annotation.class_index == index, Annotation.deleted_at.is_(None),
               Image.deleted_at.is_(None))).one()
    return int(row[0]), int(row[1])


def _labels_on_images(labels: int, images: int) -> str:
    if labels == 0:
        return "0 labels"
    return f"{_count(labels, 'label')} on {_count(images, 'image')}"


def _after(rows: Sequence[ClassRow], index: int) -> str:
    later = len(rows) - 1 - index
    if later == 0:
        return ""
    return "; the class after it moves up one" if later == 1 else \
        f"; the {later} classes after it move up one"


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


# -- checks ------------------------------------------------------------------------------------


def clean_name(name: str, rows: Sequence[ClassRow], *, renaming: int | None = None) -> str:
    """``name`` trimmed, or a ``ProjectError`` saying what is wrong with it (empty, too long,
    taken by another class, case aside: "Star" and "star" would be one folder on macOS)."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ProjectError("a class needs a name; type one", key="name")
    if len(cleaned) > NAME_LIMIT:
        raise ProjectError(f"a class name has at most {NAME_LIMIT} characters "
                           f"({len(cleaned)} typed); shorten it", key="name")
    if any(ch in cleaned for ch in "/\\"):
        raise ProjectError(f"class names cannot hold '/' or '\\' ({cleaned!r}): a classify "
                           "export makes a folder of each name; choose another", key="name")
    for row in rows:
        if row.index != renaming and row.name.casefold() == cleaned.casefold():
            raise ProjectError(f"class {row.index} is already called '{row.name}'; choose "
                               "another name, or merge into it", key="name")
    return cleaned


def clean_color(color: str) -> str:
    """``#rrggbb`` in lower case, or a ``ProjectError``."""
    value = color.strip().lower()
    if len(value) != 7 or value[0] != "#" or any(c not in "0123456789abcdef" for c in value[1:]):
        raise ProjectError(f"{color!r} is not a colour; give it as #rrggbb", key="color")
    return value


def _check(rows: Sequence[ClassRow], operation: ClassOperation) -> None:
    indices = {row.index for row in rows}

    def need(index: int) -> None:
        if index not in indices:
            raise ProjectError(f"there is no class {index}; this project has classes "
                               f"0 to {len(rows) - 1}" if rows else
                               f"there is no class {index}; this project has no classes",
                               key="class")

    if isinstance(operation, AddClass):
        clean_name(operation.name, rows)
        if operation.color is not None:
            clean_color(operation.color)
    elif isinstance(operation, RenameClass):
        need(operation.index)
        clean_name(operation.name, rows, renaming=operation.index)
    elif isinstance(operation, RecolorClass):
        need(operation.index)
        clean_color(operation.color)
    elif isinstance(operation, MoveClass):
        need(operation.index)
        if operation.offset not in (-1, 1):
            raise ProjectError("a class moves one place at a time (offset -1 or +1)",
                               key="offset")
        if operation.index + operation.offset not in indices:
            where = "first" if operation.offset < 0 else "last"
            raise ProjectError(f"class {operation.index} is already the {where}", key="class")
    elif isinstance(operation, MergeClass):
        need(operation.source)
        need(operation.target)
        if operation.source == operation.target:
            raise ProjectError("a class cannot be merged into itself; choose another class",
                               key="class")
    else:
        need(operation.index)


# -- applying, undoing, redoing -----------------------------------------------------------------


def apply(database: Database, operation: ClassOperation) -> ClassChange:
    """Do ``operation`` in one transaction; the returned change undoes and redoes it."""
    with database.session() as session:
        rows = _class_rows(session)
        _check(rows, operation)
        after, index_map, text = _plan(rows, operation)
        before, after_labels = _relabel(session, index_map, _remapped(operation))
        _write_classes(session, after)
        written = _class_rows(session)  # a new class's id, for an exact redo
    return ClassChange(text, tuple(rows), tuple(written), before, after_labels,
                       tuple(sorted(index_map.items())))


def revert(database: Database, change: ClassChange) -> None:
    """Undo ``change``: the classes and the touched labels as they were before it."""
    with database.session() as session:
        _write_classes(session, change.classes_before)
        _write_labels(session, change.labels_before)


def reapply(database: Database, change: ClassChange) -> None:
    """Redo ``change`` (after ``revert``) exactly as it was first done."""
    with database.session() as session:
        _write_classes(session, change.classes_after)
        _write_labels(session, change.labels_after)


def _remapped(operation: ClassOperation) -> bool:
    return isinstance(operation, MoveClass | MergeClass | DeleteClass)


def _plan(rows: list[ClassRow], operation: ClassOperation
          ) -> tuple[list[ClassRow], dict[int, int], str]:
    """The class rows after ``operation`` (ids kept; a new row's id 0) and ``{old: new}``."""
    by_index = {row.index: row for row in rows}
    if isinstance(operation, AddClass):
        color = clean_color(operation.color) if operation.color else _next_color(rows)
        name = clean_name(operation.name, rows)
        return [*rows, ClassRow(0, len(rows), name, color)], {}, f"Add '{name}'"
    if isinstance(operation, RenameClass):
        old = by_index[operation.index]
        name = clean_name(operation.name, rows, renaming=operation.index)
        return _replace(rows, old, name=name), {}, f"Rename '{old.name}' to '{name}'"
    if isinstance(operation, RecolorClass):
        old = by_index[operation.index]
        return (_replace(rows, old, color=clean_color(operation.color)), {},
                f"Recolour '{old.name}'")
    if isinstance(operation, MoveClass):
        first, other = operation.index, operation.index + operation.offset
        order = [row.index for row in rows]
        order[first], order[other] = order[other], order[first]
        text = f"Move '{by_index[first].name}' {'up' if operation.offset < 0 else 'down'}"
        return _renumber(rows, order), {first: other, other: first}, text
    gone = operation.source if isinstance(operation, MergeClass) else operation.index
    order = [row.index for row in rows if row.index != gone]
    after = _renumber(rows, order)
    index_map = {old: new for new, old in enumerate(order) if old != new}
    if isinstance(operation, MergeClass):
        index_map[gone] = order.index(operation.target)
        text = f"Merge '{by_index[gone].name}' into '{by_index[operation.target].name}'"
    else:
        index_map[gone] = DELETED_CLASS
        text = f"Delete '{by_index[gone].name}'"
    return after, index_map, text


def _replace(rows: list[ClassRow], old: ClassRow, **values: str) -> list[ClassRow]:
    new = ClassRow(old.id, old.index, values.get("name", old.name), values.get("color", old.color))
    return [new if row is old else row for row in rows]


def _renumber(rows: list[ClassRow], order: list[int]) -> list[ClassRow]:
    """The rows of the old indices ``order``, numbered 0, 1, 2, … in that order."""
    by_index = {row.index: row for row in rows}
    return [ClassRow(by_index[old].id, new, by_index[old].name, by_index[old].color)
            for new, old in enumerate(order)]


def _next_color(rows: Sequence[ClassRow]) -> str:
    """The first palette colour no class has (then the palette's colour for the new index)."""
    used = {row.color.lower() for row in rows}
    return next((color for color in PALETTE if color not in used), class_color(len(rows)))


def _class_rows(session: Session) -> list[ClassRow]:
    rows = session.scalars(select(ProjectClass).order_by(ProjectClass.index))
    return [ClassRow(row.id, row.index, row.name, row.color) for row in rows]


def _relabel(session: Session, index_map: dict[int, int], remapped: bool
             ) -> tuple[tuple[LabelRow, ...], tuple[LabelRow, ...]]:
    """Renumber every annotation (live or trashed) whose class is in ``index_map``; a deleted
    class's live labels go to the trash. Returns the touched rows before and after."""
    if not remapped or not index_map:
        return (), ()
    now = _stored_time(session.connection(), utc_now())
    # the driver's own cursor: SQLAlchemy's per-row parameter and datetime handling took 3 of
    # the 4 seconds that renumbering 100,000 labels took
    cursor = session.connection().connection.driver_connection.cursor()
    try:
        cursor.execute("SELECT class_index, deleted_at, updated_at, id FROM annotations WHERE "
                       f"class_index IN ({', '.join('?' * len(index_map))}) ORDER BY id",
                       tuple(index_map))
        before: tuple[LabelRow, ...] = tuple(cursor.fetchall())
    finally:
        cursor.close()
    gone = next((old for old, new in index_map.items() if new == DELETED_CLASS), None)
    after = tuple((index_map[index], now if index == gone and deleted is None else deleted,
                   now, label_id) for index, deleted, _updated, label_id in before)
    _write_labels(session, after)
    return before, after


def _stored_time(connection: Connection, moment: datetime) -> str:
    """``moment`` as SQLAlchemy stores it in the annotations' DateTime columns."""
    column_type = Annotation.__table__.c.updated_at.type
    dialect = connection.dialect
    return column_type.dialect_impl(dialect).bind_processor(dialect)(moment)


def _write_labels(session: Session, rows: Sequence[LabelRow]) -> None:
    """One executemany UPDATE by primary key."""
    if rows:
        session.connection().exec_driver_sql(
            "UPDATE annotations SET class_index = ?, deleted_at = ?, updated_at = ? "
            "WHERE id = ?", list(rows))


def _write_classes(session: Session, wanted: Sequence[ClassRow]) -> None:
    """Make the classes table ``wanted`` (rows matched by id; id 0: a new row).

    ``index`` is unique and SQLite checks it row by row, so every kept row first takes a
    negative number no row has, then its own."""
    existing = {row.id: row for row in session.scalars(select(ProjectClass))}
    keep = {row.id for row in wanted if row.id}
    for row_id, row in existing.items():
        if row_id not in keep:
            session.delete(row)
    for position, row_id in enumerate(sorted(keep & set(existing))):
        existing[row_id].index = -1_000_000 - position
    session.flush()
    for row in wanted:
        target = existing.get(row.id) if row.id else None
        if target is None:
            session.add(ProjectClass(id=row.id or None, index=row.index, name=row.name,
                                     color=row.color))
        else:
            target.index, target.name, target.color = row.index, row.name, row.color
    session.flush()
