"""Data tests: named datasets live in a temp folder and downloads go to a closed local port."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

CLOSED_URL = "http://127.0.0.1:9/closed"


class FileServer:
    """Serves ``files`` (name -> bytes) on 127.0.0.1 under ``/releases``; 404 for the rest."""

    def __init__(self, files: dict[str, bytes]):
        self.files, self.requests = files, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's naming
                server.requests.append(self.path)
                body = server.files.get(self.path.rsplit("/", 1)[-1])
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/releases"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )


@pytest.fixture
def serve(monkeypatch) -> Iterator:
    """``serve(files)`` starts a server and points YOLO_STUDIO_DATASETS_URL at it."""
    servers: list[FileServer] = []

    def start(files: dict[str, bytes]) -> FileServer:
        server = FileServer(files)
        server.thread.start()
        servers.append(server)
        monkeypatch.setenv("YOLO_STUDIO_DATASETS_URL", server.url)
        return server

    yield start
    for server in servers:
        server.httpd.shutdown()
        server.httpd.server_close()


def noise(height: int = 16, width: int = 16, channels: int = 3, seed: int = 0) -> np.ndarray:
    shape = (height, width) if channels == 1 else (height, width, channels)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def write_jpeg(path: Path, seed: int = 0, size: int = 16) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), noise(size, size, seed=seed))
    return path


def write_pil(path: Path, image: Image.Image, **params) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **params)
    return path


def make_classify_folder(
    root: Path, classes=("cat", "dog"), splits=("train", "val"), per_class: int = 2
) -> Path:
    """``root/{split}/{class}/{i}.jpg`` with tiny noise JPEGs."""
    for split in splits:
        for name in classes:
            for i in range(per_class):
                write_jpeg(root / split / name / f"{i}.jpg", seed=i)
    return root
