"""COCO JSON read into a :class:`~engine.formats.labelset.LabelSet`: instances and person
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

Writing is :mod:`.coco_labelset_write` (:func:`~.coco_labelset_write.write_coco_labelset`); one
annotation to one object is :mod:`.coco_annotations`.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from ..errors import DatasetError
from .coco import split_name
from .coco_annotations import (
    Category,
    ImageEntry,
    Reading,
    Unreadable,
    annotation_object,
    annotation_targets,
    annotation_where,
)
from .labelset import LabeledImage, LabelSet, Problem

__all__ = ["read_coco_labelset"]

FORMAT = "coco"
_ROBOFLOW_NAME = "_annotations.coco.json"
_SPLIT_PREFIXES = ("instances_", "person_keypoints_", "keypoints_")


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
    reading = Reading(labelset, str(source), _image_folders(source, images_dir, split))
    categories = _read_categories(document["categories"], reading)
    keypoint_names = _read_keypoint_schema(document, categories, reading)
    images, left_out = _read_images(document["images"], reading)
    for index, entry in enumerate(document["annotations"]):
        where = annotation_where(entry, index)
        try:
            image, category = annotation_targets(entry, images, left_out, categories)
            if image is None:
                continue  # its image entry was left out, and that problem says so
            names = category.keypoints or keypoint_names
            image.objects.append(annotation_object(entry, where, image, category.name, names,
                                                   reading))
        except Unreadable as exc:
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


def _read_categories(entries: list[Any], reading: Reading) -> dict[int, Category]:
    """Category id -> name and joint names; the labels in id order."""
    found: dict[int, Category] = {}
    for index, entry in enumerate(entries):
        where = f"categories[{index}]"
        try:
            category_id = _whole(entry.get("id") if isinstance(entry, dict) else None, "id")
            if category_id in found:
                raise Unreadable(f"id {category_id} is used twice; the first one is kept")
            name = entry.get("name")
            if not isinstance(name, str) or not name.strip():
                raise Unreadable(f"category id {category_id} has no name")
            name = _readable(name, where, "name", reading)
            joints = entry.get("keypoints") or []
            if not isinstance(joints, list) or not all(isinstance(j, str) for j in joints):
                raise Unreadable(f"'keypoints' of category '{name}' must be a list of names")
        except Unreadable as exc:
            reading.problem(where, f"{exc}; annotations of it are left out")
            continue
        found[category_id] = Category(name, tuple(joints), entry.get("skeleton"))
    named: dict[str, int] = {}
    for category_id in sorted(found):
        name = found[category_id].name
        if name in named:
            reading.problem(f"category id {category_id}", f"named '{name}' like category id "
                            f"{named[name]}: both read as one label", "warning")
        named.setdefault(name, category_id)
        reading.labelset.add_label(name)
    return dict(sorted(found.items()))


def _read_keypoint_schema(document: Mapping[str, Any], categories: dict[int, Category],
                          reading: Reading) -> tuple[str, ...]:
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


def _skeleton(value: Any, count: int, where: str, reading: Reading
              ) -> tuple[tuple[int, int], ...]:
    """COCO's 1-based pairs (Datumaro's 0-based ones) as 0-based pairs."""
    if not value:
        return ()
    try:
        pairs = [(_whole(a, "skeleton"), _whole(b, "skeleton")) for a, b in value]
    except (Unreadable, TypeError, ValueError):
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


def _read_images(entries: list[Any], reading: Reading) -> tuple[dict[Any, ImageEntry], set[Any]]:
    """Image id -> image (its file found or not), and the ids of entries left out."""
    wanted: dict[Any, tuple[str, PurePosixPath, Mapping[str, Any]]] = {}
    left_out: set[Any] = set()
    first_of: dict[PurePosixPath, Any] = {}
    for index, entry in enumerate(entries):
        image_id = entry.get("id") if isinstance(entry, dict) else None
        where = f"images[{index}]" if image_id is None else f"image id {image_id}"
        try:
            if image_id is None or isinstance(image_id, bool | float | list | dict):
                raise Unreadable("no whole-number or text id, so no annotation can name it")
            if image_id in wanted or image_id in left_out:
                raise Unreadable(f"id {image_id!r} is used twice; the first one is kept")
            raw, relative = _relative_name(entry.get("file_name"), where, reading)
            if relative in first_of:
                raise Unreadable(f"file_name '{relative}' is also image id "
                                  f"{first_of[relative]!r}'s")
        except Unreadable as exc:
            reading.problem(where, f"{exc}; the image entry is left out")
            if image_id is not None and image_id not in wanted:
                left_out.add(image_id)
            continue
        first_of[relative] = image_id
        wanted[image_id] = (raw, relative, entry)
    names = _names(wanted, reading)
    images: dict[Any, ImageEntry] = {}
    for image_id, (raw, relative, entry) in wanted.items():
        where = f"image id {image_id}"
        try:
            images[image_id] = _image(raw, relative, names[image_id], entry, where, reading)
        except Unreadable as exc:
            reading.problem(where, f"{exc}; the image and its annotations are left out")
            left_out.add(image_id)
    return images, left_out


def _relative_name(value: Any, where: str, reading: Reading) -> tuple[str, PurePosixPath]:
    """``file_name`` as written (for the file system) and as a relative POSIX path (readable
    text). An absolute path is looked for by its last part."""
    if not isinstance(value, str) or not value.strip():
        raise Unreadable("no file_name")
    raw = value.replace("\\", "/")
    shown = PurePosixPath(_readable(raw, where, "file_name", reading))
    drive = PureWindowsPath(value).drive
    if raw.startswith("/") or drive:
        reading.problem(where, f"file_name '{value}' is an absolute path; looked for by its "
                        f"name '{shown.name}' instead", "warning")
        return PurePosixPath(raw).name, PurePosixPath(shown.name)
    parts = [part for part in shown.parts if part != "."]
    return raw, PurePosixPath(*parts)


def _names(wanted: Mapping[Any, tuple[str, PurePosixPath, Any]], reading: Reading
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
           where: str, reading: Reading) -> ImageEntry:
    path = _find_image(PurePosixPath(raw), reading.existing)
    width, height = entry.get("width"), entry.get("height")
    if not (_is_size(width) and _is_size(height)) and path is not None:
        width, height = _image_size(path)
    if not (_is_size(width) and _is_size(height)):
        raise Unreadable(f"no usable width and height ({width!r}, {height!r})")
    if path is None:
        places = ", ".join(_shown_folder(folder, reading) for folder in reading.folders)
        wanted = f"'{relative}'" + ("" if relative.name == str(relative)
                                    else f" and '{relative.name}'")
        reading.labelset.problems.append(Problem(
            reading.file, where, f"image not found (looked for {wanted} in {places}); its "
            "labels are read", missing_image=str(name)))
    return ImageEntry(name, int(width), int(height), path)


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


def _shown_folder(folder: Path, reading: Reading) -> str:
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


def _whole(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise Unreadable(f"{key} {value!r:.20} is not a whole number")
    return value


def _is_size(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _readable(text: str, where: str, key: str, reading: Reading) -> str:
    """``text`` with the bytes that were not UTF-8 shown as U+FFFD (and a warning)."""
    if not any("\ud800" <= c <= "\udfff" for c in text):
        return text
    shown = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    reading.problem(where, f"{key} is not UTF-8 text; read as '{shown}'", "warning")
    return shown

