"""What the main window asks of a page: the one contract between ``MainWindow`` and the pages
of the rail (Datasets, Annotate, Train, Evaluate, Predict, Export).

A page is ``class XPage(Page, QWidget)`` (after its own mixins, before ``QWidget``). It must
say what it does when the project's data changes (``refresh``), when the project closes
(``close_page``) and which keys it has (``shortcuts``); the rest has a default that a page
overrides when it has that part: a side panel for the dock, classes to reload, edits to take
back, images to open in Annotate. The window calls these and nothing else, so a page never
has to be probed for what it offers.

Signals in the studio are named in Qt's camelCase (``imagesChanged``, ``openImage``), as Qt's
own are (``currentRowChanged``), so a connect reads the same whichever side it comes from.
"""

from __future__ import annotations

from PySide6.QtCore import SignalInstance
from PySide6.QtWidgets import QWidget


class Page:
    """The main window's side of a page (see the module docstring)."""

    context_title: str = ""
    """The right-hand dock's title while the page's ``context_widget`` is in it ("" says the
    page's name)."""
    undoable: tuple[str, ...] = ()
    """Which of ``"undo"`` and ``"redo"`` the page's edits offer: the Edit menu then says
    "nothing to undo" rather than "nothing to undo on this page"."""

    # -- required --------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Read again what the page shows from the project: after an import, a change of the
        images elsewhere, or (for the pages that offer models) a finished training run."""
        raise NotImplementedError(f"{type(self).__name__} must say how it refreshes")

    def close_page(self) -> None:
        """The project closes: stop the page's jobs and timers and keep its edits."""
        raise NotImplementedError(f"{type(self).__name__} must say how it closes")

    def shortcuts(self) -> list[tuple[str, str]]:
        """``(key, what it does)`` rows for the F1 list."""
        raise NotImplementedError(f"{type(self).__name__} must list its keys")

    # -- optional: what a page has when it has it -----------------------------------------------
    def context_widget(self) -> QWidget | None:
        """The page's side panel, which the window moves into its right-hand dock (None: the
        dock hides while the page shows)."""
        return None

    def reload_project_classes(self) -> None:
        """The project's classes changed (an import, the class editor): show the new ones."""

    def open_image_requests(self) -> SignalInstance | None:
        """The page's signal ``(image_id)`` asking to open an image on the Annotate page."""
        return None

    def undo_text(self) -> str | None:
        """What Edit ▸ Undo would take back ("" when the edit has no name; None: nothing)."""
        return None

    def redo_text(self) -> str | None:
        """What Edit ▸ Redo would bring back (None: nothing)."""
        return None

    def undo(self) -> None:
        """Take back the page's last edit (the Edit menu calls it when ``undo_text`` is set)."""

    def redo(self) -> None:
        """Bring back the page's last undone edit."""
