"""YOLO datasets (a folder, or a zip, as Ultralytics and Roboflow write them) read into the
format-neutral :class:`~.labelset.LabelSet`.

Layouts read:

- Ultralytics: ``data.yaml`` with ``path`` (the root, relative to the yaml; a ``path`` that
  does not exist here, e.g. written on another machine, falls back to the yaml's folder with a
  warning), ``train``/``val``/``test`` (each a folder, a ``.txt`` list of images, or a list of
  those, relative to the root), ``names`` (a list or ``{id: name}``), for pose ``kpt_shape``,
  optional ``kpt_names``, ``skeleton`` and ``flip_idx``. Labels sit where the last ``images``
  folder of an image's path reads ``labels``, with the suffix ``.txt`` (beside the image when
  its path has no ``images`` folder).
- Roboflow: ``data.yaml`` beside ``train/``, ``valid/``, ``test/`` (each with ``images/`` and
  ``labels/``), its split paths written ``../train/images``: relative to a folder one level
  below the yaml's, so they do not resolve from the yaml. Such a path is read without its
  leading ``../`` (a warning says so, once per yaml). When a split's path still does not
  resolve, the split's usual folders are tried (``images/val``, ``val/images``, ``valid/images``,
  ...), again with a warning; Roboflow names the folder ``valid`` where the key is ``val``.
- Classification: ``<split>/<class>/*.jpg`` folders, with or without a yaml (``train``, ``val``
  or ``valid``, ``test``): each image is tagged with its class folder's name; the classes are
  in the yaml's ``names`` order when it has them, else by name.

A split path as written must stay inside the dataset root (a ``..`` leaving it, or an absolute
path elsewhere, is a problem and the split's usual folders are tried instead), so a yaml from a
zip reads nothing outside the zip's folder. An image listed in two splits is read once, in the
first; a warning counts them, unless the later split holds nothing else (``val: images/train``
is how writers say there is no validation set).

Rows become objects in pixels of the image's size, read from the image file's header (no
decode; EXIF orientations 5 to 8 swap width and height, as decoders that apply them do): a box
row ``cls cx cy w h`` is a ``rectangle``; a polygon row a ``polygon``; a pose row (when the
yaml has ``kpt_shape``) a ``points`` object with its box and keypoints, named by ``kpt_names``
or ``"1"``..``"K"``; a ``[K, 3]`` visibility of 0, 1 or 2 is ABSENT, OCCLUDED or VISIBLE
(another value: the row is a problem); ``[K, 2]`` rows have no visibility, so every keypoint
reads as VISIBLE. The rows of a detect or segment dataset are read as what they are (a polygon
in a detect dataset stays a polygon; an Ultralytics OBB row is a 4-point polygon, and so is a
Roboflow 'YOLOv5 OBB' line, ``x1 y1 ... x4 y4 class difficult`` in pixels, read from a
``labelTxt/`` folder where ``labels/`` is missing, labelled by its class name), so nothing in
them is lost; fitting them to a task is ``engine.data.labelset_fit``'s business. Objects are
labelled with the yaml's ``names`` (none there: by their class ids, with a warning).

The task: ``task`` when given, else guessed: split folders holding class folders (and no
``kpt_shape``) -> classify; ``kpt_shape`` in the yaml -> pose; a row with more than 5 numbers
-> segment; else detect.
:func:`read_yolo_dataset` returns a :class:`YoloLabelSet` (a ``LabelSet`` with ``task`` and
``task_reason``, saying whether it was given or why it was guessed), so the guess is a value
the caller prints, not a problem line.

Problems (``Problem(file, where, reason)``, files named by their path below the folder given):
a bad line (``line N``: not numbers, a class id outside ``names``, a count of values no row
has); an image that cannot be read (left out with its rows: without its size they cannot
become pixels); a label file with no image (likewise left out); a label file that cannot be
read (its image left out, rather than read as a background image); a Roboflow OBB
``labelTxt/`` line that is not 4 corners and a class; a file name that is not UTF-8 (a
warning: it is read). The rest is read. Files are only read.

Zips: :func:`open_yolo_source` unpacks a ``.zip`` safely (``engine.utils.safe_zip``) into a
temporary folder that lives as long as its ``with`` block, and yields the folder to read; the
images the labels point to are there, so link or copy them before the block ends::

    with open_yolo_source("export.zip") as folder:
        labels = read_yolo_dataset(folder)
        ...  # fit, write, link or copy the images

:func:`read_yolo_dataset` itself reads a yaml or a folder, and refuses a zip (it would return
paths into a folder that is gone).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from ..errors import DatasetError
from ..utils.safe_zip import DEFAULT_MAX_BYTES, DEFAULT_MAX_MEMBERS, extract_zip, is_zip
from .dataset_yaml import read_dataset_yaml
from .labelset import (
    ABSENT,
    OCCLUDED,
    VISIBLE,
    Keypoint,
    LabeledImage,
    LabeledObject,
    LabelSet,
    Problem,
)
from .yolo_labels import (
    BOXES,
    KEYPOINTS,
    LABEL_ROWS,
    POLYGONS,
    LabelLineError,
    LabelRow,
    label_rows,
    parse_row,
    read_numbers,
)

__all__ = [
    "IMAGE_SUFFIXES",
    "SPLIT_FOLDERS",
    "YoloLabelSet",
    "open_yolo_source",
    "read_yolo_dataset",
]

SPLIT_FOLDERS = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}
"""Each split's key in a dataset yaml and the folder names tools give it."""
IMAGE_SUFFIXES = frozenset(
    {".bmp", ".dng", ".jpeg", ".jpg", ".jpe", ".mpo", ".png", ".tif", ".tiff", ".webp"}
)
"""Image files by suffix (as ``engine.data.images`` has them; formats sits below data)."""
CLASSIFY = "classify"
"""The task whose datasets are class folders (the others' are label rows)."""
_TASK_OF = {rows: task for task, rows in LABEL_ROWS.items()}  # what each kind of row is for
TASK_NAMES = (CLASSIFY, *LABEL_ROWS)
_YAML_SUFFIXES = (".yaml", ".yml")
_DRIVE = re.compile(r"^[A-Za-z]:/")
DOTA = "labelTxt"
"""Roboflow's 'YOLOv5 OBB' label folder, beside ``images``: DOTA lines in pixels."""
_LAYOUT_FOLDERS = {"images", "labels", *(n for names in SPLIT_FOLDERS.values() for n in names)}
_ROTATED = (5, 6, 7, 8)  # EXIF orientations that turn the image a quarter
_VISIBILITY = {0.0: ABSENT, 1.0: OCCLUDED, 2.0: VISIBLE}


@dataclass
class YoloLabelSet(LabelSet):
    """A :class:`LabelSet` read from a YOLO dataset, with the dataset's task.

    ``task``: classify, detect, segment or pose; ``task_reason``: ``"given"``, or why it was
    guessed (for the caller to print). ``yaml_path`` is the yaml read (None for class folders);
    ``kpt_shape`` and ``flip_idx`` are the yaml's, for a pose dataset.
    """

    task: str = _TASK_OF[BOXES]
    task_reason: str = "given"
    yaml_path: Path | None = None
    kpt_shape: tuple[int, int] | None = None
    flip_idx: tuple[int, ...] | None = None


@contextlib.contextmanager
def open_yolo_source(
    source: str | Path,
    *,
    workdir: str | Path | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> Iterator[Path]:
    """Yield what :func:`read_yolo_dataset` reads for ``source``: ``source`` itself for a yaml
    or a folder; for a zip, the folder it unpacks to (below ``workdir``, else the system's
    temporary folder; its lone top folder when everything sits in one), removed when the block
    ends. A zip refused as unsafe raises ``DatasetError`` (see ``engine.utils.safe_zip``)."""
    path = Path(source)
    if not _is_archive(path):
        yield path
        return
    temp = Path(tempfile.mkdtemp(prefix="yolo-zip-", dir=workdir))
    try:
        folder = extract_zip(path, temp / "dataset", max_bytes=max_bytes, max_members=max_members)
        yield _dataset_top(folder)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def read_yolo_dataset(source: str | Path, task: str | None = None) -> YoloLabelSet:
    """The YOLO dataset at ``source`` (a dataset yaml, or a folder holding one or class
    folders) as a :class:`YoloLabelSet` (format ``"yolo"``); see the module docstring.

    Raises ``DatasetError`` when there is no dataset to read (no yaml, no images in any split,
    a yaml that is not one) and for a zip (read it inside :func:`open_yolo_source`).
    """
    if task is not None and task not in TASK_NAMES:
        raise ValueError(f"task must be one of {', '.join(TASK_NAMES)}, not {task!r}")
    path = Path(source)
    if _is_archive(path):
        raise DatasetError(
            "is a zip archive; unpack it with open_yolo_source(path) and read the folder it "
            "gives (its images must outlive the read)",
            path=path,
        )
    if not path.exists():
        raise DatasetError(
            "no such file or folder; give a dataset yaml, the folder holding it, or a .zip",
            path=path,
        )
    path = Path(os.path.abspath(path))
    base = path if path.is_dir() else path.parent
    yaml_path = path if path.is_file() else _yaml_in(path)
    reader = _Reader(source=Path(source), base=base)
    config = read_dataset_yaml(yaml_path) if yaml_path is not None else {}
    root = _dataset_root(config, yaml_path, reader) if yaml_path is not None else base
    looks_classify = "kpt_shape" not in config and _has_class_folders(root)
    if task == CLASSIFY or (task is None and looks_classify):
        why = "given" if task else "split folders hold class folders"
        return reader.classify(root, config, yaml_path, why)
    if yaml_path is None:
        raise DatasetError(
            "holds no data.yaml (nor train/<class>/ image folders); give the folder a YOLO or "
            "Roboflow export unpacked to, or the yaml itself",
            path=path,
        )
    return reader.rows(config, yaml_path, root, task)


# -- finding the dataset ---------------------------------------------------------------------


def _is_archive(path: Path) -> bool:
    """A zip by its name (unless a folder) or, for any file but a yaml, by its bytes."""
    if path.is_dir():
        return False
    return path.suffix.lower() == ".zip" or (path.suffix.lower() not in _YAML_SUFFIXES
                                             and is_zip(path))


def _dataset_top(folder: Path) -> Path:
    """``folder``, or the folder below it that everything sits in (a zipped folder)."""
    for _ in range(3):
        if _yaml_in(folder) is not None:
            return folder
        entries = [e for e in folder.iterdir() if not e.name.startswith(".")]
        if len(entries) != 1 or not entries[0].is_dir() or entries[0].name in _LAYOUT_FOLDERS:
            return folder
        folder = entries[0]
    return folder


def _yaml_in(folder: Path) -> Path | None:
    """The dataset yaml in ``folder``: ``data.yaml``, else its only yaml; None when none."""
    for name in ("data.yaml", "data.yml"):
        if (folder / name).is_file():
            return folder / name
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() in _YAML_SUFFIXES
                   and p.is_file() and not p.name.startswith("."))
    if len(found) > 1:
        raise DatasetError(
            f"holds {len(found)} yaml files ({', '.join(p.name for p in found)}); give the "
            "dataset yaml itself",
            path=folder,
        )
    return found[0] if found else None


def _has_class_folders(root: Path) -> bool:
    """Whether a split folder below ``root`` holds class folders (not images/ and labels/)."""
    for names in SPLIT_FOLDERS.values():
        for split in (root / name for name in names if (root / name).is_dir()):
            subfolders = {p.name for p in split.iterdir() if p.is_dir()}
            if subfolders and not subfolders & {"images", "labels"}:
                return True
    return False


# -- reading ---------------------------------------------------------------------------------


@dataclass
class _Pending:
    """An image found in a split, with its label rows (line number, numbers) once read."""

    image: Path
    name: PurePosixPath
    split: str
    label: Path | None = None
    rows: list[tuple[int, tuple[float, ...]]] = field(default_factory=list)
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    """Lines that are not numbers: (line number, reason)."""
    unreadable: str | None = None
    """Why the label file cannot be read, when it cannot."""
    dota: bool = False
    """``label`` is a Roboflow 'YOLOv5 OBB' ``labelTxt`` file: DOTA lines in pixels."""
    corners: list[tuple[int, str, np.ndarray]] = field(default_factory=list)
    """Its rows: (line number, class name, ``[4, 2]`` pixel corners)."""


@dataclass
class _Reader:
    source: Path
    base: Path
    problems: list[Problem] = field(default_factory=list)

    def shown(self, path: Path) -> str:
        """``path`` as reports name it: below the folder given, else in full."""
        relative = posixpath.relpath(os.path.normpath(path), os.path.normpath(self.base))
        return str(path) if relative == ".." or relative.startswith("../") else relative

    def problem(self, path: Path | str, where: str, reason: str, severity: str = "error") -> None:
        file = self.shown(path) if isinstance(path, Path) else path
        self.problems.append(Problem(file, where, reason, severity))

    def new_set(self, **fields: Any) -> YoloLabelSet:
        return YoloLabelSet(format="yolo", source=self.source, problems=self.problems, **fields)

    # -- classify ------------------------------------------------------------------------

    def classify(self, root: Path, config: Mapping[str, Any], yaml_path: Path | None,
                 reason: str) -> YoloLabelSet:
        """Images in ``<split>/<class>/`` folders, tagged with their class. The classes are in
        the yaml's ``names`` order when it has them (then any other folders, by name), else
        by name, as a trainer reading the folders numbers them."""
        labelset = self.new_set(task=CLASSIFY, task_reason=reason, yaml_path=yaml_path)
        for split, names in SPLIT_FOLDERS.items():
            folder = next((root / n for n in names if (root / n).is_dir()), None)
            if folder is not None:
                self._class_folders(folder, split, labelset)
        if not labelset.images:
            raise DatasetError(
                "no images in train/<class>/ (or val/, valid/, test/) folders; a "
                "classification dataset holds one folder per class in each split folder",
                path=root,
            )
        declared = (_names(config, yaml_path, self)
                    if yaml_path is not None and "names" in config else None)
        ordered = [declared[i] for i in sorted(declared)] if declared else []
        labelset.labels = list(dict.fromkeys([*ordered, *sorted(labelset.labels)]))
        return labelset

    def _class_folders(self, folder: Path, split: str, labelset: YoloLabelSet) -> None:
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith("."):
                continue
            if not entry.is_dir():
                if entry.suffix.lower() in IMAGE_SUFFIXES:
                    self.problem(entry, "", "image not in a class folder; left out (put it "
                                 f"in {self.shown(folder)}/<class>/)")
                continue
            labelset.add_label(entry.name)
            for image in _images_below(entry):
                size = self.image_size(image)
                if size is not None:
                    name = PurePosixPath(image.relative_to(folder).as_posix())
                    labelset.images.append(LabeledImage(
                        name=name, width=size[0], height=size[1], file=self.shown(image),
                        path=image, tags=(entry.name,), split=split))

    # -- rows ----------------------------------------------------------------------------

    def rows(self, config: Mapping[str, Any], yaml_path: Path, root: Path,
             task: str | None) -> YoloLabelSet:
        """Images with the objects of their label rows, from the splits ``config`` names."""
        names = _names(config, yaml_path, self)
        layout = _keypoint_layout(config, yaml_path, task, self)
        splits = _Splits(self, config, yaml_path, root)
        pending = splits.images()
        for item in pending:
            self._read_label_file(item)
        guessed, reason = _guess(layout.get("kpt_shape"), pending, task, self.shown)
        labelset = self.new_set(task=guessed, task_reason=reason, yaml_path=yaml_path,
                                kpt_shape=layout.get("kpt_shape"),
                                flip_idx=layout.get("flip_idx"),
                                keypoint_names=layout.get("keypoint_names", ()),
                                skeleton=layout.get("skeleton", ()))
        for item in pending:
            image = self._image(item, names, layout.get("kpt_shape"), labelset.keypoint_names)
            if image is not None:
                labelset.images.append(image)
        labelset.labels = _labels(names, labelset.images)
        return labelset

    def _read_label_file(self, item: _Pending) -> None:
        if item.label is None:
            return
        try:
            text = item.label.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            item.unreadable = f"cannot be read ({exc}); its image is left out"
            return
        for number, line in enumerate(text.splitlines(), 1):
            if item.dota:
                self._dota_line(item, number, line)
                continue
            try:
                values = read_numbers(line)
            except LabelLineError as exc:
                item.bad_lines.append((number, str(exc)))
                continue
            if values:
                item.rows.append((number, values))

    @staticmethod
    def _dota_line(item: _Pending, number: int, line: str) -> None:
        """One DOTA line, ``x1 y1 x2 y2 x3 y3 x4 y4 class [difficult]`` (header lines such as
        ``imagesource:`` and ``gsd:`` passed over)."""
        words = line.split()
        if not words or (len(words) == 1 and ":" in words[0]):
            return
        if len(words) not in (9, 10):
            item.bad_lines.append((number, f"{len(words)} words; a DOTA line has 4 corners, "
                                   "a class name and an optional difficult flag"))
            return
        try:
            corners = np.array([float(w) for w in words[:8]], np.float64).reshape(4, 2)
        except ValueError:
            item.bad_lines.append((number, "a corner is not a number"))
            return
        if not np.isfinite(corners).all():
            item.bad_lines.append((number, "a corner is not a finite number"))
            return
        item.corners.append((number, words[8], corners))

    def _image(self, item: _Pending, names: Mapping[int, str] | None,
               kpt_shape: tuple[int, int] | None, joints: tuple[str, ...]) -> LabeledImage | None:
        """The image with its objects; its bad lines become problems in line order."""
        file = self.shown(item.label) if item.label is not None else self.shown(item.image)
        if item.unreadable is not None:
            self.problem(file, "", item.unreadable)
            return None
        size = self.image_size(item.image, rows=len(item.rows) + len(item.bad_lines)
                               + len(item.corners))
        if size is None:
            return None
        objects, bad_lines = [], list(item.bad_lines)
        for number, values in item.rows:
            try:
                objects.append(_object(number, values, names, kpt_shape, joints, size))
            except LabelLineError as exc:
                bad_lines.append((number, str(exc)))
        objects += [LabeledObject(label, "polygon", f"line {number}", polygons=(corners,))
                    for number, label, corners in item.corners]
        for number, reason in sorted(bad_lines):
            self.problem(file, f"line {number}", f"{reason}; line left out")
        return LabeledImage(name=item.name, width=size[0], height=size[1], file=file,
                            path=item.image, objects=tuple(objects), split=item.split)

    def image_size(self, image: Path, rows: int | None = None) -> tuple[int, int] | None:
        """The image's width and height from its header; None (and a problem) when it cannot
        be read. A name that is not UTF-8 is read, with a warning."""
        try:
            image.name.encode("utf-8")
        except UnicodeEncodeError:  # undecodable bytes, kept by Python as lone surrogates
            self.problem(image, "", f"the file name is not valid UTF-8 (read as "
                         f"{image.name!r}); rename it if another program cannot open it",
                         "warning")
        try:
            with Image.open(image) as opened:
                width, height = opened.size
                # getexif() on a PNG without the EXIF chunk read yet would decode the image
                orientation = opened.getexif().get(0x0112) if "exif" in opened.info else None
        except Exception as exc:  # noqa: BLE001 - a broken file can make a decoder raise anything
            left = "" if rows is None else f" with its {rows} label row(s)"
            self.problem(image, "", f"cannot be read as an image ({exc}); left out{left}")
            return None
        return (height, width) if orientation in _ROTATED else (width, height)


def _object(number: int, values: tuple[float, ...], names: Mapping[int, str] | None,
            kpt_shape: tuple[int, int] | None, joints: tuple[str, ...],
            size: tuple[int, int]) -> LabeledObject:
    """The object of one row (pose rows when the yaml has ``kpt_shape``, else boxes and
    polygons); raises ``LabelLineError`` with the reason it is not one."""
    row = parse_row(values, _TASK_OF[KEYPOINTS if kpt_shape else POLYGONS], kpt_shape)
    if names is not None and row.class_id not in names:
        raise LabelLineError(f"class id {row.class_id} is not in the yaml's names "
                             f"({_id_range(names)}); add the class to names or fix the id")
    label = str(row.class_id) if names is None else names[row.class_id]
    return _labeled_object(row, label, f"line {number}", joints, size)


def _labeled_object(row: LabelRow, label: str, where: str, joints: tuple[str, ...],
                    size: tuple[int, int]) -> LabeledObject:
    width, height = size
    if row.polygon is not None:
        return LabeledObject(label, "polygon", where, polygons=(row.polygon * (width, height),))
    cx, cy, w, h = (float(v) for v in row.box)
    box = ((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width,
           (cy + h / 2) * height)
    if row.keypoints is None:
        return LabeledObject(label, "rectangle", where, box=box)
    return LabeledObject(label, "points", where, box=box,
                         keypoints=_keypoints(row.keypoints, joints, size))


def _keypoints(points, joints: tuple[str, ...], size: tuple[int, int]) -> tuple[Keypoint, ...]:
    width, height = size
    keypoints = []
    for name, point in zip(joints, points, strict=True):
        visibility = VISIBLE if len(point) == 2 else _VISIBILITY.get(float(point[2]))
        if visibility is None:
            raise LabelLineError(f"keypoint {name!r} has visibility {point[2]:g}; it must be 0 "
                                 "(not labelled), 1 (hidden) or 2 (visible)")
        if visibility == ABSENT:
            keypoints.append(Keypoint(name, 0.0, 0.0, ABSENT))
        else:
            keypoints.append(Keypoint(name, float(point[0]) * width, float(point[1]) * height,
                                      visibility))
    return tuple(keypoints)


def _guess(kpt_shape: tuple[int, int] | None, pending: list[_Pending], task: str | None,
           shown: Callable[[Path], str]) -> tuple[str, str]:
    """The task, and why: given, or what the yaml and rows say."""
    if task is not None:
        return task, "given"
    if kpt_shape is not None:
        return _TASK_OF[KEYPOINTS], "the yaml has kpt_shape"
    for item in pending:
        for number, values in item.rows:
            if len(values) > 5:
                return _TASK_OF[POLYGONS], (f"{shown(item.label)} line {number} has "
                                            f"{len(values)} numbers (a polygon)")
    if any(item.corners for item in pending):
        return _TASK_OF[BOXES], ("Roboflow OBB rows (labelTxt/): boxes around their corners "
                                 "(task=segment keeps the turned corners)")
    return _TASK_OF[BOXES], "no label row has more than 5 numbers (class and box)"


def _labels(names: Mapping[int, str] | None, images: list[LabeledImage]) -> list[str]:
    """The class names in id order; without names, the ids up to the largest used, so each
    class keeps its index."""
    named = [obj.label for image in images for obj in image.objects
             if names is not None or not obj.label.isdigit()]  # DOTA rows give names
    if names is not None:
        return list(dict.fromkeys([*(names[i] for i in sorted(names)), *named]))
    used = [int(obj.label) for image in images for obj in image.objects
            if obj.label.isdigit()]
    ids = [str(i) for i in range(max(used) + 1)] if used else []
    return list(dict.fromkeys([*ids, *named]))


def _id_range(names: Mapping[int, str]) -> str:
    ids = sorted(names)
    if ids == list(range(len(ids))):
        return f"ids 0..{len(ids) - 1}"
    return "ids " + ", ".join(map(str, ids))


# -- the yaml: names, keypoints, splits ------------------------------------------------------


def _names(config: Mapping[str, Any], yaml_path: Path, reader: _Reader) -> dict[int, str] | None:
    """The yaml's class names by id; None when it has none (classes are named by their ids)."""
    raw = config.get("names")
    if raw is None:
        reader.problem(yaml_path, "key 'names'", "missing; classes are named by their ids "
                       "(\"0\", \"1\", ...); add names to the yaml", "warning")
        return None
    if isinstance(raw, list):
        items = list(enumerate(raw))
    elif isinstance(raw, dict):
        items = [(_class_id(key, yaml_path), value) for key, value in raw.items()]
    else:
        raise DatasetError("must be a list [cat, dog] or a mapping {0: cat, 1: dog}",
                           path=yaml_path, key="names")
    names = {index: _class_name(index, value, yaml_path) for index, value in items}
    twice = sorted({name for name in names.values() if list(names.values()).count(name) > 1})
    if twice:
        reader.problem(yaml_path, "key 'names'", f"{', '.join(map(repr, twice))} named twice; "
                       "their objects read as one class", "warning")
    return names


def _class_id(key: Any, yaml_path: Path) -> int:
    if isinstance(key, int) and not isinstance(key, bool) and key >= 0:
        return key
    if isinstance(key, str) and key.isdigit():
        return int(key)
    raise DatasetError(f"'{key}' is not a class id (0, 1, ...)", path=yaml_path, key="names")


def _class_name(index: int, value: Any, yaml_path: Path) -> str:
    if isinstance(value, bool):
        raise DatasetError(f"class {index} reads as the boolean {value} (YAML reads unquoted "
                           "yes/no/on/off that way); quote it", path=yaml_path, key="names")
    if isinstance(value, str | int | float) and str(value).strip():
        return str(value)
    raise DatasetError(f"class {index} has no name (text); give every class one",
                       path=yaml_path, key="names")


def _dataset_root(config: Mapping[str, Any], yaml_path: Path, reader: _Reader) -> Path:
    """The folder split paths start at: ``path`` below the yaml's folder, or that folder
    (with a warning when ``path`` names a folder that is not here)."""
    value = config.get("path")
    folder = yaml_path.parent
    if value in (None, "", "."):
        return folder
    root = Path(os.path.normpath(folder / str(value)))
    if isinstance(value, str) and root.is_dir():
        return root
    reader.problem(yaml_path, "key 'path'", f"no folder '{value}' here (written on another "
                   "computer?); read from the yaml's folder instead", "warning")
    return folder


def _keypoint_layout(config: Mapping[str, Any], yaml_path: Path, task: str | None,
                     reader: _Reader) -> dict[str, Any]:
    shape = config.get("kpt_shape")
    if shape is None:
        if task is not None and label_rows(task) == KEYPOINTS:
            raise DatasetError("missing; pose rows need kpt_shape: [K, 3] (or [K, 2]) to be "
                               "read", path=yaml_path, key="kpt_shape")
        return {}
    valid = (isinstance(shape, list) and len(shape) == 2
             and all(isinstance(v, int) and not isinstance(v, bool) for v in shape)
             and shape[0] >= 1 and shape[1] in (2, 3))
    if not valid:
        raise DatasetError(f"{shape!r} is not [K, 3] or [K, 2] (K keypoints of x, y and maybe "
                           "visibility)", path=yaml_path, key="kpt_shape")
    count = shape[0]
    if task is not None and label_rows(task) in (BOXES, POLYGONS):
        reader.problem(yaml_path, "key 'kpt_shape'", f"a pose dataset read for {task}: its "
                       "rows are read as pose rows (box and keypoints)", "warning")
    layout = {"kpt_shape": (count, shape[1]),
              "keypoint_names": _kpt_names(config.get("kpt_names"), count, yaml_path, reader)}
    skeleton = config.get("skeleton")
    if skeleton is not None:
        if _index_pairs(skeleton, count):
            layout["skeleton"] = tuple((int(a), int(b)) for a, b in skeleton)
        else:
            reader.problem(yaml_path, "key 'skeleton'", f"not pairs of keypoint indices "
                           f"0..{count - 1}; ignored", "warning")
    flip = config.get("flip_idx")
    if flip is not None:
        if isinstance(flip, list) and sorted(flip) == list(range(count)):
            layout["flip_idx"] = tuple(flip)
        else:
            reader.problem(yaml_path, "key 'flip_idx'", f"does not list each keypoint index "
                           f"0..{count - 1} once; ignored", "warning")
    return layout


def _kpt_names(value: Any, count: int, yaml_path: Path, reader: _Reader) -> tuple[str, ...]:
    """``kpt_names`` (a list, or ``{class: [names]}``: the first class's), else "1".."K"."""
    numbered = tuple(str(i) for i in range(1, count + 1))
    if value is None:
        return numbered
    if isinstance(value, dict) and value:
        value = value[min(value, key=str)]
    names = tuple(str(name) for name in value) if isinstance(value, list) else ()
    if len(names) != count or len(set(names)) != count:
        reader.problem(yaml_path, "key 'kpt_names'", f"not {count} different names (kpt_shape "
                       f"says {count} keypoints); keypoints are named 1..{count}", "warning")
        return numbered
    return names


def _index_pairs(value: Any, count: int) -> bool:
    return isinstance(value, list) and all(
        isinstance(pair, list | tuple) and len(pair) == 2
        and all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < count for i in pair)
        for pair in value)


class _Splits:
    """Where each split's images are: the yaml's entries as written, or as Roboflow meant
    them, or the split's usual folders."""

    def __init__(self, reader: _Reader, config: Mapping[str, Any], yaml_path: Path,
                 root: Path) -> None:
        self.reader, self.config, self.yaml_path, self.root = reader, config, yaml_path, root
        self._stripped: list[str] = []

    def images(self) -> list[_Pending]:
        pending: list[_Pending] = []
        seen: dict[Path, str] = {}
        for split in SPLIT_FOLDERS:
            sources = self._sources(split)
            again = new = 0
            for item in self._split_images(split, sources):
                if item.image in seen:  # as found, normalised (links are not followed)
                    again += 1
                    continue
                new += 1
                seen[item.image] = split
                pending.append(item)
            if again and new:  # a whole split repeated (val: train, as writers do) is no news
                self.reader.problem(self.yaml_path, f"key '{split}'", f"{again} image(s) read "
                                    "already (listed twice, or in an earlier split); each read "
                                    "once", "warning")
        if self._stripped:
            self.reader.problem(
                self.yaml_path, "", f"{', '.join(self._stripped)} read without the leading "
                "'../' (Roboflow writes split paths one folder too high)", "warning")
        if not pending:
            raise DatasetError(
                f"no images in any split below {self.root}; a dataset yaml gives train and val "
                "(folders of images or .txt lists, relative to path), with labels/ beside "
                "images/", path=self.yaml_path)
        return pending

    def _sources(self, split: str) -> list[tuple[Path, Path]]:
        """(folder or list, the folder image names are relative to) for ``split``."""
        value = self.config.get(split)
        if split == "val" and value is None:
            value = self.config.get("validation")
        entries = value if isinstance(value, list) else [] if value in (None, "") else [value]
        found, unresolved = [], []
        for entry in entries:
            place = self._entry(split, entry)
            if place is None:
                unresolved.append(repr(entry) if not isinstance(entry, str) else f"'{entry}'")
            else:
                found.append((place, place if place.is_dir() else self.root))
        usual = None if found else self._usual(split)
        where = f"key '{split}'"
        if usual is not None:
            why = (f"{', '.join(unresolved)}: no folder or .txt list in the dataset folder"
                   if unresolved else "not given")
            self.reader.problem(self.yaml_path, where, f"{why}; read from "
                                f"{self.reader.shown(usual)}, found there", "warning")
            return [(usual, usual)]
        if unresolved:
            self.reader.problem(self.yaml_path, where, f"{', '.join(unresolved)}: no folder or "
                                ".txt list in the dataset folder; split not read", "warning")
        return found

    def _entry(self, split: str, entry: Any) -> Path | None:
        """The folder or list ``entry`` names inside the root (a Roboflow ``../`` path read
        without it), or None."""
        if not isinstance(entry, str):
            return None
        place = self._place(entry)
        if place is None and entry.replace("\\", "/").startswith("../"):
            place = self._place(entry[3:])
            if place is not None:
                self._stripped.append(f"{split}: {entry}")
        return place

    def _place(self, entry: str) -> Path | None:
        """The folder or .txt list at ``entry`` below the root; None when there is none."""
        place = Path(os.path.normpath(self.root / entry.replace("\\", "/")))
        if not _inside(place, self.root) or not place.exists():
            return None
        if place.is_file() and place.suffix.lower() != ".txt":
            return None
        return place

    def _usual(self, split: str) -> Path | None:
        for name in SPLIT_FOLDERS[split]:
            for place in (self.root / "images" / name, self.root / name / "images"):
                if place.is_dir():
                    return place
        return None

    def _split_images(self, split: str, sources: list[tuple[Path, Path]]) -> Iterator[_Pending]:
        for source, names_from in sources:
            images = _images_below(source) if source.is_dir() else self._listed(source)
            labels: set[Path] = set()
            for image in images:
                label = _label_path(image, self.root)
                dota = not label.is_file() and _label_path(image, self.root, DOTA).is_file()
                label = _label_path(image, self.root, DOTA) if dota else label
                exists = label.is_file()
                if exists:
                    labels.add(label)
                yield _Pending(image, _image_name(image, names_from), split,
                               label if exists else None, dota=dota)
            if source.is_dir():
                self._orphans(source, labels)

    def _listed(self, listing: Path) -> list[Path]:
        """Images named by a ``.txt`` list, one a line, relative to the list's folder."""
        try:
            text = listing.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            self.reader.problem(listing, "", f"cannot be read ({exc}); its images left out")
            return []
        images = []
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip().replace("\\", "/")
            if not line:
                continue
            image = Path(os.path.normpath(listing.parent / line))
            if _DRIVE.match(line):
                reason = "an absolute Windows path; left out (list images relative to the list)"
            elif not _inside(image, self.root):
                reason = "outside the dataset folder; left out"
            elif not image.is_file():
                reason = "no such image; left out"
            else:
                images.append(image)
                continue
            self.reader.problem(listing, f"line {number}", f"{line}: {reason}")
        return images

    def _orphans(self, folder: Path, matched: set[Path]) -> None:
        """Label files in ``folder``'s labels folder that no image has."""
        labels = _label_path(folder / "x.jpg", self.root).parent
        if labels == folder:
            return
        if not labels.is_dir():
            labels = labels.with_name(DOTA)
        if not labels.is_dir():
            return
        for label in sorted(labels.rglob("*.txt")):
            if label not in matched and not label.name.startswith("."):
                self.reader.problem(label, "", f"no image for it in {self.reader.shown(folder)}"
                                    "; its rows are left out (put the image there)")


def _images_below(folder: Path) -> list[Path]:
    """Image files below ``folder`` by suffix, in name order; hidden ones passed over."""
    found = []
    for directory, subfolders, files in os.walk(folder):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        found += [Path(directory, name) for name in sorted(files) if not name.startswith(".")
                  and os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES]
    return found


def _label_path(image: Path, root: Path, folder: str = "labels") -> Path:
    """The label file of ``image``: its last ``images`` folder below ``root`` read as
    ``folder`` (``labels``; Roboflow OBB's ``labelTxt``), suffix ``.txt``; beside the image
    when there is no such folder."""
    try:
        parts = image.relative_to(root).parts
    except ValueError:
        return image.with_suffix(".txt")
    folders = [i for i, part in enumerate(parts[:-1]) if part == "images"]
    if not folders:
        return image.with_suffix(".txt")
    swapped = list(parts)
    swapped[folders[-1]] = folder
    return root.joinpath(*swapped).with_suffix(".txt")


def _image_name(image: Path, folder: Path) -> PurePosixPath:
    try:
        return PurePosixPath(image.relative_to(folder).as_posix())
    except ValueError:
        return PurePosixPath(image.name)


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path`` is ``root`` or below it, as written (links are not followed)."""
    relative = posixpath.relpath(os.path.normpath(path), os.path.normpath(root))
    return relative != ".." and not relative.startswith("../")
