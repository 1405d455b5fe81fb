"""The objects of one image, as the detection-family tasks (segment, pose) pass them around.

Labels files hold normalised coordinates; augmentation works in pixels. ``Instances`` carries
either, and says which (``normalized``); ``to_pixels`` / ``to_normalized`` convert all fields
together so boxes, polygons and keypoints never disagree.

Layout (``n`` objects):
- ``cls``: int64 ``[n]`` class ids;
- ``boxes``: float32 ``[n, 4]`` as ``xyxy`` (left, top, right, bottom);
- ``segments``: a list of ``n`` float32 ``[k_i, 2]`` polygons (x, y), or an empty list;
- ``keypoints``: float32 ``[n, K, 3]`` (x, y, visibility 0/1/2; ``[n, K, 2]`` without it), or
  None.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass
class Instances:
    """The labelled objects of one image (see the module docstring for the layout)."""

    cls: np.ndarray
    boxes: np.ndarray
    segments: list[np.ndarray] = field(default_factory=list)
    keypoints: np.ndarray | None = None
    normalized: bool = True

    def __post_init__(self) -> None:
        self.cls = np.asarray(self.cls, dtype=np.int64).reshape(-1)
        self.boxes = np.asarray(self.boxes, dtype=np.float32).reshape(-1, 4)
        self.segments = [np.asarray(s, dtype=np.float32).reshape(-1, 2) for s in self.segments]
        if self.keypoints is not None:
            self.keypoints = np.asarray(self.keypoints, dtype=np.float32)
        n = len(self.cls)
        if len(self.boxes) != n or (self.segments and len(self.segments) != n):
            raise ValueError(
                f"Instances: {n} classes, {len(self.boxes)} boxes, {len(self.segments)} segments"
            )
        if self.keypoints is not None and len(self.keypoints) != n:
            raise ValueError(f"Instances: {n} classes, {len(self.keypoints)} keypoint rows")

    def __len__(self) -> int:
        return len(self.cls)

    @classmethod
    def empty(cls, keypoint_shape: tuple[int, int] | None = None) -> Instances:
        keypoints = None if keypoint_shape is None else np.zeros((0, *keypoint_shape), np.float32)
        return cls(np.zeros(0, np.int64), np.zeros((0, 4), np.float32), [], keypoints)

    def to_pixels(self, width: int, height: int) -> Instances:
        """A copy in pixels of a ``width``×``height`` image (no-op copy when already pixels)."""
        return self if not self.normalized else self._scaled(width, height, normalized=False)

    def to_normalized(self, width: int, height: int) -> Instances:
        """A copy in 0..1 of a ``width``×``height`` image (no-op copy when already normalised)."""
        if self.normalized:
            return self
        return self._scaled(1.0 / width, 1.0 / height, normalized=True)

    def select(self, keep: np.ndarray) -> Instances:
        """The objects where the boolean or index array ``keep`` says so."""
        index = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else np.asarray(keep)
        return replace(
            self,
            cls=self.cls[index],
            boxes=self.boxes[index],
            segments=[self.segments[i] for i in index] if self.segments else [],
            keypoints=None if self.keypoints is None else self.keypoints[index],
        )

    def _scaled(self, sx: float, sy: float, *, normalized: bool) -> Instances:
        scale = np.array([sx, sy], np.float32)
        keypoints = None
        if self.keypoints is not None:
            keypoints = self.keypoints.copy()
            keypoints[..., :2] *= scale
        return Instances(
            self.cls.copy(),
            self.boxes * np.tile(scale, 2),
            [s * scale for s in self.segments],
            keypoints,
            normalized,
        )


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    """Centre x, centre y, width, height → left, top, right, bottom (numpy, any leading dims)."""
    boxes = np.asarray(boxes, dtype=np.float32)
    half = boxes[..., 2:] / 2
    return np.concatenate((boxes[..., :2] - half, boxes[..., :2] + half), -1)


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """Left, top, right, bottom → centre x, centre y, width, height (numpy, any leading dims)."""
    boxes = np.asarray(boxes, dtype=np.float32)
    return np.concatenate(
        ((boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]), -1
    )


def segments_to_boxes(segments: list[np.ndarray]) -> np.ndarray:
    """The tight ``xyxy`` box of each polygon, ``[n, 4]``."""
    if not segments:
        return np.zeros((0, 4), np.float32)
    return np.stack(
        [np.concatenate((s.min(0), s.max(0))) if len(s) else np.zeros(4) for s in segments]
    ).astype(np.float32)
