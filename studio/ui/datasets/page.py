"""The Datasets page: the project's images as a filterable thumbnail grid, a large preview of
the selected one, statistics, split management (by hand or at random), and the images' trash,
background marks and tags (image_actions.py)."""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtCore import QItemSelection, QModelIndex, QPoint, Qt, Signal, SignalInstance
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from ...services.dataset_stats import DatasetStats, compute_stats
from ...services.image_queries import ImageFilter, tag_choices
from ...services.projects import Project
from ...services.splits import assign_split, random_split
from ...services.thumbnails import OverlayStyle, ThumbnailLoader, ThumbnailStore
from ...services.wording import plural
from ...workers.job import JobManager
from ..empty_state import EmptyState
from ..page import Page
from .background import BackgroundCalls
from .filter_bar import FilterBar
from .grid import ThumbnailGrid
from .image_actions import ImageActions
from .preview import PreviewPanel
from .split_dialog import RandomSplitDialog
from .stats_panel import StatsPanel
from .thumbnail_model import IMAGE_ID_ROLE, ThumbnailModel

SPLIT_BUTTONS = (("Train", "train"), ("Val", "val"), ("Test", "test"), ("No split", None))


class DatasetsPage(Page, QWidget):
    """Browse, filter and split the images of ``project``.

    ``openImage(image_id)``: a thumbnail was double-clicked (or Enter pressed);
    ``importRequested()``: the empty state's import button; ``filesDropped(paths)``: folders or
    files dropped on the page; ``imagesChanged()``: images went to or came back from the trash
    (the pages that list images read them again). Call ``refresh()`` after an import and
    ``close_page()`` before the project closes.
    """

    openImage = Signal(int)
    imagesChanged = Signal()
    importRequested = Signal()
    filesDropped = Signal(list)
    undoable = ("undo",)  # image edits can be taken back, not redone

    def __init__(self, project: Project, jobs: JobManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project
        self.jobs = jobs
        self.classes = project.classes()
        self.style = OverlayStyle.from_project(project)
        self.stats: DatasetStats | None = None
        self.tags: list[tuple[str, int]] = []
        self._queries = BackgroundCalls("datasets-query", 1, self)
        self.queries = self._queries  # image_actions.py runs its edits here, in order
        self._decoder = BackgroundCalls("datasets-preview", 1, self)
        self.loader = ThumbnailLoader(ThumbnailStore(project.cache_folder / "thumbnails"),
                                      self.style, workers=max(2, min(4, os.cpu_count() or 2)),
                                      parent=self)
        self.model = ThumbnailModel(project, self._queries, self.loader, self)
        self.setAcceptDrops(True)
        self._build()
        self._connect()
        self.refresh()

    # ----- building -----
    def _build(self) -> None:
        self.context_menu: QMenu | None = None
        self.filter_bar = FilterBar()
        self.filter_bar.set_classes(self.classes)
        self.grid = ThumbnailGrid()
        self.grid.setModel(self.model)
        self.image_actions = ImageActions(self)
        self.count_label = QLabel("Loading…")
        self.selection_label = QLabel("")
        self.notice = QLabel("")  # what the last image edit did
        self.notice.setWordWrap(True)
        self.split_buttons: dict[str | None, QPushButton] = {}
        bottom = QHBoxLayout()
        bottom.setSpacing(6)
        bottom.addWidget(self.count_label)
        bottom.addWidget(self.selection_label)
        self.selection_button = QPushButton("Selection")
        self.selection_button.setToolTip("Trash, background and tags for the selected images")
        selection_menu = QMenu(self.selection_button)
        selection_menu.aboutToShow.connect(lambda: self._fill_selection_menu(selection_menu))
        self.selection_button.setMenu(selection_menu)
        bottom.addWidget(self.selection_button)
        bottom.addStretch(1)
        self.split_box = QWidget()  # hidden in the trash, where splits do not apply
        split_row = QHBoxLayout(self.split_box)
        split_row.setContentsMargins(0, 0, 0, 0)
        split_row.setSpacing(6)
        split_row.addWidget(QLabel("Set split:"))
        for text, split in SPLIT_BUTTONS:
            button = QPushButton(text)
            button.setToolTip(f"Put the selected images in {text.lower()}" if split
                              else "Take the selected images out of their split")
            button.clicked.connect(lambda _=False, s=split: self.assign_selection(s))
            self.split_buttons[split] = button
            split_row.addWidget(button)
        self.random_button = QPushButton("Random split…")
        self.random_button.clicked.connect(self.open_random_split)
        split_row.addWidget(self.random_button)
        bottom.addWidget(self.split_box)
        self.restore_button = QPushButton("Restore")
        self.restore_button.setToolTip(self.image_actions.restore.toolTip())
        self.restore_button.clicked.connect(self.image_actions.restore_selection)
        self.empty_trash_button = QPushButton("Empty trash…")
        self.empty_trash_button.setToolTip(self.image_actions.empty.toolTip())
        self.empty_trash_button.clicked.connect(self.image_actions.empty_trash)
        for button in (self.restore_button, self.empty_trash_button):
            button.hide()  # shown in the trash
            bottom.addWidget(button)
        self.classes_button = QPushButton("Classes…")
        self.classes_button.setToolTip("Add, rename, recolour, reorder, merge or delete classes")
        self.classes_button.clicked.connect(self.open_class_editor)
        bottom.addWidget(self.classes_button)
        self.check_button = QPushButton("Check labels…")
        self.check_button.setToolTip("Find likely label errors: swaps, duplicates, bad polygons")
        self.check_button.clicked.connect(self.open_label_check)
        bottom.addWidget(self.check_button)

        self.no_match = EmptyState("No images match these filters",
                                   "Change the filters, or show every image again.",
                                   (("Clear filters", self.filter_bar.reset),))
        self.trash_empty = EmptyState(
            "The trash is empty", "Images you move to the trash (select them, press Delete) "
            "wait here until you restore them or empty the trash.",
            (("Back to the images", lambda: self.filter_bar.trash.setChecked(False)),))
        self.grid_stack = QStackedWidget()
        self.grid_stack.addWidget(self.grid)
        self.grid_stack.addWidget(self.no_match)
        self.grid_stack.addWidget(self.trash_empty)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.grid_stack, 1)
        left_layout.addLayout(bottom)
        left_layout.addWidget(self.notice)

        self.preview = PreviewPanel(self.project, self.style, self._decoder)
        self.preview.set_style(self.style, {c.index: c.name for c in self.classes})
        self.stats_panel = StatsPanel()
        stats_scroll = QScrollArea()
        stats_scroll.setWidgetResizable(True)
        stats_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        stats_scroll.setWidget(self.stats_panel)
        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(self.preview)
        side.addWidget(stats_scroll)
        side.setStretchFactor(0, 3)
        side.setStretchFactor(1, 2)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        self.splitter.setSizes([640, 400])

        browser = QWidget()
        browser_layout = QVBoxLayout(browser)
        browser_layout.setContentsMargins(8, 8, 8, 8)
        browser_layout.setSpacing(8)
        browser_layout.addWidget(self.filter_bar)
        browser_layout.addWidget(self.splitter, 1)
        self.empty_state = EmptyState(
            "No images yet", "Import a dataset, or drop a folder of images or a dataset "
            "here.", (("Import a dataset…", self.importRequested.emit),))
        self.import_button = self.empty_state.buttons[0]
        self.stack = QStackedWidget()
        self.stack.addWidget(browser)
        self.stack.addWidget(self.empty_state)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)
        self.browser = browser
        self._update_selection()

    def _connect(self) -> None:
        self.filter_bar.changed.connect(self._filter_changed)
        self.filter_bar.labelsToggled.connect(self._toggle_labels)
        self.grid.activatedImage.connect(self._open_image)
        self.grid.splitRequested.connect(self.assign_selection)
        self.grid.menuRequested.connect(self._context_menu)
        self.model.reloaded.connect(self._reloaded)
        self.model.pageLoaded.connect(self._update_preview)
        self.model.failed.connect(self._query_failed)
        selection = self.grid.selectionModel()
        selection.selectionChanged.connect(self._selection_changed)
        selection.currentChanged.connect(lambda *_: self._update_preview())
        for split, key in (("train", "Alt+T"), ("val", "Alt+V"), ("test", "Alt+E")):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(lambda s=split: self.assign_selection(s))

    # ----- public -----
    def refresh(self) -> None:
        """Reload everything (after an import or a change of classes)."""
        self.classes = self.project.classes()
        self.style = OverlayStyle.from_project(self.project)
        self.loader.style = self.style
        self.filter_bar.set_classes(self.classes)
        self.preview.set_style(self.style, {c.index: c.name for c in self.classes})
        self.model.forget_thumbnails()
        self.model.reload()
        self._reload_stats()

    def labels_edited(self, image_ids: set[int]) -> None:
        """Labels of ``image_ids`` changed elsewhere (on Annotate): show them again, with the
        statistics and the preview."""
        if not image_ids:
            return
        self.model.forget_thumbnails()
        self.model.reload()
        self._reload_stats()
        self._update_preview()

    def current_image_id(self) -> int | None:
        """The id of the grid's current image (the one previewed), or None when there is none."""
        index = self.grid.currentIndex()
        if not index.isValid():
            return None
        image_id = index.data(IMAGE_ID_ROLE)
        return int(image_id) if image_id is not None else None

    def in_trash(self) -> bool:
        """True while the grid shows the trash."""
        return self.model.image_filter.trash

    def known_tags(self) -> list[str]:
        """The project's tags (as last counted)."""
        return [tag for tag, _count in self.tags]

    def shortcuts(self) -> list[tuple[str, str]]:
        """``(key, what it does)`` for the F1 list (keys work while the grid has focus)."""
        return [("Enter / double-click", "Open the image in Annotate"),
                *self.image_actions.shortcuts(),
                ("Alt+T / Alt+V / Alt+E", "Put the selected images in train / val / test"),
                ("Ctrl+A", "Select every image shown")]

    def open_image_requests(self) -> SignalInstance:
        """``openImage(image_id)``: Enter or a double-click on a thumbnail."""
        return self.openImage

    def undo_text(self) -> str | None:
        """What Edit ▸ Undo takes back on this page (the last image edit), or None."""
        return self.image_actions.undo_text()

    def undo(self) -> None:
        """Take back the last trash, restore or background edit."""
        self.image_actions.undo()

    def after_edit(self, message: str, images_changed: bool) -> None:
        """An image edit finished: say what it did and show the new state."""
        self.notice.setText(message)
        self.model.reload()
        self._reload_stats()
        if images_changed:
            self.imagesChanged.emit()

    def edit_failed(self, message: str, _details: str) -> None:
        """An image edit could not be saved: nothing changed."""
        self.notice.setText(f"Nothing was changed: {message}")

    def selected_image_ids(self) -> list[int]:
        """The ids of the selected thumbnails, in grid order."""
        return [self.model.image_id(row) for row in self._selected_rows()]

    def _selected_rows(self) -> list[int]:
        """Selected rows from the selection's ranges (no QModelIndex per row: Ctrl+A on
        10,000 images stays instant)."""
        rows: set[int] = set()
        for selection_range in self.grid.selectionModel().selection():
            rows.update(range(selection_range.top(), selection_range.bottom() + 1))
        return sorted(rows)

    def assign_selection(self, split: str | None) -> None:
        """Put the selected images in ``split`` (None: no split), in the background."""
        ids = self.selected_image_ids()
        if not ids:
            return
        database = self.project.database
        name = f"Set split of {plural(len(ids), 'image')}"
        self._run_split_job(name, lambda: assign_split(database, ids, split))

    def open_random_split(self) -> None:
        """Ask for ratios and a seed, then split at random in the background."""
        stats = self.stats
        selected = self.selected_image_ids()
        counts = {"all": stats.images if stats else self.model.rowCount(),
                  "unassigned": stats.splits.get("unassigned", 0) if stats else 0,
                  "selection": len(selected)}
        dialog = RandomSplitDialog(counts, self)
        if dialog.exec() != RandomSplitDialog.DialogCode.Accepted:
            return
        plan = dialog.plan()
        database = self.project.database
        ids = selected if plan.scope == "selection" else None
        self._run_split_job("Random split", lambda: random_split(
            database, plan.ratios, plan.seed, image_ids=ids,
            only_unassigned=plan.scope == "unassigned"))

    def open_class_editor(self) -> None:
        """The class editor (studio/ui/datasets/class_editor.py); pages reload after edits."""
        from .class_editor import open_class_editor

        self.class_editor = open_class_editor(self.project, self)

    def open_label_check(self) -> None:
        """The label checker's window (studio/ui/datasets/label_check.py); pressed again while
        it is open, the same window comes to the front (its findings and dismissals kept)."""
        from .label_check import open_label_check

        window = getattr(self, "label_check", None)
        if window is not None and window.isVisible():
            window.raise_()
            window.activateWindow()
            return
        self.label_check = open_label_check(self.project, self.jobs, self, self._open_image)

    def close_page(self) -> None:
        """Stop the background threads (before the project closes)."""
        self.loader.stop()
        self._queries.close()
        self._decoder.close()

    # ----- reactions -----
    def _run_split_job(self, name: str, change: Callable[[], object]) -> None:
        def work(progress, _cancel) -> object:
            progress(0, 1, name)
            return change()

        job = self.jobs.start(name, work)
        job.finished.connect(lambda _result: self._after_split())

    def _after_split(self) -> None:
        self.model.reload()
        self._reload_stats()

    def _reload_stats(self) -> None:
        database = self.project.database

        def work() -> tuple[DatasetStats, list[tuple[str, int]]]:
            with database.session() as session:
                return compute_stats(session), tag_choices(session)

        self._queries.call(work, self._stats_ready, self._query_failed)

    def _stats_ready(self, result: tuple[DatasetStats, list[tuple[str, int]]]) -> None:
        stats, self.tags = result
        self.stats = stats
        empty = stats.images == 0 and stats.trash == 0  # a full trash can still be opened
        self.stack.setCurrentWidget(self.empty_state if empty else self.browser)
        self.stats_panel.set_stats(stats, self.classes, self.style)
        self.filter_bar.set_tags(self.tags)
        self.filter_bar.set_trash_count(stats.trash)
        self._update_count()
        self._update_selection()

    def _filter_changed(self, image_filter: ImageFilter) -> None:
        trash = image_filter.trash
        self.split_box.setVisible(not trash)
        self.restore_button.setVisible(trash)
        self.empty_trash_button.setVisible(trash)
        self.notice.setText("")
        self.model.set_filter(image_filter)

    def _reloaded(self, count: int) -> None:
        empty_view = self.trash_empty if self.in_trash() else self.no_match
        self.grid_stack.setCurrentWidget(self.grid if count else empty_view)
        self._update_count()
        self._update_selection()
        self._update_preview()

    def _update_count(self) -> None:
        shown = self.model.rowCount()
        if self.in_trash():
            self.count_label.setText(
                f"<b>Trash:</b> {shown:,} image{'s' if shown != 1 else ''}")
            return
        total = self.stats.images if self.stats is not None else shown
        if self.model.image_filter.is_empty:
            self.count_label.setText(plural(total, "image"))
        else:
            self.count_label.setText(f"{shown:,} of {plural(total, 'image')}")

    def _open_image(self, image_id: int) -> None:
        if self.in_trash():  # Annotate shows only the images out of the trash
            self.notice.setText("This image is in the trash: restore it to annotate it")
            return
        self.openImage.emit(image_id)

    def _query_failed(self, message: str, _details: str) -> None:
        self.count_label.setText(f"Could not read the project's images: {message}")

    def _toggle_labels(self, show: bool) -> None:
        self.model.set_show_labels(show)
        self.preview.set_show_labels(show)

    def _selection_changed(self, _selected: QItemSelection, _deselected: QItemSelection) -> None:
        self._update_selection()

    def _update_selection(self) -> None:
        count = len(self._selected_rows())
        self.selection_label.setText(f"· {count:,} selected" if count else "")
        for button in self.split_buttons.values():
            button.setEnabled(count > 0)
        self.image_actions.update_enabled(count, self.in_trash())
        self.restore_button.setEnabled(self.image_actions.restore.isEnabled())
        self.empty_trash_button.setEnabled(self.image_actions.empty.isEnabled())
        self.selection_button.setEnabled(count > 0 and not self.in_trash())

    def _fill_selection_menu(self, menu: QMenu) -> None:
        menu.clear()
        self.image_actions.fill_menu(menu, self.in_trash())

    def _update_preview(self) -> None:
        index: QModelIndex = self.grid.currentIndex()
        if not index.isValid():
            self.preview.show_row(None)
            return
        row = self.model.loaded_row(int(index.data(IMAGE_ID_ROLE)))
        if row is not None:
            self.preview.show_row(row)

    def _context_menu(self, position: QPoint) -> None:
        ids = self.selected_image_ids()
        menu = QMenu(self)
        self.context_menu = menu  # for tests, while it is open
        trash = self.in_trash()
        current = self.grid.currentIndex()
        if current.isValid() and not trash:
            image_id = int(current.data(IMAGE_ID_ROLE))
            menu.addAction("Open in Annotate", lambda: self.openImage.emit(image_id))
        if not trash:
            split_menu = menu.addMenu(f"Set split of {len(ids):,} selected")
            split_menu.setEnabled(bool(ids))
            for text, split in SPLIT_BUTTONS:
                split_menu.addAction(text, lambda s=split: self.assign_selection(s))
            menu.addAction("Random split…", self.open_random_split)
        menu.addSeparator()
        self.image_actions.fill_menu(menu, trash)
        menu.addSeparator()
        menu.addAction("Select all", self.grid.selectAll)
        menu.exec(position)
        self.context_menu = None

    # ----- drag and drop -----
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.filesDropped.emit(paths)
