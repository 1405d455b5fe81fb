"""The dataset yaml codec: what it writes reads back as the same mapping (hypothesis), in the
key order people expect; reading names the file and line of what is wrong; the datasets the
engine and the studio write load."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.data.detect_dataset import load_detect_dataset
from engine.errors import DatasetError
from engine.formats.dataset_yaml import (
    dataset_config,
    dataset_yaml_text,
    parse_yaml_text,
    read_dataset_yaml,
    write_dataset_yaml,
)

# any text a class or keypoint name may hold, YAML's special words and numbers included
names = st.text(min_size=1, max_size=20) | st.sampled_from(["no", "yes", "on", "null", "1e3", "~"])


@st.composite
def configs(draw):
    splits = draw(st.dictionaries(st.sampled_from(["train", "val", "test"]), st.text(max_size=30)))
    classes = draw(st.lists(names, min_size=1, max_size=6))
    count = draw(st.integers(1, 6))
    pose = draw(st.booleans())
    return dataset_config(
        splits,
        classes,
        path=draw(st.none() | st.text(max_size=20)),
        kpt_shape=[count, draw(st.sampled_from([2, 3]))] if pose else None,
        flip_idx=draw(st.permutations(range(count))) if pose else None,
        kpt_names=draw(st.lists(names, min_size=count, max_size=count)) if pose else None,
        skeleton=draw(st.lists(st.tuples(st.integers(0, count - 1), st.integers(0, count - 1)),
                               max_size=4)) if pose else None,
    )


@given(configs())
def test_a_written_yaml_reads_back_as_the_same_mapping(config):
    assert parse_yaml_text(dataset_yaml_text(config)) == config


@given(configs())
def test_keys_come_in_the_documented_order(config):
    order = ["path", "train", "val", "test", "names", "kpt_shape", "flip_idx", "kpt_names",
             "skeleton"]
    assert list(config) == [key for key in order if key in config]


def test_a_file_round_trips_atomically_and_leaves_no_temp_file(tmp_path):
    config = dataset_config({"val": "images/val", "train": "images/train"}, ["cat", "dog"],
                            kpt_shape=(3, 3), flip_idx=(0, 2, 1), skeleton=[(0, 1)])
    path = write_dataset_yaml(tmp_path / "sub" / "data.yaml", config)
    assert read_dataset_yaml(path) == config
    assert os.listdir(path.parent) == ["data.yaml"]
    assert path.read_text().startswith("train: images/train\nval: images/val\nnames:\n  0: cat\n")


def test_unicode_names_are_written_as_text():
    text = dataset_yaml_text(dataset_config({"train": "t"}, ["chat noir", "狗"]))
    assert "狗" in text and "\\u" not in text


def test_a_next_line_character_in_a_name_reads_back():
    config = dataset_config({"train": "t"}, ["a\x85b", "狗"])  # hypothesis found this one
    assert parse_yaml_text(dataset_yaml_text(config)) == config


def test_an_unknown_split_is_refused():
    with pytest.raises(ValueError, match="not training"):
        dataset_config({"training": "images"}, ["a"])


@pytest.mark.parametrize(
    ("text", "reason", "line"),
    [
        ("train: [a\nval: b\n", "not valid YAML", 2),
        ("- a\n- b\n", "holds no mapping of keys", None),
        ("a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
         "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
         "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
         "g: [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n", "alias bomb", 7),
    ],
)
def test_a_bad_yaml_names_the_file_and_line(tmp_path, text, reason, line):
    path = tmp_path / "data.yaml"
    path.write_text(text)
    with pytest.raises(DatasetError, match=reason) as caught:
        read_dataset_yaml(path)
    assert caught.value.path == str(path) and caught.value.line == line


def test_a_file_that_is_not_text_is_named(tmp_path):
    path = tmp_path / "data.yaml"
    path.write_bytes(b"\xff\xfe\x00names")
    with pytest.raises(DatasetError, match="cannot be read") as caught:
        read_dataset_yaml(path)
    assert caught.value.path == str(path)


def test_a_written_pose_yaml_loads_as_a_dataset(tmp_path):
    (tmp_path / "images" / "train").mkdir(parents=True)
    (tmp_path / "images" / "train" / "a.jpg").write_bytes(b"")
    config = dataset_config({"train": "images/train", "val": "images/train"}, {0: "person"},
                            path=".", kpt_shape=[3, 3], flip_idx=[0, 2, 1],
                            kpt_names=["nose", "left_eye", "right_eye"], skeleton=[[0, 1]])
    dataset = load_detect_dataset(write_dataset_yaml(tmp_path / "d.yaml", config), "pose")
    assert dataset.kpt_shape == (3, 3) and dataset.flip_idx == (0, 2, 1)
    assert dataset.skeleton == ((0, 1),) and dataset.names == {0: "person"}
