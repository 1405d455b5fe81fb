"""Pascal VOC segmentation masks: instance and class PNGs read into a LabelSet (written back by
:mod:`.masks_write`).

The layout (as VOC, labelme2voc and Datumaro write it)::

    SegmentationObject/<stem>.png   instance id per pixel (0 background, 255 void)
    SegmentationClass/<stem>.png    class index per pixel (0 background, 255 void / ignore)
    JPEGImages/<stem>.<any image suffix>
    ImageSets/Segmentation/{train,val,test}.txt   the stems of each split (optional)
    labels.txt | class_names.txt | labelmap.txt   class names by index (optional)

A palette PNG (mode ``P``) is read by its palette indices, never its colours; an RGB PNG (as
Datumaro writes them) is read by colour, through the labelmap's colours or the VOC colour map.
Each instance id is one object, of the class most of its pixels have in the class PNG; with no
instance PNGs each connected region of a class is one object. Objects are traced to outlines
with their holes (kind ``mask``). What cannot be read is a :class:`Problem` and the rest is read.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
from PIL import Image

from ..errors import DatasetError
from .image_names import is_image_name
from .labelset import LabeledImage, LabeledObject, LabelSet, Problem
from .outlines import fill_outlines, trace_outlines

__all__ = ["VOC_CLASS_NAMES", "ClassNames", "read_class_names", "read_masks", "voc_colormap",
           "voc_image_name"]

LOGGER = logging.getLogger(__name__)

VOC_CLASS_NAMES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor")
"""The 21 Pascal VOC class names by index, read when a set names none."""
BACKGROUND, VOID = 0, 255
IGNORE_LABEL = "__ignore__"
"""labelme's label for regions to leave out: painted as void (255) in the class PNG."""
MAX_INDEX = 254
"""The largest class index or instance id a mask PNG holds (255 is void)."""
SPLITS = ("train", "val", "test")
NAMES_FILES = ("labels.txt", "class_names.txt", "labelmap.txt")
DEFAULT_NAMES_SOURCE = "the 21 standard Pascal VOC names"
_BACKGROUND_NAMES = ("_background_", "background")
_TURNED = (5, 6, 7, 8)  # EXIF orientations that turn the image by 90 degrees
UNSAFE_NAME = re.compile(r"^$|^\.|[\x00-\x1f/\\:]")
"""A stem or split that cannot be a file name everywhere: empty, hidden, a separator, a control."""


def voc_colormap() -> np.ndarray:
    """The ``[256, 3]`` uint8 VOC colour map: index i's bits are dealt out in turn to red,
    green and blue, from each channel's top bit down (the VOC devkit's ``labelcolormap``)."""
    return _colormap().copy()


@functools.cache
def _colormap() -> np.ndarray:
    colors = np.zeros((256, 3), np.uint8)
    for index in range(256):
        value, rgb = index, [0, 0, 0]
        for shift in range(7, -1, -1):
            for channel in range(3):
                rgb[channel] |= ((value >> channel) & 1) << shift
            value >>= 3
        colors[index] = rgb
    return colors


@dataclass(frozen=True)
class ClassNames:
    """Class names by index (index 0 is the background) and the file they came from."""

    names: tuple[str, ...]
    source: str
    """``labels.txt``, ``class_names.txt``, ``labelmap.txt`` or :data:`DEFAULT_NAMES_SOURCE`."""
    colors: Mapping[tuple[int, int, int], int] | None = None
    """labelmap.txt's colour of each index, for RGB class PNGs (None: the VOC colour map)."""


def read_class_names(root: str | Path) -> ClassNames:
    """The class names of the mask set at ``root``: the first of labels.txt (labelme's
    convention: ``__ignore__``, ``_background_``, classes), class_names.txt (labelme2voc's
    output: ``_background_``, classes), Datumaro's labelmap.txt (``name:r,g,b:parts:actions``),
    else the standard VOC names. A list that does not start with a background name gets one."""
    for name in NAMES_FILES:
        path = Path(root) / name
        if path.is_file():
            try:
                lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
            except (OSError, UnicodeDecodeError) as exc:
                raise DatasetError(f"cannot be read ({exc})", path=path) from exc
            if name == "labelmap.txt":
                return _labelmap(lines, path)
            return ClassNames(_with_background([line for line in lines if line]), name)
    return ClassNames(VOC_CLASS_NAMES, DEFAULT_NAMES_SOURCE)


def _with_background(names: list[str]) -> tuple[str, ...]:
    if names and names[0] == IGNORE_LABEL:
        names = names[1:]
    if not names or names[0].lower() not in _BACKGROUND_NAMES:
        names = ["_background_", *names]
    return tuple(names)


def _labelmap(lines: list[str], path: Path) -> ClassNames:
    names: list[str] = []
    colors: dict[tuple[int, int, int], int] = {}
    for number, line in enumerate(lines, start=1):
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(":")
        color = rest.partition(":")[0].strip()
        if color:
            try:
                red, green, blue = (int(part) for part in color.split(","))
            except ValueError as exc:
                raise DatasetError(f"colour {color!r} is not 'r,g,b'", path=path,
                                   line=number) from exc
            colors[(red, green, blue)] = len(names)
        names.append(name.strip())
    if names and names[0].lower() not in _BACKGROUND_NAMES:
        names.insert(0, "background")
        colors = {color: index + 1 for color, index in colors.items()}
    palette = _colormap()
    for index in range(len(names)):  # a name without a colour has its VOC one
        if index not in colors.values():
            colors.setdefault(tuple(int(v) for v in palette[index]), index)
    return ClassNames(tuple(names), "labelmap.txt", colors)


def read_masks(root: str | Path) -> LabelSet:
    """Read the VOC-style mask set at ``root`` (format ``masks``); see the module docstring.

    Images come from ``JPEGImages/`` by stem; a missing one is a warning and the masks are
    read with ``path=None``. An image listed in a split but with no mask PNG is read with no
    objects (and a warning). Raises ``DatasetError`` when ``root`` has neither mask folder."""
    root = Path(root)
    object_pngs = _pngs(root / "SegmentationObject")
    class_pngs = _pngs(root / "SegmentationClass")
    if not (root / "SegmentationObject").is_dir() and not (root / "SegmentationClass").is_dir():
        raise DatasetError("not a VOC mask set: it has no SegmentationObject/ or "
                           "SegmentationClass/ folder", path=root)
    names = read_class_names(root)
    labelset = LabelSet(format="masks", source=root,
                        labels=[n for n in names.names[1:] if n != IGNORE_LABEL])
    LOGGER.info("%s: class names from %s", root, names.source)
    if names.source == DEFAULT_NAMES_SOURCE:
        labelset.problems.append(Problem(
            "labels.txt", "", "missing (and so are class_names.txt and labelmap.txt): class "
            f"indices read as {DEFAULT_NAMES_SOURCE}", "warning"))
    if class_pngs and not object_pngs:
        labelset.problems.append(Problem(
            "SegmentationObject", "", "no instance PNGs: each connected region of a class is "
            "read as one object (touching objects of one class become one)", "warning"))
    splits = _read_splits(root, labelset.problems)
    images = _image_files(root / "JPEGImages")
    reader = _ImageReader(root, names, labelset.problems)
    for stem in sorted(set(object_pngs) | set(class_pngs) | set(splits)):
        image = reader.read(stem, object_pngs.get(stem), class_pngs.get(stem), images.get(stem),
                            splits.get(stem))
        if image is not None:
            labelset.images.append(image)
    if reader.void_images:  # VOC's object borders, labelme's __ignore__ regions
        shown = ", ".join(reader.void_images[:5]) + (", ..." if len(reader.void_images) > 5
                                                     else "")
        labelset.problems.append(Problem(
            "SegmentationClass", "", f"{len(reader.void_images)} images have void pixels (255: "
            f"borders or regions to ignore) outside every object ({shown}): read as "
            "background, as YOLO labels cannot mark pixels to ignore", "warning"))
    return labelset


def _pngs(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir())
            if p.suffix.lower() == ".png" and p.is_file()}


def _image_files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if is_image_name(path.name) and path.is_file():
            found.setdefault(path.stem, path)
    return found


def _read_splits(root: Path, problems: list[Problem]) -> dict[str, str]:
    """Stem -> split from ImageSets/Segmentation/{train,val,test}.txt (the first list wins)."""
    splits: dict[str, str] = {}
    for split in SPLITS:
        path = root / "ImageSets" / "Segmentation" / f"{split}.txt"
        if not path.is_file():
            continue
        relative = path.relative_to(root).as_posix()
        for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
            try:
                words = raw.decode("utf-8").split()
            except UnicodeDecodeError:
                problems.append(Problem(relative, f"line {number}", "not UTF-8 text: skipped"))
                continue
            if words:
                splits.setdefault(words[0], split)
    return splits


class _ImageReader:
    """Reads one image's masks into a LabeledImage, recording what it cannot read."""

    def __init__(self, root: Path, names: ClassNames, problems: list[Problem]) -> None:
        self.root, self.names, self.problems = root, names, problems
        self.void_images: list[str] = []
        palette = _colormap()
        self.voc_colors = {tuple(int(v) for v in palette[i]): i for i in range(256)}

    def read(self, stem: str, object_png: Path | None, class_png: Path | None,
             image_path: Path | None, split: str | None) -> LabeledImage | None:
        objects = self._indices(object_png, self.voc_colors, "the VOC colour map")
        classes = self._indices(class_png, self.names.colors or self.voc_colors,
                                "labelmap.txt" if self.names.colors else "the VOC colour map")
        if (object_png and objects is None) or (class_png and classes is None):
            return None  # unreadable: its problem is recorded
        label_file = self._relative(object_png or class_png) if object_png or class_png else ""
        if objects is not None and classes is not None and objects.shape != classes.shape:
            return self._refuse(label_file, f"is {_size(objects)} but "
                                f"{self._relative(class_png)} is {_size(classes)}: left out")
        present = objects if objects is not None else classes
        if present is None:
            return self._without_masks(stem, image_path, split)
        height, width = present.shape
        if image_path is not None:
            size = _image_size(image_path)
            if size != (width, height):
                shown = "cannot be read" if size is None else f"is {size[0]}x{size[1]}"
                return self._refuse(label_file, f"its image {self._relative(image_path)} "
                                    f"{shown} but the mask is {width}x{height}: left out")
        else:
            self.problems.append(Problem(label_file, "", f"no image JPEGImages/{stem}.* : "
                                         "labels read without it", "warning",
                                         missing_image=str(voc_image_name(stem))))
        if objects is None:
            found = self._components(classes, label_file)
        elif classes is None:
            return self._refuse(label_file, f"no SegmentationClass/{stem}.png: its instances "
                                "have no class; left out")
        else:
            found = self._instances(objects, classes, label_file, self._relative(class_png))
        if classes is not None and np.any((classes == VOID) & (
                True if objects is None else (objects == BACKGROUND) | (objects == VOID))):
            self.void_images.append(stem)
        return LabeledImage(name=voc_image_name(image_path.name if image_path else stem),
                            width=width, height=height, file=label_file, path=image_path,
                            objects=tuple(found), split=split)

    def _without_masks(self, stem: str, image_path: Path | None, split: str | None
                       ) -> LabeledImage | None:
        listed = f"ImageSets/Segmentation/{split}.txt"
        if image_path is None:
            self.problems.append(Problem(listed, stem, "listed, but has no mask PNG and no "
                                         "image: skipped"))
            return None
        size = _image_size(image_path)
        if size is None:
            return self._refuse(self._relative(image_path), "cannot be read as an image: "
                                "left out")
        self.problems.append(Problem(listed, stem, "listed, but has no mask PNG: read as an "
                                     "image with no objects", "warning"))
        return LabeledImage(name=voc_image_name(image_path.name), width=size[0],
                            height=size[1], file=listed, path=image_path, split=split)

    def _refuse(self, file: str, reason: str) -> None:
        self.problems.append(Problem(file, "", reason))
        return None

    def _relative(self, path: Path | None) -> str:
        return "" if path is None else path.relative_to(self.root).as_posix()

    def _indices(self, path: Path | None, colors: Mapping[tuple[int, int, int], int],
                 palette_name: str) -> np.ndarray | None:
        """The PNG's indices (palette indices, grey values, or colours mapped to indices)."""
        if path is None:
            return None
        relative = self._relative(path)
        try:
            with Image.open(path) as image:
                image.load()
                mode = image.mode
                if mode in ("P", "L"):
                    return np.array(image, np.uint8)
                if mode in ("RGB", "RGBA"):
                    rgb = np.array(image.convert("RGB"), np.uint8)
                    return _colors_to_indices(rgb, colors, relative, palette_name,
                                              self.problems)
        except Exception as exc:  # noqa: BLE001 - a broken file can make a decoder raise anything
            return self._refuse(relative, f"cannot be read as a PNG ({exc}): image left out")
        return self._refuse(relative, f"PNG mode {mode} is neither palette, grey nor RGB: "
                            "image left out")

    def _instances(self, objects: np.ndarray, classes: np.ndarray, file: str,
                   class_file: str) -> list[LabeledObject]:
        found = []
        for instance in _values(objects):
            mask = objects == instance
            where = f"instance {instance}"
            index = self._majority_class(classes[mask], class_file, where)
            if index is not None and (name := self._name(index, class_file, where)):
                found += self._traced(mask, name, where, file)
        return found

    def _majority_class(self, values: np.ndarray, file: str, where: str) -> int | None:
        indices, counts = np.unique(values, return_counts=True)
        real = (indices != BACKGROUND) & (indices != VOID)
        if not real.any():
            self.problems.append(Problem(file, where, f"all its {values.size} pixels are "
                                         "background or void here: no class, left out"))
            return None
        if not real.all():
            self.problems.append(Problem(file, where, f"{int(counts[~real].sum())} of its "
                                         f"{values.size} pixels are background or void here "
                                         "(kept in the instance)", "warning"))
        indices, counts = indices[real], counts[real]
        best = int(indices[np.argmax(counts)])
        if len(indices) > 1:
            order = np.argsort(-counts, kind="stable")
            shares = ", ".join(f"{self._shown(int(indices[i]))} {int(counts[i])} px"
                               for i in order)
            self.problems.append(Problem(file, where, f"its pixels have several classes "
                                         f"({shares}): read as {self._shown(best)}, the "
                                         "majority", "warning"))
        return best

    def _shown(self, index: int) -> str:
        names = self.names.names
        return repr(names[index]) if index < len(names) else f"class {index}"

    def _name(self, index: int, file: str, where: str) -> str | None:
        if index < len(self.names.names):
            return self.names.names[index]
        self.problems.append(Problem(file, where, f"class index {index} is not among the "
                                     f"{len(self.names.names)} names of {self.names.source}: "
                                     "left out"))
        return None

    def _components(self, classes: np.ndarray, file: str) -> list[LabeledObject]:
        found = []
        for index in _values(classes):
            name = self._name(int(index), file, f"class index {index}")
            if name is None:
                continue
            count, regions = cv2.connectedComponents((classes == index).astype(np.uint8),
                                                     connectivity=8)
            for number in range(1, count):
                found += self._traced(regions == number, name,
                                      f"class {name!r} component {number}", file)
        return found

    def _traced(self, mask: np.ndarray, label: str, where: str, file: str
                ) -> list[LabeledObject]:
        """The object of ``mask``'s pixels, traced in its bounding crop; pixels the outlines
        cannot hold (single pixels, lines one pixel wide) are counted in a warning."""
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        crop = mask[y0:y1, x0:x1].astype(np.uint8)
        polygons, holes = trace_outlines(crop)
        refilled = fill_outlines(polygons, holes, *crop.shape)
        lost = int(np.count_nonzero(crop & (refilled == 0)))
        if not polygons:
            self.problems.append(Problem(file, where, f"its {int(crop.sum())} pixels are too "
                                         "thin to outline: left out"))
            return []
        if lost:
            self.problems.append(Problem(file, where, f"{lost} of its {int(crop.sum())} pixels "
                                         "are in parts too thin to outline (single pixels or "
                                         "1-pixel lines): left out of the object", "warning"))
        shift = np.array([x0, y0], np.float64)
        return [LabeledObject(label=label, kind="mask", where=where,
                              polygons=tuple(p + shift for p in polygons),
                              holes=tuple(h + shift for h in holes))]


def _values(indices: np.ndarray) -> list[int]:
    return [int(v) for v in np.unique(indices) if v not in (BACKGROUND, VOID)]


def _size(array: np.ndarray) -> str:
    return f"{array.shape[1]}x{array.shape[0]}"


def _image_size(path: Path) -> tuple[int, int] | None:
    """The image's width and height as shown (an EXIF turn by 90 degrees swaps them, as
    labelme and the training loader apply it), or None when its header cannot be read."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            # getexif() on a file whose EXIF was not seen in the header would decode it all
            orientation = image.getexif().get(0x0112) if "exif" in image.info else None
    except Exception:  # noqa: BLE001 - a broken file can make a decoder raise anything
        return None
    return (height, width) if orientation in _TURNED else (width, height)


def _colors_to_indices(rgb: np.ndarray, colors: Mapping[tuple[int, int, int], int],
                       file: str, palette_name: str, problems: list[Problem]) -> np.ndarray:
    """Each pixel's colour looked up in ``colors``; an unknown colour becomes void (255) and
    one problem naming the colour and its pixel count."""
    keys = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    unique, inverse, counts = np.unique(keys.ravel(), return_inverse=True, return_counts=True)
    lookup = np.full(len(unique), VOID, np.uint8)
    for position, (key, count) in enumerate(zip(unique.tolist(), counts.tolist(), strict=True)):
        color = (key >> 16, (key >> 8) & 255, key & 255)
        if color in colors and colors[color] <= VOID:
            lookup[position] = colors[color]
        else:
            problems.append(Problem(file, f"colour {color}", f"{count} pixels of a colour not "
                                    f"in {palette_name}: read as void"))
    return lookup[inverse].reshape(keys.shape)


def voc_image_name(file_name: str) -> PurePosixPath:
    """Where an image sits in a VOC set: ``JPEGImages/<file name>`` (a stem alone gets .jpg).
    A caller writing a set with :func:`write_masks` puts each image there."""
    name = PurePosixPath(file_name).name
    return PurePosixPath("JPEGImages", name if PurePosixPath(name).suffix else f"{name}.jpg")
