"""YOLO label files: one text line per object, numbers separated by spaces, coordinates
normalised to 0..1 of the image's width and height.

Reads and writes these lines:
- detect:   ``class cx cy w h``
- segment:  ``class x1 y1 x2 y2 ...`` (a polygon of 3 or more points); a box line
  ``class cx cy w h`` is read too (it has a box and no polygon)
- pose:     ``class cx cy w h`` then K keypoints of ``x y v`` (``kpt_shape [K, 3]``) or ``x y``
  (``[K, 2]``)
- classify predictions (``save_txt`` of a classifier): ``confidence name``

Reading checks only the shape of a line (numbers, a whole class id below the number of
classes, how many values the task needs) and raises :class:`LabelLineError` with the reason;
what the numbers mean (boxes with an area, coordinates inside the image, visibilities) is
checked by the dataset's verifier (``engine.data.detect_labels``). Writing uses one number
format for every writer, :func:`format_number`. ``write_label_file`` writes a file atomically.

A reader or writer of another tool's format (CVAT, Label Studio, labelme) goes in its own
module beside this one, with the same shape: ``read_*`` / ``parse_*`` and ``format_*`` /
``write_*`` functions that touch only their format.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..utils.atomic import atomic_writer

__all__ = [
    "BOXES",
    "KEYPOINTS",
    "LABEL_ROWS",
    "POLYGONS",
    "TASKS",
    "LabelLineError",
    "LabelRow",
    "box_line",
    "class_id",
    "classify_line",
    "format_line",
    "format_number",
    "format_row",
    "label_rows",
    "label_text",
    "parse_classify_line",
    "parse_line",
    "parse_row",
    "polygon_line",
    "pose_line",
    "read_numbers",
    "write_label_file",
]

BOXES, POLYGONS, KEYPOINTS = "boxes", "polygons", "keypoints"
"""What a task's label rows hold: a box; a polygon (or a box); a box and keypoints."""

LABEL_ROWS = {"detect": BOXES, "segment": POLYGONS, "pose": KEYPOINTS}
"""The label rows of each task whose labels are lines (classify datasets are folders). The
layers below engine.tasks take a task's name and ask this table what its rows hold, so this is
the one place there that names a task (the label formats are this module's)."""

TASKS = tuple(LABEL_ROWS)
"""The tasks whose label lines this module reads."""


def label_rows(task: str) -> str | None:
    """What ``task``'s label rows hold (:data:`BOXES`, :data:`POLYGONS` or :data:`KEYPOINTS`),
    or None for a task without label lines."""
    return LABEL_ROWS.get(task)


class LabelLineError(ValueError):
    """A line that is not a label row of its task; the message is the reason shown to the user."""


@dataclass(frozen=True, eq=False)
class LabelRow:
    """One parsed label line.

    ``values`` holds every number as read, the class first (two rows are the same row when
    their values are). ``box`` is ``cx cy w h`` (detect, pose, and a segment box line),
    ``polygon`` is ``[k, 2]`` xy points (segment), ``keypoints`` is ``[K, 2|3]`` (pose); all
    float64 and normalised, as written.
    """

    class_id: int
    values: tuple[float, ...]
    box: np.ndarray | None = None
    polygon: np.ndarray | None = None
    keypoints: np.ndarray | None = None


# -- the one number format -------------------------------------------------------------------


def format_number(value: float | np.floating | np.integer) -> str:
    """The shortest text that reads back as exactly ``value`` at its own precision, with no
    exponent and no trailing ``.0`` (``0.5``, ``1``, ``0.0000001``).

    Why this one format for every writer: it is lossless, so reading a written file gives back
    exactly the numbers written (tolerance 0: a dataset imported and exported again is the same
    dataset, a saved prediction is the model's float32), and no number is longer than its value
    needs: a float32 takes at most 9 significant digits, a Python float up to 17. Fixed
    ``.6g`` or 6 decimals (two of the three formats used before) round by up to 5e-7, 0.002 px
    on a 4000-pixel image: harmless for training, but every export would change the numbers
    of a user's dataset. No exponent: some tools' readers refuse ``1e-05``. Raises
    ``ValueError`` for NaN or infinity, which no reader accepts.
    """
    if isinstance(value, bool | int | np.integer):
        return str(int(value))
    if isinstance(value, np.floating) and value.dtype.itemsize < 8:
        if not np.isfinite(value):
            raise ValueError(f"{value} cannot be written in a label file (not a finite number)")
        return _short(value)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{number} cannot be written in a label file (not a finite number)")
    text = repr(number)
    if "e" in text or "E" in text:
        return np.format_float_positional(number, unique=True, trim="-")
    return text[:-2] if text.endswith(".0") else text


def _short(value: np.floating) -> str:
    """A float32 (or float16) as its shortest round-trip text: numpy's ``str`` is that (and
    twice as fast as ``format_float_positional``), except that it writes an exponent below
    1e-4 and a trailing ``.0``."""
    text = str(value)
    if "e" in text:
        return np.format_float_positional(value, unique=True, trim="-")
    return text[:-2] if text.endswith(".0") else text


def _numbers(values: Iterable[float] | np.ndarray) -> list[str]:
    array = np.asarray(values)
    if array.dtype.kind == "f" and array.dtype.itemsize < 8:  # keeps the float32 precision
        if not np.isfinite(array).all():
            raise ValueError("NaN or infinity cannot be written in a label file")
        return [_short(v) for v in array.reshape(-1)]
    if array.dtype.kind in "iub":
        return [str(int(v)) for v in array.reshape(-1).tolist()]
    return [format_number(v) for v in array.astype(np.float64).reshape(-1).tolist()]


# -- writing ---------------------------------------------------------------------------------


def format_line(class_index: int, values: Iterable[float] | np.ndarray) -> str:
    """``class v1 v2 ...``: the class id, then ``values`` in the one number format."""
    return " ".join([str(int(class_index)), *_numbers(values)])


def box_line(class_index: int, box: Sequence[float] | np.ndarray) -> str:
    """A detect (or segment box) line from a normalised ``cx cy w h`` box."""
    return format_line(class_index, _exactly(box, 4, "box"))


def polygon_line(class_index: int, polygon: Sequence[float] | np.ndarray) -> str:
    """A segment line from normalised points, ``[k, 2]`` or flat ``x1 y1 x2 y2 ...``."""
    points = np.asarray(polygon)
    if points.size % 2 or points.size < 6:
        raise ValueError(f"a polygon needs 3 or more x y points, not {points.size} values")
    return format_line(class_index, points)


def pose_line(
    class_index: int, box: Sequence[float] | np.ndarray, keypoints: Sequence[float] | np.ndarray
) -> str:
    """A pose line: the normalised ``cx cy w h`` box, then ``[K, 2|3]`` keypoints (or flat)."""
    return " ".join([box_line(class_index, box), *_numbers(keypoints)])


def format_row(row: LabelRow) -> str:
    """The line of a parsed row (reading it gives the row back)."""
    parts = [row.box, row.polygon, row.keypoints]
    return format_line(row.class_id, np.concatenate([np.ravel(p) for p in parts if p is not None]))


def classify_line(confidence: float | np.floating, name: str) -> str:
    """A classifier's prediction line: ``confidence name``."""
    return f"{format_number(confidence)} {name}"


def label_text(lines: Iterable[str]) -> str:
    """The text of a label file: one line each, every line ended (empty for no lines)."""
    return "".join(f"{line}\n" for line in lines)


def write_label_file(path: str | Path, lines: Iterable[str]) -> Path:
    """Write ``lines`` as a label file at ``path``, atomically (its folder made as needed)."""
    target = Path(path)
    with atomic_writer(target) as handle:
        handle.write(label_text(lines).encode("utf-8"))
    return target


def _exactly(values: Sequence[float] | np.ndarray, count: int, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.size != count:
        raise ValueError(f"a {what} needs {count} values, not {array.size}")
    return array


# -- reading ---------------------------------------------------------------------------------


def read_numbers(line: str) -> tuple[float, ...]:
    """The numbers of a line (empty for a blank line), as float64.

    Raises ``LabelLineError`` naming the first token that is not a number, or when one is NaN
    or infinite.
    """
    values = []
    for token in line.split():
        try:
            values.append(float(token))
        except ValueError:
            raise LabelLineError(f"'{token}' is not a number") from None
    if not all(math.isfinite(v) for v in values):
        raise LabelLineError("holds NaN or infinity")
    return tuple(values)


def class_id(value: float, num_classes: int | None = None) -> int:
    """A line's first number as a class id: whole, not negative, below ``num_classes``."""
    if value < 0:
        raise LabelLineError(f"class id {value:g} is negative")
    if value != int(value):
        raise LabelLineError(f"class id {value:g} is not a whole number")
    if num_classes is not None and value >= num_classes:
        raise LabelLineError(
            f"class id {int(value)} is not below the number of names ({num_classes}: ids "
            f"0..{num_classes - 1}); add the class to names or fix the id"
        )
    return int(value)


def parse_row(
    values: Sequence[float],
    task: str,
    kpt_shape: tuple[int, int] | None = None,
    num_classes: int | None = None,
) -> LabelRow:
    """The row ``values`` (class first, from :func:`read_numbers`) make for ``task``.

    Raises ``LabelLineError`` for a class id that is not one, or a count of values the task's
    line cannot have; pose needs ``kpt_shape``.
    """
    rows = label_rows(task)
    if rows is None:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    if not values:
        raise LabelLineError("an empty line has no class")
    values = tuple(float(v) for v in values)
    cls = class_id(values[0], num_classes)
    coords = np.asarray(values[1:], np.float64)
    if rows == KEYPOINTS:
        if kpt_shape is None:
            raise ValueError(f"{task} labels need kpt_shape")
        return _pose(cls, values, coords, (int(kpt_shape[0]), int(kpt_shape[1])))
    if rows == BOXES:
        if len(coords) != 4:
            raise LabelLineError(
                f"{len(coords)} values after the class; a box row is class cx cy w h (4 values)"
            )
        return LabelRow(cls, values, box=coords)
    return _segment(cls, values, coords)


def parse_line(
    line: str,
    task: str,
    kpt_shape: tuple[int, int] | None = None,
    num_classes: int | None = None,
) -> LabelRow | None:
    """The row of one line (None for a blank line); see :func:`parse_row`."""
    values = read_numbers(line)
    return parse_row(values, task, kpt_shape, num_classes) if values else None


def parse_classify_line(line: str) -> tuple[float, str]:
    """``confidence name`` -> (confidence, name); the name may hold spaces."""
    confidence, _, name = line.strip().partition(" ")
    number = read_numbers(confidence)
    if len(number) != 1 or not name.strip():
        raise LabelLineError("a classifier's line is 'confidence name'")
    return number[0], name.strip()


def _segment(cls: int, values: tuple[float, ...], coords: np.ndarray) -> LabelRow:
    count = len(coords)
    if count == 4:
        return LabelRow(cls, values, box=coords)
    if count == 0:
        raise LabelLineError("no coordinates after the class")
    if count % 2:
        raise LabelLineError(f"{count} coordinates after the class; a polygon needs x y pairs")
    if count < 6:
        raise LabelLineError(f"polygon has {count // 2} points; at least 3 are needed")
    return LabelRow(cls, values, polygon=coords.reshape(-1, 2))


def _pose(
    cls: int, values: tuple[float, ...], coords: np.ndarray, kpt_shape: tuple[int, int]
) -> LabelRow:
    count, dims = kpt_shape
    expected = 4 + count * dims
    if len(coords) != expected:
        other = 5 - dims
        fits_other = len(coords) == 4 + count * other
        hint = f" (the row fits kpt_shape [{count}, {other}])" if fits_other else ""
        raise LabelLineError(
            f"{len(coords)} values after the class; pose rows need 4 box values + {count}×{dims} "
            f"keypoint values = {expected} (kpt_shape [{count}, {dims}]){hint}"
        )
    return LabelRow(cls, values, box=coords[:4], keypoints=coords[4:].reshape(count, dims))
