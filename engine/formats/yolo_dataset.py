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

This module finds the dataset (zip, yaml, class folders), reads class folders and puts a set
together; where the splits' images and labels are is :mod:`.yolo_splits`, the yaml's keys
:mod:`.yolo_dataset_yaml`, what the label files hold :mod:`.yolo_rows`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from ..errors import DatasetError
from ..utils.safe_zip import DEFAULT_MAX_BYTES, DEFAULT_MAX_MEMBERS, extract_zip, is_zip
from .dataset_yaml import read_dataset_yaml
from .image_names import is_image_name
from .labelset import LabeledImage, LabelSet
from .yolo_dataset_yaml import class_names, dataset_root, keypoint_layout
from .yolo_labels import BOXES, LABEL_ROWS
from .yolo_rows import TASK_OF, class_labels, guess_task, image_size, labeled_image, read_label_file
from .yolo_splits import SPLIT_FOLDERS, ReadLog, Splits, images_below

__all__ = [
    "SPLIT_FOLDERS",
    "YoloLabelSet",
    "open_yolo_source",
    "read_yolo_dataset",
]

CLASSIFY = "classify"
"""The task whose datasets are class folders (the others' are label rows)."""
TASK_NAMES = (CLASSIFY, *LABEL_ROWS)
_YAML_SUFFIXES = (".yaml", ".yml")
_LAYOUT_FOLDERS = {"images", "labels", *(n for names in SPLIT_FOLDERS.values() for n in names)}


@dataclass
class YoloLabelSet(LabelSet):
    """A :class:`LabelSet` read from a YOLO dataset, with the dataset's task.

    ``task``: classify, detect, segment or pose; ``task_reason``: ``"given"``, or why it was
    guessed (for the caller to print). ``yaml_path`` is the yaml read (None for class folders);
    ``kpt_shape`` and ``flip_idx`` are the yaml's, for a pose dataset.
    """

    task: str = TASK_OF[BOXES]
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
    root = dataset_root(config, yaml_path, reader) if yaml_path is not None else base
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


class _Reader(ReadLog):
    """One read: its problems (:class:`~.yolo_splits.ReadLog`) and the set it builds."""

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
        declared = (class_names(config, yaml_path, self)
                    if yaml_path is not None and "names" in config else None)
        ordered = [declared[i] for i in sorted(declared)] if declared else []
        labelset.labels = list(dict.fromkeys([*ordered, *sorted(labelset.labels)]))
        return labelset

    def _class_folders(self, folder: Path, split: str, labelset: YoloLabelSet) -> None:
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith("."):
                continue
            if not entry.is_dir():
                if is_image_name(entry.name):
                    self.problem(entry, "", "image not in a class folder; left out (put it "
                                 f"in {self.shown(folder)}/<class>/)")
                continue
            labelset.add_label(entry.name)
            for image in images_below(entry):
                size = image_size(image, self)
                if size is not None:
                    name = PurePosixPath(image.relative_to(folder).as_posix())
                    labelset.images.append(LabeledImage(
                        name=name, width=size[0], height=size[1], file=self.shown(image),
                        path=image, tags=(entry.name,), split=split))

    # -- rows ----------------------------------------------------------------------------

    def rows(self, config: Mapping[str, Any], yaml_path: Path, root: Path,
             task: str | None) -> YoloLabelSet:
        """Images with the objects of their label rows, from the splits ``config`` names."""
        names = class_names(config, yaml_path, self)
        layout = keypoint_layout(config, yaml_path, task, self)
        splits = Splits(self, config, yaml_path, root)
        pending = splits.images()
        for item in pending:
            read_label_file(item)
        guessed, reason = guess_task(layout.get("kpt_shape"), pending, task, self.shown)
        labelset = self.new_set(task=guessed, task_reason=reason, yaml_path=yaml_path,
                                kpt_shape=layout.get("kpt_shape"),
                                flip_idx=layout.get("flip_idx"),
                                keypoint_names=layout.get("keypoint_names", ()),
                                skeleton=layout.get("skeleton", ()))
        for item in pending:
            image = labeled_image(item, names, layout.get("kpt_shape"), labelset.keypoint_names,
                                  self)
            if image is not None:
                labelset.images.append(image)
        labelset.labels = class_labels(names, labelset.images)
        return labelset
