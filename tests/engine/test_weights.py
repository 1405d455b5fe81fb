"""Named weights download from a local server the test runs (never the internet)."""

import hashlib
from pathlib import Path

import pytest
import torch

from engine import YOLO, CheckpointError, WeightsDownloadError
from engine.cancel import CancelToken
from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.errors import Cancelled
from engine.events import DownloadProgress
from engine.nn import build_model
from engine.weights import (
    KNOWN_SHA256,
    WeightsOfflineError,
    download_weights,
    is_official_name,
    resolve_weights,
)
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
    assert f"in the folder {tmp_path} (as yolov8s-pose.pt)" in message
    assert "pass the file's path" in message


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


# ----- issue 17: checksum, cancel, offline ---------------------------------------------------
def test_a_cancel_mid_download_leaves_nothing_in_the_weights_folder(tmp_path, checkpoint_bytes):
    body = checkpoint_bytes * 8  # several chunks, so the cancel lands between two of them
    token, seen = CancelToken(), []

    def cancel_after_first_chunk(event: DownloadProgress) -> None:
        seen.append(event.done)
        if event.done > 0:
            token.cancel()

    with _server({"yolov8n-seg.pt": body}) as server:
        with pytest.raises(Cancelled):
            resolve_weights("yolov8n-seg.pt", cache_dir=tmp_path, base_url=server.url,
                            progress=cancel_after_first_chunk, cancel=token)
    assert 0 < seen[-1] < len(body)  # it did stop midway
    assert list(tmp_path.iterdir()) == []  # no temp file, no partial weights


def test_a_known_checksum_is_verified_and_said_so(tmp_path, checkpoint_bytes, monkeypatch):
    monkeypatch.setitem(KNOWN_SHA256, "yolov8n-cls.pt", hashlib.sha256(checkpoint_bytes)
                        .hexdigest())
    events: list[DownloadProgress] = []
    with _server({"yolov8n-cls.pt": checkpoint_bytes}) as server:
        path = resolve_weights("yolov8n-cls.pt", cache_dir=tmp_path, base_url=server.url,
                               progress=events.append)
    assert path.read_bytes() == checkpoint_bytes
    assert events[-1].finished and events[-1].verified is True


def test_without_a_known_checksum_the_download_says_not_verified(tmp_path, checkpoint_bytes):
    assert "yolov8n-cls.pt" not in KNOWN_SHA256
    events: list[DownloadProgress] = []
    with _server({"yolov8n-cls.pt": checkpoint_bytes}) as server:
        resolve_weights("yolov8n-cls.pt", cache_dir=tmp_path, base_url=server.url,
                        progress=events.append)
    assert events[-1].finished and events[-1].verified is False
    assert all(e.verified is None for e in events[:-1])


def test_a_bad_checksum_keeps_nothing(tmp_path, checkpoint_bytes, monkeypatch):
    expected = hashlib.sha256(b"the official file").hexdigest()
    monkeypatch.setitem(KNOWN_SHA256, "yolov8n-seg.pt", expected)
    with _server({"yolov8n-seg.pt": checkpoint_bytes}) as server:
        with pytest.raises(WeightsDownloadError, match="SHA-256") as caught:
            resolve_weights("yolov8n-seg.pt", cache_dir=tmp_path, base_url=server.url)
    assert expected in str(caught.value) and "not kept" in str(caught.value)
    assert not isinstance(caught.value, WeightsOfflineError)
    assert list(tmp_path.iterdir()) == []


def test_connection_refused_names_the_file_the_url_and_the_folder(tmp_path):
    folder = tmp_path / "weights"
    with pytest.raises(WeightsOfflineError) as caught:
        resolve_weights("yolov8m-seg.pt", cache_dir=folder, base_url="http://127.0.0.1:9/x",
                        timeout=2)
    error = caught.value
    assert (error.file_name, error.url, error.folder) == (
        "yolov8m-seg.pt", "http://127.0.0.1:9/x/yolov8m-seg.pt", folder)
    message = str(error)
    assert message.startswith("yolov8m-seg.pt is not on this machine")
    assert "http://127.0.0.1:9/x/yolov8m-seg.pt" in message and str(folder) in message
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_failed_dns_lookup_gives_the_same_message(tmp_path):
    with pytest.raises(WeightsOfflineError, match=r"yolov8n-pose\.pt is not on this machine.*"
                       r"https://weights\.invalid/yolov8n-pose\.pt.*in the folder"):
        resolve_weights("yolov8n-pose.pt", cache_dir=tmp_path,
                        base_url="https://weights.invalid", timeout=2)
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_cannot_be_written_is_not_reported_as_offline(tmp_path, checkpoint_bytes):
    blocker = tmp_path / "not-a-folder"
    blocker.write_bytes(b"")  # the weights "folder" is a file: writing there fails
    with _server({"yolov8n-cls.pt": checkpoint_bytes}) as server:
        with pytest.raises(WeightsDownloadError, match="cannot be written") as caught:
            resolve_weights("yolov8n-cls.pt", cache_dir=blocker, base_url=server.url)
    assert not isinstance(caught.value, WeightsOfflineError)
