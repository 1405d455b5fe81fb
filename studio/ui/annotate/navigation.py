"""Finding images on the Annotate page: go-to by number or file name (Ctrl+G), the next image
that still needs labels (U), and the image list kept in step with the page's edits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt

from ...services.image_status import ImageStatus, image_statuses
from ..datasets.background import BackgroundCalls
from .document import ImageDocument

if TYPE_CHECKING:
    from .page import AnnotatePage


def find_image(query: str, statuses: Sequence[ImageStatus]) -> int | None:
    """The id of the image ``query`` names: a number is a position in the list (1 is the
    first); otherwise a file name, matched whole, then without its extension, then as the
    start of a name, then anywhere in it (case-insensitive; the first in list order wins)."""
    text = query.strip()
    if not text or not statuses:
        return None
    if text.isdigit():
        position = int(text)
        return statuses[position - 1].id if 1 <= position <= len(statuses) else None
    wanted = text.casefold()
    names = [(status.id, status.file_name.casefold()) for status in statuses]
    tests = (lambda name: name == wanted,
             lambda name: name.rsplit(".", 1)[0] == wanted,
             lambda name: name.startswith(wanted),
             lambda name: wanted in name)
    for matches in tests:
        found = next((image_id for image_id, name in names if matches(name)), None)
        if found is not None:
            return found
    return None


def next_needing_labels(statuses: Sequence[ImageStatus], current: int | None) -> int | None:
    """The first image after ``current`` (going round to the start) with no label and not
    marked background; None when every image has labels. ``current`` itself counts last."""
    if not statuses:
        return None
    ids = [status.id for status in statuses]
    start = ids.index(current) + 1 if current in ids else 0
    for offset in range(len(statuses)):
        status = statuses[(start + offset) % len(statuses)]
        if status.needs_labels:
            return status.id
    return None


class ImageNavigator(QObject):
    """Keeps the page's image list, file name, go-to and "next unlabelled" in step with the
    page: statuses come from the database (one query) and, for images edited in this session,
    from their documents, which may hold edits not written yet."""

    def __init__(self, page: AnnotatePage) -> None:
        super().__init__(page)
        self.page = page
        self.strip = page.strip
        # the statuses' query (about 25 ms for 10,000 images) runs off the GUI thread
        self.queries = BackgroundCalls("annotate-statuses", 1, self)
        self.strip.imageChosen.connect(self._open)
        self.strip.goToRequested.connect(self.go_to)
        self.strip.nextRequested.connect(self.next_unlabelled)
        self.strip.done.connect(self._back_to_canvas)
        self.loaded = 0

    @property
    def statuses(self) -> list[ImageStatus]:
        return self.strip.model.statuses

    def reload(self) -> None:
        """Read every image's status again, in the background; the strip shows them when
        they come (``loaded`` counts how many times)."""
        database = self.page.project.database
        self.queries.call(lambda: image_statuses(database), self._statuses_read,
                          self._read_failed)

    def close(self) -> None:
        self.queries.close(wait=True)

    def _statuses_read(self, statuses: list[ImageStatus]) -> None:
        live = {status.id: status for status in statuses}
        for image_id, document in self.page.cached_documents():  # edits not written yet
            if image_id in live:
                live[image_id] = with_document(live[image_id], document)
        self.strip.set_statuses([live[status.id] for status in statuses],
                                self.page.current_image_id)
        self.loaded += 1

    def _read_failed(self, message: str, _details: str) -> None:
        self.strip.summary.setText("Could not read the images' status")
        self.strip.summary.setToolTip(message)

    def document_changed(self, document: ImageDocument) -> None:
        """An edit (or Space) on ``document``: its row shows the new status at once."""
        status = self.strip.model.status(document.image.id)
        if status is not None:
            self.strip.update_status(with_document(status, document))

    def image_shown(self, image_id: int | None) -> None:
        self.strip.show_current(image_id)
        status = self.strip.model.status(image_id) if image_id is not None else None
        label = self.page.file_label
        document = self.page.document
        name = status.file_name if status else document.image.path.name if document else ""
        label.setText(name)
        label.setToolTip(str(document.image.path) if document is not None else "")

    def go_to(self, text: str) -> None:
        """Show the image ``text`` names (a number or a file name), or say none does."""
        image_id = find_image(text, self.statuses)
        if image_id is None:
            self.page.canvas.say(f"No image is number or named “{text.strip()}”: type a number "
                                 f"from 1 to {len(self.statuses):,} or part of a file name")
            return
        self.strip.go_to.clear()
        self._open(image_id)
        self._back_to_canvas()

    def next_unlabelled(self) -> None:
        """Show the next image with no label (not background), going round at the end."""
        page = self.page
        image_id = next_needing_labels(self.statuses, page.current_image_id)
        if image_id is None:
            page.canvas.say("Every image has labels or is marked background")
        elif image_id == page.current_image_id:
            page.canvas.say("This is the only image left without labels")
        else:
            self._open(image_id)
            page.canvas.say("Next unlabelled image")

    def _open(self, image_id: int) -> None:
        if image_id != self.page.current_image_id:
            self.page.show_image(image_id)
        self._back_to_canvas()

    def _back_to_canvas(self) -> None:
        self.page.canvas.setFocus(Qt.FocusReason.OtherFocusReason)


def with_document(status: ImageStatus, document: ImageDocument) -> ImageStatus:
    """``status`` with the counts of ``document``'s annotations as edited in memory."""
    drafts = sum(1 for annotation in document.annotations if annotation.draft)
    labels = len(document.annotations) - drafts
    return replace(status, labels=labels, drafts=drafts, reviewed=document.image.reviewed)
