"""Named weights download from a local server the test runs (never the internet)."""

from pathlib import Path

import pytest
import torch

from engine import YOLO, CheckpointError, WeightsDownloadError
from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.events import DownloadProgress
from engine.nn import build_model
from engine.weights import download_weights, is_official_name, resolve_weights
from tests.file_server import FileServer, by_file_name


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("src") / "w.pt"
    save_checkpoint(path, checkpoint_dict(build_model("yolov8n-cls.yaml", num_classes=3)))
    return path.read_bytes()


def test_official_names_are_recognised():
    assert is_official_name("yolov8n-seg.pt") and is_official_name("yolov8x-pose-p6.pt")
    assert not is_official_name("yolov8q-seg.pt") and not is_official_name("dir/yolov8n.pt")
    assert not is_official_name("best.pt")


def test_named_weights_download_once_into_cache(tmp_path, checkpoint_bytes, monkeypatch):
    events: list[DownloadProgress] = []
    with _server({"yolov8n-cls.pt": checkpoint_bytes}) as server:
        monkeypatch.setenv("YOLO_STUDIO_WEIGHTS_URL", server.url)
        path = resolve_weights("yolov8n-cls.pt", cache_dir=tmp_path, progress=events.append)
        again = resolve_weights("yolov8n-cls.pt", cache_dir=tmp_path)
    assert path == again == tmp_path / "yolov8n-cls.pt"
    assert path.read_bytes() == checkpoint_bytes
    assert server.requests == ["/releases/yolov8n-cls.pt"]  # the second call used the cache
    done = [e.done for e in events]
    assert done == sorted(done) and events[-1].finished and events[-1].done == len(checkpoint_bytes)
    assert all(e.total == len(checkpoint_bytes) for e in events)


def test_yolo_with_a_name_downloads_and_loads(tmp_path, checkpoint_bytes, monkeypatch):
    with _server({"yolov8n-cls.pt": checkpoint_bytes}) as server:
        monkeypatch.setenv("YOLO_STUDIO_WEIGHTS_URL", server.url)
        monkeypatch.setenv("YOLO_STUDIO_WEIGHTS_DIR", str(tmp_path))
        model = YOLO("yolov8n-cls.pt", progress=lambda event: None)
    assert model.task == "classify" and len(model.names) == 3


def test_incomplete_download_leaves_nothing(tmp_path, checkpoint_bytes):
    with _server({"yolov8n-seg.pt": checkpoint_bytes}) as server:
        server.behaviour = "truncate"
        with pytest.raises(WeightsDownloadError):
            resolve_weights("yolov8n-seg.pt", cache_dir=tmp_path, base_url=server.url, timeout=5)
    assert list(tmp_path.iterdir()) == []


def test_error_page_is_not_kept_as_weights(tmp_path):
    with _server({"yolov8n.pt": b"<html>rate limited</html>" * 100}) as server:
        with pytest.raises(WeightsDownloadError, match="not a PyTorch checkpoint"):
            download_weights(f"{server.url}/yolov8n.pt", tmp_path / "yolov8n.pt")
    assert list(tmp_path.iterdir()) == []


def test_tiny_body_fails_the_size_check(tmp_path):
    with _server({"yolov8n.pt": b"PK\x03\x04tiny"}) as server:
        with pytest.raises(WeightsDownloadError, match="too small"):
            download_weights(f"{server.url}/yolov8n.pt", tmp_path / "yolov8n.pt")


def test_offline_error_says_what_to_fetch_and_where_to_put_it(tmp_path):
    with _server({}) as server:  # answers 404 for everything
        with pytest.raises(WeightsDownloadError) as caught:
            resolve_weights("yolov8s-pose.pt", cache_dir=tmp_path, base_url=server.url)
    message = str(caught.value)
    assert f"{server.url}/yolov8s-pose.pt" in message
    assert str(tmp_path / "yolov8s-pose.pt") in message and "pass the file's path" in message


def test_unreachable_server_gives_the_same_advice(tmp_path):
    with pytest.raises(
        WeightsDownloadError, match=r"could not be downloaded from http://127\.0\.0\.1:9"
    ):
        resolve_weights("yolov8n-pose.pt", cache_dir=tmp_path, timeout=2)


def test_a_missing_local_file_is_not_downloaded(tmp_path):
    with pytest.raises(CheckpointError, match=r"best\.pt: no such file"):
        resolve_weights(tmp_path / "best.pt")


def test_download_progress_drives_a_terminal_bar(tmp_path, checkpoint_bytes, capsys):
    from engine.reporting import TerminalReporter

    with _server({"yolov8n-cls.pt": checkpoint_bytes}) as server:
        download_weights(
            f"{server.url}/yolov8n-cls.pt", tmp_path / "w.pt", progress=TerminalReporter()
        )
    assert "yolov8n-cls.pt" in capsys.readouterr().err
    assert torch.load(Path(tmp_path / "w.pt"), weights_only=True)["task"] == "classify"


def _server(files: dict[str, bytes]) -> FileServer:
    return FileServer(files, key=by_file_name, prefix="/releases")
