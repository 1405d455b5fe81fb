"""An image's annotations as plain values, saving them, the autosave thread and the trash.

The Annotate page edits ``AnnotationData`` values (frozen, normalised 0..1 geometry as in
``studio.state.models``) and hands an image's whole list to ``AutosaveWriter.submit``; a plain
thread writes it within a fraction of a second, so the GUI thread never waits on the disk.
Annotations and images that are deleted keep their rows with ``deleted_at`` set: the trash.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..state import Annotation, Database, Image
from ..state.models import utc_now

log = logging.getLogger(__name__)


def new_key() -> str:
    """A key for an annotation that has no row yet (stable while the app runs)."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class AnnotationData:
    """One annotation as the canvas holds it. ``key`` identifies it before it has a row
    (``id`` None); ``keypoints`` always hold three values per point here (x, y, v)."""

    kind: str
    class_index: int
    polygon: tuple[float, ...] | None = None
    box: tuple[float, ...] | None = None
    keypoints: tuple[float, ...] | None = None
    id: int | None = None
    key: str = field(default_factory=new_key)
    draft: bool = False
    score: float | None = None


@dataclass(frozen=True)
class ImageInfo:
    """The image being annotated: ``path`` resolved to the file, size in pixels."""

    id: int
    path: Path
    width: int
    height: int
    reviewed: bool = False


@dataclass(frozen=True)
class TrashEntry:
    """A deleted image or annotation: ``kind`` is ``"image"`` or ``"annotation"``."""

    kind: str
    id: int
    image_id: int
    label: str
    deleted_at: datetime


def list_image_ids(database: Database) -> list[int]:
    """The ids of the project's images that are not in the trash, in id order."""
    with database.session() as session:
        query = select(Image.id).where(Image.deleted_at.is_(None)).order_by(Image.id)
        return list(session.scalars(query))


def load_image(database: Database, image_id: int, resolve: Callable[[str], Path]) -> ImageInfo:
    """The image ``image_id`` (``resolve`` turns a stored path into the file's path)."""
    with database.session() as session:
        row = session.get(Image, image_id)
        if row is None:
            raise KeyError(f"no image {image_id}")
        return ImageInfo(row.id, resolve(row.path), row.width, row.height, row.reviewed)


def load_annotations(database: Database, image_id: int, keypoint_dims: int = 3,
                     *, deleted: bool = False) -> list[AnnotationData]:
    """The image's annotations in order (``deleted``: its trashed ones instead)."""
    with database.session() as session:
        state = Annotation.deleted_at.is_not(None) if deleted else Annotation.deleted_at.is_(None)
        rows = session.scalars(select(Annotation).where(Annotation.image_id == image_id, state)
                               .order_by(Annotation.position, Annotation.id))
        return [_from_row(row, keypoint_dims) for row in rows]


def save_annotations(database: Database, image_id: int, annotations: Sequence[AnnotationData],
                     *, keypoint_dims: int = 3, known_ids: Iterable[int] | None = None,
                     ids: dict[str, int] | None = None) -> dict[str, int]:
    """Make the image's live annotations ``annotations``, in one transaction.

    Rows are matched by ``id`` (or by ``key`` through ``ids``); new ones are inserted. A live
    row missing from the list goes to the trash, but only when ``known_ids`` (when given)
    holds it, so rows added elsewhere meanwhile are kept. Returns ``{key: id}`` for every
    annotation of the list.
    """
    ids = ids if ids is not None else {}
    known = None if known_ids is None else set(known_ids)
    now = utc_now()
    assigned: dict[str, int] = {}
    with database.session() as session:
        rows = {row.id: row for row in session.scalars(
            select(Annotation).where(Annotation.image_id == image_id))}
        kept: set[int] = set()
        new_rows: list[tuple[str, Annotation]] = []
        for position, data in enumerate(annotations):
            row_id = data.id if data.id is not None else ids.get(data.key)
            row = rows.get(row_id) if row_id is not None else None
            if row is None:
                row = Annotation(image_id=image_id)
                session.add(row)
                new_rows.append((data.key, row))
            else:
                kept.add(row.id)
                assigned[data.key] = row.id
            _fill_row(row, data, position, keypoint_dims, now)
        for row in rows.values():
            if row.id in kept or row.deleted_at is not None:
                continue
            if known is None or row.id in known:
                row.deleted_at = now
        session.flush()
        for key, row in new_rows:
            assigned[key] = row.id
    return assigned


def set_reviewed(database: Database, image_id: int, reviewed: bool) -> None:
    """Mark an image reviewed (or not)."""
    with database.session() as session:
        row = session.get(Image, image_id)
        if row is not None:
            row.reviewed = reviewed


def trash_annotations(database: Database, annotation_ids: Iterable[int]) -> None:
    """Move annotations to the trash."""
    _set_deleted(database, Annotation, annotation_ids, utc_now())


def restore_annotations(database: Database, annotation_ids: Iterable[int]) -> None:
    """Bring annotations back from the trash."""
    _set_deleted(database, Annotation, annotation_ids, None)


def trash_images(database: Database, image_ids: Iterable[int]) -> None:
    """Move images to the trash (their annotations stay with them)."""
    _set_deleted(database, Image, image_ids, utc_now())


def restore_images(database: Database, image_ids: Iterable[int]) -> None:
    """Bring images back from the trash."""
    _set_deleted(database, Image, image_ids, None)


def list_trash(database: Database, image_id: int | None = None) -> list[TrashEntry]:
    """Deleted images and annotations, newest first (``image_id``: that image's only)."""
    entries: list[TrashEntry] = []
    with database.session() as session:
        images = select(Image).where(Image.deleted_at.is_not(None))
        notes = select(Annotation).where(Annotation.deleted_at.is_not(None))
        if image_id is not None:
            images = images.where(Image.id == image_id)
            notes = notes.where(Annotation.image_id == image_id)
        for row in session.scalars(images):
            entries.append(TrashEntry("image", row.id, row.id, Path(row.path).name,
                                      row.deleted_at))
        for note in session.scalars(notes):
            entries.append(TrashEntry("annotation", note.id, note.image_id,
                                      f"{note.kind} (class {note.class_index})",
                                      note.deleted_at))
    return sorted(entries, key=lambda entry: _aware(entry.deleted_at), reverse=True)


def _aware(moment: datetime) -> float:
    return moment.timestamp() if moment.tzinfo else moment.replace(tzinfo=None).timestamp()


def _set_deleted(database: Database, model: Any, ids: Iterable[int],
                 value: datetime | None) -> None:
    wanted = list(ids)
    if not wanted:
        return
    with database.session() as session:
        for row in session.scalars(select(model).where(model.id.in_(wanted))):
            row.deleted_at = value


def _fill_row(row: Annotation, data: AnnotationData, position: int, dims: int,
              now: datetime) -> None:
    row.position = position
    row.kind = data.kind
    row.class_index = data.class_index
    row.polygon = list(data.polygon) if data.polygon is not None else None
    row.box = list(data.box) if data.box is not None else None
    row.keypoints = _keypoints_out(data.keypoints, dims)
    row.draft = data.draft
    row.score = data.score
    row.updated_at = now
    row.deleted_at = None


def _keypoints_out(points: tuple[float, ...] | None, dims: int) -> list[float] | None:
    if points is None:
        return None
    if dims == 3:
        return list(points)
    out: list[float] = []
    for i in range(0, len(points), 3):
        x, y, v = points[i:i + 3]
        out += [x, y] if v > 0 else [0.0, 0.0]
    return out


def _keypoints_in(values: list[Any] | None, dims: int) -> tuple[float, ...] | None:
    if values is None:
        return None
    if dims == 3:
        return tuple(float(v) for v in values)
    out: list[float] = []
    for i in range(0, len(values) - 1, 2):
        x, y = float(values[i]), float(values[i + 1])
        out += [x, y, 0.0 if x == 0 and y == 0 else 2.0]
    return tuple(out)


def _from_row(row: Annotation, dims: int) -> AnnotationData:
    return AnnotationData(
        kind=row.kind, class_index=row.class_index,
        polygon=tuple(float(v) for v in row.polygon) if row.polygon is not None else None,
        box=tuple(float(v) for v in row.box) if row.box is not None else None,
        keypoints=_keypoints_in(row.keypoints, dims), id=row.id, key=f"a{row.id}",
        draft=row.draft, score=row.score,
    )


@dataclass
class _Pending:
    annotations: tuple[AnnotationData, ...]
    known_ids: set[int]
    first_seq: int  # the oldest submission this entry holds that is not written yet
    last_seq: int


class AutosaveWriter:
    """Writes submitted annotation lists on its own thread, the latest list per image.

    ``submit`` returns at once; ``flush`` waits until everything submitted before it is in
    the database. A failed write is kept and tried again (``on_error`` says why); ``on_saved``
    gets ``(image_id, {key: id})`` after each write; both are called on the writer thread.
    """

    RETRY_SECONDS = 2.0

    def __init__(self, database: Database, *, keypoint_dims: int = 3,
                 on_saved: Callable[[int, dict[str, int]], None] | None = None,
                 on_error: Callable[[int, Exception], None] | None = None) -> None:
        self.database = database
        self.keypoint_dims = keypoint_dims
        self.on_saved, self.on_error = on_saved, on_error
        self._ids: dict[str, int] = {}
        self._written_ids: dict[int, set[int]] = {}  # per image: rows this writer wrote
        self._pending: dict[int, _Pending] = {}
        self._calls: set[int] = set()
        self._queue: queue.Queue[int | tuple[int, Callable[[], None]] | None] = queue.Queue()
        self._condition = threading.Condition()
        self._seq = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="autosave", daemon=True)
        self._thread.start()

    def submit(self, image_id: int, annotations: Sequence[AnnotationData],
               known_ids: Iterable[int] = ()) -> None:
        """Save ``annotations`` as the image's full list soon (replacing a pending list)."""
        with self._condition:
            if self._closed:
                raise RuntimeError("the autosave writer is closed")
            self._seq += 1
            previous = self._pending.get(image_id)
            known = set(known_ids) | (previous.known_ids if previous else set())
            first = previous.first_seq if previous else self._seq
            self._pending[image_id] = _Pending(tuple(annotations), known, first, self._seq)
        if previous is None:
            self._queue.put(image_id)

    def execute(self, work: Callable[[Database], Any]) -> Future:
        """Run ``work(database)`` on the writer thread after the writes submitted so far."""
        future: Future = Future()

        def call() -> None:
            try:
                future.set_result(work(self.database))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                future.set_exception(exc)

        with self._condition:
            self._seq += 1
            self._calls.add(self._seq)
            self._queue.put((self._seq, call))
        return future

    def pending(self, image_id: int) -> tuple[AnnotationData, ...] | None:
        """The list submitted for the image and not written yet, if any."""
        with self._condition:
            entry = self._pending.get(image_id)
            return entry.annotations if entry else None

    @property
    def busy(self) -> bool:
        """Whether something submitted is not written yet."""
        with self._condition:
            return bool(self._pending or self._calls)

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until everything submitted so far is written; False on timeout."""
        with self._condition:
            target = self._seq
            return self._condition.wait_for(lambda: self._oldest() > target, timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Flush, then stop the thread. Returns whether everything was written."""
        done = self.flush(timeout)
        with self._condition:
            self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)
        return done

    def _oldest(self) -> int:
        firsts = [entry.first_seq for entry in self._pending.values()]
        return min([*firsts, *self._calls], default=self._seq + 1)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, tuple):
                seq, call = item
                call()
                with self._condition:
                    self._calls.discard(seq)
                    self._condition.notify_all()
            else:
                self._write(item)

    def _write(self, image_id: int) -> None:
        with self._condition:
            entry = self._pending.get(image_id)
        if entry is None:
            return
        try:
            known = entry.known_ids | self._written_ids.get(image_id, set())
            assigned = save_annotations(self.database, image_id, entry.annotations,
                                        keypoint_dims=self.keypoint_dims, known_ids=known,
                                        ids=self._ids)
        except Exception as exc:  # noqa: BLE001 - kept and retried; the caller is told
            log.warning("autosave of image %s failed: %s", image_id, exc)
            self._tell(self.on_error, image_id, exc)
            timer = threading.Timer(self.RETRY_SECONDS, self._queue.put, (image_id,))
            timer.daemon = True
            timer.start()
            return
        self._ids.update(assigned)
        self._written_ids.setdefault(image_id, set()).update(assigned.values())
        with self._condition:
            current = self._pending.get(image_id)
            if current is entry:
                del self._pending[image_id]
            elif current is not None:  # edited again while writing: written next
                current.first_seq = entry.last_seq + 1
                self._queue.put(image_id)
            self._condition.notify_all()
        self._tell(self.on_saved, image_id, assigned)

    @staticmethod
    def _tell(callback: Callable[..., None] | None, *args: Any) -> None:
        """Call back; a failing callback never stops the writer."""
        if callback is None:
            return
        try:
            callback(*args)
        except Exception:  # noqa: BLE001 - e.g. the page that listened is gone
            log.exception("autosave callback failed")


def wait_until_idle(writer: AutosaveWriter, seconds: float) -> bool:
    """Poll until the writer is idle (tests and shutdown); False when it is still busy."""
    deadline = time.monotonic() + seconds
    while writer.busy and time.monotonic() < deadline:
        time.sleep(0.01)
    return not writer.busy
