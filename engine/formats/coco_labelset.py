"""COCO JSON to and from a :class:`~engine.formats.labelset.LabelSet`: instances and person
keypoints files, as COCO, labelme2coco, Roboflow, Datumaro and mmpose write them.

Reading (:func:`read_coco_labelset`) keeps each annotation as drawn:

- polygons (a list of flat ``[x1, y1, x2, y2, ...]`` lists, several for an object in parts)
  are kind ``polygon``, one ring per part;
- an RLE (``counts`` as a compressed string or an uncompressed list) is kind ``mask``, traced
  to outer rings and holes;
- an annotation with ``keypoints`` is kind ``points`` (named by its category's ``keypoints``,
  visibility 0/1/2, ``x = y = 0`` where absent) with ``box`` from ``bbox``, and keeps its
  outline, if any, in ``polygons``/``holes``;
- a ``bbox`` with an empty segmentation and no keypoints is kind ``rectangle``.

Crowd regions (``iscrowd: 1``) are read like any object with ``crowd`` set (COCO's evaluation
ignores such regions; a fit leaves them out unless asked), and written back with ``iscrowd: 1``.

Categories sorted by id give the labels (ids are names, not indices). ``skeleton`` counts
joints from 1 in COCO and from 0 in Datumaro's files; a pair holding 0 means 0-based.

Images are looked for, in order, at ``images_dir/file_name``, beside the JSON (labelme2coco
writes ``JPEGImages/x.jpg`` relative to its JSON; Roboflow a bare name), in ``images/``,
``images/<split>/``, ``../images/<split>/``, ``<split>/`` and ``../<split>/`` (the split comes
from ``instances_<split>.json``, or Roboflow's split folder), then by the file's own name in
each of those. A found image's ``name`` is its file name alone (two images of one name in
different folders keep their folders, with a warning); a missing one is a Problem and its
labels still come back. Nothing is moved or written.

Writing (:func:`write_coco_labelset`) makes one instances file in Roboflow's layout: the
images sit beside the JSON, each at ``output_json.parent / image.name``, and ``file_name`` is
``image.name``. Polygons are polygon lists; masks and polygons with holes are compressed RLE;
rectangles are a ``bbox`` with ``segmentation: []``; points are ``keypoints`` with
``num_keypoints`` and the categories' joint names and 1-based ``skeleton``. Ids count from 1.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from ..errors import DatasetError
from ..utils import rle
from .coco import split_name, write_coco_json
from .labelset import ABSENT, Keypoint, LabeledImage, LabeledObject, LabelSet, Problem, ring
from .outlines import fill_outlines, trace_outlines

__all__ = ["coco_labelset_document", "read_coco_labelset", "write_coco_labelset"]

FORMAT = "coco"
_ROBOFLOW_NAME = "_annotations.coco.json"
_SPLIT_PREFIXES = ("instances_", "person_keypoints_", "keypoints_")
_MIN_POLYGON_NUMBERS = 6  # three points
_VISIBILITIES = (0, 1, 2)


class _Unreadable(ValueError):
    """An image entry or annotation left out; the message says why."""


@dataclass
class _Category:
    name: str
    keypoints: tuple[str, ...]
    skeleton: Any = None  # as written


@dataclass
class _Image:
    name: PurePosixPath
    width: int
    height: int
    path: Path | None
    objects: list[LabeledObject] = field(default_factory=list)


@dataclass
class _Reading:
    """What one read is building: the set, its file name for problems, and the places."""

    labelset: LabelSet
    file: str
    folders: list[Path]
    existing: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.existing = [str(folder) for folder in self.folders if folder.is_dir()]

    def problem(self, where: str, reason: str, severity: str = "error") -> None:
        self.labelset.problems.append(Problem(self.file, where, reason, severity))


# -- reading ---------------------------------------------------------------------------------


def read_coco_labelset(path: str | Path, images_dir: str | Path | None = None) -> LabelSet:
    """The images, objects and classes of the COCO JSON at ``path`` (format ``"coco"``).

    ``images_dir`` is where the images are when they are not beside the JSON. A JSON that
    cannot be parsed, or is not a COCO dataset file (a results list, say), raises
    ``DatasetError`` naming the file (and the line of a syntax error); a bad entry in it is a
    :class:`Problem` and the rest is read.
    """
    source = Path(path)
    document = _load_document(source)
    split = _split_of(source)
    labelset = LabelSet(FORMAT, source)
    reading = _Reading(labelset, str(source), _image_folders(source, images_dir, split))
    categories = _read_categories(document["categories"], reading)
    keypoint_names = _read_keypoint_schema(document, categories, reading)
    images, left_out = _read_images(document["images"], reading)
    for index, entry in enumerate(document["annotations"]):
        where = _annotation_where(entry, index)
        try:
            image, category = _targets(entry, images, left_out, categories)
            if image is None:
                continue  # its image entry was left out, and that problem says so
            names = category.keypoints or keypoint_names
            image.objects.append(_object(entry, where, image, category.name, names, reading))
        except _Unreadable as exc:
            reading.problem(where, f"{exc}; the annotation is left out")
    labelset.images = [
        LabeledImage(name=image.name, width=image.width, height=image.height, file=reading.file,
                     path=image.path, objects=tuple(image.objects), split=split)
        for image in images.values()
    ]
    return labelset


def _load_document(source: Path) -> dict[str, Any]:
    """The top-level object, checked to be a COCO dataset file."""
    try:
        # bytes that are not UTF-8 (a name written in another encoding) are kept as surrogate
        # escapes, so the rest of the file is read and the entry holding them is reported
        text = source.read_bytes().decode("utf-8", errors="surrogateescape")
        content = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"not valid JSON ({exc.msg}, column {exc.colno})", path=source,
                           line=exc.lineno) from exc
    except OSError as exc:
        raise DatasetError(f"cannot be read ({exc})", path=source) from exc
    if isinstance(content, list) and all(isinstance(r, dict) and "score" in r for r in content):
        raise DatasetError(
            "this is a COCO results file (a list of scored detections), not a dataset: "
            "import the instances or person_keypoints JSON that holds images, annotations "
            "and categories", path=source)
    if not isinstance(content, dict):
        raise DatasetError("not COCO JSON (the top level is not an object with images, "
                           "annotations and categories)", path=source)
    for key in ("images", "annotations", "categories"):
        if not isinstance(content.get(key), list):
            raise DatasetError("missing or not a list; this is not a COCO dataset file",
                               path=source, key=key)
    return content


def _split_of(source: Path) -> str | None:
    """``instances_val.json`` -> ``val``; Roboflow's ``train/_annotations.coco.json`` ->
    ``train``; None when the file name says nothing."""
    if source.name == _ROBOFLOW_NAME:
        return source.parent.name or None
    if source.stem.startswith(_SPLIT_PREFIXES):
        split = split_name(source)
        return None if split == source.stem else split
    return None


def _image_folders(source: Path, images_dir: str | Path | None, split: str | None
                   ) -> list[Path]:
    here = source.parent
    folders = [Path(images_dir)] if images_dir is not None else []
    folders += [here, here / "images"]
    if split:
        folders += [here / "images" / split, here.parent / "images" / split, here / split,
                    here.parent / split]
    return list(dict.fromkeys(folders))


def _read_categories(entries: list[Any], reading: _Reading) -> dict[int, _Category]:
    """Category id -> name and joint names; the labels in id order."""
    found: dict[int, _Category] = {}
    for index, entry in enumerate(entries):
        where = f"categories[{index}]"
        try:
            category_id = _whole(entry.get("id") if isinstance(entry, dict) else None, "id")
            if category_id in found:
                raise _Unreadable(f"id {category_id} is used twice; the first one is kept")
            name = entry.get("name")
            if not isinstance(name, str) or not name.strip():
                raise _Unreadable(f"category id {category_id} has no name")
            name = _readable(name, where, "name", reading)
            joints = entry.get("keypoints") or []
            if not isinstance(joints, list) or not all(isinstance(j, str) for j in joints):
                raise _Unreadable(f"'keypoints' of category '{name}' must be a list of names")
        except _Unreadable as exc:
            reading.problem(where, f"{exc}; annotations of it are left out")
            continue
        found[category_id] = _Category(name, tuple(joints), entry.get("skeleton"))
    named: dict[str, int] = {}
    for category_id in sorted(found):
        name = found[category_id].name
        if name in named:
            reading.problem(f"category id {category_id}", f"named '{name}' like category id "
                            f"{named[name]}: both read as one label", "warning")
        named.setdefault(name, category_id)
        reading.labelset.add_label(name)
    return dict(sorted(found.items()))


def _read_keypoint_schema(document: Mapping[str, Any], categories: dict[int, _Category],
                          reading: _Reading) -> tuple[str, ...]:
    """The joint names and skeleton of the set: the first category (by id) that names joints,
    else ``1..K`` from the first annotation with keypoints (Datumaro writes no names)."""
    named = [c for c in categories.values() if c.keypoints]
    if named:
        names = named[0].keypoints
        if any(c.keypoints != names for c in named[1:]):
            reading.problem("categories", f"categories name different joints; the set's "
                            f"joints are those of '{named[0].name}'", "warning")
    else:
        count = next((len(a["keypoints"]) // 3 for a in document["annotations"]
                      if isinstance(a, dict) and isinstance(a.get("keypoints"), list)
                      and a["keypoints"] and len(a["keypoints"]) % 3 == 0), 0)
        if not count:
            return ()
        names = tuple(str(number) for number in range(1, count + 1))
        reading.problem("categories", f"no category names its keypoints; the {count} joints "
                        f"are called 1..{count}", "warning")
    owner = named[0] if named else next((c for c in categories.values() if c.skeleton), None)
    reading.labelset.keypoint_names = names
    if owner is not None:
        reading.labelset.skeleton = _skeleton(owner.skeleton, len(names),
                                              f"category '{owner.name}', skeleton", reading)
    return names


def _skeleton(value: Any, count: int, where: str, reading: _Reading
              ) -> tuple[tuple[int, int], ...]:
    """COCO's 1-based pairs (Datumaro's 0-based ones) as 0-based pairs."""
    if not value:
        return ()
    try:
        pairs = [(_whole(a, "skeleton"), _whole(b, "skeleton")) for a, b in value]
    except (_Unreadable, TypeError, ValueError):
        reading.problem(where, "not a list of [a, b] joint numbers; no skeleton read")
        return ()
    numbers = [n for pair in pairs for n in pair]
    zero_based, one_based = min(numbers) == 0, max(numbers) == count
    if zero_based and one_based:
        reading.problem(where, f"holds both 0 and {count} with {count} joints, so it "
                        "counts from neither 0 nor 1; no skeleton read")
        return ()
    if zero_based:
        reading.problem(where, "counts joints from 0 (as Datumaro writes it), not from 1 "
                        "as COCO does; read as counting from 0", "warning")
    shift = 0 if zero_based else 1
    result = tuple((a - shift, b - shift) for a, b in pairs)
    if any(not 0 <= n < count for pair in result for n in pair):
        reading.problem(where, f"names a joint beyond the {count} joints; no skeleton "
                        "read")
        return ()
    return result


def _read_images(entries: list[Any], reading: _Reading) -> tuple[dict[Any, _Image], set[Any]]:
    """Image id -> image (its file found or not), and the ids of entries left out."""
    wanted: dict[Any, tuple[str, PurePosixPath, Mapping[str, Any]]] = {}
    left_out: set[Any] = set()
    first_of: dict[PurePosixPath, Any] = {}
    for index, entry in enumerate(entries):
        image_id = entry.get("id") if isinstance(entry, dict) else None
        where = f"images[{index}]" if image_id is None else f"image id {image_id}"
        try:
            if image_id is None or isinstance(image_id, bool | float | list | dict):
                raise _Unreadable("no whole-number or text id, so no annotation can name it")
            if image_id in wanted or image_id in left_out:
                raise _Unreadable(f"id {image_id!r} is used twice; the first one is kept")
            raw, relative = _relative_name(entry.get("file_name"), where, reading)
            if relative in first_of:
                raise _Unreadable(f"file_name '{relative}' is also image id "
                                  f"{first_of[relative]!r}'s")
        except _Unreadable as exc:
            reading.problem(where, f"{exc}; the image entry is left out")
            if image_id is not None and image_id not in wanted:
                left_out.add(image_id)
            continue
        first_of[relative] = image_id
        wanted[image_id] = (raw, relative, entry)
    names = _names(wanted, reading)
    images: dict[Any, _Image] = {}
    for image_id, (raw, relative, entry) in wanted.items():
        where = f"image id {image_id}"
        try:
            images[image_id] = _image(raw, relative, names[image_id], entry, where, reading)
        except _Unreadable as exc:
            reading.problem(where, f"{exc}; the image and its annotations are left out")
            left_out.add(image_id)
    return images, left_out


def _relative_name(value: Any, where: str, reading: _Reading) -> tuple[str, PurePosixPath]:
    """``file_name`` as written (for the file system) and as a relative POSIX path (readable
    text). An absolute path is looked for by its last part."""
    if not isinstance(value, str) or not value.strip():
        raise _Unreadable("no file_name")
    raw = value.replace("\\", "/")
    shown = PurePosixPath(_readable(raw, where, "file_name", reading))
    drive = PureWindowsPath(value).drive
    if raw.startswith("/") or drive:
        reading.problem(where, f"file_name '{value}' is an absolute path; looked for by its "
                        f"name '{shown.name}' instead", "warning")
        return PurePosixPath(raw).name, PurePosixPath(shown.name)
    parts = [part for part in shown.parts if part != "."]
    return raw, PurePosixPath(*parts)


def _names(wanted: Mapping[Any, tuple[str, PurePosixPath, Any]], reading: _Reading
           ) -> dict[Any, PurePosixPath]:
    """Each image's file name alone, or its whole relative path where that name is shared."""
    shared = Counter(relative.name for _, relative, _ in wanted.values())
    names: dict[Any, PurePosixPath] = {}
    for image_id, (_, relative, _) in wanted.items():
        if shared[relative.name] > 1:
            names[image_id] = PurePosixPath(*[p for p in relative.parts if p != ".."])
            reading.problem(f"image id {image_id}", f"another image is also called "
                            f"'{relative.name}', so this one keeps its folders: '{relative}'",
                            "warning")
        else:
            names[image_id] = PurePosixPath(relative.name)
    return names


def _image(raw: str, relative: PurePosixPath, name: PurePosixPath, entry: Mapping[str, Any],
           where: str, reading: _Reading) -> _Image:
    path = _find_image(PurePosixPath(raw), reading.existing)
    width, height = entry.get("width"), entry.get("height")
    if not (_is_size(width) and _is_size(height)) and path is not None:
        width, height = _image_size(path)
    if not (_is_size(width) and _is_size(height)):
        raise _Unreadable(f"no usable width and height ({width!r}, {height!r})")
    if path is None:
        places = ", ".join(_shown_folder(folder, reading) for folder in reading.folders)
        wanted = f"'{relative}'" + ("" if relative.name == str(relative)
                                    else f" and '{relative.name}'")
        reading.labelset.problems.append(Problem(
            reading.file, where, f"image not found (looked for {wanted} in {places}); its "
            "labels are read", missing_image=str(name)))
    return _Image(name, int(width), int(height), path)


def _find_image(relative: PurePosixPath, folders: Sequence[str]) -> Path | None:
    """The first file found (see the module docstring); ``folders`` exist, as plain strings
    (pathlib's overhead was half of a read of 10,000 images)."""
    tries = [str(relative)]
    if len(relative.parts) > 1:
        tries.append(relative.name)
    for candidate in tries:
        for folder in folders:
            path = os.path.join(folder, candidate)
            if os.path.isfile(path):
                return Path(os.path.abspath(path))  # absolute, symlinks left as they are
    return None


def _shown_folder(folder: Path, reading: _Reading) -> str:
    try:
        shown = os.path.relpath(folder, reading.labelset.source.parent)
    except ValueError:  # another drive on Windows
        shown = str(folder)
    return "the JSON's folder" if shown == "." else f"{shown}/"


def _image_size(path: Path) -> tuple[int | None, int | None]:
    from PIL import Image, UnidentifiedImageError  # only for entries that give no size

    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, UnidentifiedImageError):
        return None, None


def _targets(entry: Any, images: Mapping[Any, _Image], left_out: set[Any],
             categories: Mapping[int, _Category]) -> tuple[_Image | None, _Category]:
    if not isinstance(entry, dict):
        raise _Unreadable("not an object")
    image_id, category_id = entry.get("image_id"), entry.get("category_id")
    if isinstance(image_id, list | dict):
        raise _Unreadable(f"image_id {image_id!r:.40} is not an id")
    if image_id in left_out:
        return None, _Category("", ())
    if image_id not in images:
        raise _Unreadable(f"image_id {image_id!r} is not in images")
    if isinstance(category_id, bool | list | dict) or category_id not in categories:
        raise _Unreadable(f"category_id {category_id!r} is not in categories")
    return images[image_id], categories[category_id]


def _annotation_where(entry: Any, index: int) -> str:
    number = entry.get("id") if isinstance(entry, dict) else None
    return f"annotation id {number}" if number is not None else f"annotations[{index}]"


def _object(entry: Mapping[str, Any], where: str, image: _Image, label: str,
            joint_names: Sequence[str], reading: _Reading) -> LabeledObject:
    """One annotation as drawn: polygon, mask, points or rectangle."""
    box = _box(entry.get("bbox"), where, reading)
    segmentation = entry.get("segmentation")
    polygons: tuple[np.ndarray, ...] = ()
    holes: tuple[np.ndarray, ...] = ()
    bad_parts: list[str] = []
    kind = None
    if isinstance(segmentation, dict):
        polygons, holes = _mask_outlines(segmentation, image)
        kind = "mask"
    elif isinstance(segmentation, list) and segmentation:
        polygons, bad_parts = _polygon_parts(segmentation)
        kind = "polygon"
    elif segmentation not in (None, [], ""):
        raise _Unreadable(f"segmentation must be polygons or an RLE, not {segmentation!r:.40}")
    values = entry.get("keypoints")
    keypoints: tuple[Keypoint, ...] = ()
    if values:
        keypoints = _keypoints(values, joint_names)
        kind = "points"
    elif kind is None:
        if box is None:
            raise _Unreadable("no segmentation, keypoints or bbox")
        kind = "rectangle"
    elif not polygons:
        raise _Unreadable("; ".join(bad_parts) if kind == "polygon"
                          else "the RLE mask has no area")
    for reason in bad_parts if kind == "polygon" or values else ():
        reading.problem(where, f"{reason}; that part is left out", "warning")
    return LabeledObject(label=label, kind=kind, where=where, polygons=polygons, holes=holes,
                         box=box if kind in ("rectangle", "points") else None,
                         keypoints=keypoints, crowd=entry.get("iscrowd") in (1, True))


def _box(value: Any, where: str, reading: _Reading) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        if not isinstance(value, list) or len(value) != 4:
            raise _Unreadable
        x, y, width, height = (_number(v) for v in value)
        if width < 0 or height < 0:
            raise _Unreadable
    except _Unreadable:
        reading.problem(where, f"bbox {value!r:.60} is not [x, y, width, height]; not read",
                        "warning")
        return None
    return x, y, x + width, y + height


def _polygon_parts(parts: list[Any]) -> tuple[tuple[np.ndarray, ...], list[str]]:
    """Each flat ``[x1, y1, ...]`` list as a ring, and why each part that is not one (fewer
    than 3 points, an odd count, a value that is not a number) was left out."""
    rings, reasons = [], []
    for number, part in enumerate(parts):
        try:
            if not isinstance(part, list):
                raise _Unreadable("is not a list of numbers")
            if len(part) % 2:
                raise _Unreadable(f"has an odd count of numbers ({len(part)})")
            points = ring([_number(v) for v in part])
            if len(points) < _MIN_POLYGON_NUMBERS // 2:
                raise _Unreadable(f"has {len(points)} points; a polygon needs at least 3 "
                                  "(6 numbers)")
        except _Unreadable as exc:
            reasons.append(f"polygon {number} {exc}")
            continue
        rings.append(points)
    return tuple(rings), reasons


def _mask_outlines(segmentation: Mapping[str, Any], image: _Image
                   ) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    try:
        mask = rle.decode(segmentation)
    except (ValueError, TypeError) as exc:
        raise _Unreadable(f"the RLE cannot be read ({exc})") from exc
    if mask.shape != (image.height, image.width):
        raise _Unreadable(f"the RLE's size {list(mask.shape)} is not the image's "
                          f"[{image.height}, {image.width}] (height, width)")
    return trace_outlines(mask)


def _keypoints(values: Any, names: Sequence[str]) -> tuple[Keypoint, ...]:
    if not isinstance(values, list) or len(values) != 3 * len(names):
        count = len(values) if isinstance(values, list) else values
        raise _Unreadable(f"keypoints hold {count} values; the category's joints "
                          f"({len(names)}) need {3 * len(names)} (x, y, visibility each)")
    points = []
    for index, name in enumerate(names):
        x, y, visibility = (_number(v) for v in values[3 * index: 3 * index + 3])
        if visibility not in _VISIBILITIES:
            raise _Unreadable(f"joint '{name}' has visibility {visibility:g}; COCO writes 0 "
                              "(not labelled), 1 (hidden) or 2 (seen)")
        if visibility == ABSENT:
            x = y = 0.0
        points.append(Keypoint(name, x, y, int(visibility)))
    return tuple(points)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Unreadable(f"{value!r:.20} is not a number")
    if not math.isfinite(value):
        raise _Unreadable(f"{value!r} is not a finite number")
    return float(value)


def _whole(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Unreadable(f"{key} {value!r:.20} is not a whole number")
    return value


def _is_size(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _readable(text: str, where: str, key: str, reading: _Reading) -> str:
    """``text`` with the bytes that were not UTF-8 shown as U+FFFD (and a warning)."""
    if not any("\ud800" <= c <= "\udfff" for c in text):
        return text
    shown = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    reading.problem(where, f"{key} is not UTF-8 text; read as '{shown}'", "warning")
    return shown


# -- writing ---------------------------------------------------------------------------------


def write_coco_labelset(labelset: LabelSet, output_json: str | Path) -> Path:
    """Write ``labelset`` as one COCO instances JSON at ``output_json``, atomically.

    Label files only: each image is expected at ``output_json.parent / image.name`` (Roboflow's
    layout), where the caller links or copies it. See :func:`coco_labelset_document`."""
    return write_coco_json(output_json, coco_labelset_document(labelset))


def coco_labelset_document(labelset: LabelSet) -> dict[str, Any]:
    """The COCO instances document of ``labelset`` (ids from 1, ``file_name = image.name``)."""
    used = (o.label for image in labelset.images for o in image.objects)
    labels = list(dict.fromkeys([*labelset.labels, *used]))
    joints = _joint_schema(labelset)
    category_ids = {label: number for number, label in enumerate(labels, start=1)}
    with_points = {o.label for image in labelset.images for o in image.objects
                   if o.kind == "points"}
    categories = []
    for label, number in category_ids.items():
        record: dict[str, Any] = {"id": number, "name": label, "supercategory": ""}
        if joints and (label in with_points or not with_points):
            record["keypoints"] = list(joints)
            record["skeleton"] = [[a + 1, b + 1] for a, b in labelset.skeleton]
        categories.append(record)
    images, annotations = [], []
    for image_id, image in enumerate(labelset.images, start=1):
        images.append({"id": image_id, "file_name": image.name.as_posix(),
                       "width": int(image.width), "height": int(image.height)})
        for item in image.objects:
            record = _annotation(item, image, joints)
            record.update(id=len(annotations) + 1, image_id=image_id,
                          category_id=category_ids[item.label], iscrowd=int(item.crowd))
            annotations.append(record)
    return {"info": {"description": "written by YOLO Studio"}, "images": images,
            "annotations": annotations, "categories": categories}


def _joint_schema(labelset: LabelSet) -> tuple[str, ...]:
    if labelset.keypoint_names:
        return tuple(labelset.keypoint_names)
    names = [k.name for image in labelset.images for o in image.objects for k in o.keypoints]
    return tuple(dict.fromkeys(names))


def _annotation(item: LabeledObject, image: LabeledImage, joints: Sequence[str]
                ) -> dict[str, Any]:
    """``segmentation``, ``bbox``, ``area`` (and keypoints) of one object."""
    if item.kind not in ("polygon", "mask", "rectangle", "points"):
        raise ValueError(f"{image.name}, {item.where}: unknown kind {item.kind!r}")
    record: dict[str, Any] = {"segmentation": []}
    extent = item.bounds() or (0.0, 0.0, 0.0, 0.0)
    area = (extent[2] - extent[0]) * (extent[3] - extent[1])
    if item.kind == "mask" or item.holes:
        if not item.polygons:
            raise ValueError(f"{image.name}, {item.where}: a mask with no outline")
        encoded = rle.encode(fill_outlines(item.polygons, item.holes, image.height, image.width))
        record["segmentation"] = encoded
        area = float(rle.area(encoded))
        extent = _xyxy(rle.to_bbox(encoded)) if item.kind == "mask" else extent
    elif item.polygons:
        record["segmentation"] = [np.asarray(p, np.float64).reshape(-1).tolist()
                                  for p in item.polygons]
        area = sum(_polygon_area(np.asarray(p, np.float64)) for p in item.polygons)
    elif item.kind == "polygon":
        raise ValueError(f"{image.name}, {item.where}: a polygon with no points")
    elif item.kind == "rectangle" and item.box is None:
        raise ValueError(f"{image.name}, {item.where}: a rectangle with no box")
    if item.kind == "points":
        record.update(_keypoint_values(item, image, joints))
    x1, y1, x2, y2 = (float(v) for v in extent)
    record["bbox"] = [x1, y1, x2 - x1, y2 - y1]
    record["area"] = float(area)
    return record


def _keypoint_values(item: LabeledObject, image: LabeledImage, joints: Sequence[str]
                     ) -> dict[str, Any]:
    by_name = {k.name: k for k in item.keypoints}
    unknown = set(by_name) - set(joints)
    if unknown:
        raise ValueError(f"{image.name}, {item.where}: joints {sorted(unknown)} are not among "
                         f"the set's keypoint names {list(joints)}")
    values: list[float] = []
    for name in joints:
        point = by_name.get(name)
        if point is None or point.visibility == ABSENT:
            values += [0, 0, 0]
        else:
            values += [float(point.x), float(point.y), int(point.visibility)]
    return {"keypoints": values, "num_keypoints": sum(1 for v in values[2::3] if v)}


def _xyxy(xywh: Sequence[float]) -> tuple[float, float, float, float]:
    x, y, width, height = (float(v) for v in xywh)
    return x, y, x + width, y + height


def _polygon_area(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
