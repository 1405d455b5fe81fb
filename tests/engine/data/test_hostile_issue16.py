"""Bad data inputs from the hostile-input pass of issue 16: class names that are not text, YAML
alias bombs, split folders linked to another disk, JPEGs whose second half is zeros, and
broken PNGs whose decoder writes its own line to stderr."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.data.check import check_image
from engine.data.classify_folder import load_classify_folder
from engine.data.detect_dataset import load_detect_dataset
from engine.errors import DatasetError

from .conftest import make_classify_folder
from .detect_samples import make_dataset, write_image


def _bomb_yaml(levels: int, key: str = "names") -> str:
    """A "billion laughs" file: each level is nine aliases of the level before it."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels + 1):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + f"\n{key}: *l{levels}\npath: .\ntrain: images/train\nval: images/val\n"


# -- class names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "text"),
    [
        ({0: "cat", 1: None}, "class 1 has no name"),
        (["cat", ""], "class 1 has no name"),
        (["cat", "   "], "class 1 has no name"),
        ({0: "cat", 1: ["a", "b"]}, "class 1 is a list (['a', 'b']), not a name"),
        ({0: {"x": 1}}, "class 0 is a mapping ({'x': 1}), not a name"),
        (["cat", True], "class 1 is read as the boolean True"),
    ],
)
def test_class_names_must_be_text(tmp_path, names, text):
    yaml_path = make_dataset(tmp_path, extra={"names": names})
    with pytest.raises(DatasetError) as caught:
        load_detect_dataset(yaml_path, "segment")
    assert caught.value.key == "names" and caught.value.path == str(yaml_path.resolve())
    assert text in str(caught.value)


def test_an_unquoted_yes_names_the_fix(tmp_path):
    yaml_path = make_dataset(tmp_path)
    yaml_path.write_text(yaml_path.read_text().replace("- thing", "- thing\n- no"))
    with pytest.raises(DatasetError, match="boolean False.*quote it"):
        load_detect_dataset(yaml_path, "segment")


def test_numbers_as_class_names_are_read_as_text(tmp_path):
    yaml_path = make_dataset(tmp_path, extra={"names": {0: 7, 1: "eight", 2: 9.5}})
    assert load_detect_dataset(yaml_path, "segment").names == {0: "7", 1: "eight", 2: "9.5"}


def test_an_alias_bomb_in_names_is_refused_with_its_line(tmp_path):
    make_dataset(tmp_path)
    # Seven levels stand for 9**8 = 43 million strings: before the bound, str() of them ran
    # for seconds and made a nonsense name; ten levels ran for minutes.
    (tmp_path / "data.yaml").write_text(_bomb_yaml(7))
    with pytest.raises(DatasetError) as caught:
        load_detect_dataset(tmp_path / "data.yaml", "segment")
    assert "alias bomb" in str(caught.value) and "1,000,000 values" in str(caught.value)
    assert caught.value.line is not None and caught.value.line <= 8


def test_aliases_of_ordinary_size_still_load(tmp_path):
    yaml_path = make_dataset(tmp_path)
    yaml_path.write_text(
        "names: &classes [cat, dog]\nalso: *classes\npath: .\ntrain: images/train\n"
        "val: images/val\n"
    )
    assert load_detect_dataset(yaml_path, "segment").names == {0: "cat", 1: "dog"}


def test_an_alias_that_contains_itself_is_refused(tmp_path):
    yaml_path = make_dataset(tmp_path)
    yaml_path.write_text(yaml_path.read_text() + "extra: &loop [1, *loop]\n")
    with pytest.raises(DatasetError, match="refers to a value that contains it"):
        load_detect_dataset(yaml_path, "segment")


def test_an_alias_bomb_in_a_model_yaml_is_refused(tmp_path):
    from engine.errors import ModelConfigError
    from engine.nn.zoo import build_model

    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb_yaml(7, key="backbone"))
    with pytest.raises(ModelConfigError, match="alias bomb") as caught:
        build_model(path)
    assert caught.value.path == str(path)


# -- links to another disk -----------------------------------------------------------------


def _linked_dataset(tmp_path: Path) -> tuple[Path, Path]:
    """A dataset whose images/train is a link to a folder on "another disk"; returns the yaml
    and the real folder."""
    disk = tmp_path / "disk" / "images"
    for i in range(2):
        write_image(disk / f"{i}.png", seed=i)
    yaml_path = make_dataset(tmp_path / "set")
    train = tmp_path / "set" / "images" / "train"
    for image in train.iterdir():
        image.unlink()
    train.rmdir()
    os.symlink(disk, train)
    return yaml_path, disk


def test_a_split_folder_linked_to_another_disk_is_followed_and_named(tmp_path, caplog):
    yaml_path, disk = _linked_dataset(tmp_path)
    with caplog.at_level(logging.INFO, logger="engine.data.links"):
        dataset = load_detect_dataset(yaml_path, "segment")
    root = (tmp_path / "set").resolve()
    # The images keep their paths under the dataset, so their labels are found in labels/train.
    assert dataset.splits["train"] == (root / "images/train/0.png", root / "images/train/1.png")
    (note,) = dataset.problems
    assert note.severity == "warning" and note.path == root / "images/train"
    assert note.reason == f"link followed: images/train -> {disk.resolve()}"
    assert caplog.text.count("images/train ->") == 1


def test_linked_image_files_are_followed_with_one_note_per_folder(tmp_path):
    yaml_path = make_dataset(tmp_path / "set", per_split=1)
    for i in range(3):
        photo = write_image(tmp_path / "photos" / f"p{i}.png", seed=i)
        os.symlink(photo, tmp_path / "set" / "images" / "train" / f"p{i}.png")
    dataset = load_detect_dataset(yaml_path, "segment")
    assert [p.name for p in dataset.splits["train"]] == ["0.png", "p0.png", "p1.png", "p2.png"]
    (note,) = dataset.problems
    assert note.severity == "warning"
    assert note.reason == (
        f"links followed: 3 files in images/train lead to {(tmp_path / 'photos').resolve()}"
    )


def test_climbing_out_in_the_yaml_is_still_refused_even_through_a_link(tmp_path):
    yaml_path, _ = _linked_dataset(tmp_path)
    yaml_path.write_text(yaml_path.read_text().replace("train: images/train", "train: ../disk"))
    with pytest.raises(DatasetError, match="outside the dataset folder") as caught:
        load_detect_dataset(yaml_path, "segment")
    assert caught.value.key == "train"


def test_classify_links_out_of_the_dataset_are_followed_and_named(tmp_path):
    root = make_classify_folder(tmp_path / "data", classes=("a", "b"))
    outside = make_classify_folder(tmp_path / "elsewhere", classes=("x",)).resolve()
    os.symlink(outside / "train" / "x" / "0.jpg", root / "train" / "a" / "escape.jpg")
    os.symlink(outside / "train" / "x", root / "train" / "a" / "escape_dir")
    os.symlink(outside / "train" / "x", root / "train" / "linked_class")
    os.symlink(root / "train" / "a", root / "train" / "a" / "loop")  # inside: no note
    report = load_classify_folder(root)
    train = root.resolve() / "train"
    assert {p.reason for p in report.problems if p.reason.startswith("link")} == {
        f"link followed: train/a/escape_dir -> {outside / 'train/x'}",
        f"link followed: train/linked_class -> {outside / 'train/x'}",
        f"link followed: train/a/escape.jpg -> {outside / 'train/x/0.jpg'}",
    }
    assert not report.errors
    assert report.splits.names == ("a", "b", "linked_class")
    class_a = {s.path.relative_to(train / "a") for s in report.splits.train if s.label == 0}
    assert class_a == {Path("0.jpg"), Path("1.jpg"), Path("escape.jpg"),
                       Path("escape_dir/0.jpg"), Path("escape_dir/1.jpg")}


def test_a_classify_split_folder_on_another_disk_is_followed(tmp_path):
    root = make_classify_folder(tmp_path / "data", splits=("train",))
    elsewhere = make_classify_folder(tmp_path / "disk", splits=("val",)).resolve()
    os.symlink(elsewhere / "val", root / "val")
    report = load_classify_folder(root)
    assert len(report.splits.val) == 4
    (note,) = report.problems
    assert note.severity == "warning"
    assert note.reason == f"link followed: val -> {elsewhere / 'val'}"
    assert f"warning val: link followed: val -> {elsewhere / 'val'}" in report.summary()


# -- damaged images --------------------------------------------------------------------------


def _half_zeroed_jpeg(path: Path) -> Path:
    """A JPEG whose second half is zeros, as a failing disk or an interrupted copy leaves it."""
    pixels = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", pixels)
    assert ok
    data = bytearray(encoded.tobytes())
    data[len(data) // 2 :] = bytes(len(data) - len(data) // 2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))
    return path


def test_a_jpeg_whose_second_half_is_zeros_is_reported(tmp_path):
    path = _half_zeroed_jpeg(tmp_path / "half.jpg")
    assert cv2.imread(str(path)) is not None  # OpenCV decodes it: grey where the zeros are
    reason = check_image(path)
    assert reason is not None and reason.startswith("truncated JPEG: no end-of-image marker")
    assert "Premature end of JPEG file" in reason


def test_a_jpeg_with_a_thumbnail_and_a_cut_main_image_is_reported(tmp_path):
    """The thumbnail in an EXIF block has its own end marker; only the main image's counts."""
    thumb = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))[1].tobytes()
    segment = b"Exif\x00\x00" + thumb
    app1 = b"\xff\xe1" + (len(segment) + 2).to_bytes(2, "big") + segment
    main = bytearray(_half_zeroed_jpeg(tmp_path / "main.jpg").read_bytes())
    path = tmp_path / "exif.jpg"
    path.write_bytes(bytes(main[:2]) + app1 + bytes(main[2:]))
    assert "truncated JPEG" in check_image(path)


def test_a_half_zeroed_jpeg_is_left_out_of_training_data_not_fatal(tmp_path):
    yaml_path = make_dataset(tmp_path, per_split=2)
    _half_zeroed_jpeg(tmp_path / "images" / "train" / "z.jpg")
    (tmp_path / "labels" / "train" / "z.txt").write_text("0 0.1 0.1 0.9 0.1 0.5 0.8\n")
    from engine.data.detect_labels import verify_split

    dataset = load_detect_dataset(yaml_path, "segment")
    report = verify_split(dataset.splits["train"], "segment", dataset.names, cache=False)
    assert [s.image.name for s in report.samples] == ["0.png", "1.png"]
    (problem,) = report.problems
    assert problem.path.name == "z.jpg" and "Premature end of JPEG file" in problem.reason


def _broken_png(path: Path) -> Path:
    """A PNG with one flipped byte in its pixel data: libpng stops with 'IDAT: CRC error'."""
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    data = bytearray(cv2.imencode(".png", pixels)[1].tobytes())
    data[data.find(b"IDAT") + 20] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


_DECODE = """
import sys
from pathlib import Path
from engine.data.check import check_image
from engine.data.images import read_image
from engine.errors import ImageReadError
path = Path(sys.argv[1])
print("check:", check_image(path))
try:
    read_image(path)
except ImageReadError as exc:
    print("read:", exc)
"""


def test_a_broken_png_names_its_file_and_prints_no_stray_decoder_line(tmp_path):
    path = _broken_png(tmp_path / "broken.png")
    result = subprocess.run(
        [sys.executable, "-c", _DECODE, str(path)], capture_output=True, text=True, check=True
    )
    assert result.stderr == ""  # before: "libpng error: IDAT: CRC error", naming no file
    check_line, read_line = result.stdout.splitlines()
    assert check_line.startswith("check: not a readable image")
    assert read_line == (
        f"read: {path}: not a readable image (damaged PNG: the checksum of its IDAT chunk "
        "does not match; the file is corrupt)"
    )


def test_a_cut_off_png_is_named_as_truncated(tmp_path):
    from engine.data.images import read_image
    from engine.errors import ImageReadError

    path = tmp_path / "cut.png"
    good = cv2.imencode(".png", np.zeros((32, 32, 3), np.uint8))[1].tobytes()
    path.write_bytes(good[: len(good) - 12])  # the IEND chunk is gone
    with pytest.raises(ImageReadError, match="truncated PNG: the file ends before its IEND"):
        read_image(path)
    (tmp_path / "tail.png").write_bytes(good + b"extra bytes after the end")
    assert read_image(tmp_path / "tail.png").shape == (32, 32, 3)


def test_a_label_cache_made_before_the_new_checks_is_rebuilt(tmp_path, monkeypatch):
    """The label cache keeps each image's verdict; one made before the half-zeroed JPEG was
    caught must not keep passing it."""
    from engine.data import detect_labels
    from engine.data.detect_labels import verify_split

    yaml_path = make_dataset(tmp_path, per_split=1)
    _half_zeroed_jpeg(tmp_path / "images" / "train" / "z.jpg")
    (tmp_path / "labels" / "train" / "z.txt").write_text("0 0.1 0.1 0.9 0.1 0.5 0.8\n")
    dataset = load_detect_dataset(yaml_path, "segment")
    images = dataset.splits["train"]
    with monkeypatch.context() as before:  # version 1 of the checks passed the file
        before.setattr(detect_labels, "PARSER_VERSION", 1)
        before.setattr(detect_labels, "check_image", lambda path: None)
        assert len(verify_split(images, "segment", dataset.names).samples) == 2
    report = verify_split(images, "segment", dataset.names)
    assert report.from_cache == 0
    assert [s.image.name for s in report.samples] == ["0.png"]
    assert "Premature end of JPEG file" in report.problems[0].reason
