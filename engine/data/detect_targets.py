"""Collating a batch's instances into the loss's target arrays (numpy; the caller makes tensors)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..formats.yolo_labels import KEYPOINTS, POLYGONS, label_rows
from .instances import Instances, xyxy_to_xywh
from .polygons import overlap_masks, polygons_to_masks


def to_targets(
    batch: Sequence[Instances],
    imgsz: int | tuple[int, int],
    *,
    task: str,
    mask_ratio: int = 4,
    overlap: bool = True,
    keypoint_shape: tuple[int, int] | None = None,
) -> dict[str, np.ndarray]:
    """Collate the instances (pixels of ``imgsz`` images) of a batch in the loss's layout.

    ``cls`` float32 ``[M, 1]``, ``bboxes`` float32 ``[M, 4]`` normalised ``xywh``, ``batch_idx``
    float32 ``[M]`` (the image of each object); segment: ``masks`` uint8 (int32 past 255 objects)
    — with ``overlap`` one index map per image ``[N, h/r, w/r]`` whose value ``k`` is the image's
    ``k``-th object (objects are reordered largest first to match), else ``[M, h/r, w/r]`` 0/1;
    pose: ``keypoints`` float32 ``[M, K, 3|2]`` with ``x, y`` normalised (``keypoint_shape`` gives
    ``K, 3|2`` for a batch without objects).
    """
    height, width = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    rows = label_rows(task)
    mask_shape = (height // mask_ratio, width // mask_ratio)
    cls, boxes, owner, masks, keypoints = [], [], [], [], []
    for i, instances in enumerate(batch):
        if rows == POLYGONS:
            if len(instances) and not instances.segments:
                raise ValueError(f"to_targets: image {i} of the batch has objects but no polygons")
            if overlap:
                index_map, order = overlap_masks(instances.segments, (height, width), mask_ratio)
                instances = instances.select(order)
                masks.append(index_map[None])
            else:
                masks.append(polygons_to_masks(instances.segments, (height, width), mask_ratio))
        cls.append(instances.cls)
        boxes.append(instances.boxes)
        owner.append(np.full(len(instances), i))
        if rows == KEYPOINTS and instances.keypoints is not None:
            keypoints.append(instances.keypoints)
    scale = np.array([width, height, width, height], np.float32)
    targets = {
        "cls": np.concatenate(cls or [np.zeros(0)]).astype(np.float32).reshape(-1, 1),
        "bboxes": xyxy_to_xywh(np.concatenate(boxes or [np.zeros((0, 4))])) / scale,
        "batch_idx": np.concatenate(owner or [np.zeros(0)]).astype(np.float32),
    }
    if rows == POLYGONS:
        targets["masks"] = np.concatenate(masks) if masks else np.zeros((0, *mask_shape), np.uint8)
    if rows == KEYPOINTS:
        targets["keypoints"] = _normalised_keypoints(
            keypoints, len(targets["cls"]), width, height, keypoint_shape
        )
    return targets


def _normalised_keypoints(
    parts: list[np.ndarray],
    count: int,
    width: int,
    height: int,
    keypoint_shape: tuple[int, int] | None,
) -> np.ndarray:
    known = [p for p in parts if len(p)]
    if not known:
        shape = keypoint_shape or (parts[0].shape[1:] if parts else (0, 3))
        if count:
            raise ValueError("to_targets: pose objects without keypoints")
        return np.zeros((0, *shape), np.float32)
    out = np.concatenate(known).astype(np.float32)
    if len(out) != count:
        raise ValueError("to_targets: pose objects without keypoints")
    out[..., 0] /= width
    out[..., 1] /= height
    return out
