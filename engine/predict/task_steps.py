"""What differs between tasks in prediction: how frames become a batch, and how the network's
outputs become ``Results``. Each task names its steps (engine/tasks/); the caller hands them to
the :class:`~engine.predict.predictor.Predictor`.

Classification: one centre crop and resize per frame (the transform validation uses, so
predictions and val metrics agree). Detection, segmentation and pose: a letterbox to ``imgsz``
(for a single image on a model that takes any size, padded only to the stride, as the reference
does), NMS, then boxes (and masks, or keypoints) mapped back to the original image.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..data.classify_augment import center_crop_resize
from ..data.detect_geometry import letterbox
from ..data.loader import to_tensor
from ..utils.boxes import LetterboxInfo, scale_boxes
from .detections import Boxes, Keypoints, Masks
from .masks import process_mask_native, process_mask_to_original
from .nms import non_max_suppression
from .results import Probs, Results
from .sources import Frame


@dataclass(frozen=True)
class DetectOptions:
    """The predict settings the detection family reads (reference defaults)."""

    conf: float = 0.25
    iou: float = 0.7
    classes: tuple[int, ...] | None = None
    agnostic: bool = False
    max_det: int = 300
    retina_masks: bool = False

    @classmethod
    def from_settings(cls, settings) -> DetectOptions:
        return cls(
            conf=0.25 if settings.conf is None else float(settings.conf),
            iou=float(settings.iou),
            classes=tuple(settings.classes) if settings.classes else None,
            agnostic=bool(settings.agnostic_nms),
            max_det=int(settings.max_det),
            retina_masks=bool(settings.retina_masks),
        )


class ClassifySteps:
    """Centre crop → probabilities → ``Results.probs``."""

    def __init__(self, backend, imgsz: int, _options: DetectOptions | None = None) -> None:
        self.backend, self.imgsz = backend, imgsz

    def preprocess(self, frames: list[Frame]) -> tuple[torch.Tensor, Any]:
        return to_tensor([center_crop_resize(f.image, self.imgsz) for f in frames]), None

    def postprocess(self, outputs, frames: list[Frame], _context) -> list[Results]:
        probs = outputs[0] if isinstance(outputs, tuple) else outputs
        probs = probs.float().cpu()
        names = self.backend.names
        return [
            Results(f.image, f.path, names, Probs(probs[i]), frame=f.frame)
            for i, f in enumerate(frames)
        ]


class SegmentSteps:
    """Letterbox → NMS → boxes and masks in original pixels."""

    def __init__(self, backend, imgsz: int, options: DetectOptions) -> None:
        self.backend, self.imgsz, self.options = backend, imgsz, options

    def preprocess(self, frames: list[Frame]) -> tuple[torch.Tensor, Any]:
        # One image on a model that takes any size: pad to the stride only (less to compute).
        rect = len(frames) == 1 and not self.backend.fixed_shape
        placed = [
            letterbox(f.image, self.imgsz, auto=rect, stride=self.backend.stride) for f in frames
        ]
        infos = [
            LetterboxInfo(float(ratio), (float(pad[0]), float(pad[1]))) for _, ratio, pad in placed
        ]
        images = to_tensor(np.stack([image for image, _, _ in placed]))
        return images, (infos, tuple(images.shape[2:]))

    def postprocess(self, outputs, frames: list[Frame], context) -> list[Results]:
        infos, input_shape = context
        detections, prototypes = outputs[0].float(), outputs[1].float()
        o = self.options
        found = non_max_suppression(
            detections,
            conf=o.conf,
            iou=o.iou,
            classes=list(o.classes) if o.classes else None,
            agnostic=o.agnostic,
            max_det=o.max_det,
            num_classes=len(self.backend.names),
        )
        return [
            self._result(frame, det, prototypes[i], info, input_shape)
            for i, (frame, det, info) in enumerate(zip(frames, found, infos, strict=True))
        ]

    def _result(
        self,
        frame: Frame,
        det: torch.Tensor,
        prototypes: torch.Tensor,
        info: LetterboxInfo,
        input_shape,
    ) -> Results:
        original = frame.image.shape[:2]
        boxes = scale_boxes(det[:, :4], input_shape, original, ratio_pad=info)
        if self.options.retina_masks:
            masks = process_mask_native(
                prototypes, det[:, 6:], boxes, original, input_shape, ratio_pad=info
            )
        else:
            masks = process_mask_to_original(
                prototypes, det[:, 6:], det[:, :4], input_shape, original, info
            )
        rows = torch.cat((boxes, det[:, 4:6]), 1).cpu()
        return Results(
            frame.image,
            frame.path,
            self.backend.names,
            boxes=Boxes(rows, original),
            masks=Masks(masks.cpu(), original),
            frame=frame.frame,
        )


class DetectSteps(SegmentSteps):
    """Letterbox → NMS → boxes in original pixels."""

    def _found(self, outputs) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The network's detections and, per image, the rows NMS keeps."""
        detections = (outputs[0] if isinstance(outputs, tuple) else outputs).float()
        o = self.options
        found = non_max_suppression(
            detections, conf=o.conf, iou=o.iou, classes=list(o.classes) if o.classes else None,
            agnostic=o.agnostic, max_det=o.max_det, num_classes=len(self.backend.names),
        )
        return detections, found

    def postprocess(self, outputs, frames: list[Frame], context) -> list[Results]:
        infos, input_shape = context
        _, found = self._found(outputs)
        results = []
        for frame, det, info in zip(frames, found, infos, strict=True):
            original = frame.image.shape[:2]
            boxes = scale_boxes(det[:, :4], input_shape, original, ratio_pad=info)
            rows = torch.cat((boxes, det[:, 4:6]), 1).cpu()
            results.append(Results(frame.image, frame.path, self.backend.names,
                                   boxes=Boxes(rows, original), frame=frame.frame))
        return results


class PoseSteps(DetectSteps):
    """Letterbox → NMS → boxes and keypoints in original pixels."""

    def postprocess(self, outputs, frames: list[Frame], context) -> list[Results]:
        infos, input_shape = context
        detections, found = self._found(outputs)
        count = (detections.shape[1] - 4 - len(self.backend.names)) // self.keypoint_dims
        results = []
        for frame, det, info in zip(frames, found, infos, strict=True):
            original = frame.image.shape[:2]
            boxes = scale_boxes(det[:, :4], input_shape, original, ratio_pad=info)
            points = det[:, 6:].reshape(len(det), count, self.keypoint_dims).clone()
            points[..., :2] = info.points_to_original(points[..., :2])
            rows = torch.cat((boxes, det[:, 4:6]), 1).cpu()
            results.append(Results(frame.image, frame.path, self.backend.names,
                                   boxes=Boxes(rows, original),
                                   keypoints=Keypoints(points.cpu(), original),
                                   frame=frame.frame,
                                   skeleton=self.backend.keypoint_layout.get("skeleton")))
        return results

    @property
    def keypoint_dims(self) -> int:
        shape = getattr(self.backend, "keypoint_shape", None)
        return int(shape[1]) if shape else 3

