"""A message banner above a page's content: info, warning or error, in the colours of the
theme applied, and again in the new theme's after a switch."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import QLabel, QWidget

from .theme import banner_sheet


class Banner(QLabel):
    """Hidden while it has no text; ``show_message(text, level)`` shows it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.level = "info"
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()

    def show_message(self, text: str, level: str = "info") -> None:
        """Show ``text`` as ``level`` ("info", "warning", "error"); an empty text hides it."""
        self.level = level
        self.setStyleSheet(banner_sheet(level))
        self.setText(text)
        self.setVisible(bool(text))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt's naming
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            sheet = banner_sheet(self.level)
            if sheet != self.styleSheet():  # setting it sends PaletteChange again
                self.setStyleSheet(sheet)
