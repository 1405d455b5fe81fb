"""labelme folders read into the format-neutral :class:`~.labelset.LabelSet`.

labelme keeps one JSON per image, normally beside it (``imagePath`` relative to the JSON).
:func:`read_labelme_folder` reads every labelme JSON below a folder;
:func:`.labelme_labelset_write.write_labelme_folder` writes one JSON per image of a set, as
labelme lays them out. The JSON itself is read and
written by :mod:`.labelme`; this module decides how labelme's shapes make objects:

- Shapes with the same ``(label, group_id)`` in one file are one object in parts (a null
  ``group_id``: the shape alone). A polygon is a ``polygon``; a rectangle (two corners in any
  order) a ``rectangle``; a circle (centre, rim point) a ``polygon`` of
  :data:`CIRCLE_POINTS` points on the circle, starting at the rim point (area within 0.2 %);
  an oriented rectangle a 4-point ``polygon``; a mask shape (a base64 PNG crop placed at
  ``round(x1), round(y1)``) a ``mask`` traced into outlines and holes. Several rectangles in one
  object, or rectangles with polygons, become 4-corner polygon parts; a mask among them makes
  the object a ``mask``.
- Pose (labelme has no skeleton type): ``point`` shapes whose ``group_id`` is that of a
  rectangle, polygon, circle or mask in the same file are that object's keypoints, each point's
  label naming its joint. They join the first such ``(label, group_id)`` with a rectangle, else
  the first: a ``points`` object with that label, its rectangle as the box (when it has one
  rectangle; else the extent of its outlines) and its other shapes as outlines. Points with
  no such parent make one ``points`` object per ``group_id`` (a null one: each point alone),
  labelled by the points' label when they share one, else :data:`UNBOXED_POINTS_LABEL`.
  labelme has no visibility: every point read is ``VISIBLE``.
- ``__ignore__`` shapes are ignore regions: left out, one warning each, and not a class.
- Image ``flags`` set true are the image's tags (``__ignore__`` set true: a warning); every
  flag name is one of the set's labels. Shape flags and descriptions are not read.
- Lines and line strips have no area: left out, one problem each.

Problems name the JSON (its path as found below the root) and ``shape N``, N being the
shape's index in the file's ``shapes`` list (counting from 0, as ``shapes[N]``). A file that
cannot be read is one problem and the rest is read; JSON files that are clearly not labelme's
(no ``shapes`` key) and hidden files and folders are passed over quietly.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..errors import DatasetError
from .labelme import LabelmeFile, Shape, image_reference, parse_labelme
from .labelset import (
    VISIBLE,
    Keypoint,
    LabeledImage,
    LabeledObject,
    LabelSet,
    Problem,
    ring,
)
from .outlines import trace_outlines

__all__ = ["CIRCLE_POINTS", "IGNORE_LABEL", "UNBOXED_POINTS_LABEL", "read_labelme_folder",
           "unboxed_label"]

IGNORE_LABEL = "__ignore__"
"""labelme's label (and flag) for a region or image to leave out."""
CIRCLE_POINTS = 64
"""Points of the polygon a circle becomes: on the circle, so its area is short by
1 - sin(2π/N) / (2π/N), 0.16 % at 64 (36 would be the fewest under 0.5 %)."""
UNBOXED_POINTS_LABEL = "object"
"""The class of a group of points with different labels (joints) and no rectangle or polygon
in its group: labelme gives such a group no class of its own."""

_AREA_TYPES = ("polygon", "rectangle", "circle", "oriented_rectangle", "mask")
_POINT_TYPES = ("point", "points")
_LINE_TYPES = ("line", "linestrip")
_IMAGE_SUFFIXES = {"JPEG": ".jpg", "PNG": ".png", "BMP": ".bmp", "GIF": ".gif",
                   "TIFF": ".tif", "WEBP": ".webp"}


# ----------------------------------------------------------------------------------------------
# reading


def read_labelme_folder(root: str | Path, only: Sequence[Path] | None = None) -> LabelSet:
    """Every labelme JSON below ``root`` (or just the files ``only``, inside it) as a
    :class:`LabelSet` (format ``"labelme"``), with a :class:`Problem` for each file, shape or
    image that could not be read as it is."""
    folder = Path(root)
    if not folder.is_dir():
        raise DatasetError("not a folder; give the folder that holds the labelme JSON files",
                           path=folder)
    labelset = LabelSet(format="labelme", source=folder)
    named: dict[PurePosixPath, str] = {}
    for path in (only if only is not None else _json_files(folder)):
        read = _read_one(folder, path, labelset)
        if read is None:
            continue
        image, flags = read
        if image.name in named:
            labelset.problems.append(Problem(
                image.file, "imagePath", f"{image.name} is labelled by {named[image.name]} "
                "already; this file left out (keep one JSON per image)"))
            continue
        named[image.name] = image.file
        labelset.images.append(image)
        _add_names(labelset, image, flags)
    if not labelset.images and not labelset.problems:
        labelset.problems.append(Problem(_shown(folder), "", "no labelme JSON file below this "
                                         "folder (one with a 'shapes' list)"))
    return labelset


def _json_files(folder: Path) -> Iterator[Path]:
    """The ``.json`` files below ``folder`` in name order, hidden files and folders passed."""
    for directory, subfolders, files in os.walk(folder):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(files):
            if name.lower().endswith(".json") and not name.startswith("."):
                yield Path(directory, name)


def _read_one(root: Path, path: Path, labelset: LabelSet
              ) -> tuple[LabeledImage, tuple[str, ...]] | None:
    """The image ``path`` labels and the flag names it declares, its problems added to
    ``labelset``; None when the file is left out."""
    shown = _shown(path)
    if not _is_utf8(str(path.relative_to(root))):
        labelset.problems.append(Problem(shown, "", "the file name (or a folder's) is not "
                                         "UTF-8; rename it to read this file"))
        return None
    try:
        content = json.loads(path.read_bytes().decode("utf-8"))
    except json.JSONDecodeError as exc:
        labelset.problems.append(Problem(shown, f"line {exc.lineno}",
                                         f"not valid JSON ({exc.msg}); file left out"))
        return None
    except UnicodeDecodeError as exc:
        labelset.problems.append(Problem(shown, f"byte {exc.start}", "not UTF-8 text, as "
                                         "labelme writes; file left out"))
        return None
    except OSError as exc:
        labelset.problems.append(Problem(shown, "", f"cannot be read ({exc.strerror or exc})"))
        return None
    if not isinstance(content, dict) or "shapes" not in content:
        return None  # some other tool's JSON (a COCO file, a config): not ours to report
    try:
        file = parse_labelme(content, path)
    except DatasetError as exc:
        where = exc.key or ""
        labelset.problems.append(Problem(shown, where, f"{exc.message}; file left out"))
        return None
    name, image_path, image_data = _find_image(root, path, file, shown, labelset.problems)
    objects, shape_problems = _objects(file, shown)
    labelset.problems.extend(shape_problems)
    image = LabeledImage(name=name, width=file.width, height=file.height, file=shown,
                         path=image_path, objects=tuple(objects),
                         tags=_tags(file, shown, labelset.problems), image_data=image_data)
    return image, tuple(file.flags)


def _shown(path: Path) -> str:
    """``path`` as text that prints (a non-UTF-8 byte shows as U+FFFD)."""
    return os.fsencode(path).decode("utf-8", "replace")


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes of a file name, a lone surrogate escape
        return False
    return True


# -- the image ----------------------------------------------------------------------------------


def _find_image(root: Path, path: Path, file: LabelmeFile, shown: str,
                problems: list[Problem]) -> tuple[PurePosixPath, Path | None, bytes | None]:
    """The image's name below ``root``, the file found on disk, and the embedded image kept
    only when no file was found."""
    beside = PurePosixPath(path.parent.relative_to(root).as_posix())
    reference = image_reference(file)
    if not _is_utf8(file.image_path):
        problems.append(Problem(shown, "imagePath", "not valid UTF-8 text; looked for the "
                                "image under the JSON's own name"))
        reference = PurePosixPath(path.with_suffix(".jpg").name)
    if reference.is_absolute():
        problems.append(Problem(shown, "imagePath", f"an absolute path ({file.image_path}); "
                                f"looked for {reference.name} beside the JSON instead",
                                "warning"))
        reference = PurePosixPath(reference.name)
    name = _normal(beside / reference)
    if name is None:  # the image lies above the root: name it as if beside the JSON
        name = beside / reference.name
    candidate = path.parent / reference
    if reference.name and not _is_label_file(reference) and candidate.is_file():
        tidy = Path(os.path.normpath(candidate))  # labels/../images/a.jpg: images/a.jpg
        return name, tidy if tidy.is_file() else candidate, None
    if file.image_data is not None:
        if _is_label_file(reference) or not reference.name:
            # labelme's own tutorial file names itself: the image is only the embedded one
            name = beside / path.with_suffix(_embedded_suffix(file.image_data)).name
        return name, None, file.image_data
    problems.append(Problem(shown, "imagePath", f"image not found: {candidate} does not exist "
                            "and the JSON embeds no imageData; labels kept without it",
                            missing_image=str(name)))
    return name, None, None


def _normal(path: PurePosixPath) -> PurePosixPath | None:
    """``path`` with ``.`` and ``..`` resolved, or None when it leaves its root."""
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if not parts:
                return None
            parts.pop()
        elif part not in (".", ""):
            parts.append(part)
    return PurePosixPath(*parts) if parts else None


def _is_label_file(reference: PurePosixPath) -> bool:
    return reference.suffix.lower() == ".json"


def _embedded_suffix(data: bytes) -> str:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return _IMAGE_SUFFIXES.get(image.format or "", ".png")
    except (UnidentifiedImageError, OSError, ValueError):
        return ".png"


def _tags(file: LabelmeFile, shown: str, problems: list[Problem]) -> tuple[str, ...]:
    if file.flags.get(IGNORE_LABEL):
        problems.append(Problem(shown, "flags", f"the image is flagged {IGNORE_LABEL}: its "
                                "labels are read, the flag is not a tag", "warning"))
    return tuple(name for name, on in file.flags.items() if on and name != IGNORE_LABEL)


def _add_names(labelset: LabelSet, image: LabeledImage, flags: Iterable[str]) -> None:
    """Add the image's classes and flag names (``__ignore__`` left out) to the set's labels,
    and its joint names to the set's keypoint names, each the first time it is seen."""
    for obj in image.objects:
        labelset.add_label(obj.label)
        joints = [k.name for k in obj.keypoints if k.name not in labelset.keypoint_names]
        labelset.keypoint_names += tuple(dict.fromkeys(joints))
    for name in flags:
        if name != IGNORE_LABEL:
            labelset.add_label(name)


# -- shapes to objects --------------------------------------------------------------------------


@dataclass
class _Group:
    """The area shapes of one ``(label, group_id)`` and the points that join them."""

    label: str
    group_id: int | None
    indices: list[int] = field(default_factory=list)
    shapes: list[Shape] = field(default_factory=list)
    points: list[tuple[int, Shape]] = field(default_factory=list)


def _objects(file: LabelmeFile, shown: str) -> tuple[list[LabeledObject], list[Problem]]:
    """The objects of one file, in the order of their first shapes, and the problems."""
    problems = [Problem(shown, f"shape {p.index}", f"{p.reason}; shape left out")
                for p in file.problems]
    index_of = _original_indices(file)
    groups: dict[tuple[str, int | None, int], _Group] = {}
    loose_points: list[tuple[int, Shape]] = []
    for number, shape in enumerate(file.shapes):
        index = index_of[number]
        if not _is_utf8(shape.label):
            problems.append(Problem(shown, f"shape {index}", "its label is not valid UTF-8 "
                                    "text; shape left out"))
        elif shape.label == IGNORE_LABEL:
            problems.append(Problem(shown, f"shape {index}", f"an {IGNORE_LABEL} region: left "
                                    "out", "warning"))
        elif shape.shape_type in _LINE_TYPES:
            problems.append(Problem(shown, f"shape {index}", f"a {shape.shape_type}: an open "
                                    "line has no area; left out"))
        elif shape.shape_type in _POINT_TYPES:
            loose_points.append((index, shape))
        else:
            key = (shape.label, shape.group_id, -1 if shape.group_id is not None else index)
            group = groups.setdefault(key, _Group(shape.label, shape.group_id))
            group.indices.append(index)
            group.shapes.append(shape)
    loose_points = _join_points(groups.values(), loose_points)
    objects: list[tuple[int, LabeledObject]] = []
    for group in groups.values():
        made = _group_object(group, shown, problems)
        if made is not None:
            objects.append((group.indices[0], made))
    objects.extend(_point_objects(loose_points))
    objects.sort(key=lambda pair: pair[0])
    return [obj for _, obj in objects], problems


def _original_indices(file: LabelmeFile) -> list[int]:
    """The index in ``shapes`` of each shape read (those left out by the codec are skipped)."""
    skipped = {p.index for p in file.problems}
    indices, index = [], 0
    for _ in file.shapes:
        while index in skipped:
            index += 1
        indices.append(index)
        index += 1
    return indices


def _join_points(groups: Iterable[_Group], points: list[tuple[int, Shape]]
                 ) -> list[tuple[int, Shape]]:
    """Give each point whose ``group_id`` an area group shares to that group (the first with a
    rectangle, else the first); return the points no group took."""
    parents: dict[int, _Group] = {}
    for group in groups:
        if group.group_id is None:
            continue
        has_box = any(s.shape_type == "rectangle" for s in group.shapes)
        current = parents.get(group.group_id)
        if current is None or (has_box and not any(s.shape_type == "rectangle"
                                                    for s in current.shapes)):
            parents[group.group_id] = group
    loose = []
    for index, shape in points:
        parent = parents.get(shape.group_id) if shape.group_id is not None else None
        if parent is None:
            loose.append((index, shape))
        else:
            parent.points.append((index, shape))
    return loose


def _group_object(group: _Group, shown: str, problems: list[Problem]) -> LabeledObject | None:
    where = _where(group.indices, group.group_id)
    keypoints = tuple(Keypoint(s.label, *p, VISIBLE) for _, s in group.points for p in s.points)
    rectangles = [s for s in group.shapes if s.shape_type == "rectangle"]
    # one rectangle is the object's box: alone, or beside the outlines of a pose object
    box = _box(rectangles[0]) if len(rectangles) == 1 and (
        keypoints or len(group.shapes) == 1) else None
    polygons: list[np.ndarray] = []
    holes: list[np.ndarray] = []
    for index, shape in zip(group.indices, group.shapes, strict=True):
        if box is not None and shape is rectangles[0]:
            continue
        try:
            outer, inner = _outlines(shape)
        except ValueError as exc:
            problems.append(Problem(shown, f"shape {index}", f"{exc}; shape left out"))
            continue
        polygons.extend(outer)
        holes.extend(inner)
    if keypoints:
        if box is None and not polygons:  # its outlines were all unreadable
            return _point_objects(group.points)[0][1]
        return LabeledObject(group.label, "points", where + _point_where(group.points),
                             polygons=tuple(polygons), holes=tuple(holes),
                             box=box if box is not None else _extent(polygons),
                             keypoints=keypoints)
    if box is not None:
        return LabeledObject(group.label, "rectangle", where, box=box)
    if not polygons:
        return None
    kind = "mask" if any(s.shape_type == "mask" for s in group.shapes) else "polygon"
    return LabeledObject(group.label, kind, where, polygons=tuple(polygons), holes=tuple(holes))


def _outlines(shape: Shape) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Outer rings and holes of an area shape, in image pixels (ValueError: not readable)."""
    points = np.asarray(shape.points, np.float64)
    if shape.shape_type == "rectangle":
        (x1, y1, x2, y2) = _box(shape)
        return [np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]])], []
    if shape.shape_type == "circle":
        return [_circle(points[0], points[1])], []
    if shape.shape_type == "mask":
        outer, inner = _mask_outlines(shape)
        return list(outer), list(inner)
    outline = ring(points)
    if len(outline) < 3:
        raise ValueError(f"a {shape.shape_type} needs 3 different points, it has "
                         f"{len(outline)} once its closing repeat is dropped")
    return [outline], []


def _box(shape: Shape) -> tuple[float, float, float, float]:
    """A rectangle's two corners, in whichever order drawn, as ``(x1, y1, x2, y2)``."""
    (ax, ay), (bx, by) = shape.points[0], shape.points[1]
    return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)


def _circle(centre: np.ndarray, rim: np.ndarray) -> np.ndarray:
    radius = float(np.hypot(*(rim - centre)))
    if radius == 0:
        raise ValueError("a circle of radius 0 has no area")
    start = math.atan2(rim[1] - centre[1], rim[0] - centre[0])
    angles = start + np.arange(CIRCLE_POINTS) * (2 * math.pi / CIRCLE_POINTS)
    points = centre + radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    points[0] = rim  # the point labelme drew, exactly
    return points


def _mask_outlines(shape: Shape) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    if not shape.mask:
        raise ValueError("a mask shape needs its 'mask' (a base64 PNG)")
    try:
        with Image.open(io.BytesIO(base64.b64decode(shape.mask, validate=True))) as image:
            pixels = np.asarray(image)
    except (binascii.Error, UnidentifiedImageError, OSError, ValueError) as exc:
        raise ValueError(f"its 'mask' is not a base64 PNG ({exc})") from exc
    if pixels.ndim == 3:
        pixels = pixels.any(axis=2)
    x1, y1 = shape.points[0]
    outer, inner = trace_outlines(pixels, offset=(round(x1), round(y1)))
    if not outer:
        raise ValueError("its mask has no area (no pixel set, or lines one pixel wide)")
    return outer, inner


def _extent(polygons: Sequence[np.ndarray]) -> tuple[float, float, float, float]:
    every = np.concatenate(polygons)
    (x1, y1), (x2, y2) = every.min(0), every.max(0)
    return float(x1), float(y1), float(x2), float(y2)


def _point_objects(points: list[tuple[int, Shape]]) -> list[tuple[int, LabeledObject]]:
    """Points with no area shape in their group: one object per ``group_id``, each point with
    none alone, each at its first point's place."""
    groups: dict[tuple[int | None, int], list[tuple[int, Shape]]] = {}
    for index, shape in points:
        key = (shape.group_id, -1 if shape.group_id is not None else index)
        groups.setdefault(key, []).append((index, shape))
    made = []
    for (group_id, _), members in groups.items():
        keypoints = tuple(Keypoint(s.label, *p, VISIBLE) for _, s in members for p in s.points)
        made.append((members[0][0], LabeledObject(
            unboxed_label([k.name for k in keypoints]), "points",
            _where([i for i, _ in members], group_id), keypoints=keypoints)))
    return made


def unboxed_label(names: Sequence[str]) -> str:
    """The class of points with no area shape: their label when they share one."""
    return names[0] if len(set(names)) == 1 else UNBOXED_POINTS_LABEL


def _where(indices: Sequence[int], group_id: int | None) -> str:
    if len(indices) == 1:
        return f"shape {indices[0]}"
    listed = ", ".join(str(i) for i in indices)
    return f"shapes {listed} (group_id {group_id})"


def _point_where(points: Sequence[tuple[int, Shape]]) -> str:
    return "; points: shapes " + ", ".join(str(i) for i, _ in points)
