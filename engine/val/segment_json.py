"""``val(save_json=True)`` for segmentation: predictions in the COCO results format (masks as
RLE) and the ground truth as a COCO instances file beside them, in original-image pixels, so
anyone can check our numbers with pycocotools: load ``ground_truth.json`` with ``COCO``,
the predictions with its ``loadRes``, and score them with ``COCOeval`` ("bbox" or "segm").

Image ids are 1-based positions in the split; category ids are the class indices.
"""

from __future__ import annotations

import numpy as np

from ..formats.coco import CocoAnnotation
from ..predict.masks import process_mask_native
from .coco_collector import CocoJsonCollector


class SegmentJsonCollector(CocoJsonCollector):
    """Collects each image's predictions (and its labels) during validation; ``write`` saves
    ``predictions.json`` and ``ground_truth.json``."""

    def _outputs(self, det, boxes, info, original_shape, input_shape, *, prototypes) -> dict:
        """Masks at the original size from the rows' mask coefficients and ``prototypes``."""
        masks = process_mask_native(
            prototypes, det[:, 6:], boxes, original_shape, input_shape, ratio_pad=info
        )
        return {"masks": masks}

    def _annotation(self, image_id: int, cls: int, objects, index: int) -> CocoAnnotation:
        polygons = [objects.segments[index]] if objects.segments else None
        return CocoAnnotation(
            image_id,
            cls,
            np.asarray(objects.boxes[index], np.float64),
            polygons=polygons if polygons is not None and len(polygons[0]) >= 3 else None,
        )
