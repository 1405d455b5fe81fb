"""The main window's size across page changes (Qt's layouts would let it grow past the
screen)."""

from __future__ import annotations

from PySide6.QtCore import QSize
from PySide6.QtWidgets import QMainWindow


def keep_size(window: QMainWindow, before: QSize) -> None:
    """After a page change, no larger than ``before`` where the new page fits: the dock's new
    panel could be laid out against the last page's width (Annotate, then Predict's wider
    panel: 1312 wide at 1280, past the screen)."""
    if not window.isVisible():  # laid out when shown (activating now would fix its minimum)
        return
    window.layout().activate()
    needed = window.minimumSizeHint()
    width = max(before.width(), needed.width())
    height = max(before.height(), needed.height())
    if window.width() > width or window.height() > height:
        window.resize(min(window.width(), width), min(window.height(), height))
