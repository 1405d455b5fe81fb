"""View ▸ Theme switched while a project is open: every label's text takes the new palette,
also text that a style sheet styled (the Annotate page's bold file name) or once styled (the
saved indicator, whose sheet is set and cleared)."""

from __future__ import annotations

from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QLabel

from tests.studio.ui.annotate_helpers import annotate_in_window, project_folder


def _theme_action(window, title):
    view = next(a.menu() for a in window.menuBar().actions() if a.text() == "&View")
    themes = next(a.menu() for a in view.actions() if a.text() == "&Theme")
    return next(a for a in themes.actions() if a.text() == title)


def _dim_labels(page) -> list[tuple[str, str]]:
    """Visible labels without a colour of their own whose text is not light."""
    labels = [label for label in page.findChildren(QLabel)
              if label.isVisible() and "color" not in label.styleSheet()]
    return [(label.text(), label.palette().color(QPalette.ColorRole.WindowText).name())
            for label in labels
            if label.palette().color(QPalette.ColorRole.WindowText).lightness() < 150]


def test_switching_to_dark_makes_every_label_s_text_light(qtbot, window, tmp_path):
    window.set_theme("light")
    page = annotate_in_window(qtbot, window, project_folder(tmp_path, images=1))
    assert page.file_label.palette().color(QPalette.ColorRole.WindowText).lightness() < 100
    assert page.file_label.styleSheet()  # styled: the case that kept its dark text
    _theme_action(window, "Dark").trigger()
    assert _dim_labels(page) == []
    _theme_action(window, "Light").trigger()
    assert page.file_label.palette().color(QPalette.ColorRole.WindowText).lightness() < 100
