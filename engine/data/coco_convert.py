"""COCO annotation JSON to YOLO segment or pose labels, plus a dataset yaml.

``convert_coco("instances_val2017.json", "out")`` writes ``out/labels/val2017/<image>.txt``
(one file per image with at least one object; an image without objects gets no file, which
the parser reads as a background image) and ``out/dataset.yaml`` whose splits point at
``out/images/val2017``. With ``images_dir`` the images are linked (or copied) there too;
without it, put them there yourself. Classes are the COCO categories sorted by id, renumbered
0..n-1. The input is only read; every output file is written atomically.

Segmentations may be polygons (several parts of one object are joined into one polygon by
the shortest line between consecutive parts, walked there and back, as the reference does) or
RLE masks, uncompressed (``counts`` list) or compressed (``counts`` string), decoded here and
traced with ``cv2.findContours``. Crowd objects (``iscrowd: 1``) are skipped unless
``include_crowd``. Pose rows keep COCO's visibility (0 not labelled, 1 hidden, 2 visible).
Problems (unknown image, bad box, degenerate polygon) name the annotation id and are skipped.

Converting a second JSON into the same folder updates the yaml: a split whose name holds
``val`` becomes ``val``, ``test`` becomes ``test``, any other becomes ``train``.
"""

from __future__ import annotations

import difflib
import json
import logging
import math
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import cv2
import numpy as np
import yaml
from PIL import Image

from ..errors import DatasetError, SettingsError
from ..utils.atomic import atomic_writer
from .check import Problem
from .detect_dataset import derive_flip_idx

__all__ = [
    "ConvertReport",
    "convert_coco",
    "convert_from_cli",
    "decode_rle",
    "mask_to_polygon",
    "merge_polygons",
]

log = logging.getLogger(__name__)

CLI_KEYS = ("source", "output", "task", "images", "include_crowd")
_PREFIXES = ("instances_", "person_keypoints_", "keypoints_")
_CLOSEST_CHUNK = 1024
_SUMMARY_PROBLEMS = 20
_NO_FLIP = (
    "no flip_idx written: the keypoint names do not say left and right; add flip_idx to the "
    "yaml before training with fliplr > 0"
)


class _Skip(Exception):
    """An annotation that cannot be converted; the message says why."""


@dataclass(frozen=True)
class _Image:
    file_name: str
    width: int
    height: int


@dataclass(frozen=True)
class _Classes:
    index: dict[int, int]  # COCO category id -> class index
    names: dict[int, str]
    kpt_count: int | None = None
    kpt_names: tuple[str, ...] | None = None
    skeleton: tuple[tuple[int, int], ...] | None = None


@dataclass(frozen=True)
class ConvertReport:
    """What a conversion wrote, and what it skipped and why."""

    output_dir: Path
    yaml_path: Path
    split: str
    images: int
    label_files: int
    objects: int
    crowd_skipped: int = 0
    images_placed: int = 0
    problems: tuple[Problem, ...] = field(default=())

    def summary(self) -> str:
        """A few lines for the CLI."""
        lines = [
            f"{self.objects} objects of {self.images} images written to {self.label_files} label "
            f"files in {self.output_dir / 'labels' / self.split}; dataset yaml {self.yaml_path}",
        ]
        if self.crowd_skipped:
            lines.append(
                f"{self.crowd_skipped} crowd objects skipped (include_crowd=True keeps them)"
            )
        if not self.images_placed:
            lines.append(f"put the images in {self.output_dir / 'images' / self.split}")
        lines += [f"  {p.severity:<7} {p.reason}" for p in self.problems[:_SUMMARY_PROBLEMS]]
        if len(self.problems) > _SUMMARY_PROBLEMS:
            lines.append(f"  ... and {len(self.problems) - _SUMMARY_PROBLEMS} more")
        return "\n".join(lines)


def convert_coco(
    annotations_json: str | Path,
    output_dir: str | Path,
    *,
    task: str = "segment",
    images_dir: str | Path | None = None,
    include_crowd: bool = False,
) -> ConvertReport:
    """Convert one COCO JSON to YOLO ``task`` labels (``segment`` or ``pose``) under ``output_dir``.

    Raises ``DatasetError`` for a file that is not COCO JSON, or an existing
    ``output_dir/dataset.yaml`` with other classes; problems with single annotations and
    images are returned in the report.
    """
    if task not in ("segment", "pose"):
        raise ValueError(f"task must be segment or pose, not {task!r}")
    source, output = Path(annotations_json), Path(output_dir)
    content = _read_json(source)
    problems: list[Problem] = []
    images_root = Path(images_dir) if images_dir is not None else None
    images = _images(content, source, images_root, problems)
    classes = _classes(content, source, task)
    split = _split_name(source)
    yaml_path = output / "dataset.yaml"
    config = _dataset_config(yaml_path, split, classes, task)
    if task == "pose" and "flip_idx" not in config:
        problems.append(Problem(yaml_path, _NO_FLIP, "warning"))
    rows, crowd = _rows(content, source, images, classes, task, include_crowd, problems)
    written = _write_labels(output / "labels" / split, images, rows)
    placed = _place_images(images, images_root, output / "images" / split, source, problems)
    _write_yaml(yaml_path, config)
    return ConvertReport(
        output_dir=output,
        yaml_path=yaml_path,
        split=split,
        images=len(images),
        label_files=written,
        objects=sum(len(lines) for lines in rows.values()),
        crowd_skipped=crowd,
        images_placed=placed,
        problems=tuple(problems),
    )


def convert_from_cli(values: Mapping[str, Any]) -> ConvertReport:
    """``yolo convert source=instances.json output=dir task=segment [images=dir]
    [include_crowd=True]``: check the keys, then :func:`convert_coco`."""
    for key in values:
        if key not in CLI_KEYS:
            close = difflib.get_close_matches(key, CLI_KEYS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(CLI_KEYS)}"
            raise SettingsError(f"unknown convert setting{hint}", key=key)
    if not values.get("source"):
        raise SettingsError(
            "give the COCO JSON to convert, e.g. source=instances.json", key="source"
        )
    source = Path(str(values["source"]))
    output = values.get("output") or source.with_name(f"{source.stem}-yolo")
    return convert_coco(
        source,
        Path(str(output)),
        task=str(values.get("task", "segment")),
        images_dir=values.get("images") or None,
        include_crowd=_flag(values.get("include_crowd", False), "include_crowd"),
    )


def _flag(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise SettingsError(f"'{value}' is not True or False", key=key)


# -- reading the JSON ------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
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


def _images(
    content: Mapping[str, Any], source: Path, images_root: Path | None, problems: list[Problem]
) -> dict[Any, _Image]:
    images: dict[Any, _Image] = {}
    for entry in content["images"]:
        try:
            images[entry["id"]] = _image_entry(entry, images_root)
        except (_Skip, KeyError, TypeError) as exc:
            what = f"image {entry.get('id')!r}" if isinstance(entry, dict) else "an image entry"
            reason = str(exc) if isinstance(exc, _Skip) else f"missing or bad field {exc}"
            problems.append(Problem(source, f"{what}: {reason}; its annotations are skipped"))
    return images


def _image_entry(entry: Mapping[str, Any], images_root: Path | None) -> _Image:
    name = str(entry["file_name"])
    parts = PurePosixPath(name.replace("\\", "/")).parts
    if not parts or name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        raise _Skip(f"file_name '{name}' must be a relative path inside the images folder")
    width, height = entry.get("width"), entry.get("height")
    if not (isinstance(width, int) and isinstance(height, int)) and images_root is not None:
        width, height = _image_size(images_root / name)
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        raise _Skip(f"no usable width and height ({width!r}, {height!r})")
    return _Image("/".join(parts), width, height)


def _image_size(path: Path) -> tuple[int | None, int | None]:
    try:
        with Image.open(path) as image:
            return image.size
    except Exception:  # noqa: BLE001 - any decoder failure means "size unknown"
        return None, None


def _classes(content: Mapping[str, Any], source: Path, task: str) -> _Classes:
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
        return _Classes(index, names)
    with_keypoints = [c for c in categories if c.get("keypoints")]
    if with_keypoints:
        kpt_names = tuple(map(str, with_keypoints[0]["keypoints"]))
        skeleton = _skeleton(with_keypoints[0].get("skeleton"), kpt_names)
        return _Classes(index, names, len(kpt_names), kpt_names, skeleton)
    return _Classes(index, names, _keypoint_count(content["annotations"], source))


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


def _split_name(source: Path) -> str:
    stem = source.stem
    for prefix in _PREFIXES:
        if stem.startswith(prefix) and len(stem) > len(prefix):
            return stem[len(prefix) :]
    return stem


# -- annotations to rows ---------------------------------------------------------------------


def _rows(
    content: Mapping[str, Any],
    source: Path,
    images: Mapping[Any, _Image],
    classes: _Classes,
    task: str,
    include_crowd: bool,
    problems: list[Problem],
) -> tuple[dict[Any, dict[str, None]], int]:
    """Label lines per image id (ordered, without duplicates), and the crowd objects skipped."""
    rows: dict[Any, dict[str, None]] = {}
    crowd = 0
    for number, annotation in enumerate(content["annotations"]):
        ann_id = annotation.get("id", f"#{number}") if isinstance(annotation, dict) else number
        try:
            if annotation.get("iscrowd") and not include_crowd:
                crowd += 1
                continue
            image_id, line = _annotation_line(annotation, images, classes, task)
        except _Skip as exc:
            problems.append(Problem(source, f"annotation {ann_id}: {exc}; skipped"))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            reason = f"annotation {ann_id}: malformed ({type(exc).__name__}: {exc}); skipped"
            problems.append(Problem(source, reason))
        else:
            rows.setdefault(image_id, {})[line] = None
    return rows, crowd


def _annotation_line(
    annotation: Mapping[str, Any], images: Mapping[Any, _Image], classes: _Classes, task: str
) -> tuple[Any, str]:
    image_id = annotation["image_id"]
    image = images.get(image_id)
    if image is None:
        raise _Skip(f"image_id {image_id!r} is not among the images")
    category = annotation.get("category_id")
    if category not in classes.index:
        raise _Skip(f"category_id {category!r} is not among the categories")
    box = _box(annotation.get("bbox"), image)
    if task == "pose":
        values = [*box, *_keypoints(annotation.get("keypoints"), image, classes.kpt_count)]
    else:
        values = list(_segment(annotation.get("segmentation"), image).reshape(-1))
    numbers = " ".join(f"{v:.6g}" for v in values)
    return image_id, f"{classes.index[category]} {numbers}"


def _box(bbox: Any, image: _Image) -> list[float]:
    """COCO ``[left, top, width, height]`` in pixels -> normalised, clipped ``cx cy w h``."""
    valid = (
        isinstance(bbox, list)
        and len(bbox) == 4
        and all(isinstance(v, int | float) and math.isfinite(v) for v in bbox)
        and bbox[2] > 0
        and bbox[3] > 0
    )
    if not valid:
        raise _Skip(f"bad bbox {bbox!r} (need [left, top, width, height] with width, height > 0)")
    left, top, width, height = bbox
    x1, x2 = np.clip([left / image.width, (left + width) / image.width], 0, 1)
    y1, y2 = np.clip([top / image.height, (top + height) / image.height], 0, 1)
    if x2 <= x1 or y2 <= y1:
        raise _Skip(f"bbox {bbox!r} lies outside the {image.width}×{image.height} image")
    return [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]


def _keypoints(values: Any, image: _Image, count: int | None) -> list[float]:
    if not isinstance(values, list) or not values or len(values) % 3:
        raise _Skip("keypoints missing or not a list of x, y, v triples")
    if len(values) != 3 * (count or 0):
        raise _Skip(f"{len(values) // 3} keypoints, but the dataset has {count}")
    points = np.asarray(values, np.float64).reshape(-1, 3)
    if not np.isfinite(points).all() or not np.isin(points[:, 2], (0, 1, 2)).all():
        raise _Skip("keypoints must be finite, with visibility 0, 1 or 2")
    points[:, :2] /= (image.width, image.height)
    points[:, :2] = np.clip(points[:, :2], 0, 1)
    points[points[:, 2] == 0] = 0  # not labelled: no position
    return points.reshape(-1).tolist()


def _segment(segmentation: Any, image: _Image) -> np.ndarray:
    """One normalised polygon ``[k, 2]`` for a polygon-list or RLE segmentation."""
    if isinstance(segmentation, dict):
        mask = _rle_mask(segmentation, image)
        polygon = mask_to_polygon(mask)
        if polygon is None:
            raise _Skip("its mask has no region of 3 or more outline points")
    elif isinstance(segmentation, list) and segmentation:
        polygon = merge_polygons(_polygon_parts(segmentation))
    else:
        raise _Skip("no segmentation (need a list of polygons or an RLE mask)")
    scaled = polygon / np.array([image.width, image.height], np.float64)
    return np.clip(scaled, 0, 1)


def _polygon_parts(segmentation: list[Any]) -> list[np.ndarray]:
    parts, bad = [], []
    for i, flat in enumerate(segmentation):
        points = np.asarray(flat, np.float64).reshape(-1) if isinstance(flat, list) else None
        if points is None or len(points) < 6 or len(points) % 2 or not np.isfinite(points).all():
            bad.append(i)
            continue
        polygon = points.reshape(-1, 2)
        if _area(polygon) <= 0:
            bad.append(i)
            continue
        parts.append(polygon)
    if not parts:
        raise _Skip(f"degenerate polygon (parts {bad} have fewer than 3 points or no area)")
    return parts


def _rle_mask(segmentation: Mapping[str, Any], image: _Image) -> np.ndarray:
    try:
        mask = decode_rle(segmentation)
    except (KeyError, TypeError, ValueError) as exc:
        raise _Skip(f"bad RLE mask ({exc})") from exc
    if mask.shape != (image.height, image.width):
        raise _Skip(
            f"RLE size {list(mask.shape)} differs from the image's {image.height}×{image.width}"
        )
    return mask


def _area(polygon: np.ndarray) -> float:
    x, y = polygon[:, 0], polygon[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


# -- geometry ---------------------------------------------------------------------------------


def decode_rle(rle: Mapping[str, Any]) -> np.ndarray:
    """A COCO RLE (``{"size": [h, w], "counts": list | str}``) as an ``h×w`` uint8 0/1 mask.

    Runs alternate background and foreground, starting with background, in column-major
    order. A string ``counts`` is COCO's compressed form: each run is written in 5-bit groups
    (as characters from ``0``), low group first, bit 6 meaning "more groups follow", the last
    group's bit 5 giving the sign; from the fourth run on, the run before the previous one is
    added. Raises ``ValueError`` when the runs do not cover the mask exactly.
    """
    height, width = (int(v) for v in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, bytes | str):
        counts = _uncompress_counts(counts.decode() if isinstance(counts, bytes) else counts)
    runs = np.asarray(counts, np.int64).reshape(-1)
    if height < 0 or width < 0 or (runs < 0).any() or int(runs.sum()) != height * width:
        raise ValueError(
            f"runs add up to {int(runs.sum())}, a {height}×{width} mask needs {height * width}"
        )
    values = np.zeros(len(runs), np.uint8)
    values[1::2] = 1
    return np.repeat(values, runs).reshape(width, height).T.copy()


def _uncompress_counts(text: str) -> list[int]:
    counts: list[int] = []
    position = 0
    while position < len(text):
        value, shift, more = 0, 0, True
        while more:
            if position >= len(text):
                raise ValueError("compressed counts end in the middle of a run")
            group = ord(text[position]) - 48
            if not 0 <= group < 64:
                raise ValueError(f"character {text[position]!r} is not in compressed counts")
            value |= (group & 0x1F) << shift
            more = bool(group & 0x20)
            position += 1
            shift += 5
            if not more and group & 0x10:
                value -= 1 << shift  # the last group's top bit is the sign
        if len(counts) > 2:
            value += counts[-2]
        counts.append(value)
    return counts


def mask_to_polygon(mask: np.ndarray) -> np.ndarray | None:
    """The outline of a 0/1 mask as one pixel polygon ``[k, 2]``: every outer contour of 3 or
    more points, joined as :func:`merge_polygons` does; None when there is none."""
    contours, _ = cv2.findContours(
        (np.asarray(mask) > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    parts = [c.reshape(-1, 2).astype(np.float64) for c in contours if len(c) >= 3]
    return merge_polygons(parts) if parts else None


def merge_polygons(polygons: Sequence[np.ndarray]) -> np.ndarray:
    """Join polygons into one: each part is linked to the next at their closest points, and
    the outline walks into every part and back out along the same line.

    Filled, the result covers the parts (the links have no area). One part is returned as is.
    """
    parts = [np.asarray(p, np.float64).reshape(-1, 2) for p in polygons]
    if len(parts) == 1:
        return parts[0]
    links = [_closest_pair(parts[i], parts[i + 1]) for i in range(len(parts) - 1)]
    pieces: list[np.ndarray] = []
    way_back: list[tuple[np.ndarray, int]] = []
    entry = links[0][0]
    for i, part in enumerate(parts):
        ring = np.roll(part, -entry, axis=0)  # starts where the walk enters this part
        if i == len(parts) - 1:
            pieces += [ring, ring[:1]]
            break
        leave = (links[i][0] - entry) % len(ring)
        pieces.append(ring[: leave + 1])
        way_back.append((ring, leave))
        entry = links[i][1]
    for ring, leave in reversed(way_back):
        pieces += [ring[leave:], ring[:1]]
    merged = np.concatenate(pieces)
    return merged[:-1] if np.array_equal(merged[0], merged[-1]) else merged


def _closest_pair(first: np.ndarray, second: np.ndarray) -> tuple[int, int]:
    """Indices of the closest points of two polygons (in chunks, to bound memory)."""
    best, pair = math.inf, (0, 0)
    for start in range(0, len(first), _CLOSEST_CHUNK):
        block = first[start : start + _CLOSEST_CHUNK]
        distances = ((block[:, None, :] - second[None, :, :]) ** 2).sum(-1)
        i, j = np.unravel_index(int(np.argmin(distances)), distances.shape)
        if distances[i, j] < best:
            best, pair = float(distances[i, j]), (start + int(i), int(j))
    return pair


# -- writing ---------------------------------------------------------------------------------


def _write_labels(
    folder: Path, images: Mapping[Any, _Image], rows: Mapping[Any, Mapping[str, None]]
) -> int:
    written = 0
    for image_id, lines in rows.items():
        target = (folder / images[image_id].file_name).with_suffix(".txt")
        with atomic_writer(target) as handle:
            handle.write("".join(f"{line}\n" for line in lines).encode())
        written += 1
    return written


def _place_images(
    images: Mapping[Any, _Image],
    images_root: Path | None,
    folder: Path,
    source: Path,
    problems: list[Problem],
) -> int:
    """Link (or copy) each image from ``images_root`` into the dataset; the count placed."""
    if images_root is None:
        return 0
    placed = 0
    for image in images.values():
        origin, target = images_root / image.file_name, folder / image.file_name
        if not origin.is_file():
            problems.append(Problem(origin, "image listed in the JSON not found", "warning"))
            continue
        if target.exists() and os.path.samefile(origin, target):
            placed += 1
            continue
        _link_or_copy(origin, target)
        placed += 1
    log.info("placed %d images from %s for %s", placed, images_root, source)
    return placed


def _link_or_copy(origin: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.linking")
    try:
        temporary.unlink(missing_ok=True)
        os.link(origin, temporary)
        os.replace(temporary, target)
    except OSError:
        temporary.unlink(missing_ok=True)
        with open(origin, "rb") as reader, atomic_writer(target) as writer:
            shutil.copyfileobj(reader, writer, 1 << 20)


def _dataset_config(yaml_path: Path, split: str, classes: _Classes, task: str) -> dict[str, Any]:
    """The yaml to write: a new one, or the existing one with this split added."""
    fresh = _fresh_config(split, classes, task)
    if not yaml_path.exists():
        return fresh
    try:
        existing = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DatasetError(
            f"cannot be read to add split {split} ({exc}); remove it or choose "
            "another output folder",
            path=yaml_path,
        ) from exc
    if (
        not isinstance(existing, dict)
        or existing.get("names") != fresh["names"]
        or (existing.get("kpt_shape") != fresh.get("kpt_shape"))
    ):
        raise DatasetError(
            "already describes other classes (or keypoints) than this JSON; convert into "
            "another output folder, or remove the old one",
            path=yaml_path,
        )
    role = "val" if "val" in split else "test" if "test" in split else "train"
    existing[role] = f"images/{split}"
    return existing


def _fresh_config(split: str, classes: _Classes, task: str) -> dict[str, Any]:
    config: dict[str, Any] = {
        "path": ".",
        "train": f"images/{split}",
        "val": f"images/{split}",
        "names": dict(classes.names),
    }
    if task == "pose" and classes.kpt_count:
        config["kpt_shape"] = [classes.kpt_count, 3]
    if task == "pose" and classes.kpt_names:
        flip = derive_flip_idx(classes.kpt_names)
        if flip is not None:
            config["flip_idx"] = list(flip)
        config["kpt_names"] = list(classes.kpt_names)
        if classes.skeleton:
            config["skeleton"] = [list(pair) for pair in classes.skeleton]
    return config


def _write_yaml(path: Path, config: Mapping[str, Any]) -> None:
    text = yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True)
    with atomic_writer(path) as handle:
        handle.write(text.encode())
