"""Detection-family outputs of one image: ``Boxes``, ``Masks`` and (for pose) ``Keypoints``.

Coordinates are in the original image's pixels; the ``n`` suffix (``xyxyn``, ``xyn``) divides by
its width and height. Data stays a tensor (or numpy array) until asked for, so ``Results.cpu()``
and ``.numpy()`` move it like any other output.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

from .tensor_view import Array, TensorView


def _xyxy_to_xywh(boxes: Array) -> Array:
    if isinstance(boxes, torch.Tensor):
        return torch.cat(
            ((boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]), -1
        )
    return np.concatenate(
        ((boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]), -1
    )


class Boxes(TensorView):
    """``data [n, 6]``: x1, y1, x2, y2 (pixels of the original image), confidence, class."""

    def __init__(self, data: Array | Any, orig_shape: tuple[int, int]) -> None:
        super().__init__(data)
        if self.data.ndim != 2 or self.data.shape[1] != 6:
            raise ValueError(f"Boxes needs [n, 6] rows (xyxy, conf, cls), got {self.shape}")
        self.orig_shape = (int(orig_shape[0]), int(orig_shape[1]))

    @property
    def xyxy(self) -> Array:
        return self.data[:, :4]

    @property
    def conf(self) -> Array:
        return self.data[:, 4]

    @property
    def cls(self) -> Array:
        return self.data[:, 5]

    @property
    def xywh(self) -> Array:
        """Centre x, centre y, width, height in pixels."""
        return _xyxy_to_xywh(self.xyxy)

    @property
    def xyxyn(self) -> Array:
        return self.xyxy / self._scale()

    @property
    def xywhn(self) -> Array:
        return self.xywh / self._scale()

    def _scale(self) -> Array:
        height, width = self.orig_shape
        scale = [width, height, width, height]
        if isinstance(self.data, torch.Tensor):
            return torch.tensor(scale, dtype=self.data.dtype, device=self.data.device)
        return np.asarray(scale, dtype=self.data.dtype)

    def _new(self, data: Array) -> Boxes:
        return Boxes(data, self.orig_shape)

    def __repr__(self) -> str:
        return f"Boxes(n={len(self)}, orig_shape={self.orig_shape})"


class Masks(TensorView):
    """``data [n, H, W]``: one 0/1 mask per object, at the original image's size (or at the
    network's input size when predicted without ``retina_masks``; ``orig_shape`` tells).

    ``xy`` gives each mask's outline as a polygon in original pixels (the largest part of a
    mask in several pieces), ``xyn`` the same divided by width and height.
    """

    def __init__(self, data: Array | Any, orig_shape: tuple[int, int]) -> None:
        super().__init__(data)
        if self.data.ndim != 3:
            raise ValueError(f"Masks needs [n, H, W] data, got {self.shape}")
        self.orig_shape = (int(orig_shape[0]), int(orig_shape[1]))
        self._polygons: list[np.ndarray] | None = None

    @property
    def xy(self) -> list[np.ndarray]:
        """Outline polygons ``[k, 2]`` (float32 pixels of the original image), one per mask."""
        if self._polygons is None:
            self._polygons = [self._outline(mask) for mask in self._bool_masks()]
        return self._polygons

    @property
    def xyn(self) -> list[np.ndarray]:
        height, width = self.orig_shape
        return [polygon / np.array([width, height], np.float32) for polygon in self.xy]

    def _bool_masks(self) -> np.ndarray:
        data = self.data
        array = data.detach().cpu().numpy() if isinstance(data, torch.Tensor) else data
        return np.asarray(array) > 0.5

    def _outline(self, mask: np.ndarray) -> np.ndarray:
        """The largest external contour, scaled from the mask's grid to original pixels."""
        contours, _ = cv2.findContours(
            mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
        )
        if not contours:
            return np.zeros((0, 2), np.float32)
        largest = max(contours, key=len).reshape(-1, 2).astype(np.float32)
        height, width = self.orig_shape
        return largest * np.array([width / mask.shape[1], height / mask.shape[0]], np.float32)

    def _new(self, data: Array) -> Masks:
        return Masks(data, self.orig_shape)

    def __repr__(self) -> str:
        return f"Masks(n={len(self)}, shape={self.shape}, orig_shape={self.orig_shape})"


class Keypoints(TensorView):
    """``data [n, K, 2|3]``: each object's K keypoints as x, y (pixels of the original image)
    and, when predicted, a confidence per keypoint.

    ``conf`` is None for ``[n, K, 2]`` data (e.g. ground truth without visibility).
    """

    def __init__(self, data: Array | Any, orig_shape: tuple[int, int]) -> None:
        super().__init__(data)
        if self.data.ndim == 2 and self.data.shape[-1] in (2, 3):  # one object
            self.data = self.data[None]
        if self.data.ndim != 3 or self.data.shape[-1] not in (2, 3):
            raise ValueError(f"Keypoints needs [n, K, 2|3] data (x, y[, conf]), got {self.shape}")
        self.orig_shape = (int(orig_shape[0]), int(orig_shape[1]))

    @property
    def has_visible(self) -> bool:
        """Whether the data carries a confidence (visibility) column."""
        return self.data.shape[-1] == 3

    @property
    def xy(self) -> Array:
        """``[n, K, 2]`` pixel coordinates."""
        return self.data[..., :2]

    @property
    def xyn(self) -> Array:
        """``[n, K, 2]`` coordinates divided by the image's width and height."""
        height, width = self.orig_shape
        if isinstance(self.data, torch.Tensor):
            scale = torch.tensor([width, height], dtype=self.data.dtype, device=self.data.device)
        else:
            scale = np.asarray([width, height], dtype=self.data.dtype)
        return self.xy / scale

    @property
    def conf(self) -> Array | None:
        """``[n, K]`` keypoint confidences, or None without a third column."""
        return self.data[..., 2] if self.has_visible else None

    def _new(self, data: Array) -> Keypoints:
        return Keypoints(data, self.orig_shape)

    def __repr__(self) -> str:
        count, dims = self.shape[1:]
        return (
            f"Keypoints(n={len(self)}, kpt_shape=[{count}, {dims}], orig_shape={self.orig_shape})"
        )
