"""Reviewing a model's drafts on the Annotate page: accept (Enter), reject (Delete), and the
"Review drafts (most unsure first)" mode that walks the pre-label queue with D / A.

Enter accepts the selected draft and selects the image's next one; with none selected it
accepts the image's drafts. When the image has none left, the review goes on to the next
image of the queue (its first draft selected), and after the last one says all are reviewed.
Editing a draft accepts it too (``EditInstance`` clears the flag). Drafts are drawn dashed
with a faint fill and a "draft" tag; an accepted one is drawn as a normal label.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QToolButton

from ...services.prelabel import review_queue
from .commands import EditInstance, RemoveInstance

if TYPE_CHECKING:
    from .page import AnnotatePage

ACCEPT_KEYS = ("Return", "Enter")
REJECT_KEYS = ("Delete", "Backspace")


class DraftReview(QObject):
    """The page's draft actions and review queue. ``order()`` is the navigation order."""

    def __init__(self, page: AnnotatePage) -> None:
        super().__init__(page)
        self.page = page
        self.active = False
        self.queue: list[int] = []
        self.finished_on: int | None = None  # the image where the last draft was accepted
        self.button = QToolButton(text="Review drafts", checkable=True)
        self.button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.button.setToolTip("Walk the images with a model's drafts, the ones the model was "
                               "least sure of first (D / A). Enter accepts, Delete rejects.")
        self.button.toggled.connect(self.set_active)
        toolbar = page.toolbar
        toolbar.insertWidget(toolbar.indexOf(page.advance_box) + 1, self.button)
        self.accept_action = self._action(ACCEPT_KEYS, "Accept the selected draft and select "
                                          "the next (none selected: every draft of the image); "
                                          "reviewing: then the next image", self.accept)
        if page.task == "classify":  # other tasks: the tools' Delete removes the selection
            self._action(REJECT_KEYS, "Reject the image's draft class", self.reject)

    def _action(self, keys: tuple[str, ...], text: str, slot) -> QAction:
        return self.page.add_shortcut(keys, text, slot)

    def shortcuts(self) -> list[tuple[str, str]]:
        """Rows for the cheat sheet beyond the actions (Delete on a selected draft)."""
        return [("Delete", "Reject the selected draft"), ("Edit a draft", "Accepts it")]

    # -- accept / reject ------------------------------------------------------------------------
    def accept(self) -> int:
        """Accept the selected draft, or every draft of the image; then on to the next draft
        (or, reviewing, the next image). Returns how many were accepted."""
        page = self.page
        document = page.document
        if document is None:
            return 0
        selected = page.canvas.selected()
        one = selected is not None and selected.draft
        drafts = [selected] if one else [a for a in document.annotations if a.draft]
        if not drafts and not self.active:
            return 0  # nothing to accept: Enter leaves the page as it was
        self._macro("Accept draft", [EditInstance(document, a, replace(a, draft=False),
                                                  "Accept draft") for a in drafts])
        done = f"Accepted {plural(len(drafts), 'draft')}" if drafts else "No drafts left here"
        left = [a for a in document.annotations if a.draft]
        if left:
            after = document.index_of(selected.key) if one else -1
            following = next((a for a in left if document.index_of(a.key) > after), left[0])
            page.canvas.select(following.key)
            page.canvas.say(f"{done}; {plural(len(left), 'draft')} left on this image "
                            "(Enter accepts, Delete rejects)")
        elif self.active:
            self.next_in_queue(done)
        else:
            page.canvas.say(f"{done}; this image has no drafts left")
        return len(drafts)

    def next_in_queue(self, done: str) -> None:
        """Show the queue's next image with its first draft selected, or say it is over."""
        page, queue = self.page, self.queue
        current = page.current_image_id
        index = queue.index(current) + 1 if current in queue else 0
        if index >= len(queue):
            self.finished_on = current
            page.update_position()
            page.canvas.say(f"{done}. All drafts reviewed ({plural(len(queue), 'image')})")
            return
        page.show_image(queue[index])
        first = next((a for a in page.document.annotations if a.draft), None)
        if first is not None:
            page.canvas.select(first.key)
        page.canvas.say(f"{done}; draft review {index + 1} / {len(queue)}")

    def reject(self) -> int:
        """Delete the image's draft class labels (classify); returns how many."""
        document = self.page.document
        if document is None:
            return 0
        drafts = [a for a in document.annotations if a.draft and a.kind == "class"]
        for annotation in drafts:
            self._macro("Reject draft", [RemoveInstance(document, annotation.key,
                                                        "Reject draft")])
        return len(drafts)

    def _macro(self, text: str, commands: list) -> None:
        self.page.canvas.push_macro(text, commands)

    # -- the review queue -----------------------------------------------------------------------
    def set_active(self, active: bool) -> None:
        """Turn the review mode on (the queue is read again) or off."""
        if self.button.isChecked() != active:
            self.button.setChecked(active)  # comes back here through toggled
            return
        was_active, self.active = self.active, active
        self.finished_on = None
        if active:
            self.page.writer.flush()
            self.queue = review_queue(self.page.project)
            if not self.queue:
                self.button.setChecked(False)
                self.page.position_label.setText("No drafts to review")
                return
            if not was_active or self.page.current_image_id not in self.queue:
                self.page.show_image(self.queue[0])
        self.page.update_position()

    def order(self) -> list[int]:
        """The images D / A walk: the review queue while reviewing, else every image."""
        return self.queue if self.active else self.page.image_ids

    def position_text(self) -> str | None:
        """"Draft review 2 / 9" while reviewing an image of the queue; "All drafts reviewed"
        once the last one is done."""
        current = self.page.current_image_id
        if self.active and current is not None and current == self.finished_on:
            return "All drafts reviewed"
        if self.active and current in self.queue:
            return f"Draft review {self.queue.index(current) + 1} / {len(self.queue)}"
        return None


def plural(count: int, noun: str) -> str:
    """"1 draft", "3 drafts"."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
