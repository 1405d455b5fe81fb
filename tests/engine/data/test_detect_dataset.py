"""Dataset yamls for segment and pose: paths, splits as folders / lists / both, keys at fault,
keypoint layout and flip_idx, and the packaged configs downloaded from a local server."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.data.check import Problem
from engine.data.detect_dataset import (
    CONFIG_DIR,
    derive_flip_idx,
    load_detect_dataset,
    packaged_configs,
    require_flip_idx,
)
from engine.data.named import DATASETS_URL, datasets_dir
from engine.errors import DatasetError

from .detect_samples import POSE_ROW, TRIANGLE, make_dataset, write_image, write_labels, write_yaml


def _edit(yaml_path: Path, **changes) -> Path:
    config = yaml.safe_load(yaml_path.read_text())
    config.update(changes)
    return write_yaml(yaml_path, {k: v for k, v in config.items() if v is not None})


def test_folders_relative_to_path_relative_to_the_yaml(tmp_path):
    yaml_path = make_dataset(tmp_path / "set")
    moved = write_yaml(
        tmp_path / "configs" / "mine.yaml",
        {**yaml.safe_load(yaml_path.read_text()), "path": "../set"},
    )
    dataset = load_detect_dataset(moved, "segment")
    root = (tmp_path / "set").resolve()
    assert dataset.root == root and dataset.yaml_path == moved.resolve()
    assert dataset.names == {0: "thing"} and dataset.num_classes == 1
    assert dataset.splits == {
        "train": (root / "images/train/0.png", root / "images/train/1.png"),
        "val": (root / "images/val/0.png", root / "images/val/1.png"),
    }
    assert dataset.kpt_shape is None and dataset.problems == ()


def test_names_as_a_mapping_and_images_found_recursively(tmp_path):
    yaml_path = make_dataset(tmp_path, extra={"names": {0: "a", 1: "b"}, "test": "images"})
    write_image(tmp_path / "images" / "test" / "deep" / "x.jpg")
    dataset = load_detect_dataset(yaml_path, "segment")
    assert dataset.names == {0: "a", 1: "b"}
    assert len(dataset.splits["test"]) == 5  # train, val and test/deep, all under images/


def test_txt_lists_resolve_against_their_own_folder(tmp_path):
    yaml_path = make_dataset(tmp_path)
    root = tmp_path.resolve()
    listing = tmp_path / "lists" / "train.txt"
    listing.parent.mkdir()
    listing.write_text(
        "./../images/train/0.png\n"  # ./ form
        "../images/train/1.png\n"  # plain relative form, same rule
        "\n"
        f"{root / 'images/val/0.png'}\n"  # absolute, inside the root
        "../images/train/missing.png\n"  # line 5
        "../notes.md\n"  # line 6
        f"{tmp_path.parent / 'outside.png'}\n"  # line 7
    )
    dataset = load_detect_dataset(_edit(yaml_path, train="lists/train.txt"), "segment")
    assert [p.name for p in dataset.splits["train"]] == ["0.png", "1.png", "0.png"]
    assert [(p.path, p.line, p.severity) for p in dataset.problems] == [
        (listing, 5, "error"),
        (listing, 6, "warning"),
        (listing, 7, "error"),
    ]
    assert "does not exist" in dataset.problems[0].reason
    assert "outside the dataset folder" in dataset.problems[2].reason


def test_a_split_may_list_folders_and_files(tmp_path):
    yaml_path = make_dataset(tmp_path)
    (tmp_path / "extra.txt").write_text("images/val/1.png\n")
    dataset = load_detect_dataset(_edit(yaml_path, train=["images/train", "extra.txt"]), "segment")
    assert [p.name for p in dataset.splits["train"]] == ["0.png", "1.png", "1.png"]


@pytest.mark.parametrize("escape", ["../../etc", "/etc"])
def test_split_leaving_the_root_names_the_key(tmp_path, escape):
    yaml_path = make_dataset(tmp_path / "set")
    with pytest.raises(DatasetError, match="outside the dataset folder") as caught:
        load_detect_dataset(_edit(yaml_path, val=escape), "segment")
    assert caught.value.key == "val" and caught.value.path == str(yaml_path.resolve())


def test_missing_split_folder_names_key_and_path(tmp_path):
    yaml_path = make_dataset(tmp_path)
    with pytest.raises(DatasetError) as caught:
        load_detect_dataset(_edit(yaml_path, val="images/nope"), "segment")
    assert caught.value.key == "val"
    assert f"no folder or file at {tmp_path.resolve() / 'images/nope'}" in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "key", "message"),
    [
        ({"train": None}, "train", "missing"),
        ({"path": "nowhere"}, "path", "no dataset folder at"),
        ({"names": {0: "a", 2: "c"}}, "names", "class indices are [0, 2]"),
        ({"names": "cat"}, "names", "missing or not a list/mapping"),
        ({"names": ["a", "b"], "nc": 3}, "nc", "nc is 3 but names has 2 entries"),
        ({"val": "data.yaml"}, "val", "is a file but not a .txt list"),
    ],
)
def test_bad_keys_are_named(tmp_path, changes, key, message):
    yaml_path = make_dataset(tmp_path)
    with pytest.raises(DatasetError) as caught:
        load_detect_dataset(_edit(yaml_path, **changes), "segment")
    assert caught.value.key == key and message in caught.value.message


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "data.yaml"
    path.write_text("path: .\ntrain: [a, b\nval: c\n")
    with pytest.raises(DatasetError, match="not valid YAML") as caught:
        load_detect_dataset(path, "segment")
    assert caught.value.line is not None


def test_a_folder_with_one_yaml_is_accepted(tmp_path):
    make_dataset(tmp_path)
    assert load_detect_dataset(tmp_path, "segment").yaml_path.name == "data.yaml"


# -- keypoints ---------------------------------------------------------------------------------


def test_pose_dataset_keeps_its_keypoint_layout(tmp_path):
    yaml_path = make_dataset(
        tmp_path,
        task="pose",
        extra={"kpt_names": ["nose", "left_eye", "right_eye"], "skeleton": [[0, 1], [0, 2]]},
    )
    dataset = load_detect_dataset(yaml_path, "pose")
    assert dataset.kpt_shape == (3, 3) and dataset.flip_idx == (0, 2, 1)
    assert dataset.kpt_names == ("nose", "left_eye", "right_eye")
    assert dataset.skeleton == ((0, 1), (0, 2))
    assert require_flip_idx(dataset, 0.5) == (0, 2, 1)


@pytest.mark.parametrize(
    ("changes", "key", "message"),
    [
        ({"kpt_shape": None}, "kpt_shape", "missing; pose datasets give kpt_shape"),
        ({"kpt_shape": [3, 4]}, "kpt_shape", "[3, 4] is not [K, 3] or [K, 2]"),
        ({"flip_idx": [0, 1, 1]}, "flip_idx", "must list each keypoint index 0..2 once"),
        ({"flip_idx": [1, 2, 0]}, "flip_idx", "keypoint 0 flips to 1 but 1 flips to 2"),
        ({"kpt_names": ["a", "b"]}, "kpt_names", "must be a list of 3 keypoint names"),
        ({"skeleton": [[0, 3]]}, "skeleton", "[0, 3] is not a pair of keypoint indices 0..2"),
    ],
)
def test_bad_keypoint_keys_are_named(tmp_path, changes, key, message):
    yaml_path = make_dataset(tmp_path, task="pose")
    with pytest.raises(DatasetError) as caught:
        load_detect_dataset(_edit(yaml_path, **changes), "pose")
    assert caught.value.key == key and message in caught.value.message


def test_missing_flip_idx_is_derived_from_names_with_a_note(tmp_path):
    yaml_path = make_dataset(
        tmp_path, task="pose", extra={"flip_idx": None, "kpt_names": ["nose", "l_hand", "r_hand"]}
    )
    dataset = load_detect_dataset(_edit(yaml_path, flip_idx=None), "pose")
    assert dataset.flip_idx == (0, 2, 1)
    assert dataset.problems == (
        Problem(
            dataset.yaml_path,
            "no flip_idx; derived [0, 2, 1] from the left/right words of "
            "kpt_names (add it to the yaml to make it explicit)",
            "warning",
        ),
    )


def test_reference_style_kpt_names_per_class(tmp_path):
    yaml_path = make_dataset(
        tmp_path, task="pose", extra={"kpt_names": {0: ["nose", "Left Eye", "Right Eye"]}}
    )
    dataset = load_detect_dataset(_edit(yaml_path, flip_idx=None), "pose")
    assert dataset.kpt_names == ("nose", "Left Eye", "Right Eye") and dataset.flip_idx == (0, 2, 1)


def test_flip_needed_but_unknown_is_a_clear_error_only_when_flipping(tmp_path):
    yaml_path = make_dataset(tmp_path, task="pose")
    dataset = load_detect_dataset(_edit(yaml_path, flip_idx=None), "pose")
    assert dataset.flip_idx is None and require_flip_idx(dataset, 0.0) is None
    with pytest.raises(DatasetError, match="fliplr=0.5 mirrors images") as caught:
        require_flip_idx(dataset, 0.5)
    assert caught.value.key == "flip_idx"


@pytest.mark.parametrize(
    ("names", "flip"),
    [
        (["nose", "left_eye", "right_eye"], (0, 2, 1)),
        (["leftEye", "rightEye", "mouth"], (1, 0, 2)),
        (["L_hand", "R_hand"], (1, 0)),
        (["hand_r", "hand_l"], (1, 0)),
        (["left hand", "right hand", "left foot", "right foot"], (1, 0, 3, 2)),
        (["head", "tail"], None),  # no sides: nothing to derive
        (["left_eye", "right_ear"], None),  # a side without its partner
        (["left_eye", "Left-Eye", "right_eye"], None),  # two names read the same
        (["bright", "bleft"], None),  # words, not letters, carry the side
    ],
)
def test_derive_flip_idx(names, flip):
    assert derive_flip_idx(names) == flip


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(["eye", "ear", "hand", "knee", "wing"]), unique=True, min_size=1, max_size=5
    ),
    st.lists(st.booleans(), min_size=5, max_size=5),
    st.randoms(),
)
def test_derived_flip_is_its_own_inverse(parts, paired, rng):
    names = ["nose"]
    for part, both in zip(parts, paired, strict=False):
        names += [f"left_{part}", f"right_{part}"] if both else [f"mid_{part}"]
    rng.shuffle(names)
    flip = derive_flip_idx(names)
    if any(paired[: len(parts)]):
        assert flip is not None and sorted(flip) == list(range(len(names)))
        assert all(flip[flip[i]] == i for i in range(len(names)))
        assert all(
            names[flip[i]].replace("right", "left") == names[i].replace("right", "left")
            for i in range(len(names))
        )
    else:
        assert flip is None


# -- packaged configs ----------------------------------------------------------------------------


def test_packaged_configs_are_complete_and_point_at_the_release_pattern():
    assert packaged_configs() == (
        "coco128-pose.yaml",
        "coco128-seg.yaml",
        "coco8-pose.yaml",
        "coco8-seg.yaml",
    )
    for name in packaged_configs():
        config = yaml.safe_load((CONFIG_DIR / name).read_text())
        stem = name.removesuffix(".yaml")
        assert config["path"] == stem
        assert config["download"] == f"{DATASETS_URL}/{stem}.zip"
        if "pose" in stem:
            assert config["names"] == {0: "person"} and config["kpt_shape"] == [17, 3]
            assert derive_flip_idx(config["kpt_names"]) == tuple(config["flip_idx"])
        else:
            assert len(config["names"]) == 80 and config["names"][79] == "toothbrush"


def _zip_dataset(folder: Path, top: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for path in sorted(folder.rglob("*")):
            bundle.write(path, f"{top}/{path.relative_to(folder).as_posix()}")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "task", "row"), [("coco8-seg.yaml", "segment", TRIANGLE), ("coco8-pose", "pose", None)]
)
def test_packaged_name_downloads_its_dataset_once(tmp_path, serve, data, task, row):
    name = data.removesuffix(".yaml")
    source = tmp_path / "source"
    for split in ("train", "val"):
        write_image(source / "images" / split / "a.jpg")
        keypoints = " ".join(["0.5 0.5 2"] * 17)
        write_labels(source / "labels" / split / "a.txt", [row or f"0 0.5 0.5 0.4 0.4 {keypoints}"])
    server = serve({f"{name}.zip": _zip_dataset(source, name)})
    dataset = load_detect_dataset(data, task)
    assert dataset.root == (datasets_dir() / name).resolve()
    assert [p.name for p in dataset.splits["val"]] == ["a.jpg"]
    assert dataset.yaml_path == CONFIG_DIR / f"{name}.yaml"
    load_detect_dataset(data, task)
    assert server.requests == [f"/releases/{name}.zip"]


def test_unknown_name_lists_the_packaged_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match="coco8-seg.yaml") as caught:
        load_detect_dataset("coco9-seg.yaml", "segment")
    assert caught.value.path == "coco9-seg.yaml"


def test_segment_task_on_a_pose_yaml_is_noted(tmp_path):
    yaml_path = make_dataset(tmp_path, task="pose", rows=[POSE_ROW])
    dataset = load_detect_dataset(yaml_path, "segment")
    assert dataset.problems[0].reason == "has kpt_shape (a pose dataset) but the task is segment"
