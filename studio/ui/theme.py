"""Light and dark themes: Qt's Fusion style with a palette of each (``system`` follows the
desktop's colour scheme)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

THEMES = ("system", "light", "dark")

_DARK = {
    QPalette.ColorRole.Window: "#202225", QPalette.ColorRole.WindowText: "#e8e8e8",
    QPalette.ColorRole.Base: "#17181a", QPalette.ColorRole.AlternateBase: "#26282c",
    QPalette.ColorRole.ToolTipBase: "#2c2f33", QPalette.ColorRole.ToolTipText: "#e8e8e8",
    QPalette.ColorRole.Text: "#e8e8e8", QPalette.ColorRole.Button: "#2c2f33",
    QPalette.ColorRole.ButtonText: "#e8e8e8", QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Highlight: "#3d7bd9", QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#6ea8ff", QPalette.ColorRole.PlaceholderText: "#8a8d93",
}
_LIGHT = {
    QPalette.ColorRole.Window: "#f3f3f4", QPalette.ColorRole.WindowText: "#1d1d1f",
    QPalette.ColorRole.Base: "#ffffff", QPalette.ColorRole.AlternateBase: "#f0f0f2",
    QPalette.ColorRole.ToolTipBase: "#ffffe8", QPalette.ColorRole.ToolTipText: "#1d1d1f",
    QPalette.ColorRole.Text: "#1d1d1f", QPalette.ColorRole.Button: "#e9e9eb",
    QPalette.ColorRole.ButtonText: "#1d1d1f", QPalette.ColorRole.BrightText: "#c62828",
    QPalette.ColorRole.Highlight: "#2f6fd0", QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#1f5fbf", QPalette.ColorRole.PlaceholderText: "#8a8d93",
}


def resolved_theme(theme: str) -> str:
    """``light`` or ``dark`` (``system`` asks the desktop)."""
    if theme in ("light", "dark"):
        return theme
    hints = QGuiApplication.styleHints()
    return "dark" if hints.colorScheme() == Qt.ColorScheme.Dark else "light"


def apply_theme(app: QApplication, theme: str) -> str:
    """Apply ``theme`` to the whole application; returns the one applied."""
    name = resolved_theme(theme)
    app.setStyle("Fusion")
    palette = QPalette()
    for role, colour in (_DARK if name == "dark" else _LIGHT).items():
        palette.setColor(role, QColor(colour))
    disabled = QColor("#6b6e73" if name == "dark" else "#a0a0a4")
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText,
                 QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    app.setPalette(palette)
    app.setProperty("studio_theme", name)
    return name
