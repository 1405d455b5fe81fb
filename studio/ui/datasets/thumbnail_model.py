"""The thumbnail grid's model: every matching image id (one cheap column), the rows' details
loaded a page at a time when the view shows them, thumbnails asked for only then.

Nothing here touches the database or decodes an image on the GUI thread: ids and pages come
from ``BackgroundCalls``, pictures from the ``ThumbnailLoader``; until they arrive the view
draws a placeholder.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QPixmap

from ...services.image_queries import ImageFilter, ImageRow, load_rows, matching_ids
from ...services.projects import Project
from ...services.thumbnails import ThumbnailLoader, ThumbnailRequest, ThumbnailResult
from .background import BackgroundCalls

IMAGE_ID_ROLE = Qt.ItemDataRole.UserRole + 1
ROW_ROLE = Qt.ItemDataRole.UserRole + 2  # the ImageRow, or None until its page is loaded
FAILED_ROLE = Qt.ItemDataRole.UserRole + 3  # why the thumbnail could not be made, or ""
PAGE_SIZE = 96
PIXMAP_CACHE = 600  # thumbnails kept in memory (~64 KB each at 128 px)

Index = QModelIndex | QPersistentModelIndex


class ThumbnailModel(QAbstractListModel):
    """Images matching a filter, in import order. ``reloaded(count)`` follows each new id
    list; ``failed(message, details)`` a query that could not run."""

    reloaded = Signal(int)
    pageLoaded = Signal()
    failed = Signal(str, str)

    def __init__(self, project: Project, queries: BackgroundCalls, loader: ThumbnailLoader,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._project = project
        self._queries = queries
        self._loader = loader
        self._filter = ImageFilter()
        self._ids: list[int] = []
        self._row_of: dict[int, int] = {}
        self._rows: dict[int, ImageRow] = {}
        self._pages_asked: set[int] = set()
        self._pixmaps: OrderedDict[int, QPixmap] = OrderedDict()
        self._thumbnail_errors: dict[int, str] = {}
        self._thumbnails_asked: set[int] = set()
        self._generation = 0
        self._thumbnail_generation = 0
        self.show_labels = True
        self.loading = False
        loader.ready.connect(self._thumbnail_ready)

    # ----- filter and reload -----
    @property
    def image_filter(self) -> ImageFilter:
        return self._filter

    def set_filter(self, image_filter: ImageFilter) -> None:
        """Show the images passing ``image_filter`` (the ids are queried in the background)."""
        self._filter = image_filter
        self.reload()

    def reload(self) -> None:
        """Query the ids again; rows already shown keep their place when nothing moved."""
        self._generation += 1
        generation, image_filter, database = self._generation, self._filter, self._project.database
        self.loading = True

        def work() -> list[int]:
            with database.session() as session:
                return matching_ids(session, image_filter)

        self._queries.call(work, lambda ids: self._ids_ready(generation, ids), self._failed)

    def _failed(self, message: str, details: str) -> None:
        self.loading = False
        self.failed.emit(message, details)

    def _ids_ready(self, generation: int, ids: list[int]) -> None:
        if generation != self._generation:
            return  # a newer filter was chosen meanwhile
        self.loading = False
        self._pages_asked.clear()
        if ids == self._ids:
            self._rows.clear()  # details (split, labels) may have changed: fetch them again
            if ids:
                self.dataChanged.emit(self.index(0), self.index(len(ids) - 1))
        else:
            self.beginResetModel()
            self._ids = ids
            self._row_of = {image_id: row for row, image_id in enumerate(ids)}
            self._rows.clear()
            self.endResetModel()
        self.reloaded.emit(len(ids))

    # ----- thumbnails -----
    def set_show_labels(self, show: bool) -> None:
        """Draw the ground truth on the thumbnails or not (they are made again)."""
        if show == self.show_labels:
            return
        self.show_labels = show
        self.forget_thumbnails()

    def forget_thumbnails(self) -> None:
        """Drop the thumbnails in memory (after labels or colours changed)."""
        self._thumbnail_generation += 1
        self._loader.discard_pending()
        self._pixmaps.clear()
        self._thumbnails_asked.clear()
        self._thumbnail_errors.clear()
        if self._ids:
            self.dataChanged.emit(self.index(0), self.index(len(self._ids) - 1),
                                  [Qt.ItemDataRole.DecorationRole])

    def _ask_thumbnail(self, row: ImageRow) -> None:
        if row.id in self._thumbnails_asked:
            return
        self._thumbnails_asked.add(row.id)
        self._loader.request(ThumbnailRequest(
            row.id, self._project.resolve(row.path), row.file_hash, row.width, row.height,
            row.shapes, self.show_labels, tag=self._thumbnail_generation))

    def _thumbnail_ready(self, result: ThumbnailResult) -> None:
        if result.tag != self._thumbnail_generation:
            return
        self._thumbnails_asked.discard(result.image_id)
        if result.image is None:
            self._thumbnail_errors[result.image_id] = result.error
        else:
            self._pixmaps[result.image_id] = QPixmap.fromImage(result.image)
            self._pixmaps.move_to_end(result.image_id)
            while len(self._pixmaps) > PIXMAP_CACHE:
                self._pixmaps.popitem(last=False)
        row = self._row_of.get(result.image_id)
        if row is not None:
            index = self.index(row)
            self.dataChanged.emit(index, index, [Qt.ItemDataRole.DecorationRole])

    # ----- pages of details -----
    def _ask_page(self, page: int) -> None:
        if page in self._pages_asked:
            return
        self._pages_asked.add(page)
        ids = self._ids[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
        generation, database = self._generation, self._project.database

        def work() -> list[ImageRow]:
            with database.session() as session:
                return load_rows(session, ids)

        self._queries.call(work, lambda rows: self._page_ready(generation, page, rows),
                           self._failed)

    def _page_ready(self, generation: int, page: int, rows: list[ImageRow]) -> None:
        if generation != self._generation:
            return
        for row in rows:
            self._rows[row.id] = row
        first = page * PAGE_SIZE
        last = min(len(self._ids), first + PAGE_SIZE) - 1
        if last >= first:
            self.dataChanged.emit(self.index(first), self.index(last))
        self.pageLoaded.emit()

    # ----- QAbstractListModel -----
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._ids)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._ids):
            return None
        image_id = self._ids[index.row()]
        if role == IMAGE_ID_ROLE:
            return image_id
        row = self._rows.get(image_id)
        if row is None:
            if role in (ROW_ROLE, Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.DecorationRole):
                self._ask_page(index.row() // PAGE_SIZE)
            return None
        if role == ROW_ROLE:
            return row
        if role == Qt.ItemDataRole.DisplayRole:
            return row.file_name
        if role == Qt.ItemDataRole.DecorationRole:
            pixmap = self._pixmaps.get(image_id)
            if pixmap is None and image_id not in self._thumbnail_errors:
                self._ask_thumbnail(row)
            return pixmap
        if role == FAILED_ROLE:
            return self._thumbnail_errors.get(image_id, "")
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(row)
        return None

    def _tooltip(self, row: ImageRow) -> str:
        lines = [row.path, f"{row.width} × {row.height} px · {row.split or 'no split'} · "
                 f"{len(row.shapes)} label{'s' if len(row.shapes) != 1 else ''}"]
        if row.background:
            lines.append("Background: checked, no objects (a negative in training)")
        if row.tags:
            lines.append("Tags: " + ", ".join(row.tags))
        if row.problem:
            lines.append(f"Problem: {row.problem}")
        if error := self._thumbnail_errors.get(row.id):
            lines.append(f"No thumbnail: the file {error}")
        return "\n".join(lines)

    # ----- for the page -----
    def image_id(self, row: int) -> int:
        return self._ids[row]

    def row_of(self, image_id: int) -> int | None:
        return self._row_of.get(image_id)

    def loaded_row(self, image_id: int) -> ImageRow | None:
        """The details of ``image_id`` when its page is loaded."""
        return self._rows.get(image_id)

    def loaded_row_count(self) -> int:
        """How many rows' details are in memory (a test checks they are not all)."""
        return len(self._rows)

    def requested_pages(self) -> frozenset[int]:
        """The pages of details asked for so far (by the rows the view has shown)."""
        return frozenset(self._pages_asked)

    def cached_thumbnail_count(self) -> int:
        return len(self._pixmaps)
