"""Tools → Segment Anything Models…: the models folder, each pair's state, and downloads from a
local file server (tests/file_server.py) with progress, checks and nothing kept on failure."""

from __future__ import annotations

import hashlib
import http.server
import io
import threading
import time
import zipfile

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel

from engine.assist.sam_models import DownloadFile, SamDownload
from studio.ui import error_dialog
from studio.ui.sam_models_dialog import IN_USE, SamModelsDialog
from studio.workers.job import JobManager
from tests.engine.assist.sam_models import build_pair
from tests.file_server import FileServer, by_file_name

TIMEOUT = 20000


@pytest.fixture
def sam_dir(tmp_path, monkeypatch):
    folder = tmp_path / "sam-models"
    monkeypatch.setenv("YOLO_STUDIO_SAM_DIR", str(folder))
    return folder


def menu_action(window, text):
    for menu_action in window.menuBar().actions():
        for action in menu_action.menu().actions():
            if action.text() == text:
                return action
    raise AssertionError(f"no menu action {text!r}")


def states(dialog) -> dict[str, str]:
    tree = dialog.models
    return {tree.topLevelItem(i).text(0): tree.topLevelItem(i).text(1)
            for i in range(tree.topLevelItemCount())}


def tiny_catalogue(url: str) -> dict[str, SamDownload]:
    return {"tiny": SamDownload(
        "Tiny SAM", "sam1",
        DownloadFile(f"{url}/tiny.encoder.onnx", "tiny.encoder.onnx", min_bytes=100),
        DownloadFile(f"{url}/tiny.decoder.onnx", "tiny.decoder.onnx", min_bytes=100),
        megabytes=1)}


def test_the_menu_shows_the_folder_a_ready_pair_and_a_bad_files_message(qtbot, window,
                                                                       sam_dir):
    build_pair(sam_dir, "sam1", name="good")
    _encoder, decoder = build_pair(sam_dir / "broken", "sam2", name="bad")
    decoder.write_bytes(b"this is not ONNX")
    menu_action(window, "Segment Anything &Models…").trigger()
    dialog = window.findChild(SamModelsDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.path_edit.text() == str(sam_dir)
    qtbot.waitUntil(lambda: len(states(dialog)) == 2, timeout=TIMEOUT)
    found = states(dialog)
    assert found["good"] == IN_USE  # the only ready pair is the one the AI tool uses
    assert "bad.decoder.onnx" in found["broken/bad"] and "not an ONNX model" in found["broken/bad"]
    assert "Ready: good" in dialog.empty_label.text()
    text = " ".join(label.text() for label in dialog.findChildren(type(dialog.empty_label)))
    assert "Nothing is bundled" in text and "X-AnyLabeling" in text
    assert set(dialog.download_buttons) == {"mobile_sam", "sam2.1_hiera_tiny",
                                           "sam2.1_hiera_small"}
    # the menu again: the same dialog, not a second one
    menu_action(window, "Segment Anything &Models…").trigger()
    assert len(window.findChildren(SamModelsDialog)) == 1


def test_with_nothing_installed_it_says_what_to_do(qtbot, sam_dir):
    dialog = SamModelsDialog(JobManager())
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: "No model installed" in dialog.empty_label.text(), timeout=TIMEOUT)
    assert str(sam_dir) in dialog.empty_label.text()
    assert "Download a pair" in dialog.empty_label.text()


def test_download_fetches_the_pair_with_progress_and_lists_it_ready(qtbot, tmp_path, sam_dir):
    encoder, decoder = build_pair(tmp_path / "published", "sam1", name="tiny")
    files = {path.name: path.read_bytes() for path in (encoder, decoder)}
    with FileServer(files, key=by_file_name) as server:
        jobs = JobManager()
        dialog = SamModelsDialog(jobs, downloads=tiny_catalogue(server.url))
        qtbot.addWidget(dialog)
        dialog.show()
        seen = []
        qtbot.mouseClick(dialog.download_buttons["tiny"], Qt.MouseButton.LeftButton)
        assert dialog.job is not None and dialog.cancel_button.isVisible()
        assert not dialog.download_buttons["tiny"].isEnabled()
        dialog.job.progress.connect(seen.append)
        qtbot.waitUntil(lambda: states(dialog).get("tiny") == IN_USE, timeout=TIMEOUT)
    assert (sam_dir / "tiny.encoder.onnx").read_bytes() == files["tiny.encoder.onnx"]
    assert (sam_dir / "tiny.decoder.onnx").read_bytes() == files["tiny.decoder.onnx"]
    assert sorted(p.name for p in sam_dir.iterdir()) == ["tiny.decoder.onnx",
                                                         "tiny.encoder.onnx"]
    totals = {progress.total for progress in seen}
    assert len(files["tiny.decoder.onnx"]) in totals
    assert any(progress.done == progress.total for progress in seen)
    assert "installed" in dialog.download_status.text()
    assert "not verified: no checksum is published" in dialog.download_status.text()
    assert dialog.download_buttons["tiny"].isEnabled() and not dialog.progress.isVisible()


def test_a_zipped_pair_downloads_verified_and_says_so(qtbot, tmp_path, sam_dir):
    encoder, decoder = build_pair(tmp_path / "published", "sam1", name="tiny")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for path in (encoder, decoder):
            bundle.writestr(f"tiny_2023/{path.name}", path.read_bytes())
    archive = buffer.getvalue()
    with FileServer({"tiny.zip": archive}, key=by_file_name) as server:
        halves = [DownloadFile("", path.name, _sha(path.read_bytes())) for path in (encoder,
                                                                                  decoder)]
        zipped = DownloadFile(f"{server.url}/tiny.zip", "tiny.zip", _sha(archive),
                              min_bytes=100)
        catalogue = {"tiny": SamDownload("Tiny SAM", "sam1", *halves, 1, archive=zipped)}
        dialog = SamModelsDialog(JobManager(), downloads=catalogue)
        qtbot.addWidget(dialog)
        dialog.show()
        row = dialog.download_buttons["tiny"].parentWidget().findChildren(QLabel)
        assert any("SHA-256 checked" in label.text() for label in row)
        assert dialog.download_buttons["tiny"].toolTip().startswith(f"{server.url}/tiny.zip")
        qtbot.mouseClick(dialog.download_buttons["tiny"], Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: states(dialog).get("tiny") == IN_USE, timeout=TIMEOUT)
    assert "its SHA-256 matched the published one" in dialog.download_status.text()
    assert sorted(p.name for p in sam_dir.iterdir()) == ["tiny.decoder.onnx",
                                                         "tiny.encoder.onnx"]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_offline_download_names_the_file_and_where_to_get_it_and_keeps_nothing(qtbot,
                                                                             sam_dir):
    with FileServer({}) as server:
        url = server.url  # closed below: nothing answers there any more
    jobs = JobManager()
    failures = []
    jobs.failed.connect(lambda name, message, details: failures.append(message))
    dialog = SamModelsDialog(jobs, downloads=tiny_catalogue(url))
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.mouseClick(dialog.download_buttons["tiny"], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.job is None, timeout=TIMEOUT)
    status = dialog.download_status.text()
    assert status.startswith("tiny.encoder.onnx is not on this machine")
    assert ".download" not in status  # never the hidden name the download was staged under
    assert f"{url}/tiny.encoder.onnx" in status and str(sam_dir) in status
    assert failures and failures[0].startswith("tiny.encoder.onnx is not on this machine")
    assert not sam_dir.exists() or list(sam_dir.iterdir()) == []
    for box in error_dialog.open_error_dialogs():
        box.done(0)
    QApplication.processEvents()


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    """Announces 64 MB and sends it slowly: a download that is still running when cancelled."""

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(200)
        self.send_header("Content-Length", str(64 << 20))
        self.end_headers()
        try:
            for _ in range(400):
                self.wfile.write(b"\0" * (64 << 10))
                time.sleep(0.02)
        except OSError:  # the client hung up: it was cancelled
            pass

    def log_message(self, *args):
        pass


def test_cancel_stops_the_download_and_keeps_nothing(qtbot, sam_dir):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        dialog = SamModelsDialog(JobManager(), downloads=tiny_catalogue(
            f"http://127.0.0.1:{server.server_port}"))
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.mouseClick(dialog.download_buttons["tiny"], Qt.MouseButton.LeftButton)
        job = dialog.job
        qtbot.waitUntil(lambda: job.last_progress.done > 0, timeout=TIMEOUT)
        assert dialog.progress.isVisible() and "tiny.encoder.onnx" in \
            dialog.download_status.text()
        qtbot.mouseClick(dialog.cancel_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.job is None, timeout=TIMEOUT)
    finally:
        server.shutdown()
        server.server_close()
    assert "cancelled; nothing was kept" in dialog.download_status.text()
    assert list(sam_dir.iterdir()) == []
