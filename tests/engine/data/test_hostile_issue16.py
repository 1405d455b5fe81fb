"""Bad data inputs from the hostile-input pass of issue 16: class names that are not text, YAML
alias bombs, split folders linked to another disk, JPEGs whose second half is zeros, and
broken PNGs whose decoder writes its own line to stderr."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

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
