"""Data tests: named datasets live in a temp folder and downloads go to a closed local port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.file_server import FileServer, by_file_name

CLOSED_URL = "http://127.0.0.1:9/closed"


@pytest.fixture
def serve(monkeypatch) -> Iterator:
    """``serve(files)`` starts a server and points YOLO_STUDIO_DATASETS_URL at it."""
    servers: list[FileServer] = []

    def start(files: dict[str, bytes]) -> FileServer:
        server = FileServer(files, key=by_file_name, prefix="/releases").start()
        servers.append(server)
        monkeypatch.setenv("YOLO_STUDIO_DATASETS_URL", server.url)
        return server

    yield start
    for server in servers:
        server.stop()


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
