"""COCO annotation JSON to YOLO segment or pose labels, plus a dataset yaml.

``convert_coco("instances_val2017.json", "out")`` writes ``out/labels/val2017/<image>.txt``
(one file per image with at least one object; an image without objects gets no file, which
the parser reads as a background image) and ``out/dataset.yaml`` whose splits point at
``out/images/val2017``. With ``images_dir`` the images are linked (or copied) there too;
without it, put them there yourself. Classes are the COCO categories sorted by id, renumbered
0..n-1. The input is only read; every output file is written atomically.

Segmentations may be polygons (several parts of one object are joined into one polygon by
the shortest line between consecutive parts, walked there and back, as the reference does) or
RLE masks, uncompressed (``counts`` list) or compressed (``counts`` string), decoded by
:mod:`engine.utils.rle` and traced with ``cv2.findContours`` (the outline helpers are in
:mod:`engine.data.polygons`; reading the JSON is :mod:`engine.formats.coco`). Crowd objects
(``iscrowd: 1``) are skipped unless ``include_crowd``. Pose rows keep COCO's visibility (0 not
labelled, 1 hidden, 2 visible). Problems (unknown image, bad box, degenerate polygon) name the
annotation id and are skipped.

Converting a second JSON into the same folder updates the yaml: a split whose name holds
``val`` becomes ``val``, ``test`` becomes ``test``, any other becomes ``train``.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from PIL import Image as PILImage

from ..errors import DatasetError, SettingsError
from ..formats.coco import (
    CocoClasses,
    ImageInfo,
    ImageSize,
    Skip,
    read_classes,
    read_coco_json,
    read_images,
    split_name,
)
from ..formats.dataset_yaml import dataset_config, parse_yaml_text, write_dataset_yaml
from ..formats.yolo_labels import (
    KEYPOINTS,
    POLYGONS,
    format_line,
    label_rows,
    write_label_file,
)
from ..utils import rle
from ..utils.atomic import atomic_writer
from .check import Problem
from .detect_dataset import derive_flip_idx
from .polygons import mask_to_polygon, merge_polygons, polygon_area

__all__ = [
    "ConvertReport",
    "convert_coco",
    "convert_from_cli",
    "mask_to_polygon",
    "merge_polygons",
]

log = logging.getLogger(__name__)

CLI_KEYS = ("source", "output", "task", "images", "include_crowd")
_SUMMARY_PROBLEMS = 20
_NO_FLIP = (
    "no flip_idx written: the keypoint names do not say left and right; add flip_idx to the "
    "yaml before training with fliplr > 0"
)


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
    if label_rows(task) not in (POLYGONS, KEYPOINTS):
        raise ValueError(f"task must be segment or pose, not {task!r}")
    source, output = Path(annotations_json), Path(output_dir)
    content = read_coco_json(source)
    images_root = Path(images_dir) if images_dir is not None else None
    images, reasons = read_images(content, _size_reader(images_root))
    problems = [Problem(source, reason) for reason in reasons]
    classes = read_classes(content, source, task)
    split = split_name(source)
    yaml_path = output / "dataset.yaml"
    config = _dataset_config(yaml_path, split, classes, task)
    if label_rows(task) == KEYPOINTS and "flip_idx" not in config:
        problems.append(Problem(yaml_path, _NO_FLIP, "warning"))
    rows, crowd = _rows(content, source, images, classes, task, include_crowd, problems)
    written = _write_labels(output / "labels" / split, images, rows)
    placed = _place_images(images, images_root, output / "images" / split, source, problems)
    write_dataset_yaml(yaml_path, config)
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


def _size_reader(images_root: Path | None) -> ImageSize | None:
    """The size of an image below ``images_root`` from its header, for entries without one."""
    if images_root is None:
        return None

    def size_of(file_name: str) -> tuple[int | None, int | None]:
        try:
            with PILImage.open(images_root / file_name) as image:
                return image.size
        except Exception:  # noqa: BLE001 - any decoder failure means "size unknown"
            return None, None

    return size_of


def _flag(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise SettingsError(f"'{value}' is not True or False", key=key)


# -- annotations to rows ---------------------------------------------------------------------


def _rows(
    content: Mapping[str, Any],
    source: Path,
    images: Mapping[Any, ImageInfo],
    classes: CocoClasses,
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
        except Skip as exc:
            problems.append(Problem(source, f"annotation {ann_id}: {exc}; skipped"))
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            reason = f"annotation {ann_id}: malformed ({type(exc).__name__}: {exc}); skipped"
            problems.append(Problem(source, reason))
        else:
            rows.setdefault(image_id, {})[line] = None
    return rows, crowd


def _annotation_line(
    annotation: Mapping[str, Any], images: Mapping[Any, ImageInfo], classes: CocoClasses, task: str
) -> tuple[Any, str]:
    image_id = annotation["image_id"]
    image = images.get(image_id)
    if image is None:
        raise Skip(f"image_id {image_id!r} is not among the images")
    category = annotation.get("category_id")
    if category not in classes.index:
        raise Skip(f"category_id {category!r} is not among the categories")
    box = _box(annotation.get("bbox"), image)
    if label_rows(task) == KEYPOINTS:
        values = [*box, *_keypoints(annotation.get("keypoints"), image, classes.kpt_count)]
    else:
        values = list(_segment(annotation.get("segmentation"), image).reshape(-1))
    return image_id, format_line(classes.index[category], values)


def _box(bbox: Any, image: ImageInfo) -> list[float]:
    """COCO ``[left, top, width, height]`` in pixels -> normalised, clipped ``cx cy w h``."""
    valid = (
        isinstance(bbox, list)
        and len(bbox) == 4
        and all(isinstance(v, int | float) and math.isfinite(v) for v in bbox)
        and bbox[2] > 0
        and bbox[3] > 0
    )
    if not valid:
        raise Skip(f"bad bbox {bbox!r} (need [left, top, width, height] with width, height > 0)")
    left, top, width, height = bbox
    x1, x2 = np.clip([left / image.width, (left + width) / image.width], 0, 1)
    y1, y2 = np.clip([top / image.height, (top + height) / image.height], 0, 1)
    if x2 <= x1 or y2 <= y1:
        raise Skip(f"bbox {bbox!r} lies outside the {image.width}×{image.height} image")
    return [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]


def _keypoints(values: Any, image: ImageInfo, count: int | None) -> list[float]:
    if not isinstance(values, list) or not values or len(values) % 3:
        raise Skip("keypoints missing or not a list of x, y, v triples")
    if len(values) != 3 * (count or 0):
        raise Skip(f"{len(values) // 3} keypoints, but the dataset has {count}")
    points = np.asarray(values, np.float64).reshape(-1, 3)
    if not np.isfinite(points).all() or not np.isin(points[:, 2], (0, 1, 2)).all():
        raise Skip("keypoints must be finite, with visibility 0, 1 or 2")
    points[:, :2] /= (image.width, image.height)
    points[:, :2] = np.clip(points[:, :2], 0, 1)
    points[points[:, 2] == 0] = 0  # not labelled: no position
    return points.reshape(-1).tolist()


def _segment(segmentation: Any, image: ImageInfo) -> np.ndarray:
    """One normalised polygon ``[k, 2]`` for a polygon-list or RLE segmentation."""
    if isinstance(segmentation, dict):
        mask = _rle_mask(segmentation, image)
        polygon = mask_to_polygon(mask)
        if polygon is None:
            raise Skip("its mask has no region of 3 or more outline points")
    elif isinstance(segmentation, list) and segmentation:
        polygon = merge_polygons(_polygon_parts(segmentation))
    else:
        raise Skip("no segmentation (need a list of polygons or an RLE mask)")
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
        if polygon_area(polygon) <= 0:
            bad.append(i)
            continue
        parts.append(polygon)
    if not parts:
        raise Skip(f"degenerate polygon (parts {bad} have fewer than 3 points or no area)")
    return parts


def _rle_mask(segmentation: Mapping[str, Any], image: ImageInfo) -> np.ndarray:
    try:
        mask = rle.decode(segmentation)
    except (KeyError, TypeError, ValueError) as exc:
        raise Skip(f"bad RLE mask ({exc})") from exc
    if mask.shape != (image.height, image.width):
        raise Skip(
            f"RLE size {list(mask.shape)} differs from the image's {image.height}×{image.width}"
        )
    return mask


# -- writing ---------------------------------------------------------------------------------


def _write_labels(
    folder: Path, images: Mapping[Any, ImageInfo], rows: Mapping[Any, Mapping[str, None]]
) -> int:
    written = 0
    for image_id, lines in rows.items():
        write_label_file((folder / images[image_id].file_name).with_suffix(".txt"), lines)
        written += 1
    return written


def _place_images(
    images: Mapping[Any, ImageInfo],
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


def _dataset_config(yaml_path: Path, split: str, classes: CocoClasses, task: str) -> dict[str, Any]:
    """The yaml to write: a new one, or the existing one with this split added."""
    fresh = _fresh_config(split, classes, task)
    if not yaml_path.exists():
        return fresh
    try:
        existing = parse_yaml_text(yaml_path.read_text(encoding="utf-8"))
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


def _fresh_config(split: str, classes: CocoClasses, task: str) -> dict[str, Any]:
    pose = label_rows(task) == KEYPOINTS
    flip = derive_flip_idx(classes.kpt_names) if pose and classes.kpt_names else None
    return dataset_config(
        {"train": f"images/{split}", "val": f"images/{split}"},
        classes.names,
        path=".",
        kpt_shape=[classes.kpt_count, 3] if pose and classes.kpt_count else None,
        flip_idx=flip,
        kpt_names=classes.kpt_names if pose and classes.kpt_names else None,
        skeleton=classes.skeleton if pose and classes.kpt_names and classes.skeleton else None,
    )
