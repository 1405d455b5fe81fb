"""Edits of whole images from the Datasets page: the trash (move, restore, empty for good),
the background mark (checked, no objects) and free-text tags.

Each edit is a few ``UPDATE`` / ``INSERT`` / ``DELETE`` statements over the chosen ids (in
chunks, so a selection of 100,000 images stays within SQLite's parameter limit), never a Python
loop over loaded rows. Emptying the trash deletes the rows first and then the image files that
were copied into the project; a file the user keeps elsewhere (an image referenced in place) is
never touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..state import Database
from ..state.models import Image, ImageTag, utc_now
from .image_files import ProblemRecord, problem_record, remove_copied_file
from .image_queries import has_live_label
from .projects import Project

CHUNK = 900
"""Ids per statement (SQLite allows 32,766 parameters; small chunks keep each one quick)."""
TAG_LENGTH = 100


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), CHUNK):
        yield wanted[start:start + CHUNK]


# -- the trash ---------------------------------------------------------------------------------


def trash_images(database: Database, image_ids: Iterable[int]) -> list[int]:
    """Move images to the trash (their labels and tags stay with them); returns the ids that
    moved (images already in the trash are not among them), for an undo."""
    return _set_deleted(database, image_ids, utc_now())


def restore_images(database: Database, image_ids: Iterable[int]) -> list[int]:
    """Bring images back from the trash; returns the ids that came back."""
    return _set_deleted(database, image_ids, None)


def _set_deleted(database: Database, image_ids: Iterable[int], when: datetime | None
                 ) -> list[int]:
    moved: list[int] = []
    now_there = Image.deleted_at.is_(None) if when is not None else Image.deleted_at.is_not(None)
    with database.session() as session:
        for chunk in _chunks(image_ids):
            ids = list(session.scalars(select(Image.id).where(Image.id.in_(chunk), now_there)))
            if ids:
                session.execute(update(Image).where(Image.id.in_(ids)).values(deleted_at=when))
            moved += ids
    return sorted(moved)


@dataclass
class EmptiedTrash:
    """What emptying the trash did: images deleted for good, copied files removed, and the
    files that could not be removed (the rows are gone; the file can be deleted by hand)."""

    images: int = 0
    files_removed: int = 0
    problems: list[ProblemRecord] = field(default_factory=list)


def empty_trash(project: Project, image_ids: Sequence[int] | None = None) -> EmptiedTrash:
    """Delete the images in the trash for good (``image_ids``: only those of them), with their
    labels and tags; remove the files that were copied into the project. Files outside the
    project (images referenced where the user keeps them) are never deleted."""
    result = EmptiedTrash()
    copied: list[str] = []
    with project.database.session() as session:
        query = select(Image.id, Image.path, Image.copied).where(Image.deleted_at.is_not(None))
        rows = session.execute(query).all()
        if image_ids is not None:
            wanted = set(image_ids)
            rows = [row for row in rows if row.id in wanted]
        for chunk in _chunks(row.id for row in rows):
            # the ORM cascade is not run by a bulk delete: the foreign keys' ON DELETE CASCADE
            # (foreign_keys=ON in every connection) removes the labels and tags
            session.execute(delete(Image).where(Image.id.in_(chunk),
                                                Image.deleted_at.is_not(None)))
        result.images = len(rows)
        copied = [row.path for row in rows if row.copied]
    for stored in copied:  # after the commit: a file left behind is better than a lost row
        try:
            result.files_removed += remove_copied_file(project, stored)
        except OSError as exc:
            result.problems.append(problem_record(
                project.resolve(stored), f"could not be removed ({exc.strerror or exc}); the "
                "image is gone from the project, delete the file by hand", severity="warning"))
    return result


# -- background --------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackgroundChange:
    """``changed``: the images whose mark changed (for an undo); ``with_labels``: how many were
    left unmarked because they have labels (an image with objects is not a background)."""

    changed: tuple[int, ...]
    with_labels: int = 0


def set_background(database: Database, image_ids: Iterable[int],
                   background: bool = True) -> BackgroundChange:
    """Mark images as background (checked: no objects) or take the mark off. Images with
    accepted labels are not marked: their count comes back in ``with_labels``."""
    changed: list[int] = []
    with_labels = 0
    with database.session() as session:
        for chunk in _chunks(image_ids):
            chosen = Image.id.in_(chunk)
            if background:
                with_labels += len(session.scalars(
                    select(Image.id).where(chosen, has_live_label())).all())
                to_change = select(Image.id).where(chosen, ~has_live_label(),
                                                   Image.background.is_(False))
            else:
                to_change = select(Image.id).where(chosen, Image.background.is_(True))
            ids = list(session.scalars(to_change))
            if ids:
                session.execute(update(Image).where(Image.id.in_(ids))
                                .values(background=background))
            changed += ids
    return BackgroundChange(tuple(sorted(changed)), with_labels)


# -- tags --------------------------------------------------------------------------------------


def clean_tag(text: str) -> str:
    """A tag as stored: spaces trimmed and runs of white space made one space. Raises
    ``ValueError`` for an empty tag or one longer than ``TAG_LENGTH`` characters."""
    tag = " ".join(text.split())
    if not tag:
        raise ValueError("a tag cannot be empty")
    if len(tag) > TAG_LENGTH:
        raise ValueError(f"the tag {tag[:20]!r}… is {len(tag)} characters long; use at most "
                         f"{TAG_LENGTH}")
    return tag


def parse_tags(text: str) -> list[str]:
    """Tags typed as ``"night, rain"`` (commas separate them), cleaned, without repeats."""
    tags: list[str] = []
    for part in text.split(","):
        if part.strip():
            tag = clean_tag(part)
            if tag not in tags:
                tags.append(tag)
    return tags


def add_tags(database: Database, image_ids: Iterable[int], tags: Iterable[str]) -> int:
    """Give every image every tag (tags it has already are kept); returns the tags added."""
    cleaned = sorted({clean_tag(tag) for tag in tags})
    added = 0
    if not cleaned:
        return 0
    with database.session() as session:
        for chunk in _chunks(image_ids):
            rows = [{"image_id": image_id, "tag": tag} for image_id in chunk for tag in cleaned]
            statement = sqlite_insert(ImageTag).values(rows).on_conflict_do_nothing()
            added += session.execute(statement).rowcount
    return added


def remove_tags(database: Database, image_ids: Iterable[int], tags: Iterable[str]) -> int:
    """Take the tags off the images; returns how many were removed."""
    wanted = sorted({" ".join(tag.split()) for tag in tags})
    removed = 0
    if not wanted:
        return 0
    with database.session() as session:
        for chunk in _chunks(image_ids):
            removed += session.execute(delete(ImageTag).where(
                ImageTag.image_id.in_(chunk), ImageTag.tag.in_(wanted))).rowcount
    return removed


def tags_of(database: Database, image_ids: Iterable[int]) -> dict[str, int]:
    """``{tag: how many of the images have it}`` (for the tag editor)."""
    counts: dict[str, int] = {}
    with database.session() as session:
        for chunk in _chunks(image_ids):
            for tag in session.scalars(select(ImageTag.tag).where(ImageTag.image_id.in_(chunk))):
                counts[tag] = counts.get(tag, 0) + 1
    return dict(sorted(counts.items()))

