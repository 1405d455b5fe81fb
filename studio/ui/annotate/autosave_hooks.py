"""The Annotate page's side of autosave: each edit goes to the ``AutosaveWriter`` thread, and
the page's "Saving… / Saved / Not saved — retrying" mark follows what the thread reports.
Mixed into ``AnnotatePage``, which holds ``writer``, ``saved_label``, the documents and the
``saved`` / ``saveFailed`` signals."""

from __future__ import annotations

from .document import ImageDocument


class PageAutosave:
    """Autosave hooks of ``AnnotatePage`` (see the module's docstring)."""

    def _submit(self, document: ImageDocument) -> None:
        self.writer.submit(document.image.id, document.annotations, document.known_ids)
        self.navigator.document_changed(document)
        if not self._failing:
            self._set_saved_text("Saving…", "")

    def _on_saved(self, image_id: int, assigned: dict[str, int]) -> None:
        self.edited_images.add(image_id)
        if image_id in self._documents:
            self._documents[image_id][0].learn_ids(assigned)
        if self._failing:
            self._failing = False
        if not self.writer.busy:
            self._set_saved_text("Saved", "")
            self.saved.emit()
        if image_id == self.current_image_id:
            self._show_trash()

    def take_edited_images(self) -> set[int]:
        """The images whose labels were saved since the last call (for pages that show them)."""
        edited, self.edited_images = self.edited_images, set()
        return edited

    def _on_failed(self, image_id: int, message: str) -> None:
        self._set_saved_text("Not saved — retrying", "color: #c62828; font-weight: bold;")
        self.saved_label.setToolTip(f"{message}\nYour edits are kept and saved again.")
        if not self._failing:
            self._failing = True
            self.saveFailed.emit(message)

    def _set_saved_text(self, text: str, style: str) -> None:
        self.saved_label.setText(text)
        self.saved_label.setStyleSheet(style)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every edit is in the database (before closing, in tests)."""
        return self.writer.flush(timeout)

    def shutdown(self) -> bool:
        """Write what is pending and stop the autosave thread (before the project closes)."""
        return self.writer.close()
