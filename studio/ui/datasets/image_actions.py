"""What the Datasets page does to whole images: move to the trash and restore, empty the trash
for good (after a confirmation), mark as background (no objects) and edit tags.

The actions live on the grid with ``Qt.WidgetShortcut``: Delete, B, T and Ctrl+Z act only
while the grid has the keyboard, so they never fire on another page or while typing in the
filter bar. Every edit runs on the page's query thread (after any query already asked), then
the page reloads what it shows. The last trash, restore or background edit can be undone
(Ctrl+Z, or Edit ▸ Undo); emptying the trash cannot, which is why it asks first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu, QMessageBox

from ...services.image_edits import (
    BackgroundChange,
    EmptiedTrash,
    add_tags,
    empty_trash,
    remove_tags,
    restore_images,
    set_background,
    tags_of,
    trash_images,
)
from ...services.wording import plural
from .tag_dialog import TagDialog

if TYPE_CHECKING:
    from .page import DatasetsPage

TRASH_KEYS = ("Delete", "Backspace")
BACKGROUND_KEY = "B"
TAGS_KEY = "T"
UNDO_KEY = "Ctrl+Z"


def _plural(count: int, word: str = "image") -> str:
    return f"{count:,} {word}{'s' if count != 1 else ''}"


@dataclass(frozen=True)
class Undo:
    """How to take back the last edit: ``text`` for the Edit menu ("Move to Trash"), ``work``
    the inverse edit, ``message`` what the page says after it."""

    text: str
    work: Callable[[], Any]
    message: Callable[[Any], str]
    images_changed: bool = False


class ImageActions(QObject):
    """The page's image actions (``QAction``s on its grid) and what they do."""

    def __init__(self, page: DatasetsPage) -> None:
        super().__init__(page)
        self.page = page
        self.confirm_box: QMessageBox | None = None  # the open "empty the trash?" question
        self.tag_dialog: TagDialog | None = None  # the open tag editor
        self.last_undo: Undo | None = None
        grid = page.grid
        self.trash = self._action("Move to trash", TRASH_KEYS, self.trash_selection,
                                  "Move the selected images to the trash (restorable): they "
                                  "leave training, statistics and the Annotate page")
        self.restore = self._action("Restore", (), self.restore_selection,
                                    "Bring the selected images back from the trash")
        self.empty = self._action("Empty trash…", (), self.empty_trash,
                                  "Delete the images in the trash for good")
        self.background = self._action(
            "Mark as background (no objects)", (BACKGROUND_KEY,), lambda: self.mark(True),
            "The selected images hold no objects: training uses them as negatives")
        self.not_background = self._action("Unmark background", (), lambda: self.mark(False),
                                           "Take the background mark off the selected images")
        self.tags = self._action("Tags…", (TAGS_KEY,), self.edit_tags,
                                 "Add or remove tags on the selected images")
        self.undo_action = self._action("Undo", (UNDO_KEY,), self.undo,
                                        "Take back the last trash, restore or background edit")
        for action in (self.trash, self.background, self.tags, self.undo_action):
            grid.addAction(action)
        self._show_undo()
        if page.project.task == "classify":  # an image's class says what it is: no "empty"
            self.background.setVisible(False)
            self.not_background.setVisible(False)

    def _action(self, text: str, keys: tuple[str, ...], slot: Callable[[], Any],
                tip: str) -> QAction:
        action = QAction(text, self)
        action.setShortcuts([QKeySequence(key) for key in keys])
        action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        action.setToolTip(tip)
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        return action

    # ----- state -----
    def update_enabled(self, selected: int, in_trash: bool) -> None:
        """Enable what fits ``selected`` images in the normal view or the trash."""
        for action in (self.trash, self.background, self.not_background, self.tags):
            action.setEnabled(selected > 0 and not in_trash)
        self.restore.setEnabled(selected > 0 and in_trash)
        stats = self.page.stats
        self.empty.setEnabled(in_trash and (stats is None or stats.trash > 0))

    def fill_menu(self, menu: QMenu, in_trash: bool) -> None:
        """Add the actions that fit the view to ``menu``."""
        actions = ((self.restore, self.empty) if in_trash else
                   (self.background, self.not_background, self.tags, self.trash))
        for action in actions:
            if action.isVisible():
                menu.addAction(action)

    def shortcuts(self) -> list[tuple[str, str]]:
        """``(key, what it does)`` for the F1 list."""
        rows = [("Delete / Backspace", "Move the selected images to the trash")]
        if self.background.isVisible():
            rows.append((BACKGROUND_KEY, "Mark the selected images as background (no objects)"))
        rows.append((TAGS_KEY, "Tag the selected images"))
        rows.append((UNDO_KEY, "Undo the last trash, restore or background edit"))
        return rows

    # ----- undo -----
    def undo_text(self) -> str | None:
        """What Undo would take back ("Move to Trash"), or None when there is nothing."""
        return self.last_undo.text if self.last_undo is not None else None

    def undo(self) -> None:
        """Take back the last trash, restore or background edit (one step)."""
        entry, self.last_undo = self.last_undo, None
        self._show_undo()
        if entry is not None:
            self._run(entry.work, entry.message, images=entry.images_changed)

    def _show_undo(self) -> None:
        text = self.undo_text()
        self.undo_action.setEnabled(text is not None)
        self.undo_action.setText(f"Undo {text}" if text else "Undo")

    def _remember(self, undo: Undo | None) -> None:
        self.last_undo = undo
        self._show_undo()

    # ----- the trash -----
    def trash_selection(self) -> None:
        """Move the selected images to the trash (no question: they can be restored)."""
        ids = self.page.selected_image_ids()
        if not ids or self.page.in_trash():
            return
        database = self.page.project.database
        self._run(lambda: trash_images(database, ids), lambda moved: (
            f"{_plural(len(moved))} moved to the trash (Ctrl+Z takes it back; Trash restores "
            "them later)"), images=True,
            undo=lambda moved: Undo("Move to Trash", lambda: restore_images(database, moved),
                                    lambda back: f"{_plural(len(back))} back from the trash",
                                    images_changed=True))

    def restore_selection(self) -> None:
        """Bring the selected images back from the trash."""
        ids = self.page.selected_image_ids()
        if not ids:
            return
        database = self.page.project.database
        self._run(lambda: restore_images(database, ids),
                  lambda restored: f"{_plural(len(restored))} restored", images=True,
                  undo=lambda restored: Undo(
                      "Restore", lambda: trash_images(database, restored),
                      lambda moved: f"{_plural(len(moved))} back in the trash",
                      images_changed=True))

    def empty_trash(self) -> None:
        """Ask once, then delete every image in the trash for good."""
        count = self.page.stats.trash if self.page.stats is not None else 0
        if count == 0:
            return
        box = QMessageBox(QMessageBox.Icon.Warning, "Empty the trash?",
                          "Delete the image in the trash for good?" if count == 1 else
                          f"Delete the {count:,} images in the trash for good?",
                          QMessageBox.StandardButton.Cancel, self.page)
        box.setInformativeText(
            "Their labels and tags are deleted with them, and image files that were copied "
            "into the project are removed. Your own image files elsewhere are not touched. "
            "This cannot be undone.")
        delete = box.addButton("Delete for good", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        self.confirm_box = box
        box.exec()
        self.confirm_box = None
        if box.clickedButton() is not delete:
            return
        project = self.page.project
        self._run(lambda: empty_trash(project), self._emptied_text, images=True, undo=None)

    @staticmethod
    def _emptied_text(result: EmptiedTrash) -> str:
        text = f"{_plural(result.images)} deleted for good"
        if result.files_removed:
            text += f" ({_plural(result.files_removed, 'copied file')} removed)"
        if result.problems:
            text += f"; {plural(len(result.problems), 'file')} could not be removed: " + "; ".join(
                f"{p['path']} {p['reason']}" for p in result.problems[:2])
        return text

    # ----- background and tags -----
    def mark(self, background: bool) -> None:
        """Mark the selected images as background, or take the mark off."""
        ids = self.page.selected_image_ids()
        if not ids or self.page.in_trash():
            return
        database = self.page.project.database
        text = "Mark as Background" if background else "Unmark Background"
        self._run(lambda: set_background(database, ids, background),
                  lambda change: self._marked_text(change, background),
                  undo=lambda change: Undo(
                      text, lambda: set_background(database, change.changed, not background),
                      lambda back: f"{text} undone on {_plural(len(back.changed))}"))

    @staticmethod
    def _marked_text(change: BackgroundChange, background: bool) -> str:
        if not background:
            return f"{_plural(len(change.changed))} no longer marked as background"
        text = f"{_plural(len(change.changed))} marked as background (no objects)"
        if change.with_labels:
            text += (f"; {_plural(change.with_labels)} with labels left as they are (delete "
                     "their labels first if they really hold no objects)")
        return text

    def edit_tags(self) -> None:
        """Open the tag editor for the selection; apply what it says."""
        ids = self.page.selected_image_ids()
        if not ids or self.page.in_trash():
            return
        database = self.page.project.database
        self.page.queries.call(lambda: tags_of(database, ids),
                               lambda current: self._ask_tags(ids, current),
                               self.page.edit_failed)

    def _ask_tags(self, ids: list[int], current: dict[str, int]) -> None:
        database = self.page.project.database
        dialog = TagDialog(current, len(ids), self.page.known_tags(), self.page)
        self.tag_dialog = dialog
        accepted = dialog.exec() == TagDialog.DialogCode.Accepted
        self.tag_dialog = None
        if not accepted:
            return
        add, remove = dialog.changes()
        if not add and not remove:
            return

        def work() -> tuple[int, int]:
            return add_tags(database, ids, add), remove_tags(database, ids, remove)

        self._run(work, lambda counts: f"tags updated on {_plural(len(ids))}", undo=None)

    # ----- running -----
    def _run(self, work: Callable[[], Any], message: Callable[[Any], str], *,
             images: bool = False,
             undo: Callable[[Any], Undo] | None | bool = False) -> None:
        """``work`` on the query thread; then the page says ``message(result)`` and reloads
        (``images``: the set of usable images changed, so other pages hear of it). ``undo``
        makes the undo entry from the result; None forgets the last one (the edit cannot be
        taken back, and an older entry would undo something else than the user expects);
        False (an undo itself) leaves it as it is."""
        page = self.page

        def done(result: Any) -> None:
            if undo is None:
                self._remember(None)
            elif callable(undo):
                self._remember(undo(result))
            page.after_edit(message(result), images)

        page.queries.call(work, done, page.edit_failed)
