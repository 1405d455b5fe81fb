"""Batches for the detection-family tasks: augmented (train) or letterboxed (val) images with
their targets collated for the loss.

The same thread pool, prefetching, cancel checks and bad-image handling as the classification
:class:`~engine.data.loader.BatchLoader`; only the sample recipe differs. Train samples go
through :class:`~engine.data.detect_augment.DetectAugment` (mosaic switched off for the last
``close_mosaic`` epochs); val samples through :class:`DetectValTransform`, keeping what maps
predictions back to the original image (``ori_shapes``, ``ratio_pad``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import torch

from ..cancel import NEVER, CancelToken
from .detect_augment import DetectAugment, DetectValTransform
from .detect_geometry import load_resized
from .detect_labels import LabelledImage
from .detect_targets import to_targets
from .instances import Instances
from .loader import AUTO_RAM_CACHE_BYTES, BatchLoader, ImageStore, WarningSink, to_tensor


class DetectBatchLoader(BatchLoader):
    """Iterates ``{"img", "cls", "bboxes", "batch_idx", ["masks"], ["keypoints"], "paths",
    "ori_shapes", "ratio_pad"}`` batches (see :func:`~engine.data.detect_targets.to_targets`)."""

    def __init__(
        self,
        samples: Sequence[LabelledImage],
        *,
        imgsz: int,
        task: str,
        augment: DetectAugment | None,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        workers: int = 2,
        mask_ratio: int = 4,
        overlap: bool = True,
        keypoint_shape: tuple[int, int] | None = None,
        epochs: int = 0,
        close_mosaic: int = 0,
        cache: bool | str = False,
        on_warning: WarningSink | None = None,
        cancel: CancelToken = NEVER,
    ) -> None:
        # Train keeps resized images in memory (below), so the originals need not stay.
        store = ImageStore(
            [s.image for s in samples],
            cache=cache,
            auto_ram_bytes=0 if augment is not None else AUTO_RAM_CACHE_BYTES,
        )
        super().__init__(
            store,
            np.zeros(len(samples)),
            _no_transform,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            workers=workers,
            on_warning=on_warning,
            cancel=cancel,
        )
        self.instances = [s.instances for s in samples]
        self.imgsz, self.task, self.augment = imgsz, task, augment
        self.mask_ratio, self.overlap, self.keypoint_shape = mask_ratio, overlap, keypoint_shape
        self.mosaic_until = max(epochs - close_mosaic, 0) if close_mosaic else None
        self.val_transform = DetectValTransform(imgsz)
        self._resized: dict[int, np.ndarray] = {}
        self._shapes: dict[int, tuple[int, int]] = {}
        self._resized_bytes = 0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        samples: Sequence[LabelledImage],
        settings,
        *,
        imgsz: int,
        task: str,
        batch_size: int,
        keypoint_shape: tuple[int, int] | None,
        augment: DetectAugment | None = None,
        on_warning: WarningSink | None = None,
        cancel: CancelToken = NEVER,
    ) -> DetectBatchLoader:
        """The loader a run's ``Settings`` ask for: shuffled and closing mosaic on schedule
        when ``augment`` is given (training), in order otherwise (validation)."""
        return cls(
            samples,
            imgsz=imgsz,
            task=task,
            augment=augment,
            batch_size=batch_size,
            shuffle=augment is not None,
            seed=settings.seed,
            workers=settings.workers,
            mask_ratio=settings.mask_ratio,
            overlap=bool(settings.overlap_mask),
            keypoint_shape=keypoint_shape,
            epochs=int(settings.epochs),
            close_mosaic=int(settings.close_mosaic) if augment is not None else 0,
            cache=settings.cache,
            on_warning=on_warning,
            cancel=cancel,
        )

    @property
    def mosaic(self) -> bool:
        """Mosaic (with copy-paste and mixup) is on, except in the last ``close_mosaic`` epochs."""
        return self.mosaic_until is None or self.epoch < self.mosaic_until

    def share_cores_with_training(self) -> None:
        """Keeps the loader threads: a mosaic batch is heavy, and making it between steps
        measured no faster (yolov8n-seg at 320 on 2 cores: 14.2-14.7 images/s either way)."""

    def _make_batch(self, indices: np.ndarray) -> dict:
        images, instances, paths, shapes, ratio_pads = [], [], [], [], []
        for position in indices:
            rng = np.random.default_rng([self.seed, self.epoch, int(position)])
            if self.augment is not None:
                index, _ = self._resized_image(int(position))
                image, objects = self.augment(
                    index, self._load_resized, len(self.store), rng, mosaic=self.mosaic
                )
                ratio_pad = ((1.0, 1.0), (0.0, 0.0))
            else:
                index, original = self._decoded(int(position))
                image, objects, ratio_pad = self.val_transform(original, self.instances[index])
            images.append(image)
            instances.append(objects)
            paths.append(str(self.store.paths[index]))
            shapes.append(self._shapes[index])
            ratio_pads.append(ratio_pad)
        targets = to_targets(
            instances,
            self.imgsz,
            task=self.task,
            mask_ratio=self.mask_ratio,
            overlap=self.overlap,
            keypoint_shape=self.keypoint_shape,
        )
        return {
            "img": np.stack(images),
            **targets,
            "paths": paths,
            "ori_shapes": shapes,
            "ratio_pad": ratio_pads,
        }

    def _to_tensors(self, batch: dict) -> dict:
        out = dict(batch)
        out["img"] = to_tensor(batch["img"])
        for key in ("cls", "bboxes", "batch_idx", "masks", "keypoints"):
            if key in batch:
                out[key] = torch.from_numpy(np.ascontiguousarray(batch[key]))
        return out

    def _load_resized(self, index: int) -> tuple[np.ndarray, Instances]:
        """Image ``index`` (or the next readable one) with its long side at ``imgsz``, and its
        normalised labels: what the augmentation recipe loads."""
        index, image = self._resized_image(index)
        return image, self.instances[index]

    def _resized_image(self, index: int) -> tuple[int, np.ndarray]:
        """Kept in memory while the resized images fit :data:`AUTO_RAM_CACHE_BYTES`."""
        cached = self._resized.get(index)
        if cached is not None:
            return index, cached
        index, original = self._decoded(index)
        image = load_resized(original, self.imgsz)[0]
        with self._lock:
            if self._resized_bytes + image.nbytes <= AUTO_RAM_CACHE_BYTES:
                self._resized[index] = image
                self._resized_bytes += image.nbytes
        return index, image

    def _decoded(self, index: int) -> tuple[int, np.ndarray]:
        """Image ``index`` decoded, or the next one that decodes (each bad file reported once);
        records its original size."""
        candidate, image = self._readable(index)
        self._shapes[candidate] = (int(image.shape[0]), int(image.shape[1]))
        return candidate, image


def _no_transform(image: np.ndarray, _rng: np.random.Generator) -> np.ndarray:
    return image
