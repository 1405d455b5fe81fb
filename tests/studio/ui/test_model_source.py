"""The Train page's starting-weights choice (issue 17), on the real main window with real clicks
and keys: pretrained by default, official weights downloaded from a local server with progress
and Cancel, the offline message with "Choose file…", and a wrong-task or corrupt file refused with
one message naming it. The widget stands in the Train page's settings form, where
settings_form.py puts it."""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog

from engine.data.shape_samples import SHAPE_NAMES, make_shapes_dataset
from engine.weights import KNOWN_SHA256, weights_cache_dir
from studio.services.importers import import_dataset
from studio.services.projects import create_project
from studio.services.starting_weights import remembered_choice, remembered_files
from studio.ui import error_dialog
from studio.ui.main_window import PAGES
from studio.ui.train.model_source import ModelSource
from tests.file_server import FileServer, by_file_name
from tests.studio.services.test_starting_weights import PROVENANCE, write_checkpoint

WAIT_MS = 30_000


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("model-source")
    (folder / "bundled").mkdir()
    return {
        "bundled": folder / "bundled",
        "demo": write_checkpoint(folder / "bundled" / "demo-segment.pt", "yolov8n-seg.yaml",
                                 SHAPE_NAMES, provenance=PROVENANCE),
        "mine": write_checkpoint(folder / "mine.pt", "yolov8n-seg.yaml", ["a", "b"]),
        "pose": write_checkpoint(folder / "figures.pt", "yolov8n-pose.yaml", ["person"]),
    }


@pytest.fixture
def shapes_folder(tmp_path) -> Path:
    folder = tmp_path / "shapes-project"
    project = create_project(folder, name="Shapes", task="segment", classes=list(SHAPE_NAMES))
    try:
        import_dataset(project, make_shapes_dataset(tmp_path / "shapes", size=64, train=3, val=2),
                       "yolo-segment")
    finally:
        project.close()
    return folder


def on_train_page(window, qtbot, folder: Path, bundled: Path) -> ModelSource:
    """Open ``folder`` in the window, click Train on the rail, and put a ModelSource at the top
    of the page's settings form (the dock), as settings_form.py will."""
    window.resize(1280, 720)
    window.show()
    window.open_folder(folder)
    qtbot.waitUntil(lambda: window.project is not None, timeout=WAIT_MS)
    item = window.rail.item(PAGES.index("Train"))
    QTest.mouseClick(window.rail.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, window.rail.visualItemRect(item).center())
    form = window.pages["Train"].form
    source = ModelSource(window.project, form, jobs=window.jobs, bundled_folder=bundled)
    form.form.insertRow(0, "Start from", source)
    qtbot.waitUntil(lambda: not source.listing(), timeout=WAIT_MS)
    qtbot.waitUntil(source.isVisible, timeout=WAIT_MS)
    return source


def click(widget) -> None:
    assert widget.isVisible() and widget.isEnabled(), widget
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton)
    QApplication.processEvents()


def pick_official(qtbot, source: ModelSource) -> None:
    """Up-arrow through the combo to the official entry (headers are skipped)."""
    source.combo.setFocus()
    for _ in range(source.combo.count()):
        if source.current() is not None and source.current().kind == "official":
            return
        qtbot.keyClick(source.combo, Qt.Key.Key_Up)
    assert source.current().kind == "official"


def test_demo_weights_are_the_default_and_official_ones_download_with_progress(
        window, qtbot, shapes_folder, weights, monkeypatch, tmp_path):
    window.set_theme("dark")
    source = on_train_page(window, qtbot, shapes_folder, weights["bundled"])
    assert source.current().kind == "bundled"  # made for these very classes
    assert source.model() == str(weights["demo"]) and source.error() == ""
    assert "2000 generated images of shapes" in source.note.text()
    assert "whole model is reused" in source.note.text()
    labels = [source.combo.itemText(i) for i in range(source.combo.count())]
    assert labels[:2] == ["Official YOLOv8 weights", "yolov8n-seg.pt · official, COCO · "
                          "not downloaded"]

    pick_official(qtbot, source)
    assert source.model() is None and "click Download" in source.error()
    assert "new head for this project's 4 classes" in source.note.text()
    assert source.download_button.isVisible()
    assert remembered_choice(window.project) == ""  # not usable yet: nothing stored
    window.grab().save(str(tmp_path / "model_source_download.png"))

    body = weights["mine"].read_bytes()
    with FileServer({"yolov8n-seg.pt": body}, key=by_file_name, prefix="/rel") as server:
        monkeypatch.setenv("YOLO_STUDIO_WEIGHTS_URL", server.url)
        names: list[str] = []
        window.jobs.changed.connect(lambda: names.extend(j.name for j in window.jobs.jobs))
        click(source.download_button)
        assert "Downloading yolov8n-seg.pt" in names  # the jobs indicator shows it
        qtbot.waitUntil(lambda: source.download_job is None, timeout=WAIT_MS)
    cached = weights_cache_dir() / "yolov8n-seg.pt"
    assert cached.read_bytes() == body
    assert source.current().kind == "official" and source.model() == str(cached)
    assert source.error() == "" and not source.download_row.isVisible()
    assert "not verified" in source.status.text() and source.status.isVisible()
    assert remembered_choice(window.project) == str(cached)
    window.grab().save(str(tmp_path / "model_source_downloaded.png"))


def test_offline_says_what_to_fetch_and_where_and_choose_file_checks_the_file(
        window, qtbot, shapes_folder, weights, monkeypatch, tmp_path):
    window.set_theme("dark")
    source = on_train_page(window, qtbot, shapes_folder, tmp_path / "no-bundled-weights")
    assert source.current().kind == "scratch"  # nothing pretrained on disk yet
    pick_official(qtbot, source)
    monkeypatch.setenv("YOLO_STUDIO_WEIGHTS_URL", "http://127.0.0.1:9/releases")
    click(source.download_button)
    qtbot.waitUntil(lambda: source.download_job is None, timeout=WAIT_MS)
    message = source.message.text()
    assert message == (
        "yolov8n-seg.pt could not be downloaded: this computer cannot reach "
        "http://127.0.0.1:9/releases/yolov8n-seg.pt. Download it on a computer with internet "
        f"access and put it in {weights_cache_dir()}, or choose the file here.")
    assert source.model() is None and source.error() == (
        "yolov8n-seg.pt could not be downloaded; choose the file or other weights")
    assert source.message_choose.isVisible() and not source.choose_button.isVisible()
    assert source.download_button.isVisible() and source.download_button.text() == "Try again"
    assert not (weights_cache_dir() / "yolov8n-seg.pt").exists()
    window.grab().save(str(tmp_path / "model_source_offline.png"))

    asked: list[tuple] = []
    answers = iter([str(weights["pose"]), str(weights["mine"]), ""])
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda *a, **k: asked.append(a) or (next(answers), ""))
    click(source.message_choose)  # the button beside the offline message
    assert asked[0][2] == str(shapes_folder)  # the dialog starts in the project folder
    qtbot.waitUntil(lambda: source.checking is None, timeout=WAIT_MS)
    assert source.message.text() == ("figures.pt: is a pose model, but this project trains "
                                     "segment models. Choose a segment checkpoint")
    assert source.error() == source.message.text() and source.message.isVisible()
    assert not source.message_choose.isVisible()

    click(source.choose_button)
    qtbot.waitUntil(lambda: source.checking is None, timeout=WAIT_MS)
    assert source.error() == "" and not source.message.isVisible()
    assert source.current().kind == "file" and source.model() == str(weights["mine"])
    assert "classes differ" in source.note.text()
    assert remembered_files(window.project) == [weights["mine"]]
    click(source.choose_button)  # next time the dialog starts where the last file was
    assert asked[2][2] == str(weights["mine"].parent)
    assert source.model() == str(weights["mine"])  # a cancelled dialog changes nothing


def test_a_corrupt_file_is_refused_with_its_name_and_nothing_crashes(
        window, qtbot, shapes_folder, weights, monkeypatch, tmp_path):
    source = on_train_page(window, qtbot, shapes_folder, weights["bundled"])
    broken = tmp_path / "half.pt"
    broken.write_bytes(weights["mine"].read_bytes()[:150_000])
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(broken), ""))
    click(source.choose_button)
    qtbot.waitUntil(lambda: source.checking is None, timeout=WAIT_MS)
    assert source.error().startswith("half.pt: is not a PyTorch checkpoint")
    assert source.message.isVisible() and source.current().kind == "bundled"
    assert remembered_files(window.project) == []

    qtbot.keyClick(source.combo, Qt.Key.Key_Down)  # picking again clears the refusal
    assert source.error() == "" and not source.message.isVisible()


def test_a_cancelled_download_leaves_nothing_in_the_weights_folder(
        window, qtbot, shapes_folder, weights, monkeypatch, tmp_path):
    window.set_theme("dark")
    source = on_train_page(window, qtbot, shapes_folder, weights["bundled"])
    pick_official(qtbot, source)
    with SlowServer(weights["mine"].read_bytes()) as server:
        monkeypatch.setenv("YOLO_STUDIO_WEIGHTS_URL", server.url)
        click(source.download_button)
        qtbot.waitUntil(lambda: source.progress.value() > 0, timeout=WAIT_MS)
        assert source.cancel_button.isVisible() and not source.download_button.isVisible()
        assert "MB" in source.progress.text()
        window.grab().save(str(tmp_path / "model_source_progress.png"))
        click(source.cancel_button)
        qtbot.waitUntil(lambda: source.download_job is None, timeout=WAIT_MS)
    assert source.status.text() == "Download cancelled; nothing was kept."
    assert list(weights_cache_dir().iterdir()) == []  # no temp file, no partial weights
    assert source.model() is None and source.download_button.isVisible()


def test_the_scale_changes_the_official_and_new_model_entries(
        window, qtbot, shapes_folder, weights):
    source = on_train_page(window, qtbot, shapes_folder, weights["bundled"])
    pick_official(qtbot, source)
    seen: list[str] = []
    source.changed.connect(lambda: seen.append(source.current().label))
    source.set_scale("m")
    assert source.current().label == "yolov8m-seg.pt · official, COCO · not downloaded"
    assert seen and seen[-1] == source.current().label
    qtbot.keyClick(source.combo, Qt.Key.Key_End)
    assert source.model() == "yolov8m-seg.yaml"
    source.set_scale("x")
    assert source.model() == "yolov8x-seg.yaml"


def test_the_choice_is_ready_at_once_unless_shipped_weights_are_being_read(
        window, qtbot, shapes_folder, weights, tmp_path):
    source = on_train_page(window, qtbot, shapes_folder, tmp_path / "nothing-shipped")
    form = window.pages["Train"].form
    plain = ModelSource(window.project, form, jobs=window.jobs,
                        bundled_folder=tmp_path / "nothing-shipped")
    assert not plain.listing() and plain.error() == "" and plain.model() == "yolov8n-seg.yaml"
    shipped = ModelSource(window.project, form, jobs=window.jobs,
                          bundled_folder=weights["bundled"])
    assert shipped.listing() and shipped.error() == "looking for starting weights…"
    assert shipped.combo.itemText(shipped.combo.count() - 1) == "Looking for more weights…"
    qtbot.waitUntil(lambda: not shipped.listing(), timeout=WAIT_MS)
    assert shipped.current().kind == "bundled" and shipped.error() == ""
    assert source.current().kind == "scratch"


def test_a_wrong_checksum_shows_beside_the_choice_without_a_dialog(
        window, qtbot, shapes_folder, weights, monkeypatch):
    source = on_train_page(window, qtbot, shapes_folder, weights["bundled"])
    pick_official(qtbot, source)
    monkeypatch.setitem(KNOWN_SHA256, "yolov8n-seg.pt", hashlib.sha256(b"official").hexdigest())
    with FileServer({"yolov8n-seg.pt": weights["mine"].read_bytes()}, key=by_file_name) as server:
        monkeypatch.setenv("YOLO_STUDIO_WEIGHTS_URL", server.url)
        click(source.download_button)
        qtbot.waitUntil(lambda: source.download_job is None, timeout=WAIT_MS)
    assert "SHA-256" in source.message.text() and source.message.isVisible()
    assert source.message_choose.isVisible() and source.model() is None
    assert error_dialog.open_error_dialogs() == []  # one message, not a dialog as well
    assert list(weights_cache_dir().iterdir()) == []


class SlowServer:
    """Serves one file in 16 KiB pieces, 40 ms apart (a slow line), on 127.0.0.1."""

    def __init__(self, body: bytes) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for start in range(0, len(body), 16384):
                        self.wfile.write(body[start:start + 16384])
                        self.wfile.flush()
                        time.sleep(0.04)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client cancelled

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/rel"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> SlowServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
