"""The label checker's records: a labelled instance, a model's prediction, and a finding.

Coordinates are pixels of the image (see :mod:`engine.assist.checker`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SWAP, DUPLICATE, TINY, SELF_INTERSECTING = "swap", "duplicate", "tiny", "self_intersecting"
OUTSIDE, UNLABELLED, DOUBTED, OTHER_CLASS = "outside", "unlabelled", "doubted", "other_class"
SHIFTED = "shifted"
KINDS = (
    SWAP,
    DUPLICATE,
    TINY,
    SELF_INTERSECTING,
    OUTSIDE,
    UNLABELLED,
    DOUBTED,
    SHIFTED,
    OTHER_CLASS,
)
"""Every finding's ``kind``."""


@dataclass(frozen=True, eq=False)
class LabelInstance:
    """One labelled object, in pixels.

    ``image`` and ``instance`` identify it (a path and a row number, or database ids);
    ``number`` is how a person counts it in its image (an editor's 1-based list), used in
    messages instead of ``instance`` when given; ``box`` is ``x1 y1 x2 y2``; ``polygon`` is
    ``(N, 2)`` x y; ``keypoints`` is ``(K, 2)`` or ``(K, 3)`` x y visibility (visibility 0 is
    "not labelled"). A polygon without a box gets the polygon's bounding box.
    """

    image: str | int
    instance: int
    class_index: int
    box: np.ndarray | None = None
    polygon: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    number: int | None = None

    @property
    def shown(self) -> str:
        """How messages name it: ``#number``, else its ``instance``."""
        return f"#{self.number}" if self.number is not None else str(self.instance)

    def __post_init__(self) -> None:
        if self.box is None and self.polygon is not None and len(self.polygon):
            low, high = self.polygon.min(0), self.polygon.max(0)
            object.__setattr__(self, "box", np.concatenate((low, high)).astype(np.float64))


@dataclass(frozen=True, eq=False)
class Prediction:
    """One detection of a trained model on an image, in pixels (``box`` x1 y1 x2 y2)."""

    image: str | int
    class_index: int
    score: float
    box: np.ndarray
    polygon: np.ndarray | None = None


@dataclass(frozen=True)
class Finding:
    """A likely label error: its ``kind`` (one of :data:`KINDS`), the image, the instances it
    names (empty for an object no label covers), what looks wrong, and how sure (0..1, higher
    is surer; findings sort by it)."""

    kind: str
    image: str | int
    instances: tuple[int, ...]
    message: str
    score: float
