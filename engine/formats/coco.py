"""COCO JSON as validation writes it: instance (ground truth) and results files.

A dataset's COCO file is read into (and written from) a label set by ``coco_labelset``; this
module holds what both share (:func:`split_name`, :func:`write_coco_json`) and the writers
validation and pycocotools need.

Writes (atomically, as ASCII JSON so any reader's default encoding reads it):
- :func:`write_coco_results`: the results list COCO's tools read (``loadRes``): one record per
  prediction with ``image_id``, ``category_id``, ``bbox`` as ``[x, y, w, h]`` in
  original-image pixels, ``score`` and, for masks, ``segmentation`` as compressed RLE with
  ``counts`` as text;
- :func:`write_coco_ground_truth`: an instances file (``images``, ``annotations``,
  ``categories``) with polygons or RLE (and keypoints through an annotation's ``extra``);
- :func:`write_coco_json`: any document built here.

Annotation ids start at 1: pycocotools records a match by the ground truth's id, so an id of 0
would read as "unmatched".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..utils import rle
from ..utils.atomic import atomic_writer

__all__ = [
    "CocoAnnotation",
    "CocoImage",
    "ImagePredictions",
    "coco_ground_truth",
    "coco_results",
    "split_name",
    "write_coco_ground_truth",
    "write_coco_json",
    "write_coco_results",
    "xyxy_to_xywh",
]

_PREFIXES = ("instances_", "person_keypoints_", "keypoints_")


# -- names -----------------------------------------------------------------------------------


def split_name(source: Path) -> str:
    """``instances_val2017.json`` -> ``val2017``: the stem without a known COCO prefix."""
    stem = source.stem
    for prefix in _PREFIXES:
        if stem.startswith(prefix) and len(stem) > len(prefix):
            return stem[len(prefix) :]
    return stem


# -- writing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImagePredictions:
    """One image's predictions in original-image pixels.

    ``boxes`` [n, 4] xyxy, ``scores`` [n], ``classes`` [n] class indices, ``masks`` [n, H, W]
    binary at the original image size (or None for boxes only), ``keypoints`` [n, K, 3] as
    (x, y, confidence) in pixels (or None). ``segmentations`` [n] are masks already encoded
    as COCO RLE (``{"size", "counts"}``), used when ``masks`` is None.
    """

    image_id: int | str
    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray
    masks: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    segmentations: Sequence[Mapping[str, Any]] | None = None


@dataclass(frozen=True)
class CocoImage:
    """An ``images`` entry of a COCO ground-truth file."""

    id: int | str
    width: int
    height: int
    file_name: str = ""


@dataclass(frozen=True)
class CocoAnnotation:
    """A ground-truth object: an xyxy ``box`` in pixels and at most one outline.

    The outline is a binary [H, W] ``mask`` at the image's size (written as compressed RLE) or
    ``polygons``, a list of [k, 2] xy point arrays in pixels. ``area`` defaults to the mask's
    pixel count, else the polygons' area, else the box's.
    """

    image_id: int | str
    category_id: int
    box: Sequence[float] | np.ndarray
    mask: np.ndarray | None = None
    polygons: Sequence[np.ndarray] | None = None
    iscrowd: bool = False
    area: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def xyxy_to_xywh(box: Sequence[float] | np.ndarray) -> list[float]:
    """``[x1, y1, x2, y2]`` -> COCO's ``[x, y, width, height]`` as plain floats."""
    x1, y1, x2, y2 = (float(value) for value in np.asarray(box, np.float64).reshape(4))
    return [x1, y1, x2 - x1, y2 - y1]


def _category(class_index: int, category_ids: Sequence[int] | None) -> int:
    return int(category_ids[class_index]) if category_ids is not None else int(class_index)


def coco_results(
    predictions: Iterable[ImagePredictions],
    *,
    category_ids: Sequence[int] | None = None,
    decimals: int | None = None,
) -> list[dict[str, Any]]:
    """The COCO results records of ``predictions``.

    ``category_ids[class_index]`` gives each class's COCO id (identity when None). ``decimals``
    rounds boxes and scores (None keeps full precision, so IoUs match ours exactly).
    """
    records: list[dict[str, Any]] = []
    for image in predictions:
        boxes = np.asarray(image.boxes, np.float64).reshape(-1, 4)
        scores = np.asarray(image.scores, np.float64).reshape(-1)
        classes = np.asarray(image.classes).reshape(-1).astype(np.int64)
        masks = None if image.masks is None else np.asarray(image.masks)
        if masks is None and image.segmentations is not None:
            masks = image.segmentations  # already RLE: only its length is checked below
        points = None if image.keypoints is None else np.asarray(image.keypoints, np.float64)
        if not len(boxes) == len(scores) == len(classes) or any(
            extra is not None and len(extra) != len(boxes) for extra in (masks, points)
        ):
            raise ValueError(
                f"image {image.image_id!r}: {len(boxes)} boxes, {len(scores)} scores, "
                f"{len(classes)} classes" + ("" if masks is None else f", {len(masks)} masks")
            )
        for index in range(len(boxes)):
            record: dict[str, Any] = {
                "image_id": image.image_id,
                "category_id": _category(int(classes[index]), category_ids),
                "bbox": _rounded(xyxy_to_xywh(boxes[index]), decimals),
                "score": _rounded([float(scores[index])], decimals)[0],
            }
            if image.masks is not None:
                record["segmentation"] = rle.encode(masks[index])
            elif masks is not None:
                record["segmentation"] = dict(masks[index])
            if points is not None:
                record["keypoints"] = _rounded(points[index].reshape(-1).tolist(), decimals)
            records.append(record)
    return records


def write_coco_results(
    path: str | Path,
    predictions: Iterable[ImagePredictions],
    *,
    category_ids: Sequence[int] | None = None,
    decimals: int | None = None,
) -> Path:
    """Write ``predictions`` as a COCO results JSON list (see :func:`coco_results`)."""
    records = coco_results(predictions, category_ids=category_ids, decimals=decimals)
    return write_coco_json(path, records)


def coco_ground_truth(
    images: Iterable[CocoImage],
    annotations: Iterable[CocoAnnotation],
    categories: Mapping[int, str],
    *,
    category_extra: Mapping[str, Any] | None = None,
    info: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A COCO instances document; ``categories`` maps category id -> name, ``category_extra``
    adds keys to every category (``keypoints`` and ``skeleton`` for a keypoints file) and
    ``info`` to the document's ``info``."""
    image_records = [
        {"id": image.id, "width": int(image.width), "height": int(image.height)}
        | {"file_name": image.file_name or f"{image.id}.jpg"}
        for image in images
    ]
    known = {record["id"] for record in image_records}
    annotation_records = []
    for number, annotation in enumerate(annotations, start=1):
        if annotation.image_id not in known:
            raise ValueError(f"annotation {number} names unknown image {annotation.image_id!r}")
        if annotation.category_id not in categories:
            raise ValueError(f"annotation {number} names unknown category {annotation.category_id}")
        annotation_records.append(_annotation_record(number, annotation))
    category_records = [
        {"id": int(key), "name": str(name), "supercategory": ""} | dict(category_extra or {})
        for key, name in sorted(categories.items())
    ]
    return {
        "info": {"description": "written by YOLO Studio"} | dict(info or {}),
        "images": image_records,
        "annotations": annotation_records,
        "categories": category_records,
    }


def write_coco_ground_truth(
    path: str | Path,
    images: Iterable[CocoImage],
    annotations: Iterable[CocoAnnotation],
    categories: Mapping[int, str],
    **options: Any,
) -> Path:
    """Write a COCO instances JSON (see :func:`coco_ground_truth` for ``options``)."""
    return write_coco_json(path, coco_ground_truth(images, annotations, categories, **options))


def _annotation_record(number: int, annotation: CocoAnnotation) -> dict[str, Any]:
    bbox = xyxy_to_xywh(annotation.box)
    record: dict[str, Any] = {
        "id": number,
        "image_id": annotation.image_id,
        "category_id": int(annotation.category_id),
        "bbox": bbox,
        "iscrowd": int(bool(annotation.iscrowd)),
    }
    area = bbox[2] * bbox[3]
    if annotation.mask is not None and annotation.polygons is not None:
        raise ValueError(f"annotation {number}: give a mask or polygons, not both")
    if annotation.mask is not None:
        record["segmentation"] = rle.encode(np.asarray(annotation.mask))
        area = float(rle.area(record["segmentation"]))
    elif annotation.polygons is not None:
        polygons = [np.asarray(points, np.float64).reshape(-1, 2) for points in annotation.polygons]
        record["segmentation"] = [points.reshape(-1).tolist() for points in polygons]
        area = float(sum(_polygon_area(points) for points in polygons))
    record["area"] = float(annotation.area) if annotation.area is not None else area
    record.update(annotation.extra)
    return record


def _polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _rounded(values: list[float], decimals: int | None) -> list[float]:
    return values if decimals is None else [round(value, decimals) for value in values]


def write_coco_json(path: str | Path, document: Any) -> Path:
    """Write a COCO document (a results list or an instances mapping) at ``path``, atomically.

    Compact ASCII JSON: pycocotools opens the file with the system's default encoding, so
    names beyond ASCII are escaped (``\\u72d7``) rather than written as UTF-8 bytes."""
    with atomic_writer(path) as handle:
        handle.write(json.dumps(document, separators=(",", ":")).encode("ascii"))
    return Path(path)
