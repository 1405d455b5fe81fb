"""Keypoint schemas for pose projects: the COCO person template and checks for custom ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.data.detect_dataset import derive_flip_idx

COCO_PERSON_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
COCO_PERSON_SKELETON = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8),
    (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)


@dataclass(frozen=True)
class KeypointSchema:
    """Names (in label order), skeleton edges (0-based pairs), flip map, values per point."""

    names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...] = ()
    flip_idx: tuple[int, ...] = field(default=())
    dims: int = 3

    @classmethod
    def build(cls, names: Sequence[str], skeleton: Sequence[Sequence[int]] = (),
              flip_idx: Sequence[int] | None = None, dims: int = 3) -> KeypointSchema:
        """A checked schema; ``flip_idx`` derived from left/right names when not given."""
        names = tuple(str(n).strip() for n in names)
        if not names or any(not n for n in names):
            raise ValueError("a keypoint schema needs at least one keypoint, each with a name")
        if len(set(names)) != len(names):
            raise ValueError("keypoint names must differ from one another")
        if dims not in (2, 3):
            raise ValueError("keypoints have 2 (x, y) or 3 (x, y, visibility) values")
        edges = tuple((int(a), int(b)) for a, b in skeleton)
        for a, b in edges:
            if not (0 <= a < len(names) and 0 <= b < len(names)) or a == b:
                raise ValueError(f"skeleton edge ({a}, {b}) must join two different keypoints "
                                 f"of the {len(names)}")
        if flip_idx is None or len(flip_idx) == 0:
            flip = derive_flip_idx(names) or tuple(range(len(names)))
        else:
            flip = tuple(int(i) for i in flip_idx)
        if sorted(flip) != list(range(len(names))) or any(flip[flip[i]] != i
                                                            for i in range(len(flip))):
            raise ValueError("flip pairs must swap keypoints two by two (each its own inverse)")
        return cls(names, edges, flip, dims)

    @property
    def flip_pairs(self) -> list[tuple[str, str]]:
        """The left/right pairs a mirror swaps, by name (for showing them)."""
        return [(self.names[i], self.names[j]) for i, j in enumerate(self.flip_idx) if i < j]


COCO_PERSON = KeypointSchema.build(COCO_PERSON_NAMES, COCO_PERSON_SKELETON)
TEMPLATES = {"COCO person (17 keypoints)": COCO_PERSON}
