"""Dataset yamls (``data=`` files): read one into its mapping, build and write one.

Reads any dataset yaml as plain data (``yaml.safe_load`` with alias bombs refused); what the
keys must hold is checked by the dataset loader (``engine.data.detect_dataset``). Writes the
layout every writer here uses, keys in this order:

    path: .                      # optional; the dataset folder, relative to the yaml
    train: images/train          # the splits given (a folder or a .txt list, below path)
    val: images/val
    test: images/test
    names: {0: cat, 1: dog}
    kpt_shape: [K, 3]            # pose: K keypoints of (x, y, visibility), or [K, 2]
    flip_idx: [0, 2, 1, ...]     # pose: the index each keypoint takes in a mirrored image
    kpt_names: [nose, ...]       # pose, optional
    skeleton: [[0, 1], ...]      # pose, optional; keypoint indices from 0

A file is written atomically (``engine.utils.atomic``). A reader or writer of another tool's
dataset description goes in its own module beside this one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ..errors import DatasetError
from ..utils.atomic import atomic_writer
from ..utils.safe_yaml import YamlTooLarge, safe_load_bounded

__all__ = [
    "LAYOUT",
    "SPLITS",
    "dataset_config",
    "dataset_yaml_text",
    "parse_yaml_text",
    "read_dataset_yaml",
    "write_dataset_yaml",
]

SPLITS = ("train", "val", "test")
LAYOUT = (
    "a dataset yaml gives path (the dataset folder), train and val (folders of images or .txt "
    "lists, relative to path) and names; labels sit in labels/ beside images/"
)


# -- reading ---------------------------------------------------------------------------------


def parse_yaml_text(text: str) -> Any:
    """The data of a yaml text, as ``yaml.safe_load`` gives it; alias bombs refused.

    Raises ``yaml.YAMLError`` (``YamlTooLarge`` for an alias bomb) for text that is not YAML.
    """
    return safe_load_bounded(text)


def read_dataset_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping of the dataset yaml at ``path``.

    Raises ``DatasetError`` naming the file (and the line, for a YAML error) when it cannot be
    read, is not YAML, or holds something other than a mapping of keys.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot be read ({exc})", path=path) from exc
    try:
        config = parse_yaml_text(text)
    except YamlTooLarge as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise DatasetError(str(exc.problem), path=path, line=line) from exc
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise DatasetError(f"not valid YAML ({exc.problem})", path=path, line=line) from exc
    except yaml.YAMLError as exc:
        raise DatasetError(f"not valid YAML ({exc})", path=path) from exc
    if not isinstance(config, dict):
        raise DatasetError(f"holds no mapping of keys; {LAYOUT}", path=path)
    return config


# -- writing ---------------------------------------------------------------------------------


def dataset_config(
    splits: Mapping[str, str],
    names: Mapping[int, str] | Sequence[str],
    *,
    path: str | None = None,
    kpt_shape: Sequence[int] | None = None,
    flip_idx: Sequence[int] | None = None,
    kpt_names: Sequence[str] | None = None,
    skeleton: Sequence[Sequence[int]] | None = None,
) -> dict[str, Any]:
    """A dataset yaml's mapping in the order above: ``splits`` maps ``train``/``val``/``test``
    to their folder or list (other keys are refused); the keypoint keys are left out when None.
    """
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise ValueError(f"splits are {', '.join(SPLITS)}, not {', '.join(unknown)}")
    config: dict[str, Any] = {} if path is None else {"path": path}
    config |= {split: splits[split] for split in SPLITS if split in splits}
    config["names"] = dict(names) if isinstance(names, Mapping) else dict(enumerate(names))
    optional = {
        "kpt_shape": kpt_shape,
        "flip_idx": flip_idx,
        "kpt_names": kpt_names,
        "skeleton": None if skeleton is None else [list(pair) for pair in skeleton],
    }
    config |= {key: list(value) for key, value in optional.items() if value is not None}
    return config


def dataset_yaml_text(config: Mapping[str, Any]) -> str:
    """The yaml text of ``config``, keys in their given order, text not escaped (``狗``, not
    ``"\\u72D7"``) unless a value holds a next-line character (U+0085): PyYAML writes that one
    raw inside quotes and reads it back as a space, so such a file is written all escaped."""
    readable = not any("\x85" in text for text in _texts(config))
    return yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=readable)


def _texts(value: Any) -> Iterator[str]:
    """Every string in ``value`` (keys included), however deep."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, Mapping):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list | tuple):
            stack += item


def write_dataset_yaml(path: str | Path, config: Mapping[str, Any]) -> Path:
    """Write ``config`` (e.g. from :func:`dataset_config`) as the yaml at ``path``, atomically."""
    target = Path(path)
    with atomic_writer(target) as handle:
        handle.write(dataset_yaml_text(config).encode("utf-8"))
    return target
