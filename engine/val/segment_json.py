"""``val(save_json=True)`` for segmentation: predictions in the COCO results format (masks as
RLE, the original-size masks of :func:`~engine.predict.masks.native_mask_windows` that
validation scores) and the ground truth as a COCO instances file beside them, in
original-image pixels, so anyone can check our numbers with pycocotools: load
``ground_truth.json`` with ``COCO``, the predictions with its ``loadRes``, and score them with
``COCOeval`` ("bbox" or "segm").

Image ids are 1-based positions in the split; category ids are the class indices.
"""

from __future__ import annotations

import numpy as np

from ..formats.coco import CocoAnnotation
from ..predict.masks import native_mask_windows
from .coco_collector import CocoJsonCollector
from .coco_masks import window_rle


class SegmentJsonCollector(CocoJsonCollector):
    """Collects each image's predictions (and its labels) during validation; ``write`` saves
    ``predictions.json`` and ``ground_truth.json``."""

    def _outputs(
        self, det, boxes, info, original_shape, input_shape, *, prototypes, windows=None
    ) -> dict:
        """Masks at the original size from the rows' mask coefficients and ``prototypes`` (or
        the ``windows`` the scorer already made of them), as COCO RLE."""
        if windows is None:
            windows = native_mask_windows(
                prototypes, det[:, 6:], boxes, input_shape, original_shape, info
            )
        height, width = (int(v) for v in original_shape)
        return {"segmentations": [window_rle(window, height, width) for window in windows]}

    def _annotation(self, image_id: int, cls: int, objects, index: int) -> CocoAnnotation:
        polygons = [objects.segments[index]] if objects.segments else None
        return CocoAnnotation(
            image_id,
            cls,
            np.asarray(objects.boxes[index], np.float64),
            polygons=polygons if polygons is not None and len(polygons[0]) >= 3 else None,
        )
