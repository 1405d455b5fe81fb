"""Classify folders: layout, labels, and every problem reported with its path, never fatal
unless training truly cannot go on."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from engine.cancel import CancelToken
from engine.data.classify_folder import (
    ClassifySplits,
    DatasetReport,
    Problem,
    Sample,
    load_classify_folder,
)
from engine.errors import Cancelled, DatasetError

from .conftest import make_classify_folder, noise, write_jpeg, write_pil


def _by_path(report: DatasetReport) -> dict[Path, Problem]:
    return {problem.path: problem for problem in report.problems}


def test_a_clean_folder_gives_sorted_names_and_labels(tmp_path):
    root = make_classify_folder(tmp_path / "pets", classes=("dog", "cat", "bird"))
    report = load_classify_folder(root)
    splits = report.splits
    root = root.resolve()
    assert isinstance(splits, ClassifySplits) and splits.root == root
    assert splits.names == ("bird", "cat", "dog")
    assert splits.train[0] == Sample(root / "train" / "bird" / "0.jpg", 0)
    assert [s.label for s in splits.train] == [0, 0, 1, 1, 2, 2]
    assert all(s.path.parent.name == splits.names[s.label] for s in splits.val)
    assert splits.test == () and splits.val_split_name == "val"
    assert report.problems == () and report.checked
    assert report.counts["train"] == {"bird": 2, "cat": 2, "dog": 2}
    assert report.counts["test"] == {"bird": 0, "cat": 0, "dog": 0}
    assert report.summary() == f"{root}: 3 classes, 6 train images, 6 val images, 0 test images"


def test_every_image_format_is_a_sample(tmp_path):
    root = make_classify_folder(tmp_path, classes=("a",))
    folder = root / "train" / "a"
    write_pil(folder / "grey.png", Image.fromarray(noise(channels=1)))
    write_pil(folder / "rgba.png", Image.fromarray(noise(channels=4), "RGBA"))
    write_pil(folder / "b.bmp", Image.fromarray(noise()))
    write_pil(folder / "t.tif", Image.fromarray(noise()))
    write_pil(folder / "w.webp", Image.fromarray(noise()))
    assert cv2.imwrite(str(folder / "deep.png"), np.full((8, 8), 40000, np.uint16))
    report = load_classify_folder(root)
    assert report.problems == ()
    names = {s.path.name for s in report.splits.train}
    assert names == {
        "0.jpg",
        "1.jpg",
        "grey.png",
        "rgba.png",
        "b.bmp",
        "t.tif",
        "w.webp",
        "deep.png",
    }


def test_bad_images_are_reported_left_out_and_untouched(tmp_path):
    root = make_classify_folder(tmp_path, classes=("cat", "dog"))
    cat = root / "train" / "cat"
    cut = write_jpeg(cat / "cut.jpg", size=64)
    cut.write_bytes(cut.read_bytes()[:-400])
    (cat / "zero.jpg").touch()
    (cat / "text.jpg").write_text("not a picture")
    before = {p: p.read_bytes() for p in cat.iterdir()}
    report = load_classify_folder(root)
    problems = _by_path(report)
    real = cat.resolve()
    assert problems[real / "cut.jpg"].reason.startswith("truncated JPEG")
    assert problems[real / "zero.jpg"].reason == "empty file (0 bytes)"
    assert "unknown format" in problems[real / "text.jpg"].reason
    assert {p.severity for p in report.problems} == {"error"}
    assert {s.path.name for s in report.splits.train} == {"0.jpg", "1.jpg"}
    assert report.counts["train"] == {"cat": 2, "dog": 2}
    assert {p: p.read_bytes() for p in cat.iterdir()} == before  # nothing rewritten or deleted
    summary = report.summary()
    assert "3 errors (left out), 0 warnings" in summary
    assert "train/cat/zero.jpg: empty file (0 bytes)" in summary


def test_an_empty_train_class_keeps_its_index_with_a_warning(tmp_path):
    root = make_classify_folder(tmp_path, classes=("a", "c"))
    (root / "train" / "b").mkdir()
    (root / "val" / "b").mkdir()
    report = load_classify_folder(root)
    assert report.splits.names == ("a", "b", "c")
    assert [s.label for s in report.splits.train] == [0, 0, 2, 2]
    (problem,) = [p for p in report.problems if p.path == root.resolve() / "train" / "b"]
    assert problem.severity == "warning" and "empty class folder; class 'b'" in problem.reason


def test_an_empty_val_class_is_named_as_not_validated(tmp_path):
    root = make_classify_folder(tmp_path, classes=("a", "b"))
    for path in (root / "val" / "b").iterdir():
        path.unlink()
    report = load_classify_folder(root)
    (problem,) = [p for p in report.problems if p.path == root.resolve() / "val" / "b"]
    assert problem.severity == "warning"
    assert problem.reason == "empty class folder; class 'b' is not validated (add images to val/b/)"
    assert len(report.splits.train) == 4  # training is untouched


def test_a_class_whose_images_are_all_broken_is_named(tmp_path):
    root = make_classify_folder(tmp_path, classes=("a", "b"))
    for path in (root / "train" / "b").iterdir():
        path.write_bytes(b"")
    report = load_classify_folder(root)
    warning = _by_path(report)[root.resolve() / "train" / "b"]
    assert warning.severity == "warning" and "no readable images" in warning.reason


def test_a_val_class_missing_from_train_is_an_error_and_left_out(tmp_path):
    root = make_classify_folder(tmp_path, classes=("a", "b"))
    write_jpeg(root / "val" / "zebra" / "z.jpg")
    report = load_classify_folder(root)
    problem = _by_path(report)[root.resolve() / "val" / "zebra"]
    assert problem.severity == "error"
    assert "class 'zebra' is in val/ but not in train/" in problem.reason
    assert report.splits.names == ("a", "b")
    assert all(s.path.parent.name != "zebra" for s in report.splits.val)


def test_a_train_class_missing_from_val_is_a_warning(tmp_path):
    root = make_classify_folder(tmp_path, classes=("a", "b"))
    write_jpeg(root / "train" / "c" / "0.jpg")
    report = load_classify_folder(root)
    problem = _by_path(report)[root.resolve() / "val" / "c"]
    assert problem.severity == "warning" and "has no val/c/ folder" in problem.reason
    assert report.counts["val"]["c"] == 0 and report.counts["train"]["c"] == 1


def test_misplaced_images_hidden_folders_and_other_files(tmp_path):
    root = make_classify_folder(tmp_path, classes=("a", "b"))
    write_jpeg(root / "train" / "loose.jpg")
    (root / "train" / "README.txt").write_text("about")
    (root / "train" / "a" / "labels.csv").write_text("x")
    write_jpeg(root / "train" / ".ipynb_checkpoints" / "x.jpg")
    write_jpeg(root / "train" / "a" / "nested" / "deeper.jpg")
    report = load_classify_folder(root)
    (problem,) = report.problems
    assert problem.path == root.resolve() / "train" / "loose.jpg"
    assert problem.severity == "warning" and "not in a class folder" in problem.reason
    assert report.splits.names == ("a", "b")
    assert report.ignored_files == 3
    assert (root.resolve() / "train/a/nested/deeper.jpg") in {s.path for s in report.splits.train}


def test_test_split_serves_as_val_with_a_warning(tmp_path, caplog):
    root = make_classify_folder(tmp_path, splits=("train", "test"))
    with caplog.at_level(logging.WARNING, logger="engine.data.classify_folder"):
        report = load_classify_folder(root)
    assert report.splits.val_split_name == "test"
    assert report.splits.val == report.splits.test and len(report.splits.val) == 4
    (problem,) = report.problems
    assert problem.severity == "warning" and "test/ split is used for validation" in problem.reason
    assert "test/ split is used for validation" in caplog.text
    assert "4 val images (from test/)" in report.summary()


def test_valid_is_accepted_as_val(tmp_path):
    root = make_classify_folder(tmp_path, splits=("train", "valid", "test"))
    report = load_classify_folder(root)
    assert report.splits.val_split_name == "valid" and report.problems == ()
    assert len(report.splits.val) == len(report.splits.test) == 4


def test_without_check_broken_files_are_kept(tmp_path):
    root = make_classify_folder(tmp_path)
    (root / "train" / "cat" / "zero.jpg").touch()
    report = load_classify_folder(root, check=False)
    assert not report.checked and len(report.splits.train) == 5


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("missing", r"missing: no such folder; a classify dataset is a folder holding train/"),
        ("file", r"file: is a file, not a folder"),
        ("no_train", r"no_train: no train/ folder in this dataset; a classify dataset"),
        ("no_val", r"no_val: no val/ \(or valid/, test/\) folder"),
        ("no_classes", r"no_classes/train: train/ has no class folders"),
        ("all_broken", r"all_broken/train: no readable images in train/<class name>/"),
        ("val_broken", r"val_broken/val: no readable images in val/<class name>/"),
    ],
)
def test_unusable_datasets_raise_naming_the_path(tmp_path, layout, message):
    root = tmp_path / layout
    if layout == "file":
        root.write_text("x")
    elif layout == "no_train":
        make_classify_folder(root, splits=("val",))
    elif layout == "no_val":
        make_classify_folder(root, splits=("train",))
    elif layout == "no_classes":
        (root / "train").mkdir(parents=True)
        (root / "val").mkdir()
    elif layout in ("all_broken", "val_broken"):
        make_classify_folder(root)
        split = "train" if layout == "all_broken" else "val"
        for path in (root / split).rglob("*.jpg"):
            path.write_bytes(b"")
    with pytest.raises(DatasetError, match=message):
        load_classify_folder(root)


def test_cancel_stops_the_check(tmp_path):
    root = make_classify_folder(tmp_path)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        load_classify_folder(root, cancel=token)


def test_progress_counts_every_image(tmp_path):
    root = make_classify_folder(tmp_path, per_class=3)
    seen = []
    load_classify_folder(root, progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, 12) and seen[-1] == (12, 12)
