"""Prediction test helpers: tiny images and videos written to tmp_path, a local http server,
and fake captures that stand in for a webcam."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.file_server import FileServer


def noise(h: int = 24, w: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def write_png(path: Path, image: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Write ``image`` (noise when None) losslessly; returns what was written."""
    image = noise(seed=seed) if image is None else image
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return image


def write_video(path: Path, frames: int = 7, size: tuple[int, int] = (32, 24)) -> Path:
    """An MJPG .avi whose frame i is flat grey at level 30 * i."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), i * 30, np.uint8))
    writer.release()
    assert path.stat().st_size > 0
    return path


class FakeCapture:
    """A capture with cv2.VideoCapture's isOpened/read/get/release (no grab): ``frames`` frames
    numbered 1, 2, ... as flat images, or endless when ``frames`` is None (a webcam)."""

    def __init__(self, target, *, frames: int | None = None, opened: bool = True):
        self.target, self.frames, self.opened = target, frames, opened
        self.reads, self.released = 0, False

    def isOpened(self):  # noqa: N802 - OpenCV's name
        return self.opened and not self.released

    def read(self):
        if self.released or (self.frames is not None and self.reads >= self.frames):
            return False, None
        self.reads += 1
        return True, np.full((4, 6, 3), self.reads % 256, np.uint8)

    def get(self, _prop):
        return 0.0  # cameras state no frame count

    def release(self):
        self.released = True


class CaptureFactory:
    """Records every capture it makes, so tests can check targets and releases."""

    def __init__(self, **options):
        self.options, self.made = options, []

    def __call__(self, target):
        capture = FakeCapture(target, **self.options)
        self.made.append(capture)
        return capture


@pytest.fixture
def serve() -> Iterator:
    """``serve({'/a.jpg': bytes})`` starts a local server; it stops after the test."""
    servers: list[FileServer] = []

    def start(files: dict[str, bytes]) -> FileServer:
        servers.append(FileServer(files).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()
