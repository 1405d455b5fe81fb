"""How fast the Datasets page's queries answer on a large project: each filter's
``matching_ids`` and a page of ``load_rows``, best of three runs (a slow plan is slow every
time, a stall of the machine once). The GUI's budget is 0.25 s a filter and 0.1 s a page.

    python benchmarks/image_queries.py [--images 10000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from studio.services.image_queries import ImageFilter, load_rows, matching_ids  # noqa: E402
from studio.services.projects import create_project  # noqa: E402
from studio.state.models import Annotation, Image  # noqa: E402

SQUARE = [0.1, 0.1, 0.4, 0.1, 0.4, 0.4, 0.1, 0.4]


def best_of_three(query) -> float:
    times = []
    for _ in range(3):
        start = time.perf_counter()
        query()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="image-queries-")) / "project"
    project = create_project(folder, name="queries", task="segment",
                             classes=[f"class{i}" for i in range(5)])
    try:
        with project.database.session() as session:
            session.execute(insert(Image), [
                {"path": f"/data/img_{i:05d}.jpg", "width": 64, "height": 64,
                 "split": ("train", "val", None)[i % 3], "file_hash": ""}
                for i in range(args.images)])
            session.execute(insert(Annotation), [
                {"image_id": 1 + i // 2, "kind": "polygon", "class_index": i % 5,
                 "polygon": SQUARE, "position": i % 2} for i in range(2 * args.images)])
        filters = {"all": ImageFilter(), "split=val": ImageFilter(split="val"),
                   "class 3": ImageFilter(class_index=3),
                   "unlabelled": ImageFilter(labelled=False),
                   "search": ImageFilter(search="img_0999")}
        with project.database.session() as session:
            for name, image_filter in filters.items():
                seconds = best_of_three(lambda f=image_filter: matching_ids(session, f))
                print(f"filter {name:<12} {seconds * 1000:7.1f} ms")
            seconds = best_of_three(lambda: load_rows(session, list(range(1, 97))))
            print(f"{'page of 96 rows':<19} {seconds * 1000:7.1f} ms")
    finally:
        project.close()


if __name__ == "__main__":
    main()
