"""Left/right swaps: a pose label whose left and right joints of a pair were given each other's
place.

How it decides, and why it rarely cries wolf:

1. **A frame that a swap cannot move.** Each instance is put in its own body frame: the origin
   is the mean of its labelled joints, the "up" direction points from there to its first anchor
   (a joint that ``flip_idx`` maps to itself, such as a head or nose, else the midpoint of a
   left/right pair), and the unit is the RMS distance of the joints from the origin. A swap only
   exchanges two points, so the set of points, their mean, their spread, a self-mapped joint and a
   pair's midpoint are all unchanged: the frame of a swapped instance is the frame it would
   have had unswapped. Rotation and scale drop out, so figures lying down or small are fine.
2. **A reference pose from the dataset.** Per class (and anchor), the median of every joint over
   the instances in this frame. A median ignores the few swapped labels it is built from.
3. **Does the pair fit better swapped?** For a pair (l, r), the distance of both joints to their
   reference places as labelled, against exchanged. The gain (in body units) must exceed a
   margin (0.25 by default) — so a pair whose joints sit near each other or near the body axis
   (eyes, ears seen from the side) never fires: it has no side to be wrong about.
4. **Mirrors that are real.** A person seen from behind is a mirror image of one seen from the
   front: every pair "fits better swapped", correctly. When at least a fifth of the instances
   with two or more pairs are whole mirrors, mirroring is taken as normal in this dataset, and
   only a pair that disagrees with the majority of its own instance's pairs is reported. When
   mirrors are rare (top-down views, people facing the camera), a whole mirrored skeleton is
   reported too, as "every pair swapped". (Where mirrors are real, the instance's pairs vote on
   which way it faces, and the pairs on the losing side are reported: so an instance with one
   of three pairs swapped is found whichever way it faces, and one with one of two is not.)

A group (class, anchor) with fewer than :data:`MIN_REFERENCE` instances is not judged: its median
would not be a pose.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np

from .checker_records import SWAP, Finding, LabelInstance

MIN_REFERENCE = 8
"""Instances a (class, anchor) group needs before its median pose is trusted."""
MIRROR_SHARE = 0.2
"""From this share of whole-mirror instances, mirrored poses count as real in a dataset."""
_MIN_UP = 0.1  # an anchor this close to the origin (in body units) gives no direction


def find_swaps(
    instances: Iterable[LabelInstance],
    flip_idx: Sequence[int],
    *,
    margin: float = 0.25,
    joint_names: Sequence[str] | None = None,
) -> list[Finding]:
    """Instances whose left/right joints look swapped (see the module's notes), one finding
    each, naming the pairs."""
    flip = [int(v) for v in flip_idx]
    pairs = [(i, j) for i, j in enumerate(flip) if i < j and flip[j] == i]
    if not pairs:
        return []
    framed = defaultdict(list)  # (class, anchor) -> [(instance, canonical (K, 2) with NaN)]
    for item in instances:
        if item.keypoints is None or len(item.keypoints) != len(flip):
            continue
        frame = _canonical(item.keypoints, flip, pairs)
        if frame is not None:
            anchor, points = frame
            framed[(item.class_index, anchor)].append((item, points))
    findings = []
    for group in framed.values():
        if len(group) >= MIN_REFERENCE:
            findings += _judge_group(group, pairs, margin, joint_names)
    return findings


def _canonical(keypoints: np.ndarray, flip: list[int], pairs):
    """(anchor id, the (K, 2) joints in the instance's body frame, NaN where unlabelled), or
    None where the instance has too few joints for a frame."""
    points = np.array(keypoints[:, :2], np.float64)
    if keypoints.shape[1] > 2:
        points[keypoints[:, 2] <= 0] = np.nan
    labelled = ~np.isnan(points).any(1)
    if labelled.sum() < 3:
        return None
    origin = points[labelled].mean(0)
    spread = float(np.sqrt(((points[labelled] - origin) ** 2).sum(1).mean()))
    if spread <= 0:
        return None
    anchors = [(("joint", i), points[i]) for i, j in enumerate(flip) if i == j]
    anchors += [(("pair", i), (points[i] + points[j]) / 2) for i, j in pairs]
    for anchor, place in anchors:
        up = (place - origin) / spread
        length = float(np.hypot(*up)) if not np.isnan(up).any() else 0.0
        if length >= _MIN_UP:
            ux, uy = up / length
            rotation = np.array([[uy, -ux], [ux, uy]])  # up -> +y; a proper rotation
            return anchor, (points - origin) / spread @ rotation.T
    return None


def _pair_gains(points: np.ndarray, reference: np.ndarray, pairs) -> dict[int, float]:
    """Per pair index: how much closer to the reference the pair is when exchanged (body
    units); pairs with a joint unlabelled or without a reference are left out."""
    gains = {}
    for index, (left, right) in enumerate(pairs):
        block = np.stack((points[left], points[right], reference[left], reference[right]))
        if np.isnan(block).any():
            continue
        keep = np.hypot(*(points[left] - reference[left])) + np.hypot(
            *(points[right] - reference[right])
        )
        swap = np.hypot(*(points[left] - reference[right])) + np.hypot(
            *(points[right] - reference[left])
        )
        gains[index] = float(keep - swap)
    return gains


def _reference(group) -> np.ndarray:
    """The per-joint median pose of a group; NaN for a joint labelled in too few instances."""
    stacked = np.stack([points for _, points in group])
    counts = (~np.isnan(stacked).any(2)).sum(0)
    with np.errstate(all="ignore"):
        reference = np.nanmedian(stacked, axis=0) if counts.any() else stacked[0] * np.nan
    reference[counts < MIN_REFERENCE] = np.nan
    return reference


def _judge_group(group, pairs, margin: float, joint_names) -> list[Finding]:
    reference = _reference(group)
    gains = [_pair_gains(points, reference, pairs) for _, points in group]
    judged = [g for g in gains if len(g) >= 2]
    mirrors = sum(all(v > margin for v in g.values()) for g in judged)
    mirrors_are_real = bool(judged) and mirrors / len(judged) >= MIRROR_SHARE
    findings = []
    for (item, _), gain in zip(group, gains, strict=True):
        swapped = _against_the_body(gain, margin, mirrors_are_real)
        if swapped:
            whole = len(swapped) == len(gain) >= 2
            pairs_named = [pairs[i] for i in swapped]
            strength = max(abs(gain[i]) for i in swapped)
            findings.append(_finding(item, pairs_named, strength, whole, joint_names))
    return findings


def _against_the_body(gain: dict[int, float], margin: float, mirrors_are_real: bool) -> list[int]:
    """The pairs to report. Where mirrors are rare, every pair that fits better exchanged.
    Where they are real, the instance's own pairs vote on its facing (only pairs past the
    margin vote), and the pairs on the losing side are reported; a tie reports nothing."""
    mirrored = [index for index, value in gain.items() if value > margin]
    if not mirrors_are_real:
        return mirrored
    straight = [index for index, value in gain.items() if value < -margin]
    if len(mirrored) == len(straight):
        return []
    return straight if len(mirrored) > len(straight) else mirrored


def _finding(item, swapped_pairs, strength: float, whole: bool, joint_names) -> Finding:
    def name(joint: int) -> str:
        return joint_names[joint] if joint_names and joint < len(joint_names) else str(joint)

    described = ", ".join(f"{name(a)}↔{name(b)}" for a, b in swapped_pairs)
    if whole:
        message = f"every left/right pair looks swapped ({described}): a mirrored skeleton?"
    else:
        message = f"left/right joints look swapped: {described}"
    message = f"instance {item.shown}: {message}"
    return Finding(SWAP, item.image, (item.instance,), message, min(1.0, 0.5 + strength / 2))
