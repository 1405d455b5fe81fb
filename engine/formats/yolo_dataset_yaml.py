"""The keys of a YOLO dataset yaml that say how to read its rows: ``names`` (a list or
``{id: name}``), ``path`` (the root; one written on another machine falls back to the yaml's
folder with a warning), ``kpt_shape``, ``kpt_names``, ``skeleton`` and ``flip_idx``. A value
that makes the rows unreadable raises ``DatasetError`` naming the yaml and key; one that can be
passed over is a warning in the :class:`~.yolo_splits.ReadLog`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from .yolo_labels import BOXES, KEYPOINTS, POLYGONS, label_rows
from .yolo_splits import ReadLog

__all__ = ["class_names", "dataset_root", "keypoint_layout"]


def class_names(config: Mapping[str, Any], yaml_path: Path, reader: ReadLog
                ) -> dict[int, str] | None:
    """The yaml's class names by id; None when it has none (classes are named by their ids)."""
    raw = config.get("names")
    if raw is None:
        reader.problem(yaml_path, "key 'names'", "missing; classes are named by their ids "
                       "(\"0\", \"1\", ...); add names to the yaml", "warning")
        return None
    if isinstance(raw, list):
        items = list(enumerate(raw))
    elif isinstance(raw, dict):
        items = [(_class_id(key, yaml_path), value) for key, value in raw.items()]
    else:
        raise DatasetError("must be a list [cat, dog] or a mapping {0: cat, 1: dog}",
                           path=yaml_path, key="names")
    names = {index: _class_name(index, value, yaml_path) for index, value in items}
    twice = sorted({name for name in names.values() if list(names.values()).count(name) > 1})
    if twice:
        reader.problem(yaml_path, "key 'names'", f"{', '.join(map(repr, twice))} named twice; "
                       "their objects read as one class", "warning")
    return names


def _class_id(key: Any, yaml_path: Path) -> int:
    if isinstance(key, int) and not isinstance(key, bool) and key >= 0:
        return key
    if isinstance(key, str) and key.isdigit():
        return int(key)
    raise DatasetError(f"'{key}' is not a class id (0, 1, ...)", path=yaml_path, key="names")


def _class_name(index: int, value: Any, yaml_path: Path) -> str:
    if isinstance(value, bool):
        raise DatasetError(f"class {index} reads as the boolean {value} (YAML reads unquoted "
                           "yes/no/on/off that way); quote it", path=yaml_path, key="names")
    if isinstance(value, str | int | float) and str(value).strip():
        return str(value)
    raise DatasetError(f"class {index} has no name (text); give every class one",
                       path=yaml_path, key="names")


def dataset_root(config: Mapping[str, Any], yaml_path: Path, reader: ReadLog) -> Path:
    """The folder split paths start at: ``path`` below the yaml's folder, or that folder
    (with a warning when ``path`` names a folder that is not here)."""
    value = config.get("path")
    folder = yaml_path.parent
    if value in (None, "", "."):
        return folder
    root = Path(os.path.normpath(folder / str(value)))
    if isinstance(value, str) and root.is_dir():
        return root
    reader.problem(yaml_path, "key 'path'", f"no folder '{value}' here (written on another "
                   "computer?); read from the yaml's folder instead", "warning")
    return folder


def keypoint_layout(config: Mapping[str, Any], yaml_path: Path, task: str | None,
                     reader: ReadLog) -> dict[str, Any]:
    shape = config.get("kpt_shape")
    if shape is None:
        if task is not None and label_rows(task) == KEYPOINTS:
            raise DatasetError("missing; pose rows need kpt_shape: [K, 3] (or [K, 2]) to be "
                               "read", path=yaml_path, key="kpt_shape")
        return {}
    valid = (isinstance(shape, list) and len(shape) == 2
             and all(isinstance(v, int) and not isinstance(v, bool) for v in shape)
             and shape[0] >= 1 and shape[1] in (2, 3))
    if not valid:
        raise DatasetError(f"{shape!r} is not [K, 3] or [K, 2] (K keypoints of x, y and maybe "
                           "visibility)", path=yaml_path, key="kpt_shape")
    count = shape[0]
    if task is not None and label_rows(task) in (BOXES, POLYGONS):
        reader.problem(yaml_path, "key 'kpt_shape'", f"a pose dataset read for {task}: its "
                       "rows are read as pose rows (box and keypoints)", "warning")
    layout = {"kpt_shape": (count, shape[1]),
              "keypoint_names": _kpt_names(config.get("kpt_names"), count, yaml_path, reader)}
    skeleton = config.get("skeleton")
    if skeleton is not None:
        if _index_pairs(skeleton, count):
            layout["skeleton"] = tuple((int(a), int(b)) for a, b in skeleton)
        else:
            reader.problem(yaml_path, "key 'skeleton'", f"not pairs of keypoint indices "
                           f"0..{count - 1}; ignored", "warning")
    flip = config.get("flip_idx")
    if flip is not None:
        if isinstance(flip, list) and sorted(flip) == list(range(count)):
            layout["flip_idx"] = tuple(flip)
        else:
            reader.problem(yaml_path, "key 'flip_idx'", f"does not list each keypoint index "
                           f"0..{count - 1} once; ignored", "warning")
    return layout


def _kpt_names(value: Any, count: int, yaml_path: Path, reader: ReadLog) -> tuple[str, ...]:
    """``kpt_names`` (a list, or ``{class: [names]}``: the first class's), else "1".."K"."""
    numbered = tuple(str(i) for i in range(1, count + 1))
    if value is None:
        return numbered
    if isinstance(value, dict) and value:
        value = value[min(value, key=str)]
    names = tuple(str(name) for name in value) if isinstance(value, list) else ()
    if len(names) != count or len(set(names)) != count:
        reader.problem(yaml_path, "key 'kpt_names'", f"not {count} different names (kpt_shape "
                       f"says {count} keypoints); keypoints are named 1..{count}", "warning")
        return numbered
    return names


def _index_pairs(value: Any, count: int) -> bool:
    return isinstance(value, list) and all(
        isinstance(pair, list | tuple) and len(pair) == 2
        and all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < count for i in pair)
        for pair in value)
