"""The main window's keyboard: the keys it binds for the whole window, every binding a menu
shortcut brings, and which view of a page gets the keyboard when the page is shown."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QGraphicsView, QWidget

GLOBAL_SHORTCUTS = (
    ("Window", "Ctrl+N", "New project"),
    ("Window", "Ctrl+O", "Open project"),
    ("Window", "Ctrl+I", "Import a dataset"),
    ("Window", "Ctrl+Shift+E", "Export the dataset as YOLO"),
    ("Window", "Alt+1 … Alt+6", "Go to a page (Datasets … Export)"),
    ("Window", "F1", "This list"),
    ("Window", "F11", "Full screen"),
    ("Window", "Ctrl+Q", "Quit"),
)


def key_target(page: QWidget) -> QWidget | None:
    """The page's main view to give the keyboard to: its first visible canvas, list or
    table. Not a text field, button or combo box, where letters would be typed, Space would
    press a button, or type-ahead would change a choice."""
    widget = page.nextInFocusChain()
    for _ in range(2000):  # the chain is the window's: stop when it leaves the page
        if widget is page or widget is None:
            break
        if (page.isAncestorOf(widget) and widget.isVisible() and widget.isEnabled()
                and isinstance(widget, (QAbstractItemView, QGraphicsView))
                and widget.focusPolicy() & Qt.FocusPolicy.TabFocus):
            return widget
        widget = widget.nextInFocusChain()
    return None


def key_sequences(shortcut) -> list[QKeySequence]:
    """Every key sequence of ``shortcut`` (see ``MainWindow._action``), without repeats."""
    found: list[QKeySequence] = []
    for key in shortcut if isinstance(shortcut, tuple) else (shortcut,):
        if isinstance(key, QKeySequence.StandardKey):
            sequences = QKeySequence.keyBindings(key)
        else:
            sequences = [QKeySequence(key)]
        found += [seq for seq in sequences if not seq.isEmpty() and seq not in found]
    return found
