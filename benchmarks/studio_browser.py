"""Datasets page on 10,000 images: time from constructing the page to the first visible
thumbnails painted (goal < 1 s), cold (no thumbnail cache) and warm (cache on disk), a jump to
the end of the grid, and the process memory.

    python benchmarks/studio_browser.py [--images 10000]

The project is made directly: 64x64 JPEGs written from a few encoded variants, ``Image`` and
``Annotation`` rows added by bulk inserts (no importer involved).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import psutil  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from studio.services.projects import Project, create_project  # noqa: E402
from studio.state.models import Annotation, Image  # noqa: E402
from studio.ui.datasets.page import DatasetsPage  # noqa: E402
from studio.workers.job import JobManager  # noqa: E402

SQUARE = [0.2, 0.2, 0.7, 0.2, 0.7, 0.7, 0.2, 0.7]


def make_project(folder: Path, count: int) -> Project:
    """A segment project with ``count`` 64x64 images, half of them with two polygons."""
    project = create_project(folder / "project", name="bench", task="segment",
                             classes=["a", "b", "c"])
    images = folder / "images"
    images.mkdir()
    variants = []
    for n in range(32):
        picture = np.full((64, 64, 3), (n * 8) % 255, np.uint8)
        cv2.circle(picture, (32, 32), 12 + n % 10, (0, 160 + n * 3, 255 - n * 5), -1)
        variants.append(cv2.imencode(".jpg", picture)[1].tobytes())
    rows = []
    for i in range(count):
        path = images / f"img_{i:06d}.jpg"
        path.write_bytes(variants[i % len(variants)])
        rows.append({"path": str(path), "width": 64, "height": 64, "file_hash": f"{i:040x}",
                     "split": ("train", "train", "val", None)[i % 4]})
    with project.database.session() as session:
        session.execute(insert(Image), rows)
        session.execute(insert(Annotation), [
            {"image_id": 1 + i, "kind": "polygon", "class_index": (i + k) % 3,
             "polygon": SQUARE, "position": k}
            for i in range(0, count, 2) for k in range(2)])
    return project


def visible_count(page: DatasetsPage) -> int:
    """How many cells the grid's viewport shows."""
    grid = page.grid
    first = grid.visualRect(page.model.index(0)) if page.model.rowCount() else None
    if first is None or first.isEmpty():
        return 0
    viewport = grid.viewport().rect()
    columns = max(1, viewport.width() // (first.width() + grid.spacing()))
    rows = -(-viewport.height() // (first.height() + grid.spacing()))
    return min(page.model.rowCount(), columns * rows)


def wait(app: QApplication, condition, limit: float = 60.0) -> float:
    start = time.perf_counter()
    while not condition():
        app.processEvents()
        if time.perf_counter() - start > limit:
            raise TimeoutError("the grid did not fill in time")
        time.sleep(0.001)
    return time.perf_counter() - start


def open_and_measure(app: QApplication, project: Project, label: str) -> None:
    jobs = JobManager()
    start = time.perf_counter()
    page = DatasetsPage(project, jobs)
    page.resize(1280, 800)
    page.show()
    constructed = time.perf_counter() - start
    delegate = page.grid.delegate
    wait(app, lambda: delegate.painted_thumbnails > 0)
    first = time.perf_counter() - start
    wait(app, lambda: visible_count(page) > 0
         and page.model.cached_thumbnail_count() >= visible_count(page))
    app.processEvents()
    everything = time.perf_counter() - start
    print(f"{label}: constructed {constructed * 1000:.0f} ms, first thumbnail painted "
          f"{first * 1000:.0f} ms, all {visible_count(page)} visible {everything * 1000:.0f} ms "
          f"(rows in model {page.model.rowCount():,}, details loaded "
          f"{page.model.loaded_row_count():,})")
    before = delegate.painted_thumbnails
    start = time.perf_counter()
    page.grid.scrollToBottom()
    last = page.model.image_id(page.model.rowCount() - 1)
    wait(app, lambda: page.model.loaded_row(last) is not None
         and delegate.painted_thumbnails > before + visible_count(page) // 2)
    print(f"{label}: jump to the end, thumbnails painted in "
          f"{(time.perf_counter() - start) * 1000:.0f} ms")
    page.close_page()
    page.deleteLater()
    app.processEvents()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication([])
    process = psutil.Process()
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        project = make_project(Path(folder), args.images)
        print(f"made a project of {args.images:,} images in {time.perf_counter() - start:.1f} s")
        rss_before = process.memory_info().rss
        open_and_measure(app, project, "cold cache")
        open_and_measure(app, project, "warm cache")
        rss = process.memory_info().rss
        print(f"memory: RSS {rss / 2**20:.0f} MiB ({(rss - rss_before) / 2**20:+.0f} MiB for "
              "the two page openings)")
        project.close()


if __name__ == "__main__":
    main()
