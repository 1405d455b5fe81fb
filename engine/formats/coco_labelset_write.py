"""A :class:`~engine.formats.labelset.LabelSet` written as one COCO instances JSON, in
Roboflow's layout: the images sit beside the JSON, each at ``output_json.parent / image.name``,
and ``file_name`` is ``image.name``. Polygons are polygon lists; masks and polygons with holes
are compressed RLE; rectangles are a ``bbox`` with ``segmentation: []``; points are
``keypoints`` with ``num_keypoints`` and the categories' joint names and 1-based ``skeleton``.
Ids count from 1. Reading is :mod:`.coco_labelset`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..utils import rle
from .coco import write_coco_json
from .labelset import ABSENT, LabeledImage, LabeledObject, LabelSet
from .outlines import fill_outlines

__all__ = ["coco_labelset_document", "write_coco_labelset"]


def write_coco_labelset(labelset: LabelSet, output_json: str | Path) -> Path:
    """Write ``labelset`` as one COCO instances JSON at ``output_json``, atomically.

    Label files only: each image is expected at ``output_json.parent / image.name`` (Roboflow's
    layout), where the caller links or copies it. See :func:`coco_labelset_document`."""
    return write_coco_json(output_json, coco_labelset_document(labelset))


def coco_labelset_document(labelset: LabelSet) -> dict[str, Any]:
    """The COCO instances document of ``labelset`` (ids from 1, ``file_name = image.name``)."""
    used = (o.label for image in labelset.images for o in image.objects)
    labels = list(dict.fromkeys([*labelset.labels, *used]))
    joints = _joint_schema(labelset)
    category_ids = {label: number for number, label in enumerate(labels, start=1)}
    with_points = {o.label for image in labelset.images for o in image.objects
                   if o.kind == "points"}
    categories = []
    for label, number in category_ids.items():
        record: dict[str, Any] = {"id": number, "name": label, "supercategory": ""}
        if joints and (label in with_points or not with_points):
            record["keypoints"] = list(joints)
            record["skeleton"] = [[a + 1, b + 1] for a, b in labelset.skeleton]
        categories.append(record)
    images, annotations = [], []
    for image_id, image in enumerate(labelset.images, start=1):
        images.append({"id": image_id, "file_name": image.name.as_posix(),
                       "width": int(image.width), "height": int(image.height)})
        for item in image.objects:
            record = _annotation(item, image, joints)
            record.update(id=len(annotations) + 1, image_id=image_id,
                          category_id=category_ids[item.label], iscrowd=int(item.crowd))
            annotations.append(record)
    return {"info": {"description": "written by YOLO Studio"}, "images": images,
            "annotations": annotations, "categories": categories}


def _joint_schema(labelset: LabelSet) -> tuple[str, ...]:
    if labelset.keypoint_names:
        return tuple(labelset.keypoint_names)
    names = [k.name for image in labelset.images for o in image.objects for k in o.keypoints]
    return tuple(dict.fromkeys(names))


def _annotation(item: LabeledObject, image: LabeledImage, joints: Sequence[str]
                ) -> dict[str, Any]:
    """``segmentation``, ``bbox``, ``area`` (and keypoints) of one object."""
    if item.kind not in ("polygon", "mask", "rectangle", "points"):
        raise ValueError(f"{image.name}, {item.where}: unknown kind {item.kind!r}")
    record: dict[str, Any] = {"segmentation": []}
    extent = item.bounds() or (0.0, 0.0, 0.0, 0.0)
    area = (extent[2] - extent[0]) * (extent[3] - extent[1])
    if item.kind == "mask" or item.holes:
        if not item.polygons:
            raise ValueError(f"{image.name}, {item.where}: a mask with no outline")
        encoded = rle.encode(fill_outlines(item.polygons, item.holes, image.height, image.width))
        record["segmentation"] = encoded
        area = float(rle.area(encoded))
        extent = _xyxy(rle.to_bbox(encoded)) if item.kind == "mask" else extent
    elif item.polygons:
        record["segmentation"] = [np.asarray(p, np.float64).reshape(-1).tolist()
                                  for p in item.polygons]
        area = sum(_polygon_area(np.asarray(p, np.float64)) for p in item.polygons)
    elif item.kind == "polygon":
        raise ValueError(f"{image.name}, {item.where}: a polygon with no points")
    elif item.kind == "rectangle" and item.box is None:
        raise ValueError(f"{image.name}, {item.where}: a rectangle with no box")
    if item.kind == "points":
        record.update(_keypoint_values(item, image, joints))
    x1, y1, x2, y2 = (float(v) for v in extent)
    record["bbox"] = [x1, y1, x2 - x1, y2 - y1]
    record["area"] = float(area)
    return record


def _keypoint_values(item: LabeledObject, image: LabeledImage, joints: Sequence[str]
                     ) -> dict[str, Any]:
    by_name = {k.name: k for k in item.keypoints}
    unknown = set(by_name) - set(joints)
    if unknown:
        raise ValueError(f"{image.name}, {item.where}: joints {sorted(unknown)} are not among "
                         f"the set's keypoint names {list(joints)}")
    values: list[float] = []
    for name in joints:
        point = by_name.get(name)
        if point is None or point.visibility == ABSENT:
            values += [0, 0, 0]
        else:
            values += [float(point.x), float(point.y), int(point.visibility)]
    return {"keypoints": values, "num_keypoints": sum(1 for v in values[2::3] if v)}


def _xyxy(xywh: Sequence[float]) -> tuple[float, float, float, float]:
    x, y, width, height = (float(v) for v in xywh)
    return x, y, x + width, y + height


def _polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
