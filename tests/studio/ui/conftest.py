"""Fixtures of the studio's window tests."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from engine.data.shape_samples import make_shapes_dataset
from studio.services.importers import import_dataset
from studio.ui import error_dialog
from studio.ui.datasets.page import DatasetsPage
from studio.ui.main_window import MainWindow
from studio.workers.job import JobManager


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


@pytest.fixture
def shapes_project(make_project, tmp_path):
    """A segment project holding 6 tiny generated shapes images (4 train, 2 val)."""
    source = make_shapes_dataset(tmp_path / "shapes", size=64, train=4, val=2)
    project = make_project("segment", classes=())
    import_dataset(project, source)
    return project


@pytest.fixture
def open_datasets_page(qtbot):
    """Opens a Datasets page on a project (alone, not in the window); closed after the test."""
    pages = []

    def make(project) -> DatasetsPage:
        jobs = JobManager()
        page = DatasetsPage(project, jobs)
        page.resize(1100, 700)
        qtbot.addWidget(page)
        page.show()
        pages.append((page, jobs))
        return page

    yield make
    for page, jobs in pages:
        jobs.wait_all()
        page.close_page()
