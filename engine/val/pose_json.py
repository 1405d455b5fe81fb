"""``val(save_json=True)`` for pose: predictions in the COCO keypoint results format and the
ground truth as a COCO person-keypoints style file beside them, in original-image pixels.

To check our numbers with pycocotools: load ``ground_truth.json`` with ``COCO``, the
predictions with ``loadRes``, run ``COCOeval`` with iouType ``"keypoints"`` and
``params.kpt_oks_sigmas`` set to the ``kpt_oks_sigmas`` in the ground truth's ``info`` (COCO's
own 17 values when K = 17, so nothing to set then). Each object's ``area`` is its box area ×
0.53, the scale our OKS uses, so both sides compare keypoints the same way. pycocotools keeps
the 20 best predictions per image for keypoints; with more objects per image the numbers can
differ for that reason alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..data.detect_labels import LabelledImage
from ..formats.coco import CocoAnnotation
from .coco_collector import CocoJsonCollector
from .keypoint_iou import keypoint_areas, keypoint_sigmas


class PoseJsonCollector(CocoJsonCollector):
    """Collects each image's boxes and keypoints (and its labels) during validation."""

    def __init__(
        self,
        samples: Sequence[LabelledImage],
        names: dict[int, str],
        keypoint_shape: tuple[int, int],
        layout: dict[str, list] | None = None,
    ) -> None:
        super().__init__(samples, names)
        self.count, self.dims = (int(v) for v in keypoint_shape)
        self.layout = dict(layout or {})

    def _outputs(self, det, boxes, info, original_shape, input_shape) -> dict:
        """The rows' K × (x, y[, conf]) keypoints in original pixels, with a confidence."""
        points = info.points_to_original(det[:, 6:].reshape(len(det), self.count, self.dims))
        if self.dims == 2:
            points = torch.cat((points, torch.ones_like(points[..., :1])), -1)
        return {"keypoints": points}

    def _annotation(self, image_id: int, cls: int, objects, index: int) -> CocoAnnotation:
        box = np.asarray(objects.boxes[index], np.float64)
        points = np.asarray(objects.keypoints[index], np.float64)
        if points.shape[1] == 2:  # no visibility column: a labelled point is a non-zero one
            labelled = (points != 0).any(1)
            points = np.concatenate([points, np.where(labelled, 2.0, 0.0)[:, None]], 1)
        points[points[:, 2] == 0, :2] = 0.0  # COCO writes unlabelled keypoints as 0, 0, 0
        return CocoAnnotation(
            image_id,
            cls,
            box,
            area=float(keypoint_areas(box[None])[0]),
            extra={
                "keypoints": points.reshape(-1).tolist(),
                "num_keypoints": int((points[:, 2] > 0).sum()),
            },
        )

    def _ground_truth_options(self) -> dict:
        names = self.layout.get("kpt_names") or [f"kp{i}" for i in range(self.count)]
        skeleton = [[a + 1, b + 1] for a, b in self.layout.get("skeleton", [])]  # COCO: from 1
        return {
            "category_extra": {"keypoints": list(names), "skeleton": skeleton},
            "info": {"kpt_oks_sigmas": [float(s) for s in keypoint_sigmas(self.count)]},
        }
