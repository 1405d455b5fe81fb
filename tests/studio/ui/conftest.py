"""Fixtures of the studio's window tests."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from studio.ui import error_dialog
from studio.ui.main_window import MainWindow


@pytest.fixture
def window(qtbot):
    """The real main window; its jobs, project and error dialogs are closed after the test."""
    made = MainWindow()
    qtbot.addWidget(made)
    yield made
    made.jobs.cancel_all()
    made.jobs.wait_all()
    made.close_project()
    for box in error_dialog.open_error_dialogs():
        box.done(0)
    QApplication.instance().setProperty("studio_theme", None)
