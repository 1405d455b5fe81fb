"""The Train page, offscreen with real widgets: a run started from the UI trains, plots and is
recorded; Stop is back within 2 s with last.pt kept and the run resumes; runs reload from the
database; bad input gives one clear message; the advanced panel refuses invalid values."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import update

from studio.services.runs import list_runs, run_epochs
from studio.state.models import Annotation, utc_now
from studio.ui.train import TrainPage
from studio.ui.train.plots import RingBuffer, smooth
from studio.workers import JobManager

WAIT_MS = 60_000


@pytest.fixture
def open_page(qtbot):
    jobs = JobManager()
    pages = []

    def open_(project) -> TrainPage:
        page = TrainPage(project, jobs)
        qtbot.addWidget(page)
        page.resize(1100, 750)
        page.show()
        pages.append(page)
        # the default starting weights may be the shipped ones, read off the GUI thread first
        qtbot.waitUntil(lambda: not page.form.model_source.listing(), timeout=WAIT_MS)
        return page

    yield open_
    for page in pages:
        page.close_page()
    jobs.wait_all()


def tiny(page: TrainPage, epochs: int) -> None:
    page.form.epochs.setValue(epochs)
    page.form.imgsz.setValue(32)
    page.form.batch.setValue(2)
    page.form.advanced.set_value("plots", False)
    page.form.advanced.set_value("workers", 0)


def test_ring_buffer_keeps_the_newest_rows_in_order():
    ring = RingBuffer(2, capacity=4)
    for i in range(6):
        ring.append([i, i * 10])
    assert len(ring) == 4 and ring.view()[:, 0].tolist() == [2, 3, 4, 5]
    assert np.allclose(smooth(np.array([1.0, 3.0, 5.0]), window=2), [1.0, 2.0, 4.0])


def test_a_run_started_from_the_page_trains_plots_and_reloads(qtbot, shapes_project,
                                                              open_page):
    page = open_page(shapes_project)
    tiny(page, 2)
    with qtbot.waitSignal(page.trainingEnded, timeout=WAIT_MS) as ended:
        qtbot.mouseClick(page.start_button, qtbot_button())
        assert page.jobs.running and not page.start_button.isEnabled()
    run_id, status, _message = ended.args
    assert status == "completed", page.log.toPlainText()
    assert page.plots.step_count > 0
    xs, ys = page.plots._items[f"epochs:{run_id}"][1].getData()  # the metric curve
    assert list(xs) == [1.0, 2.0]
    (run,) = list_runs(shapes_project)
    assert (run.status, run.epochs_done) == ("completed", 2) and run.best.is_file()
    assert len(run_epochs(shapes_project, run_id)) == 2
    page.grab().save(str(run.folder / "page.png"))

    again = open_page(shapes_project)  # a new page reads the run back from the database
    assert again.run_list.current_id() == run_id
    xs, _ys = again.plots._items[f"epochs:{run_id}"][0].getData()
    assert list(xs) == [1.0, 2.0]
    assert not again.resume_button.isEnabled()  # a completed run has nothing to resume


def qtbot_button():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


def test_stop_keeps_last_pt_and_resumes(qtbot, shapes_project, open_page):
    page = open_page(shapes_project)
    tiny(page, 60)
    page.start()
    qtbot.waitUntil(lambda: bool(page.live_run is not None and page.epochs.get(page.live_run)),
                    timeout=WAIT_MS)
    with qtbot.waitSignal(page.trainingEnded, timeout=WAIT_MS) as ended:
        qtbot.mouseClick(page.stop_button, qtbot_button())
    run_id, status, _ = ended.args
    assert status == "cancelled"
    (run,) = list_runs(shapes_project)
    assert run.status == "cancelled" and run.last.is_file()
    assert "Resume" in page.banner.text() and page.resume_button.isEnabled()
    done = run.epochs_done

    page.resume()
    qtbot.waitUntil(lambda: len(page.epochs.get(run_id, [])) > done, timeout=WAIT_MS)
    with qtbot.waitSignal(page.trainingEnded, timeout=WAIT_MS) as ended:
        page.stop()
    assert ended.args[:2] == [run_id, "cancelled"]
    (run,) = list_runs(shapes_project)
    assert run.epochs_done > done and [e for e, _m in run_epochs(shapes_project, run_id)] == \
        list(range(1, run.epochs_done + 1))


def test_no_labelled_images_says_so_before_a_run(qtbot, shapes_project, open_page):
    # Start is off and says why (issue 17); the service's own refusal of such a run is
    # tests/studio/services/test_training.py::test_no_labelled_images_fails_the_run_with_the_reason
    with shapes_project.database.session() as session:
        session.execute(update(Annotation).values(deleted_at=utc_now()))
    page = open_page(shapes_project)
    assert not page.start_button.isEnabled()
    assert "at least one image in the train split" in page.start_note.text()
    page.start()  # Ctrl+Enter's slot: no run, the reason in the banner
    assert not page.running and list_runs(shapes_project) == []
    assert page.banner.isVisible() and "train split" in page.banner.text()


def test_the_advanced_panel_rejects_an_invalid_value(qtbot, shapes_project, open_page):
    page = open_page(shapes_project)
    panel = page.form.advanced
    page.form.advanced_toggle.click()
    assert panel.isVisibleTo(page.form)
    assert page.start_button.isEnabled()
    panel.set_value("lr0", "-1")
    assert "greater than or equal to 0" in panel.errors["lr0"]
    assert panel.messages["lr0"].isVisibleTo(panel) and "d55e00" in panel.editors["lr0"].styleSheet()
    assert not page.start_button.isEnabled()
    panel.set_value("mosaic", "lots")
    assert "valid number" in panel.errors["mosaic"]
    panel.set_value("lr0", "0.02")
    panel.set_value("mosaic", "0.5")
    assert not panel.errors and page.start_button.isEnabled()
    assert panel.overrides() == {"lr0": 0.02, "mosaic": 0.5}
    assert "Allowed" in panel.editors["fliplr"].toolTip()
