"""Undo commands: each holds whole before/after values, so undo restores exact geometry."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtGui import QUndoCommand

from ...services.annotations import AnnotationData
from .document import ImageDocument


class AddInstance(QUndoCommand):
    """Add an instance (or bring a deleted one back) at ``index`` (the end when None)."""

    def __init__(self, document: ImageDocument, annotation: AnnotationData,
                 index: int | None = None, text: str = "Add instance") -> None:
        super().__init__(text)
        self.document, self.annotation = document, annotation
        self.index = len(document.annotations) if index is None else index

    def redo(self) -> None:
        self.document.insert(self.index, self.annotation)

    def undo(self) -> None:
        self.document.remove(self.annotation.key)


class RemoveInstance(QUndoCommand):
    """Delete an instance (it goes to the trash when autosaved)."""

    def __init__(self, document: ImageDocument, key: str, text: str = "Delete instance") -> None:
        super().__init__(text)
        self.document = document
        self.index = document.index_of(key)
        self.annotation = document.annotations[self.index]

    def redo(self) -> None:
        self.document.remove(self.annotation.key)

    def undo(self) -> None:
        self.document.insert(self.index, self.annotation)


class EditInstance(QUndoCommand):
    """Replace an instance's values (geometry, class, visibility) by ``after``. Editing a
    model's draft accepts it (the draft flag is cleared; undo brings the draft back)."""

    def __init__(self, document: ImageDocument, before: AnnotationData, after: AnnotationData,
                 text: str = "Edit instance") -> None:
        super().__init__(text)
        if before.key != after.key:
            raise ValueError("an edit keeps the instance's key")
        if before.draft and after.draft and after != before:
            after = replace(after, draft=False)
        self.document, self.before, self.after = document, before, after

    def redo(self) -> None:
        self.document.replace(self.after)

    def undo(self) -> None:
        self.document.replace(self.before)


class PageUndo:
    """The Annotate page's hooks for the main window's Edit menu (mixed into the page, which
    has ``canvas`` and ``undo_stack``); the page's own actions carry the keys."""

    def _drawing(self) -> bool:
        return bool(getattr(self.canvas.tool, "drawing", False))

    def undo_text(self) -> str | None:
        """What Edit → Undo would take back ("" when the edit has no name; None: nothing)."""
        if self._drawing():
            return "the last vertex"
        stack = self.undo_stack
        return stack.undoText() if stack is not None and stack.canUndo() else None

    def redo_text(self) -> str | None:
        stack = self.undo_stack
        if self._drawing() or stack is None or not stack.canRedo():
            return None
        return stack.redoText()

    def undo(self) -> None:
        """As Ctrl+Z on the canvas: while drawing a polygon, its last vertex goes."""
        if self._drawing():
            self.canvas.tool.remove_last_vertex()
        elif self.undo_stack is not None:
            self.undo_stack.undo()

    def redo(self) -> None:
        if not self._drawing() and self.undo_stack is not None:
            self.undo_stack.redo()
