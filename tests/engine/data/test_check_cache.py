"""Image check results kept between loads of a classify dataset (engine/data/check_cache.py):
unchanged files are not checked again, changed ones are, and a bad file stays reported."""

from __future__ import annotations

import os

import cv2
import numpy as np

import engine.data.classify_folder as classify_folder
from engine.data.classify_folder import load_classify_folder


def _dataset(root):
    for split in ("train", "val"):
        for name in ("a", "b"):
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(3):
                image = np.full((40, 40, 3), 60 * index, np.uint8)
                cv2.imwrite(str(folder / f"{index}.png"), image)
    return root


def _counting_checks(monkeypatch):
    checked: list[list[str]] = []
    real = classify_folder.check_images

    def counting(paths, **kwargs):
        checked.append(sorted(p.name for p in paths))
        return real(paths, **kwargs)

    monkeypatch.setattr(classify_folder, "check_images", counting)
    return checked


def test_a_second_load_checks_only_what_changed(tmp_path, monkeypatch):
    root = _dataset(tmp_path / "set")
    checked = _counting_checks(monkeypatch)
    first = load_classify_folder(root)
    assert len(checked) == 1 and len(checked[0]) == 12
    again = load_classify_folder(root)
    assert len(checked) == 1  # nothing changed: nothing checked
    assert again.splits.train == first.splits.train and again.problems == first.problems
    changed = root / "train" / "a" / "1.png"
    cv2.imwrite(str(changed), np.zeros((50, 50, 3), np.uint8))
    os.utime(changed, ns=(1, 1))
    load_classify_folder(root)
    assert checked[-1] == ["1.png"]


def test_a_bad_image_stays_reported_and_skipped_when_its_check_is_reused(tmp_path, monkeypatch):
    root = _dataset(tmp_path / "set")
    broken = root / "train" / "b" / "2.png"
    broken.write_bytes(b"not an image at all")
    checked = _counting_checks(monkeypatch)
    first = load_classify_folder(root)
    second = load_classify_folder(root)
    assert len(checked) == 1
    for report in (first, second):
        assert [p.path for p in report.problems if p.severity == "error"] == [broken]
        assert broken not in [s.path for s in report.splits.train]


def test_the_cache_lives_outside_the_dataset_and_a_broken_one_is_ignored(tmp_path, monkeypatch):
    root = _dataset(tmp_path / "set")
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    load_classify_folder(root)
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    cache = tmp_path / "cache"
    monkeypatch.setenv("YOLO_STUDIO_CACHE_DIR", str(cache))
    load_classify_folder(root)
    (written,) = (cache / "image-checks").iterdir()
    written.write_text("{ not json")
    checked = _counting_checks(monkeypatch)
    load_classify_folder(root)
    assert len(checked) == 1 and len(checked[0]) == 12
