"""Issue 21, int8 that pays: the Export page's results say what an int8 export costs in
accuracy (its key metric on the project's val split against the PyTorch model's) beside its
speed, and "not measured" for an fp32 export; the figures are recorded and shown again."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from engine.tasks import get_task
from studio.services.importers import import_dataset
from studio.services.projects import create_project
from studio.ui.export import ExportPage
from studio.ui.export.page import RESULT_COLUMNS
from studio.workers import JobManager
from tests.studio.ui.test_export_page import add_classify_run

COLOURS = {"red": (40, 40, 220), "green": (40, 200, 40), "blue": (220, 60, 40)}  # BGR
ACCURACY = RESULT_COLUMNS.index("Accuracy vs fp32")


@pytest.fixture
def project(tmp_path):
    """A classify project of coloured discs (6 train, 6 val images a class) and a 32 px run.
    Enough val images that one decision int8 rounds the other way does not fail its gate
    (with 2 a class, one flip of three clear decisions did, on a busy machine)."""
    rng = np.random.default_rng(0)
    data = tmp_path / "colours"
    for split, count in (("train", 6), ("val", 6)):
        for name, colour in COLOURS.items():
            (data / split / name).mkdir(parents=True)
            for index in range(count):
                image = rng.integers(30, 130, (32, 32, 3), dtype=np.uint8)
                cv2.circle(image, (16, 16), 9, colour, -1)
                cv2.imwrite(str(data / split / name / f"{name}_{index}.png"), image)
    project = create_project(tmp_path / "project", name="Colours", task="classify", classes=[])
    import_dataset(project, data)
    add_classify_run(project, [info.name for info in project.classes()])
    yield project
    project.close()


def tick(box) -> None:
    """A real click on a check box's indicator (its middle can lie past a short label)."""
    QTest.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))


def test_int8_row_shows_its_accuracy_cost_beside_the_speed(qtbot, project):
    jobs = JobManager()
    page = ExportPage(project, jobs)
    qtbot.addWidget(page)
    page.resize(1400, 800)
    page.show()
    for name in ("openvino", "onnx"):
        tick(page.checks[name])
    int8 = page.options["openvino"].editors["int8"]
    tick(int8)
    assert int8.isChecked() and page.selected_formats() == ["onnx", "openvino"]
    QTest.mouseClick(page.export_button, Qt.MouseButton.LeftButton)
    assert page.job is not None
    with qtbot.waitSignal(page.job.ended, timeout=240_000):
        pass
    rows = {page.results.item(r, 0).text(): r for r in range(page.results.rowCount())}
    header = page.results.horizontalHeaderItem(ACCURACY).text()
    assert header == "Accuracy vs fp32"
    outcome = page.outcomes["openvino"]
    assert outcome.status == "passed", outcome.message
    assert outcome.metric is not None and outcome.metric_fp32 is not None
    assert 0 <= outcome.metric <= 1 and 0 <= outcome.metric_fp32 <= 1
    cell = page.results.item(rows["OpenVINO"], ACCURACY).text()
    change = outcome.metric - outcome.metric_fp32
    assert cell == (f"{get_task('classify').metric_label} {outcome.metric:.3f} "
                    f"(fp32 {outcome.metric_fp32:.3f}, {change:+.3f})")
    assert "val split" in page.results.item(rows["OpenVINO"], ACCURACY).toolTip()
    # the latency is beside it, and an fp32 export says it was not scored
    assert page.results.item(rows["OpenVINO"], ACCURACY - 1).text().endswith(" ms")
    assert page.results.item(rows["ONNX"], ACCURACY).text() == "not measured"
    # recorded: a new page on the same project shows the figures again
    again = ExportPage(project, jobs)
    qtbot.addWidget(again)
    recorded = {again.results.item(r, 0).text(): r for r in range(again.results.rowCount())}
    assert again.results.item(recorded["OpenVINO"], ACCURACY).text() == cell
    page.close_page()
    jobs.wait_all()
    assert Path(outcome.path).is_dir()
