"""The Export page in the desktop bundle: an exporter left out of the download says so, and how
to get it (pip, or a bundle built with it where that works), instead of a pip command for a Python the user may
not have. The page is the real one; only ``sys.frozen`` is set, as PyInstaller sets it."""

from __future__ import annotations

import sys

import pytest

from studio.services.model_export import FormatInfo
from studio.ui.export import ExportPage
from studio.ui.export.options import availability_text, unavailable_text
from studio.workers import JobManager
from tests.studio.ui.test_export_page import add_classify_run


@pytest.fixture
def bundle_page(qtbot, make_project, monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    project = make_project("classify", classes=("cat", "dog"))
    add_classify_run(project, ["cat", "dog"])
    jobs = JobManager()
    page = ExportPage(project, jobs)
    qtbot.addWidget(page)
    yield page
    page.close_page()
    jobs.wait_all()


def test_a_left_out_exporter_says_how_to_add_it_in_the_bundle(bundle_page):
    tensorrt = next(i for i in bundle_page.formats if i.format == "engine")
    if tensorrt.available:
        pytest.skip("cannot run here: TensorRT and an NVIDIA GPU are installed, so no exporter "
                    "row is left out to carry the message")
    row = [i.format for i in bundle_page.formats].index("engine")
    note = bundle_page.format_table.item(row, 2).text()
    assert note == (
        "Not in this download: the TensorRT exporter is left out of the bundle to keep it small. "
        "To export to TensorRT, install YOLO Studio with Python (pip install "
        "'yolo-studio[studio,tensorrt]', then run yolo-studio)")
    assert bundle_page.checks["engine"].toolTip() == note
    assert not bundle_page.checks["engine"].isEnabled()
    assert bundle_page.checks["onnx"].isEnabled()  # in every bundle


def test_the_left_out_size_is_named_and_python_keeps_the_pip_reason():
    info = FormatInfo("openvino", "OpenVINO", "_openvino_model", (), available=False,
                      reason="OpenVINO export needs openvino nncf, which is not installed "
                             "(pip install 'yolo-studio[openvino]')")
    assert unavailable_text(info, bundle=True).startswith(
        "Not in this download: the OpenVINO exporter (about 190 MB) is left out")
    assert "YOLO_BUNDLE_EXPORTERS=openvino make bundle" in unavailable_text(info, bundle=True)
    assert availability_text(info) == f"Unavailable: {info.reason}"  # not frozen here
    paddle = FormatInfo("paddle", "PaddlePaddle", "_paddle_model", (), available=False)
    assert unavailable_text(paddle, bundle=True).endswith(
        "install YOLO Studio with Python (pip install 'yolo-studio[studio,paddle]', then run "
        "yolo-studio)")  # a bundle built with it cannot load Paddle models: not offered
