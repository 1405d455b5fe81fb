"""What a YOLO dataset's label files hold, read into :class:`~.labelset.LabeledImage` values:
rows (``cls cx cy w h``, polygons, pose rows with ``kpt_shape``) in pixels of the image's size
from its header (EXIF orientations 5 to 8 swap width and height), Roboflow 'YOLOv5 OBB' DOTA
lines as 4-point polygons, each bad line a problem; the task the rows say, when not given; the
class names in id order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from PIL import Image

from .labelset import ABSENT, OCCLUDED, VISIBLE, Keypoint, LabeledImage, LabeledObject
from .yolo_labels import (
    BOXES,
    KEYPOINTS,
    LABEL_ROWS,
    POLYGONS,
    LabelLineError,
    LabelRow,
    parse_row,
    read_numbers,
)
from .yolo_splits import Pending, ReadLog

__all__ = ["TASK_OF", "class_labels", "guess_task", "image_size", "labeled_image",
           "read_label_file"]

TASK_OF = {rows: task for task, rows in LABEL_ROWS.items()}
"""The task each kind of label row is for."""
_ROTATED = (5, 6, 7, 8)  # EXIF orientations that turn the image a quarter
_VISIBILITY = {0.0: ABSENT, 1.0: OCCLUDED, 2.0: VISIBLE}


def read_label_file(item: Pending) -> None:
    """Read ``item``'s label file into its rows, DOTA corners and bad lines (or why it
    cannot be read)."""
    if item.label is None:
        return
    try:
        text = item.label.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        item.unreadable = f"cannot be read ({exc}); its image is left out"
        return
    for number, line in enumerate(text.splitlines(), 1):
        if item.dota:
            _dota_line(item, number, line)
            continue
        try:
            values = read_numbers(line)
        except LabelLineError as exc:
            item.bad_lines.append((number, str(exc)))
            continue
        if values:
            item.rows.append((number, values))

def _dota_line(item: Pending, number: int, line: str) -> None:
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

def labeled_image(item: Pending, names: Mapping[int, str] | None,
                  kpt_shape: tuple[int, int] | None, joints: tuple[str, ...],
                  log: ReadLog) -> LabeledImage | None:
    """The image with its objects; its bad lines become problems in line order."""
    file = log.shown(item.label) if item.label is not None else log.shown(item.image)
    if item.unreadable is not None:
        log.problem(file, "", item.unreadable)
        return None
    size = image_size(item.image, log, rows=len(item.rows) + len(item.bad_lines)
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
        log.problem(file, f"line {number}", f"{reason}; line left out")
    return LabeledImage(name=item.name, width=size[0], height=size[1], file=file,
                        path=item.image, objects=tuple(objects), split=item.split)


def image_size(image: Path, log: ReadLog, rows: int | None = None
               ) -> tuple[int, int] | None:
    """The image's width and height from its header; None (and a problem) when it cannot
    be read. A name that is not UTF-8 is read, with a warning."""
    try:
        image.name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept by Python as lone surrogates
        log.problem(image, "", f"the file name is not valid UTF-8 (read as "
                    f"{image.name!r}); rename it if another program cannot open it", "warning")
    try:
        with Image.open(image) as opened:
            width, height = opened.size
            # getexif() on a PNG without the EXIF chunk read yet would decode the image
            orientation = opened.getexif().get(0x0112) if "exif" in opened.info else None
    except Exception as exc:  # noqa: BLE001 - a broken file can make a decoder raise anything
        left = "" if rows is None else f" with its {rows} label row(s)"
        log.problem(image, "", f"cannot be read as an image ({exc}); left out{left}")
        return None
    return (height, width) if orientation in _ROTATED else (width, height)


def _object(number: int, values: tuple[float, ...], names: Mapping[int, str] | None,
            kpt_shape: tuple[int, int] | None, joints: tuple[str, ...],
            size: tuple[int, int]) -> LabeledObject:
    """The object of one row (pose rows when the yaml has ``kpt_shape``, else boxes and
    polygons); raises ``LabelLineError`` with the reason it is not one."""
    row = parse_row(values, TASK_OF[KEYPOINTS if kpt_shape else POLYGONS], kpt_shape)
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


def guess_task(kpt_shape: tuple[int, int] | None, pending: list[Pending], task: str | None,
           shown: Callable[[Path], str]) -> tuple[str, str]:
    """The task, and why: given, or what the yaml and rows say."""
    if task is not None:
        return task, "given"
    if kpt_shape is not None:
        return TASK_OF[KEYPOINTS], "the yaml has kpt_shape"
    for item in pending:
        for number, values in item.rows:
            if len(values) > 5:
                return TASK_OF[POLYGONS], (f"{shown(item.label)} line {number} has "
                                            f"{len(values)} numbers (a polygon)")
    if any(item.corners for item in pending):
        return TASK_OF[BOXES], ("Roboflow OBB rows (labelTxt/): boxes around their corners "
                                 "(task=segment keeps the turned corners)")
    return TASK_OF[BOXES], "no label row has more than 5 numbers (class and box)"


def class_labels(names: Mapping[int, str] | None, images: list[LabeledImage]) -> list[str]:
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
