"""A :class:`~.labelset.LabelSet` written as a labelme folder: one JSON per image, beside where
the caller puts the image (the JSON itself is written by :mod:`.labelme`).

How labelme's shapes make objects is in :mod:`.labelme_labelset`, the reader; this module is
the way back: outlines as polygons (a ``group_id`` joining an object's parts) or one mask
shape when they have holes, rectangles, keypoints as named points, tags as flags.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image

from ..errors import DatasetError
from .labelme import LabelmeFile, Shape, write_labelme
from .labelme_labelset import unboxed_label
from .labelset import ABSENT, LabeledImage, LabeledObject, LabelSet
from .outlines import fill_outlines

__all__ = ["write_labelme_folder"]


def write_labelme_folder(labelset: LabelSet, output: str | Path) -> list[Path]:
    """One labelme JSON per image of ``labelset`` at ``output / image.name`` with the suffix
    ``.json``, beside where the caller puts the image; returns the files written.

    ``imagePath`` is the image's file name (the JSON sits beside it); ``imageData`` is null
    unless the image exists only embedded (:attr:`LabeledImage.image_data` with no ``path``).
    Polygons are polygon shapes, the parts of one object sharing a ``group_id``; an object
    with holes (labelme's polygons cannot hold them) or a ``mask`` object is one mask shape (a
    base64 PNG crop, as labelme 5.3 and later write). Rectangles are rectangles; a ``points``
    object is a rectangle (its box, else its keypoints' extent) or its outlines with its class,
    plus a point per labelled keypoint named by its joint, all sharing a ``group_id`` (an
    unboxed object that reads back the same without one is written as its points alone).
    Occluded keypoints are written as plain points (labelme has no visibility). Tags are
    flags set true; every file lists every tag of the set, and its labels that no object uses
    (see :func:`_flag_names`). An object with no geometry (no box, outline or labelled
    keypoint) has no shape to write. Each file is written atomically.
    """
    folder = Path(output)
    targets = _targets(labelset.images, folder)
    tag_names = _flag_names(labelset)
    written = []
    for image, target in zip(labelset.images, targets, strict=True):
        write_labelme(target, _labelme_file(image, tag_names))
        written.append(target)
    return written


def _flag_names(labelset: LabelSet) -> list[str]:
    """The flags every file lists: the tags used and, when there are any, the set's labels
    that no object uses (a classification set's classes set on no image, as labelme's
    flags.txt lists them)."""
    used = list(dict.fromkeys(t for image in labelset.images for t in image.tags))
    if not used:
        return []
    drawn = {obj.label for image in labelset.images for obj in image.objects}
    return list(dict.fromkeys([*(n for n in labelset.labels if n not in drawn), *used]))


def _targets(images: Sequence[LabeledImage], folder: Path) -> list[Path]:
    """Where each image's JSON goes, checked before anything is written."""
    targets: list[Path] = []
    seen: dict[Path, PurePosixPath] = {}
    for image in images:
        name = PurePosixPath(image.name)
        if name.is_absolute() or ".." in name.parts or not name.name:
            raise DatasetError(f"the image name {str(name)!r} must be a path inside the "
                               "output folder (relative, no '..')", path=image.file)
        target = folder.joinpath(*name.parent.parts, name.stem + ".json")
        if target in seen:
            raise DatasetError(f"{seen[target]} and {name} would share the label file "
                               f"{target} (labelme names a JSON after its image); rename one",
                               path=image.file)
        seen[target] = name
        targets.append(target)
    return targets


def _labelme_file(image: LabeledImage, tag_names: Sequence[str]) -> LabelmeFile:
    shapes: list[Shape] = []
    next_group = 0
    for obj in image.objects:
        made, used = _object_shapes(obj, next_group, image.height, image.width)
        shapes.extend(made)
        next_group += used
    embedded = image.image_data if image.path is None else None
    return LabelmeFile(image_path=PurePosixPath(image.name).name, width=image.width,
                       height=image.height, shapes=tuple(shapes),
                       flags={name: name in image.tags for name in tag_names},
                       image_data=embedded)


def _object_shapes(obj: LabeledObject, group: int, height: int, width: int
                   ) -> tuple[list[Shape], int]:
    """The shapes of one object and how many group ids they took (0 or 1); none for an
    object with no geometry (no box, outline or labelled keypoint)."""
    if obj.kind == "rectangle" and obj.box is not None:
        return [_rectangle(obj.label, obj.box, None)], 0
    if obj.kind == "points":
        return _points_shapes(obj, group, height, width), 1
    rings = [p for p in obj.polygons if len(p) >= 3]
    if rings and (obj.holes or obj.kind == "mask"):
        return [_mask_shape(obj.label, rings, obj.holes, height, width, None)], 0
    shared = group if len(rings) > 1 else None
    return [_polygon(obj.label, p, shared) for p in rings], int(shared is not None)


def _points_shapes(obj: LabeledObject, group: int, height: int, width: int) -> list[Shape]:
    labelled = [k for k in obj.keypoints if k.visibility != ABSENT]
    points = [Shape(k.name, "point", ((k.x, k.y),), group) for k in labelled]
    rings = [p for p in obj.polygons if len(p) >= 3]
    if obj.box is None and not rings:
        if not labelled:
            return []
        if unboxed_label([k.name for k in labelled]) == obj.label:  # reads back the same
            if len(points) == 1 and labelled[0].name == obj.label:
                return [Shape(obj.label, "point", points[0].points, None)]
            return points
    shapes = []
    if obj.box is not None or not rings:  # no box: the keypoints' extent carries the class
        shapes.append(_rectangle(obj.label, obj.box or obj.bounds(), group))
    if rings and obj.holes:
        shapes.append(_mask_shape(obj.label, rings, obj.holes, height, width, group))
    else:
        shapes.extend(_polygon(obj.label, p, group) for p in rings)
    return shapes + points


def _rectangle(label: str, box: Sequence[float], group: int | None) -> Shape:
    x1, y1, x2, y2 = (float(v) for v in box)
    return Shape(label, "rectangle", ((x1, y1), (x2, y2)), group)


def _polygon(label: str, points: np.ndarray, group: int | None) -> Shape:
    return Shape(label, "polygon", tuple((float(x), float(y)) for x, y in points), group)


def _mask_shape(label: str, polygons: Sequence[np.ndarray], holes: Sequence[np.ndarray],
                height: int, width: int, group: int | None) -> Shape:
    """Outlines filled into a crop of the image: a labelme mask shape whose two points are the
    crop's first and last pixels (kept inside the image where the outlines reach it)."""
    every = np.round(np.concatenate([np.asarray(p, np.float64) for p in polygons]))
    (x1, y1), (x2, y2) = every.min(0).astype(int), every.max(0).astype(int)
    if x2 >= 0 and y2 >= 0 and x1 < width and y1 < height:
        # labelme pastes the crop into the image: it must not hang over an edge
        x1, y1 = max(x1, 0), max(y1, 0)
        x2, y2 = min(x2, width - 1), min(y2, height - 1)
    shift = np.array([x1, y1], np.float64)
    crop = fill_outlines([p - shift for p in polygons], [h - shift for h in holes],
                         int(y2 - y1 + 1), int(x2 - x1 + 1))
    buffer = io.BytesIO()
    Image.fromarray(crop).save(buffer, format="PNG")
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return Shape(label, "mask", ((float(x1), float(y1)), (float(x2), float(y2))), group,
                 mask=encoded)
