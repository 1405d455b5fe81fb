"""Keypoint schemas for pose projects: built-in templates (COCO person, hand, face) with the
layout the Annotate page places in one go, checks for custom schemas, and the layout rule for
them (the mean pose of the project's labelled objects, or a circle before there are any).

A layout is one ``(u, v)`` per joint in the template's own frame: the box a labeller would draw
around the object, 0..1 both ways (so margins such as the head above the nose are kept). The
page maps it into the box the user drags.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from engine.data.detect_dataset import derive_flip_idx

from ..state import Annotation, Database
from ..state.models import KEYPOINTS

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


Layout = tuple[tuple[float, float], ...]
"""One ``(u, v)`` per joint, 0..1 in the template's own box."""

# A frontal standing person (the subject's left on the image's right, as COCO labels it).
COCO_PERSON_LAYOUT: Layout = (
    (0.50, 0.085), (0.535, 0.065), (0.465, 0.065), (0.58, 0.08), (0.42, 0.08),
    (0.69, 0.20), (0.31, 0.20), (0.77, 0.36), (0.23, 0.36), (0.81, 0.51), (0.19, 0.51),
    (0.61, 0.52), (0.39, 0.52), (0.62, 0.74), (0.38, 0.74), (0.63, 0.95), (0.37, 0.95),
)

# MediaPipe's hand landmarks (COCO-WholeBody uses the same 21 in this order).
_FINGERS = ("thumb", "index_finger", "middle_finger", "ring_finger", "pinky")
_FINGER_JOINTS = {"thumb": ("cmc", "mcp", "ip", "tip")}
HAND_NAMES = ("wrist", *(f"{finger}_{joint}" for finger in _FINGERS
                         for joint in _FINGER_JOINTS.get(finger, ("mcp", "pip", "dip", "tip"))))
HAND_SKELETON = (  # each finger from the wrist or the palm's knuckle line, as MediaPipe draws it
    (0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (5, 9), (9, 10), (10, 11),
    (11, 12), (9, 13), (13, 14), (14, 15), (15, 16), (13, 17), (0, 17), (17, 18), (18, 19),
    (19, 20),
)
# An open right palm, fingers up, the thumb on the image's left.
HAND_LAYOUT: Layout = (
    (0.50, 0.95),
    (0.36, 0.86), (0.23, 0.73), (0.13, 0.61), (0.05, 0.50),
    (0.38, 0.50), (0.35, 0.33), (0.33, 0.21), (0.32, 0.09),
    (0.52, 0.48), (0.53, 0.29), (0.54, 0.16), (0.55, 0.04),
    (0.65, 0.51), (0.68, 0.34), (0.70, 0.22), (0.72, 0.11),
    (0.77, 0.57), (0.83, 0.46), (0.87, 0.37), (0.91, 0.28),
)

# The five face landmarks face detectors give (RetinaFace, SCRFD): eyes, nose, mouth corners.
FACE_NAMES = ("left_eye", "right_eye", "nose", "left_mouth_corner", "right_mouth_corner")
FACE_SKELETON = ((0, 1), (0, 2), (1, 2), (2, 3), (2, 4), (3, 4))
FACE_LAYOUT: Layout = ((0.68, 0.37), (0.32, 0.37), (0.50, 0.58), (0.65, 0.78), (0.35, 0.78))

COCO_PERSON = KeypointSchema.build(COCO_PERSON_NAMES, COCO_PERSON_SKELETON)
HAND = KeypointSchema.build(HAND_NAMES, HAND_SKELETON)
FACE = KeypointSchema.build(FACE_NAMES, FACE_SKELETON)
TEMPLATES = {"COCO person (17 keypoints)": COCO_PERSON, "Hand (21 keypoints)": HAND,
             "Face (5 keypoints)": FACE}
LAYOUTS: dict[tuple[str, ...], Layout] = {
    COCO_PERSON.names: COCO_PERSON_LAYOUT, HAND.names: HAND_LAYOUT, FACE.names: FACE_LAYOUT}
"""The stored layout of each built-in template, by its keypoint names."""


def builtin_layout(schema: KeypointSchema | None) -> Layout | None:
    """The stored layout when ``schema`` has a built-in template's names, else None."""
    return LAYOUTS.get(schema.names) if schema is not None else None


def circle_layout(count: int) -> Layout:
    """``count`` joints on a circle, the first at the top, then clockwise (the rule for a
    custom schema before any object is labelled)."""
    if count == 1:
        return ((0.5, 0.5),)
    return tuple((0.5 + 0.4 * math.sin(2 * math.pi * i / count),
                  0.5 - 0.4 * math.cos(2 * math.pi * i / count)) for i in range(count))


def mean_layout(poses: Iterable[tuple[Sequence[float], Sequence[float]]],
                count: int) -> tuple[Layout, int] | None:
    """The mean pose of labelled objects in their own boxes, and how many objects it is from.

    ``poses``: ``(box, keypoints)`` pairs as stored, normalised to the image: box ``(cx, cy,
    w, h)``, keypoints ``(x, y, v)`` or ``(x, y)`` per joint. Each placed joint counts
    relative to its box; a joint never placed takes its place on the circle. None when no
    object has a placed joint.
    """
    sums = [[0.0, 0.0, 0] for _ in range(count)]
    used = 0
    for box, keypoints in poses:
        step = 3 if len(keypoints) == 3 * count else 2 if len(keypoints) == 2 * count else 0
        if len(box) != 4 or box[2] <= 0 or box[3] <= 0 or not step:
            continue
        x0, y0 = box[0] - box[2] / 2, box[1] - box[3] / 2
        placed = False
        for index in range(count):
            x, y = keypoints[step * index], keypoints[step * index + 1]
            if (step == 3 and keypoints[step * index + 2] > 0) or x != 0 or y != 0:
                total = sums[index]
                total[0] += (x - x0) / box[2]
                total[1] += (y - y0) / box[3]
                total[2] += 1
                placed = True
        used += placed
    if not used:
        return None
    circle = circle_layout(count)
    layout = tuple((min(max(sx / n, 0.0), 1.0), min(max(sy / n, 0.0), 1.0)) if n else circle[i]
                   for i, (sx, sy, n) in enumerate(sums))
    return layout, used


def layout_in_box(layout: Layout, box: Sequence[float]) -> tuple[float, ...]:
    """``layout`` mapped into ``box`` (``cx, cy, w, h`` normalised): keypoints ``(x, y, 2)``
    per joint, all visible, normalised to the image."""
    cx, cy, w, h = box
    values: list[float] = []
    for u, v in layout:
        values += [cx - w / 2 + u * w, cy - h / 2 + v * h, 2.0]
    return tuple(values)


def labelled_poses(database: Database, *, skip_images: Iterable[int] = (),
                   limit: int = 100) -> list[tuple[list[float], list[float]]]:
    """``(box, keypoints)`` of the project's latest labelled objects (not drafts, not
    deleted), at most ``limit``: newest rows first by id, so the query stops after ``limit``
    matches however big the project (the GUI thread may run it; the mean needs no more);
    ``skip_images``: images whose annotations the caller holds newer copies of."""
    skip = list(skip_images)
    query = select(Annotation.box, Annotation.keypoints).where(
        Annotation.kind == KEYPOINTS, Annotation.deleted_at.is_(None),
        Annotation.draft.is_(False), Annotation.box.is_not(None),
        Annotation.keypoints.is_not(None))
    if skip:
        query = query.where(Annotation.image_id.not_in(skip))
    query = query.order_by(Annotation.id.desc()).limit(limit)
    with database.session() as session:
        return [(list(box), list(keypoints)) for box, keypoints in session.execute(query)]
