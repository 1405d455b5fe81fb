"""What the segment and pose ``save_json`` collectors share: image ids (1-based positions in
the split; category ids are the class indices), each scored image's ground truth, the
predictions mapped to original pixels, and writing ``predictions.json`` and
``ground_truth.json`` (see ``engine.formats.coco``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ..data.detect_labels import LabelledImage
from ..formats.coco import (
    CocoAnnotation,
    CocoImage,
    ImagePredictions,
    write_coco_ground_truth,
    write_coco_results,
)
from ..utils.boxes import LetterboxInfo, scale_boxes


class CocoJsonCollector:
    """What the segment and pose collectors share: image ids, the ground truth of each scored
    image, and ``write`` (``predictions.json`` and ``ground_truth.json``)."""

    def __init__(self, samples: Sequence[LabelledImage], names: dict[int, str]) -> None:
        self.ids = {str(sample.image): position + 1 for position, sample in enumerate(samples)}
        self.samples = {str(sample.image): sample for sample in samples}
        self.names = names
        self.predictions: list[ImagePredictions] = []
        self.images: list[CocoImage] = []
        self.annotations: list[CocoAnnotation] = []

    def add(
        self,
        path: str,
        original_shape: tuple[int, int],
        ratio_pad,
        det: torch.Tensor,
        input_shape: tuple[int, int],
        **inputs: torch.Tensor,
    ) -> None:
        """One image: ``det`` rows (xyxy input pixels, conf, cls, the task's columns), in an
        input of ``input_shape`` letterboxed by ``ratio_pad``; ``inputs`` as the task needs."""
        image_id = self.ids[path]
        info = LetterboxInfo.from_ratio_pad(ratio_pad)
        boxes = scale_boxes(det[:, :4], input_shape, original_shape, ratio_pad=info)
        outputs = self._outputs(det, boxes, info, original_shape, input_shape, **inputs)
        self.predictions.append(
            ImagePredictions(
                image_id,
                boxes.cpu().numpy(),
                det[:, 4].cpu().numpy(),
                det[:, 5].cpu().numpy().astype(int),
                **{k: v.cpu().numpy() if hasattr(v, "cpu") else v for k, v in outputs.items()},
            )
        )
        self._add_ground_truth(image_id, path, original_shape)

    def _outputs(self, det, boxes, info, original_shape, input_shape, **inputs) -> dict:
        """The task's outputs in original pixels: ``masks`` or ``keypoints`` tensors, or
        ``segmentations`` (COCO RLE records)."""
        raise NotImplementedError

    def _add_ground_truth(self, image_id: int, path: str, shape: tuple[int, int]) -> None:
        height, width = shape
        self.images.append(CocoImage(image_id, width, height, Path(path).name))
        objects = self.samples[path].instances.to_pixels(width, height)
        for index, cls in enumerate(objects.cls):
            self.annotations.append(self._annotation(image_id, int(cls), objects, index))

    def _annotation(self, image_id: int, cls: int, objects, index: int) -> CocoAnnotation:
        raise NotImplementedError

    def _ground_truth_options(self) -> dict:
        return {}

    def write(self, folder: Path) -> tuple[Path, Path]:
        predictions = folder / "predictions.json"
        ground_truth = folder / "ground_truth.json"
        write_coco_results(predictions, self.predictions)
        write_coco_ground_truth(
            ground_truth, self.images, self.annotations, self.names,
            **self._ground_truth_options(),
        )
        return predictions, ground_truth
