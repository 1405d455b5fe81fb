"""Errors reach the user as one dialog each: what happened, what was kept, what to do, with the
traceback folded away for bug reports. Never a storm: while one is open, later ones with the
same text are counted into it instead of opening more."""

from __future__ import annotations

import logging
import sys
import traceback
from types import TracebackType

from PySide6.QtWidgets import QMessageBox, QWidget

log = logging.getLogger(__name__)
_open: dict[str, QMessageBox] = {}


def show_error(parent: QWidget | None, title: str, message: str, details: str = "") -> None:
    """Show ``message`` (non-modal: the window stays usable); repeats of an open one are merged."""
    log.error("%s: %s", title, message)
    key = f"{title}\n{message}"
    if key in _open:
        box = _open[key]
        count = int(box.property("repeats") or 1) + 1
        box.setProperty("repeats", count)
        box.setInformativeText(f"(happened {count} times)")
        return
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok,
                      parent)
    if details:
        box.setDetailedText(details)
    box.setProperty("repeats", 1)
    box.finished.connect(lambda _result: _open.pop(key, None))
    _open[key] = box
    box.open()


def open_error_dialogs() -> list[QMessageBox]:
    """The error dialogs on screen now (tests)."""
    return list(_open.values())


def install_excepthook(parent_lookup) -> None:
    """Unexpected exceptions in Qt slots become an error dialog, not a console traceback.

    ``parent_lookup()`` gives the window to show it over (or None).
    """

    def hook(kind: type[BaseException], error: BaseException,
             trace: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, trace)
            return
        details = "".join(traceback.format_exception(kind, error, trace))
        show_error(parent_lookup(), "Something went wrong",
                   f"{error}\n\nYour project is saved as of your last edit. If this happens "
                   "again, please report it with the details below.", details)

    sys.excepthook = hook
