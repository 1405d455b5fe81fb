"""Where a YOLO dataset's images and label files are: each split's entries in the yaml as
written, or as Roboflow meant them (``../train/images`` read without its ``../``), or the
split's usual folders (``images/val``, ``val/images``, ``valid/images``, ...); the label file of
each image (its last ``images`` folder read as ``labels``, or Roboflow OBB's ``labelTxt``);
label files with no image. Also :class:`ReadLog`, the problems of one read, each file named
below the folder given. The reading of what the files hold is :mod:`.yolo_rows`'.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ..errors import DatasetError
from .image_names import is_image_name
from .labelset import Problem

__all__ = ["DOTA", "SPLIT_FOLDERS", "Pending", "ReadLog", "Splits", "images_below"]

SPLIT_FOLDERS = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}
"""Each split's key in a dataset yaml and the folder names tools give it."""
DOTA = "labelTxt"
"""Roboflow's 'YOLOv5 OBB' label folder, beside ``images``: DOTA lines in pixels."""
_DRIVE = re.compile(r"^[A-Za-z]:/")


@dataclass
class ReadLog:
    """The problems of one read of ``source``; files are named below ``base``, the folder
    given."""

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


@dataclass
class Pending:
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


class Splits:
    """Where each split's images are: the yaml's entries as written, or as Roboflow meant
    them, or the split's usual folders."""

    def __init__(self, reader: ReadLog, config: Mapping[str, Any], yaml_path: Path,
                 root: Path) -> None:
        self.reader, self.config, self.yaml_path, self.root = reader, config, yaml_path, root
        self._stripped: list[str] = []

    def images(self) -> list[Pending]:
        pending: list[Pending] = []
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

    def _split_images(self, split: str, sources: list[tuple[Path, Path]]) -> Iterator[Pending]:
        for source, names_from in sources:
            images = images_below(source) if source.is_dir() else self._listed(source)
            labels: set[Path] = set()
            for image in images:
                label = _label_path(image, self.root)
                dota = not label.is_file() and _label_path(image, self.root, DOTA).is_file()
                label = _label_path(image, self.root, DOTA) if dota else label
                exists = label.is_file()
                if exists:
                    labels.add(label)
                yield Pending(image, _image_name(image, names_from), split,
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


def images_below(folder: Path) -> list[Path]:
    """Image files below ``folder`` by suffix, in name order; hidden ones passed over."""
    found = []
    for directory, subfolders, files in os.walk(folder):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        found += [Path(directory, name) for name in sorted(files) if not name.startswith(".")
                  and is_image_name(name)]
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
