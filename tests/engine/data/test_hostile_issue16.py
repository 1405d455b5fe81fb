"""Bad data inputs from the hostile-input pass of issue 16: class names that are not text, YAML
alias bombs, split folders linked to another disk, JPEGs whose second half is zeros, and
broken PNGs whose decoder writes its own line to stderr."""

from __future__ import annotations

import pytest

from engine.data.detect_dataset import load_detect_dataset
from engine.errors import DatasetError

from .detect_samples import make_dataset


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
