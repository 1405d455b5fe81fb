"""The label cache: reused while nothing changed, rebuilt when a label, an image, the parser
version or the file itself changes; JSON outside the dataset, written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from engine.data import detect_labels
from engine.data.check import Problem
from engine.data.detect_labels import verify_split
from engine.data.instances import Instances
from engine.data.label_cache import (
    CachedLabels,
    LabelCache,
    label_cache_dir,
    read_stamp,
)

from .detect_samples import POSE_ROW, TRIANGLE, write_image, write_labels


@pytest.fixture
def images(tmp_path):
    paths = [write_image(tmp_path / "data" / "images" / f"{i}.png", seed=i) for i in range(3)]
    for path in paths[:2]:
        write_labels(tmp_path / "data" / "labels" / f"{path.stem}.txt", [TRIANGLE])
    return paths


def _cache_files() -> list[Path]:
    return sorted(label_cache_dir().glob("*.json"))


def test_cache_lives_in_the_cache_folder_as_json(images, tmp_path):
    verify_split(images, "segment", ["thing"])
    files = _cache_files()
    assert len(files) == 1
    assert label_cache_dir() == Path(os.environ["YOLO_STUDIO_CACHE_DIR"]) / "labels"
    assert not any(p.suffix == ".json" for p in (tmp_path / "data").rglob("*"))
    content = json.loads(files[0].read_text())
    assert content["settings"]["parser"] == detect_labels.PARSER_VERSION
    assert len(content["entries"]) == 3
    assert not list(label_cache_dir().glob(".*.tmp"))  # atomic write left no temp file


def test_changed_label_is_parsed_again_and_the_rest_reused(images, tmp_path):
    verify_split(images, "segment", ["thing"])
    write_labels(tmp_path / "data" / "labels" / "0.txt", [TRIANGLE, "0 0.5 0.5 0.2 0.2"])
    write_labels(tmp_path / "data" / "labels" / "2.txt", [TRIANGLE])  # a new label file
    report = verify_split(images, "segment", ["thing"])
    assert report.from_cache == 1
    assert [len(s.instances) for s in report.samples] == [2, 1, 1]
    assert verify_split(images, "segment", ["thing"]).from_cache == 3


def test_same_size_label_edit_is_still_noticed(images, tmp_path):
    verify_split(images, "segment", ["thing"])
    label = tmp_path / "data" / "labels" / "0.txt"
    stat = label.stat()
    label.write_text(TRIANGLE.replace("0.1 0.1", "0.2 0.1") + "\n")
    os.utime(label, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size, same mtime
    report = verify_split(images, "segment", ["thing"])
    assert report.from_cache == 2
    assert report.samples[0].instances.segments[0][0, 0] == pytest.approx(0.2)


def test_touched_image_is_checked_again(images):
    verify_split(images, "segment", ["thing"])
    os.utime(images[1], ns=(1, 10**9))
    assert verify_split(images, "segment", ["thing"]).from_cache == 2


def test_parser_version_change_rebuilds(images, monkeypatch):
    verify_split(images, "segment", ["thing"])
    monkeypatch.setattr(detect_labels, "PARSER_VERSION", detect_labels.PARSER_VERSION + 1)
    assert verify_split(images, "segment", ["thing"]).from_cache == 0
    assert verify_split(images, "segment", ["thing"]).from_cache == 3


def test_other_class_count_rebuilds(images):
    verify_split(images, "segment", ["thing"])
    assert verify_split(images, "segment", ["thing", "other"]).from_cache == 0


@pytest.mark.parametrize("damage", [b"", b"{not json", b"[1, 2]", b'{"settings": 1}'])
def test_corrupt_cache_file_is_rebuilt(images, damage):
    first = verify_split(images, "segment", ["thing"])
    _cache_files()[0].write_bytes(damage)
    again = verify_split(images, "segment", ["thing"])
    assert again.from_cache == 0 and again.problems == first.problems
    assert verify_split(images, "segment", ["thing"]).from_cache == 3


def test_a_damaged_entry_is_only_a_miss(images):
    verify_split(images, "segment", ["thing"])
    path = _cache_files()[0]
    content = json.loads(path.read_text())
    content["entries"][str(images[0])]["instances"] = {"cls": "garbage"}
    path.write_text(json.dumps(content))
    assert verify_split(images, "segment", ["thing"]).from_cache == 2


def test_unwritable_cache_costs_only_speed(images, monkeypatch, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("YOLO_STUDIO_CACHE_DIR", str(blocker))
    report = verify_split(images, "segment", ["thing"])
    assert len(report.samples) == 3


def test_stamp_follows_label_content_and_absence(tmp_path):
    image = write_image(tmp_path / "a.png")
    label = tmp_path / "a.txt"
    missing, data = read_stamp(image, label)
    assert missing.label_sha256 is None and data is None
    write_labels(label, [TRIANGLE])
    present, data = read_stamp(image, label)
    assert present.label_sha256 and data == f"{TRIANGLE}\n".encode()
    assert read_stamp(tmp_path / "gone.png", label)[0] is None


def test_entries_round_trip_exactly(tmp_path):
    image = write_image(tmp_path / "a.png")
    stamp, _ = read_stamp(image, tmp_path / "a.txt")
    rng = np.random.default_rng(0)
    instances = Instances(
        np.array([0, 3]),
        rng.random((2, 4)),
        [rng.random((5, 2)), np.zeros((0, 2))],
        rng.random((2, 17, 3)),
    )
    problems = (Problem(tmp_path / "a.txt", "why", "warning", 4), Problem(image, "bad"))
    cache = LabelCache(tmp_path / "c.json", {"parser": 1})
    cache.put(image, CachedLabels(stamp, instances, problems))
    assert cache.save()
    fresh = LabelCache(tmp_path / "c.json", {"parser": 1})
    fresh.load()
    back = fresh.get(image, stamp)
    assert back.problems == problems
    assert np.array_equal(back.instances.boxes, instances.boxes)
    assert np.array_equal(back.instances.keypoints, instances.keypoints)
    assert all(
        np.array_equal(a, b)
        for a, b in zip(back.instances.segments, instances.segments, strict=True)
    )
    left_out = CachedLabels(stamp, None, problems)
    cache.put(image, left_out)
    cache.save()
    fresh.load()
    assert fresh.get(image, stamp).instances is None


def test_pose_split_is_cached_with_keypoints(tmp_path):
    image = write_image(tmp_path / "images" / "a.png")
    write_labels(tmp_path / "labels" / "a.txt", [POSE_ROW])
    first = verify_split([image], "pose", ["person"], (3, 3))
    second = verify_split([image], "pose", ["person"], (3, 3))
    assert second.from_cache == 1
    assert np.array_equal(
        first.samples[0].instances.keypoints, second.samples[0].instances.keypoints
    )
