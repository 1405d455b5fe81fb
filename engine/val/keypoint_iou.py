"""Object keypoint similarity (OKS): the pose task's "IoU" between labelled and predicted people.

For a ground truth with labelled keypoints (visibility > 0), OKS is computed as pycocotools'
``COCOeval.computeOks`` does: for each labelled keypoint ``e = d**2 / (2 * sigma)**2 / (area +
eps) / 2`` with ``d`` the pixel distance to the prediction, and OKS is the mean of ``exp(-e)``
over the labelled keypoints. Prediction visibility is ignored.

The ``area`` is the caller's choice. COCO's own evaluation uses the ground truth's ``area`` field
(the segment area); the reference YOLO validator uses the box area * 0.53
(:data:`BOX_AREA_SCALE`, see :func:`keypoint_areas`).

A ground truth with no labelled keypoint scores 0 against every prediction here (as in the
reference validator); pycocotools instead measures the distance to a box twice the object's size
around it, and its keypoint evaluation ignores such objects anyway (``num_keypoints == 0``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .average_precision import as_array

__all__ = [
    "BOX_AREA_SCALE",
    "COCO_KEYPOINT_SIGMAS",
    "keypoint_areas",
    "keypoint_sigmas",
    "oks",
]

#: Per-keypoint falloff of COCO's 17 person keypoints (nose, eyes, ears, shoulders, elbows,
#: wrists, hips, knees, ankles), from the COCO keypoint evaluation.
COCO_KEYPOINT_SIGMAS: tuple[float, ...] = (
    0.026,
    0.025,
    0.025,
    0.035,
    0.035,
    0.079,
    0.079,
    0.072,
    0.072,
    0.062,
    0.062,
    0.107,
    0.107,
    0.087,
    0.087,
    0.089,
    0.089,
)

#: The reference validator's object area for OKS: box width * height * this.
BOX_AREA_SCALE = 0.53


def keypoint_sigmas(num_keypoints: int) -> np.ndarray:
    """[K] sigmas: COCO's when K == 17, else 1/K for every keypoint (as the reference does)."""
    if num_keypoints < 1:
        raise ValueError(f"num_keypoints must be >= 1, got {num_keypoints}")
    if num_keypoints == len(COCO_KEYPOINT_SIGMAS):
        return np.array(COCO_KEYPOINT_SIGMAS, np.float64)
    return np.full(num_keypoints, 1.0 / num_keypoints)


def keypoint_areas(boxes: Any, scale: float = BOX_AREA_SCALE) -> np.ndarray:
    """[m] OKS areas from xyxy boxes [m, 4]: width * height * ``scale`` (the reference's rule)."""
    array = as_array(boxes, np.float64).reshape(-1, 4)
    return (array[:, 2] - array[:, 0]) * (array[:, 3] - array[:, 1]) * scale


def oks(
    true_keypoints: Any,
    pred_keypoints: Any,
    true_areas: Any,
    sigmas: Any = None,
    eps: float = float(np.spacing(1)),
) -> np.ndarray:
    """[m, n] OKS of ground truths [m, K, 3] (x, y, visibility) and predictions [n, K, 2|3].

    Coordinates are pixels; ``true_areas`` [m] scale the distances (see the module notes);
    ``sigmas`` [K] default to :func:`keypoint_sigmas`; ``eps`` is added to each area, as
    pycocotools adds ``np.spacing(1)``. A ground truth without labelled keypoints scores 0.
    """
    truth = _keypoints(true_keypoints, "ground-truth", 3)
    predicted = _keypoints(pred_keypoints, "predicted", 2)
    areas = as_array(true_areas, np.float64).reshape(-1)
    if len(areas) != len(truth):
        raise ValueError(f"{len(areas)} areas for {len(truth)} ground-truth objects")
    if truth.size == 0 or predicted.size == 0:
        return np.zeros((len(truth), len(predicted)))
    count = truth.shape[1]
    if predicted.shape[1] != count:
        raise ValueError(f"{count} ground-truth keypoints but {predicted.shape[1]} predicted")
    scale = as_array(keypoint_sigmas(count) if sigmas is None else sigmas, np.float64)
    if scale.shape != (count,):
        raise ValueError(f"sigmas must be [{count}], got {list(scale.shape)}")
    labelled = truth[:, :, 2] > 0  # [m, K]
    squared = ((truth[:, None, :, :2] - predicted[None, :, :, :2]) ** 2).sum(-1)  # [m, n, K]
    error = squared / (2 * scale) ** 2 / (areas[:, None, None] + eps) / 2
    total = (np.exp(-error) * labelled[:, None, :]).sum(-1)
    labelled_count = labelled.sum(-1, keepdims=True).astype(np.float64)
    return np.divide(total, labelled_count, out=np.zeros_like(total), where=labelled_count > 0)


def _keypoints(values: Any, what: str, min_dims: int) -> np.ndarray:
    array = as_array(values, np.float64)
    if array.size == 0 and array.ndim < 3:
        return array.reshape(0, 0, min_dims)
    if array.ndim != 3 or not min_dims <= array.shape[2] <= 3:
        wanted = "[N, K, 3]" if min_dims == 3 else "[N, K, 2 or 3]"
        raise ValueError(f"{what} keypoints must be {wanted}, got {list(array.shape)}")
    return array
