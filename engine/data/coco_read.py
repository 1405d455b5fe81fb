"""Reading a COCO annotation JSON for :mod:`engine.data.coco_convert`: the file, its images
and its categories, as small records; the split name from the file name.

The input is only read. An image entry that cannot be used raises :class:`Skip` inside and is
reported as a problem; a file that is not COCO JSON raises ``DatasetError``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from PIL import Image

from ..errors import DatasetError
from .check import Problem

_PREFIXES = ("instances_", "person_keypoints_", "keypoints_")


class Skip(Exception):
    """An image or annotation that cannot be converted; the message says why."""


@dataclass(frozen=True)
class ImageInfo:
    """An image entry: its path below the images folder and its size in pixels."""

    file_name: str
    width: int
    height: int


@dataclass(frozen=True)
class CocoClasses:
    """The categories as classes (ids renumbered 0..n-1), with the keypoint layout for pose."""

    index: dict[int, int]  # COCO category id -> class index
    names: dict[int, str]
    kpt_count: int | None = None
    kpt_names: tuple[str, ...] | None = None
    skeleton: tuple[tuple[int, int], ...] | None = None


def read_json(path: Path) -> dict[str, Any]:
    """The top-level object of a COCO JSON, checked to have its three lists."""
    try:
        with open(path, encoding="utf-8") as handle:
            content = json.load(handle)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"not valid JSON ({exc.msg})", path=path, line=exc.lineno) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot be read ({exc})", path=path) from exc
    if not isinstance(content, dict):
        raise DatasetError("not COCO JSON (the top level is not an object)", path=path)
    for key in ("images", "annotations", "categories"):
        if not isinstance(content.get(key), list):
            raise DatasetError("missing or not a list; this is not COCO JSON", path=path, key=key)
    return content


def read_images(
    content: Mapping[str, Any], source: Path, images_root: Path | None, problems: list[Problem]
) -> dict[Any, ImageInfo]:
    """Image id -> entry; unusable entries are added to ``problems``."""
    images: dict[Any, ImageInfo] = {}
    for entry in content["images"]:
        try:
            images[entry["id"]] = _image_entry(entry, images_root)
        except (Skip, KeyError, TypeError) as exc:
            what = f"image {entry.get('id')!r}" if isinstance(entry, dict) else "an image entry"
            reason = str(exc) if isinstance(exc, Skip) else f"missing or bad field {exc}"
            problems.append(Problem(source, f"{what}: {reason}; its annotations are skipped"))
    return images


def _image_entry(entry: Mapping[str, Any], images_root: Path | None) -> ImageInfo:
    name = str(entry["file_name"])
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        raise Skip(f"file_name '{name}' must be a relative path inside the images folder")
    width, height = entry.get("width"), entry.get("height")
    if not (isinstance(width, int) and isinstance(height, int)) and images_root is not None:
        width, height = _image_size(images_root / name)
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        raise Skip(f"no usable width and height ({width!r}, {height!r})")
    return ImageInfo("/".join(parts), width, height)


def _image_size(path: Path) -> tuple[int | None, int | None]:
    try:
        with Image.open(path) as image:
            return image.size
    except Exception:  # noqa: BLE001 - any decoder failure means "size unknown"
        return None, None


def read_classes(content: Mapping[str, Any], source: Path, task: str) -> CocoClasses:
    """The categories sorted by id as classes 0..n-1 (and, for pose, the keypoint layout)."""
    categories = content["categories"]
    try:
        ids = sorted(int(c["id"]) for c in categories)
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(
            f"a category has no integer id ({exc})", path=source, key="categories"
        ) from exc
    if len(set(ids)) != len(ids) or not ids:
        raise DatasetError(
            "category ids must be unique, and there must be at least one",
            path=source,
            key="categories",
        )
    by_id = {int(c["id"]): c for c in categories}
    index = {cid: i for i, cid in enumerate(ids)}
    names = {i: str(by_id[cid].get("name", f"class_{i}")) for cid, i in index.items()}
    if task != "pose":
        return CocoClasses(index, names)
    with_keypoints = [c for c in categories if c.get("keypoints")]
    if with_keypoints:
        kpt_names = tuple(map(str, with_keypoints[0]["keypoints"]))
        skeleton = _skeleton(with_keypoints[0].get("skeleton"), kpt_names)
        return CocoClasses(index, names, len(kpt_names), kpt_names, skeleton)
    return CocoClasses(index, names, _keypoint_count(content["annotations"], source))


def _keypoint_count(annotations: Sequence[Any], source: Path) -> int:
    """K from the first annotation with keypoints, when no category names them."""
    for annotation in annotations:
        values = annotation.get("keypoints") if isinstance(annotation, dict) else None
        if isinstance(values, list) and values and len(values) % 3 == 0:
            return len(values) // 3
    raise DatasetError(
        "no category lists keypoint names and no annotation has keypoints; task=pose needs "
        "COCO keypoint annotations (person_keypoints_*.json)",
        path=source,
        key="categories",
    )


def _skeleton(value: Any, kpt_names: Sequence[str]) -> tuple[tuple[int, int], ...] | None:
    """COCO's skeleton counts keypoints from 1; ours from 0. None when it does not fit."""
    try:
        pairs = tuple((int(a) - 1, int(b) - 1) for a, b in value or ())
    except (TypeError, ValueError):
        return None
    valid = all(0 <= i < len(kpt_names) for pair in pairs for i in pair)
    return pairs if pairs and valid else None


def split_name(source: Path) -> str:
    """``instances_val2017.json`` -> ``val2017``: the stem without a known COCO prefix."""
    stem = source.stem
    for prefix in _PREFIXES:
        if stem.startswith(prefix) and len(stem) > len(prefix):
            return stem[len(prefix) :]
    return stem
