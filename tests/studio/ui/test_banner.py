"""The message banner: readable in both themes, and recoloured by a theme switch."""

from __future__ import annotations

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication

from studio.ui.banner import Banner
from studio.ui.theme import apply_theme


def _colours(banner) -> tuple[QColor, QColor]:
    sheet = dict(part.strip().split(": ") for part in banner.styleSheet().split(";") if part.strip())
    return QColor(sheet["color"]), QColor(sheet["background"])


def test_the_banner_is_light_on_dark_in_the_dark_theme_and_follows_a_switch(qtbot):
    app = QApplication.instance()
    apply_theme(app, "light")
    banner = Banner()
    qtbot.addWidget(banner)
    banner.show_message("Training completed.", "info")
    text, ground = _colours(banner)
    assert text.lightness() < ground.lightness()  # dark on pale
    apply_theme(app, "dark")
    text, ground = _colours(banner)
    assert text.lightness() > ground.lightness() and ground.lightness() < 80  # light on deep
    banner.show_message("", "info")
    assert banner.isHidden()
    apply_theme(app, "light")
