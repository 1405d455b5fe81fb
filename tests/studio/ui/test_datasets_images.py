"""The Datasets page's image actions (issue 17, "Images"): the current image, the trash,
background images and tags, driven with real key and mouse events."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from studio.ui.datasets.page import DatasetsPage
from studio.workers.job import JobManager
from tests.studio.services.test_image_queries import SQUARE, add_images


@pytest.fixture
def open_page(qtbot):
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


def _project(make_project, tmp_path, count=6):
    project = make_project("segment", classes=("circle", "square"))
    add_images(project, tmp_path / "images", [
        {"name": f"img_{i:02d}.jpg", "split": "train" if i % 2 else "val",
         "labels": [(0, SQUARE)] if i < 3 else []} for i in range(count)])
    return project


def _click(qtbot, page, row, modifier=Qt.KeyboardModifier.NoModifier):
    rect = page.grid.visualRect(page.model.index(row))
    qtbot.mouseClick(page.grid.viewport(), Qt.MouseButton.LeftButton, modifier, rect.center())


def test_current_image_id_follows_the_clicked_thumbnail(qtbot, make_project, open_page,
                                                        tmp_path):
    page = open_page(_project(make_project, tmp_path))
    qtbot.waitUntil(lambda: page.model.rowCount() == 6)
    assert page.current_image_id() is None
    _click(qtbot, page, 2)
    assert page.current_image_id() == page.model.image_id(2)
    qtbot.keyClick(page.grid, Qt.Key.Key_Right)
    assert page.current_image_id() == page.model.image_id(3)
