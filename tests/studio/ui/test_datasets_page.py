"""The Datasets page with real widgets, offscreen, on tiny generated projects."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from sqlalchemy import insert

from studio.services.image_queries import UNASSIGNED
from studio.state.models import Image
from studio.ui.datasets.split_dialog import RandomSplitDialog
from studio.ui.datasets.thumbnail_model import PAGE_SIZE
from tests.studio.services.test_image_queries import SQUARE, add_images


def _segment_project(make_project, tmp_path, count=12):
    project = make_project("segment", classes=("circle", "square"))
    add_images(project, tmp_path / "images", [
        {"name": f"{'cat' if i % 2 else 'dog'}_{i:02d}.jpg",
         "split": ("train", "val", None)[i % 3],
         "labels": [(i % 2, SQUARE)] if i % 4 else [],
         "problem": "is not an image" if i == 5 else None} for i in range(count)])
    return project


def test_empty_state_shows_and_its_button_asks_for_an_import(qtbot, make_project, open_datasets_page):
    page = open_datasets_page(make_project("segment"))
    qtbot.waitUntil(lambda: page.stack.currentWidget() is page.empty_state)
    assert page.import_button.isVisible()
    with qtbot.waitSignal(page.importRequested, timeout=1000):
        qtbot.mouseClick(page.import_button, Qt.MouseButton.LeftButton)


def test_dropping_folders_emits_their_paths(qtbot, make_project, open_datasets_page, tmp_path):
    page = open_datasets_page(make_project("segment"))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(page.filesDropped, timeout=1000) as blocker:
        page.dropEvent(event)
    assert blocker.args == [[str(tmp_path)]]


def test_thumbnails_arrive_and_double_click_opens_the_image(qtbot, make_project, open_datasets_page,
                                                            tmp_path):
    project = _segment_project(make_project, tmp_path)
    page = open_datasets_page(project)
    qtbot.waitUntil(lambda: page.model.rowCount() == 12)
    qtbot.waitUntil(lambda: page.model.cached_thumbnail_count() >= 10, timeout=10_000)
    assert list((project.cache_folder / "thumbnails").rglob("*.jpg"))  # kept on disk
    qtbot.waitUntil(lambda: page.stats is not None)
    assert page.stats.images == 12 and page.count_label.text() == "12 images"
    index = page.model.index(1)
    rect = page.grid.visualRect(index)
    qtbot.mouseClick(page.grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    with qtbot.waitSignal(page.openImage, timeout=1000) as blocker:
        qtbot.mouseDClick(page.grid.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == [page.model.image_id(1)]
    qtbot.waitUntil(lambda: page.preview.view.pixmap is not None)  # the large preview
    assert page.preview.image_id == page.model.image_id(1)


def test_filters_change_the_grid(qtbot, make_project, open_datasets_page, tmp_path):
    page = open_datasets_page(_segment_project(make_project, tmp_path))
    qtbot.waitUntil(lambda: page.model.rowCount() == 12)
    bar = page.filter_bar
    bar.split.setCurrentIndex(bar.split.findData("train"))
    qtbot.waitUntil(lambda: page.model.rowCount() == 4)
    bar.split.setCurrentIndex(bar.split.findData(UNASSIGNED))
    bar.classes.setCurrentIndex(bar.classes.findData(1))
    qtbot.waitUntil(lambda: page.model.rowCount() == 2)  # cat_05 and cat_11
    bar.reset()
    qtbot.waitUntil(lambda: page.model.rowCount() == 12)
    bar.issues.setChecked(True)
    qtbot.waitUntil(lambda: page.model.rowCount() == 1)
    bar.issues.setChecked(False)
    bar.search.setText("dog_1")
    qtbot.waitUntil(lambda: page.model.rowCount() == 1)  # after the typing pause
    bar.search.setText("no such file")
    qtbot.waitUntil(lambda: page.grid_stack.currentWidget() is page.no_match)
    assert "0 of 12" in page.count_label.text()


def test_selection_is_assigned_to_a_split(qtbot, make_project, open_datasets_page, tmp_path):
    page = open_datasets_page(_segment_project(make_project, tmp_path))
    qtbot.waitUntil(lambda: page.model.rowCount() == 12 and page.stats is not None)
    assert not page.split_buttons["test"].isEnabled()
    selection = page.grid.selectionModel()
    for row in (0, 1, 2):
        selection.select(page.model.index(row), selection.SelectionFlag.Select)
    assert page.selected_image_ids() == [page.model.image_id(r) for r in (0, 1, 2)]
    assert page.split_buttons["test"].isEnabled()
    qtbot.mouseClick(page.split_buttons["test"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: page.stats.splits["test"] == 3, timeout=5000)
    assert page.stats.splits["train"] == 3  # one of the four train images moved


def test_random_split_dialog(qtbot, make_project, open_datasets_page, tmp_path, monkeypatch):
    page = open_datasets_page(_segment_project(make_project, tmp_path))
    qtbot.waitUntil(lambda: page.stats is not None)
    dialog = RandomSplitDialog({"all": 12, "unassigned": 4, "selection": 0})
    qtbot.addWidget(dialog)
    assert dialog.scope() == "all" and "train 10, val 1, test 1" in dialog.outcome.text()
    dialog.train.setValue(0)
    dialog.val.setValue(0)
    dialog.test.setValue(0)
    assert not dialog.buttons.buttons()[0].isEnabled() or "at least" in dialog.outcome.text()

    def accept(self):
        self.train.setValue(50)
        self.val.setValue(50)
        self.test.setValue(0)
        self.seed.setValue(3)
        return RandomSplitDialog.DialogCode.Accepted

    monkeypatch.setattr(RandomSplitDialog, "exec", accept)
    page.open_random_split()
    qtbot.waitUntil(lambda: page.stats.splits == {"train": 6, "val": 6, "test": 0,
                                                  UNASSIGNED: 0}, timeout=5000)


def test_the_model_loads_rows_a_page_at_a_time(qtbot, make_project, open_datasets_page):
    project = make_project("segment")
    with project.database.session() as session:
        session.execute(insert(Image), [{"path": f"/nowhere/{i:04d}.jpg", "width": 64,
                                         "height": 64, "file_hash": ""} for i in range(2000)])
    page = open_datasets_page(project)
    page.resize(600, 400)
    qtbot.waitUntil(lambda: page.model.rowCount() == 2000)
    model = page.model
    # every page the view asked for has arrived: no time bound, just what was asked
    qtbot.waitUntil(lambda: bool(model.requested_pages()) and model.loaded_row_count()
                    == PAGE_SIZE * len(model.requested_pages()))
    assert len(model.requested_pages()) <= 2  # only the visible page(s)
    page.grid.scrollToBottom()
    qtbot.waitUntil(lambda: page.model.loaded_row(page.model.image_id(1999)) is not None)
    assert page.model.loaded_row_count() < 2000
