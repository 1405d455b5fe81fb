"""The Evaluate page on a tiny segment project with an untrained (decisive) model: metrics,
a confusion matrix whose cells list the right images, and a model of the wrong task."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, Qt

from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.data.shape_samples import make_shapes_dataset
from engine.export.decisive import make_decisive
from engine.nn import build_model
from studio.services.importers import import_dataset
from studio.services.runs import finish_run, start_run
from studio.ui.evaluate import EvaluatePage
from studio.workers import JobManager


def _model(path: Path, config: str, names: list[str]) -> Path:
    model = build_model(config, num_classes=len(names))
    model.names = dict(enumerate(names))
    make_decisive(model)
    return save_checkpoint(path, checkpoint_dict(model, train_args={"imgsz": 64}))


@pytest.fixture
def project(make_project, tmp_path):
    project = make_project("segment", classes=())
    import_dataset(project, make_shapes_dataset(tmp_path / "shapes", size=64, train=2, val=3))
    return project


@pytest.fixture
def page(qtbot, project):
    jobs = JobManager()
    page = EvaluatePage(project, jobs)
    qtbot.addWidget(page)
    page.resize(1100, 800)
    yield page
    page.close_page()
    jobs.wait_all()


def _run(page, qtbot) -> None:
    job = page.start()
    assert job is not None
    with qtbot.waitSignal(job.ended, timeout=60000):
        pass


def test_run_is_offered_and_evaluated(page, project, qtbot):
    folder = project.folder / "runs" / "train"
    names = [c.name for c in project.classes()]
    _model(folder / "weights" / "best.pt", "yolov8n-seg.yaml", names)
    run_id = start_run(project, name="train", folder=folder, model="yolov8n-seg.yaml",
                       settings={})
    finish_run(project, run_id, "completed")
    page.refresh()
    assert page.model.count() == 1 and page.model.currentData().endswith("best.pt")
    _run(page, qtbot)
    result = page.result
    assert result is not None, page.status.text()
    # metrics table: "all" and one row per class; box and mask columns
    assert page.table.rowCount() == len(names) + 1
    headers = [page.table.horizontalHeaderItem(i).text() for i in range(page.table.columnCount())]
    assert "Box mAP50-95" in headers and "Mask mAP50" in headers
    assert page.table.item(0, 0).text() == "all"
    # the confusion matrix has a background row/column and counts every pair
    assert result.confusion.shape == (len(names) + 1,) * 2
    assert result.confusion.sum() == sum(len(o.cells) for o in result.outcomes)
    assert len(page.confusion.texts) == (len(names) + 1) ** 2
    assert len(result.outcomes) == 3

    # a real click on a non-empty cell lists exactly the images counted in it
    rows, columns = result.confusion.nonzero()
    row, column = int(rows[0]), int(columns[0])
    view = page.confusion.plot
    scene_point = view.getViewBox().mapViewToScene(QPointF(column + 0.5, row + 0.5))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton,
                     pos=view.mapFromScene(scene_point))
    expected = sorted({o.image_id for o in result.outcomes if (row, column) in o.cells})
    assert sorted(page.strip.image_ids()) == expected
    assert expected

    # clicking a class row lists the images where the class is true or predicted
    page.table.cellClicked.emit(1, 0)
    expected = sorted(o.image_id for o in result.images_of_class(0))
    assert sorted(page.strip.image_ids()) == expected


def test_wrong_task_model_says_so(page, tmp_path, qtbot):
    path = _model(tmp_path / "classifier.pt", "yolov8n-cls.yaml", ["a", "b", "c", "d"])
    page.set_model(path)
    _run(page, qtbot)
    assert page.result is None
    assert "is a classify model" in page.status.text()
    assert "segment project" in page.status.text()
