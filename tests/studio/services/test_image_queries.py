"""Filtered, paged image queries: each filter gives exactly the right images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from studio.services.image_queries import (
    UNASSIGNED,
    ImageFilter,
    count_matching,
    load_rows,
    matching_ids,
    paged_ids,
    split_counts,
)
from studio.state.models import Annotation, Image

SQUARE = [0.2, 0.2, 0.6, 0.2, 0.6, 0.6, 0.2, 0.6]


def add_images(project, folder: Path, specs: list[dict]) -> list[int]:
    """Write small images to ``folder`` and add their rows (and labels) directly.

    Each spec: ``name``, optional ``split``, ``problem``, ``size`` (w, h), ``deleted`` and
    ``labels``: ``[(class_index, polygon)]`` or annotation keyword dicts."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = []
    with project.database.session() as session:
        for n, spec in enumerate(specs):
            width, height = spec.get("size", (64, 64))
            path = folder / spec["name"]
            if spec.get("problem"):
                path.write_bytes(b"not an image")
            else:
                picture = np.full((height, width, 3), (40 + 7 * n) % 255, np.uint8)
                cv2.circle(picture, (width // 2, height // 2), min(width, height) // 3,
                           (0, 200, 255), -1)
                cv2.imwrite(str(path), picture)
            image = Image(path=str(path), width=width, height=height, split=spec.get("split"),
                          problem=spec.get("problem"), file_hash=spec.get("hash", ""))
            if spec.get("deleted"):
                from datetime import UTC, datetime
                image.deleted_at = datetime.now(UTC)
            for position, label in enumerate(spec.get("labels", ())):
                if isinstance(label, dict):
                    image.annotations.append(Annotation(position=position, **label))
                else:
                    class_index, polygon = label
                    image.annotations.append(Annotation(position=position, kind="polygon",
                                                        class_index=class_index,
                                                        polygon=list(polygon)))
            session.add(image)
            session.flush()
            ids.append(image.id)
    return ids


def _sample(project, tmp_path):
    return add_images(project, tmp_path / "images", [
        {"name": "cat_01.jpg", "split": "train", "labels": [(0, SQUARE), (1, SQUARE)]},
        {"name": "cat_02.jpg", "split": "val", "labels": [(0, SQUARE)]},
        {"name": "dog_01.jpg", "split": "test", "labels": [(1, SQUARE)]},
        {"name": "dog_02.jpg", "labels": []},
        {"name": "broken.jpg", "problem": "is not an image"},
        {"name": "cat_gone.jpg", "split": "train", "labels": [(0, SQUARE)], "deleted": True},
        {"name": "draft_only.jpg", "labels": [
            {"kind": "polygon", "class_index": 0, "polygon": SQUARE, "draft": True}]},
    ])


def _names(project, image_filter):
    with project.database.session() as session:
        ids = matching_ids(session, image_filter)
        assert count_matching(session, image_filter) == len(ids)
        return [row.file_name for row in load_rows(session, ids)]


def test_filters_give_the_right_images(make_project, tmp_path):
    project = make_project("segment")
    _sample(project, tmp_path)
    everything = ["cat_01.jpg", "cat_02.jpg", "dog_01.jpg", "dog_02.jpg", "broken.jpg",
                  "draft_only.jpg"]
    assert _names(project, ImageFilter()) == everything  # trash left out
    assert _names(project, ImageFilter(split="train")) == ["cat_01.jpg"]
    assert _names(project, ImageFilter(split=UNASSIGNED)) == ["dog_02.jpg", "broken.jpg",
                                                              "draft_only.jpg"]
    assert _names(project, ImageFilter(class_index=0)) == ["cat_01.jpg", "cat_02.jpg"]
    assert _names(project, ImageFilter(class_index=1)) == ["cat_01.jpg", "dog_01.jpg"]
    assert _names(project, ImageFilter(labelled=True)) == ["cat_01.jpg", "cat_02.jpg",
                                                           "dog_01.jpg"]
    assert _names(project, ImageFilter(labelled=False)) == ["dog_02.jpg", "broken.jpg",
                                                            "draft_only.jpg"]
    assert _names(project, ImageFilter(has_issues=True)) == ["broken.jpg"]
    assert _names(project, ImageFilter(search="CAT_")) == ["cat_01.jpg", "cat_02.jpg"]
    assert _names(project, ImageFilter(search="cat", split="val", class_index=0)) == [
        "cat_02.jpg"]


def test_search_matches_the_file_name_not_its_folders(make_project, tmp_path):
    project = make_project("segment")
    add_images(project, tmp_path / "cats_folder", [{"name": "a.jpg"}])
    add_images(project, tmp_path / "other", [{"name": "my_cats.png"}, {"name": "100%_x.jpg"}])
    assert _names(project, ImageFilter(search="cats")) == ["my_cats.png"]
    assert _names(project, ImageFilter(search="%")) == ["100%_x.jpg"]  # wildcards escaped
    assert _names(project, ImageFilter(search="_")) == ["my_cats.png", "100%_x.jpg"]


def test_pages_counts_and_rows(make_project, tmp_path):
    project = make_project("segment")
    ids = _sample(project, tmp_path)
    with project.database.session() as session:
        assert paged_ids(session, ImageFilter(), 2, 2) == [ids[2], ids[3]]
        assert split_counts(session) == {"train": 1, "val": 1, "test": 1, UNASSIGNED: 3}
        first = load_rows(session, [ids[0]])[0]
    assert first.split == "train" and len(first.shapes) == 2
    assert first.shapes[0].polygon == tuple(SQUARE)
    assert ImageFilter().is_empty and not ImageFilter(search="x").is_empty


def test_queries_answer_right_on_many_images(make_project):
    """10,000 images, 20,000 labels: each filter gives the images the rows say (its speed is
    benchmarks/image_queries.py's: functional tests assert outcomes, not times)."""
    from sqlalchemy import insert

    project = make_project("segment")
    images = [{"path": f"/data/img_{i:05d}.jpg", "width": 64, "height": 64,
               "split": ("train", "val", None)[i % 3], "file_hash": ""} for i in range(10_000)]
    labels = [{"image_id": 1 + i // 4, "kind": "polygon", "class_index": i % 5,
               "polygon": SQUARE, "position": i % 4} for i in range(20_000)]
    with project.database.session() as session:
        session.execute(insert(Image), images)
        session.execute(insert(Annotation), labels)
    expected = {
        ImageFilter(): set(range(1, 10_001)),
        ImageFilter(split="val"): {i + 1 for i, row in enumerate(images) if row["split"] == "val"},
        ImageFilter(class_index=3): {row["image_id"] for row in labels if row["class_index"] == 3},
        ImageFilter(labelled=False): set(range(5_001, 10_001)),
        ImageFilter(search="img_0999"): {i + 1 for i in range(9_990, 10_000)},
    }
    with project.database.session() as session:
        for image_filter, ids in expected.items():
            assert set(matching_ids(session, image_filter)) == ids, image_filter
        rows = load_rows(session, list(range(1, 97)))
    assert [row.id for row in rows] == list(range(1, 97))
    assert all(len(row.shapes) == 4 for row in rows)
