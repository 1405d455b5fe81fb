"""Thumbnails: made off the GUI thread, newest request first, cached on disk, labels drawn."""

from __future__ import annotations

import threading

import cv2
import numpy as np
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QImage, QPainter

from studio.services.image_queries import Shape
from studio.services.thumbnails import (
    OverlayStyle,
    ThumbnailLoader,
    ThumbnailRequest,
    ThumbnailStore,
    decode_image,
    paint_ground_truth,
)

SQUARE = (0.25, 0.25, 0.75, 0.25, 0.75, 0.75, 0.25, 0.75)


def _image(path, size=(64, 48), value=90):
    cv2.imwrite(str(path), np.full((size[1], size[0], 3), value, np.uint8))
    return path


def test_decode_shrinks_big_images_and_keeps_small_ones(tmp_path):
    big = _image(tmp_path / "big.jpg", (1024, 768))
    small = _image(tmp_path / "small.png", (64, 48))
    assert decode_image(big, 128, (1024, 768)).shape == (96, 128, 3)  # read at 1/8 scale
    assert decode_image(big, 128).shape == (96, 128, 3)
    assert decode_image(small, 128, (64, 48)).shape == (48, 64, 3)


def test_store_caches_on_disk_and_reads_it_back(tmp_path):
    source = _image(tmp_path / "a.jpg")
    store = ThumbnailStore(tmp_path / "cache")
    image, cached = store.get(7, source, "abc123", (64, 48))
    assert not cached and image.shape == (48, 64, 3)
    path = store.cache_path(7, source, "abc123")
    assert path.is_file() and path.name == "7-abc123.jpg"
    assert not list(path.parent.glob("*.tmp"))  # written atomically, nothing left behind
    _again, cached = store.get(7, source, "abc123", (64, 48))
    assert cached
    path.write_bytes(b"torn")  # a torn cache file is made again, not trusted
    _again, cached = store.get(7, source, "abc123", (64, 48))
    assert not cached
    # without a stored hash the key is the file's mtime and size: a new file, a new key
    before = store.cache_path(8, source)
    _image(source, (70, 48))
    assert store.cache_path(8, source) != before


class Collector:
    """Connected before the requests go out: records each result and the thread it came on."""

    def __init__(self, loader):
        self.results = []
        self.on_gui_thread = []
        self._main = threading.current_thread()
        loader.ready.connect(self.received)

    def received(self, result):
        self.on_gui_thread.append(threading.current_thread() is self._main)
        self.results.append(result)

    def wait(self, qtbot, count):
        qtbot.waitUntil(lambda: len(self.results) >= count, timeout=10_000)
        assert all(self.on_gui_thread)  # delivered on the GUI thread
        return self.results


def test_loader_works_off_the_gui_thread_and_the_second_open_reads_the_cache(qtbot, tmp_path):
    sources = [_image(tmp_path / f"{i}.jpg", value=20 * i) for i in range(4)]
    style = OverlayStyle({0: "#e69f00"})
    loader = ThumbnailLoader(ThumbnailStore(tmp_path / "cache"), style, workers=2)
    collector = Collector(loader)
    try:
        for i, source in enumerate(sources):
            loader.request(ThumbnailRequest(i + 1, source, f"h{i}", 64, 48))
        results = collector.wait(qtbot, 4)
        assert sorted(r.image_id for r in results) == [1, 2, 3, 4]
        assert not any(r.from_cache for r in results) and loader.made == 4
        assert loader.worker_threads and all(
            name.startswith("thumbnails-") for name in loader.worker_threads)
        assert all(isinstance(r.image, QImage) and r.image.width() == 64 for r in results)
    finally:
        loader.stop()
    reopened = ThumbnailLoader(ThumbnailStore(tmp_path / "cache"), style, workers=1)
    collector = Collector(reopened)
    try:
        for i, source in enumerate(sources):
            reopened.request(ThumbnailRequest(i + 1, source, f"h{i}", 64, 48))
        results = collector.wait(qtbot, 4)
        assert all(r.from_cache for r in results) and reopened.made == 0
    finally:
        reopened.stop()


def test_newest_requests_first_and_old_ones_dropped(qtbot, tmp_path):
    sources = [_image(tmp_path / f"{i}.jpg") for i in range(5)]
    loader = ThumbnailLoader(ThumbnailStore(tmp_path / "cache"), OverlayStyle({}), workers=1,
                             max_pending=3)
    collector = Collector(loader)
    try:
        with loader._condition:  # the worker waits while the requests queue up
            for i, source in enumerate(sources):
                loader.request(ThumbnailRequest(i, source, f"h{i}"))
        results = collector.wait(qtbot, 3)
        assert [r.image_id for r in results] == [4, 3, 2]  # 0 and 1 were scrolled past
    finally:
        loader.stop()


def test_unreadable_file_gives_an_error_not_a_crash(qtbot, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    loader = ThumbnailLoader(ThumbnailStore(tmp_path / "cache"), OverlayStyle({}), workers=1)
    collector = Collector(loader)
    try:
        loader.request(ThumbnailRequest(1, bad))
        loader.request(ThumbnailRequest(2, tmp_path / "missing.jpg"))
        results = {r.image_id: r for r in collector.wait(qtbot, 2)}
        assert results[1].image is None and "decode" in results[1].error
        assert results[2].image is None and "cannot be read" in results[2].error
    finally:
        loader.stop()


def test_ground_truth_is_drawn_in_the_class_colour(qtbot, tmp_path):
    source = _image(tmp_path / "a.png", (64, 64), value=0)
    style = OverlayStyle({1: "#56b4e9"}, keypoint_colors=("#0072b2", "#d55e00"),
                         skeleton=((0, 1),))
    shapes = (Shape("polygon", 1, polygon=SQUARE),
              Shape("pose", 1, box=(0.5, 0.5, 0.4, 0.4), keypoints=(0.1, 0.1, 2, 0.9, 0.9, 1)))
    loader = ThumbnailLoader(ThumbnailStore(tmp_path / "cache"), style, workers=1)
    collector = Collector(loader)
    try:
        loader.request(ThumbnailRequest(1, source, "h", 64, 64, shapes, show_labels=True))
        loader.request(ThumbnailRequest(2, source, "h", 64, 64, shapes, show_labels=False))
        results = {r.image_id: r.image for r in collector.wait(qtbot, 2)}
    finally:
        loader.stop()
    inside = QColor(results[1].pixel(32, 32))
    assert inside.blue() > 60 and inside.red() < inside.blue()  # 40 % of the class colour
    assert QColor(results[2].pixel(32, 32)).blue() < 10  # no labels: the bare picture
    # the same painter draws on any surface (the page's preview uses it)
    canvas = QImage(100, 100, QImage.Format.Format_RGB32)
    canvas.fill(0)
    painter = QPainter(canvas)
    paint_ground_truth(painter, shapes, QRectF(0, 0, 100, 100), style)
    painter.end()
    assert QColor(canvas.pixel(10, 10)).blue() > 100  # the visible keypoint


def test_a_broken_png_is_named_and_libpng_prints_nothing(tmp_path):
    """libpng writes "IDAT: CRC error" itself, naming no file; the thumbnail error says why."""
    import subprocess
    import sys

    import cv2
    import numpy as np

    ok, encoded = cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (32, 32, 3),
                                                                          dtype=np.uint8))
    data = bytearray(encoded.tobytes())
    data[60] ^= 0xFF  # inside the first IDAT chunk: its checksum no longer matches
    path = tmp_path / "broken.png"
    path.write_bytes(bytes(data))
    program = ("import sys\nfrom pathlib import Path\n"
               "from studio.services.thumbnails import ThumbnailError, decode_image\n"
               "try:\n    decode_image(Path(sys.argv[1]), 64)\n"
               "except ThumbnailError as exc:\n    print(exc)\n")
    done = subprocess.run([sys.executable, "-c", program, str(path)], capture_output=True,
                          text=True, timeout=60, check=True)
    assert "checksum of its IDAT chunk does not match" in done.stdout
    assert done.stderr == ""
