"""labelme JSON: one file per image, read into plain records and written back.

Reads what labelme (3.x to 5.x) writes: the image's path relative to the JSON (often written
with Windows separators) and its size, optional base64 ``imageData`` (the encoded image file),
image-level ``flags`` (labelme's classification tags) and the shapes. A shape is a label, a
``shape_type`` (polygon, rectangle, circle, point, points, line, linestrip,
oriented_rectangle, mask), its points in image pixels, an optional ``group_id`` (shapes with the
same label and group id are one object) and its own flags. What the shapes mean for a task
(rectangle corners in any order, a circle's centre and rim point, the ``__ignore__`` label) is
the importer's business; this module keeps them as written.

A shape that cannot be read (no points, a point that is not two numbers, an unknown type, a
polygon with fewer than 3 points) comes back as a ``ShapeProblem`` naming its index and why,
and the other shapes are read. A file that is not labelme JSON at all raises ``DatasetError``
naming the file, and the line of a JSON syntax error.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from ..errors import DatasetError
from ..utils.atomic import atomic_writer

SHAPE_TYPES = ("polygon", "rectangle", "circle", "point", "points", "line", "linestrip",
               "oriented_rectangle", "mask")
"""The ``shape_type`` values labelme writes."""
MIN_POINTS = {"polygon": 3, "rectangle": 2, "circle": 2, "point": 1, "points": 1, "line": 2,
              "linestrip": 2, "oriented_rectangle": 4, "mask": 2}
"""The fewest points each shape type needs to mean anything."""
WRITTEN_VERSION = "5.7.0"
"""The labelme version our files say they follow (its newest file layout, read by 4.x too)."""
_KNOWN_KEYS = ("version", "flags", "shapes", "imagePath", "imageData", "imageHeight",
               "imageWidth")


@dataclass(frozen=True)
class Shape:
    """One labelme shape, in image pixels as written."""

    label: str
    shape_type: str
    points: tuple[tuple[float, float], ...]
    group_id: int | None = None
    description: str | None = None
    flags: Mapping[str, bool] = field(default_factory=dict)
    mask: str | None = None
    """A ``mask`` shape's base64 PNG (the area between its two corner points), as written."""


@dataclass(frozen=True)
class ShapeProblem:
    """A shape that was not read: its index in ``shapes`` and why."""

    index: int
    reason: str


@dataclass(frozen=True)
class LabelmeFile:
    """One labelme JSON file."""

    image_path: str
    """``imagePath`` exactly as written (see :func:`image_reference`)."""
    width: int
    height: int
    shapes: tuple[Shape, ...] = ()
    flags: Mapping[str, bool] = field(default_factory=dict)
    image_data: bytes | None = None
    """The encoded image file carried in the JSON (``imageData``), or None."""
    version: str = WRITTEN_VERSION
    other: Mapping[str, Any] = field(default_factory=dict)
    """Top-level keys labelme does not define, kept so a rewrite loses nothing."""
    problems: tuple[ShapeProblem, ...] = ()


def read_labelme(path: str | Path) -> LabelmeFile:
    """Read the labelme JSON at ``path``; unreadable shapes are listed in ``problems``."""
    source = Path(path)
    try:
        content = json.loads(source.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(f"not valid JSON ({exc.msg})", path=source, line=exc.lineno) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot be read ({exc})", path=source) from exc
    return parse_labelme(content, source)


def parse_labelme(content: Any, source: Path) -> LabelmeFile:
    """The labelme file held by the decoded JSON ``content`` of ``source``."""
    if not isinstance(content, dict) or not isinstance(content.get("shapes"), list):
        raise DatasetError("not a labelme file: it needs a top-level object with a 'shapes' "
                           "list", path=source)
    shapes, problems = [], []
    for index, entry in enumerate(content["shapes"]):
        try:
            shapes.append(_shape(entry))
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(ShapeProblem(index, _reason(exc)))
    return LabelmeFile(
        image_path=_text(content.get("imagePath"), source, "imagePath"),
        width=_size(content.get("imageWidth"), source, "imageWidth"),
        height=_size(content.get("imageHeight"), source, "imageHeight"),
        shapes=tuple(shapes),
        flags=_flags(content.get("flags"), source, "flags"),
        image_data=_image_data(content.get("imageData"), source),
        version=str(content.get("version") or WRITTEN_VERSION),
        other={k: v for k, v in content.items() if k not in _KNOWN_KEYS},
        problems=tuple(problems),
    )


def image_reference(file: LabelmeFile) -> PurePosixPath:
    """``imagePath`` as a relative POSIX path, whichever system wrote it (labelme on Windows
    writes ``..\\images\\a.jpg``). An absolute path (``C:\\data\\a.jpg``, ``/data/a.jpg``) keeps
    its anchor, so the caller can tell it apart and look for the file by name instead."""
    written = file.image_path
    windows = PureWindowsPath(written)
    if "\\" not in written and not windows.drive:
        return PurePosixPath(written)
    if windows.anchor:  # C:\data\a.jpg -> /data/a.jpg: absolute, and named the same
        return PurePosixPath("/", *windows.parts[1:])
    return PurePosixPath(*windows.parts)


def labelme_document(file: LabelmeFile) -> dict[str, Any]:
    """The JSON object of ``file``, in labelme's key order."""
    document: dict[str, Any] = {
        "version": file.version,
        "flags": dict(file.flags),
        "shapes": [_shape_document(shape) for shape in file.shapes],
        "imagePath": file.image_path,
        "imageData": (None if file.image_data is None
                      else base64.b64encode(file.image_data).decode("ascii")),
        "imageHeight": file.height,
        "imageWidth": file.width,
    }
    document.update(file.other)
    return document


def labelme_text(file: LabelmeFile) -> str:
    """``file`` as labelme writes it: indented JSON, non-ASCII names kept as they are."""
    return json.dumps(labelme_document(file), indent=2, ensure_ascii=False) + "\n"


def write_labelme(path: str | Path, file: LabelmeFile) -> Path:
    """Write ``file`` at ``path`` atomically (its folder made as needed)."""
    target = Path(path)
    with atomic_writer(target) as handle:
        handle.write(labelme_text(file).encode("utf-8"))
    return target


def _shape(entry: Any) -> Shape:
    if not isinstance(entry, dict):
        raise ValueError("a shape must be an object")
    shape_type = entry.get("shape_type") or "polygon"  # labelme 3 wrote no type for polygons
    if shape_type not in SHAPE_TYPES:
        raise ValueError(f"unknown shape_type {shape_type!r} (labelme writes "
                         f"{', '.join(SHAPE_TYPES)})")
    points = tuple(_point(p) for p in entry["points"])
    if len(points) < MIN_POINTS[shape_type]:
        raise ValueError(f"a {shape_type} needs at least {MIN_POINTS[shape_type]} points, "
                         f"it has {len(points)}")
    label = entry["label"]
    if not isinstance(label, str) or not label.strip():
        raise ValueError("the label must be a non-empty string")
    group = entry.get("group_id")
    if group is not None and (isinstance(group, bool) or not isinstance(group, int)):
        raise ValueError(f"group_id must be a whole number or null, not {group!r}")
    description = entry.get("description")
    return Shape(label=label, shape_type=shape_type, points=points, group_id=group,
                 description=description if isinstance(description, str) else None,
                 flags=_shape_flags(entry.get("flags")), mask=entry.get("mask") or None)


def _point(value: Any) -> tuple[float, float]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise ValueError(f"a point must be [x, y], not {value!r}")
    x, y = (float(v) for v in value)
    if x != x or y != y or abs(x) == float("inf") or abs(y) == float("inf"):
        raise ValueError(f"a point must be finite, not {value!r}")
    return x, y


def _shape_document(shape: Shape) -> dict[str, Any]:
    return {
        "label": shape.label,
        "points": [[x, y] for x, y in shape.points],
        "group_id": shape.group_id,
        "description": shape.description,
        "shape_type": shape.shape_type,
        "flags": dict(shape.flags),
        "mask": shape.mask,
    }


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"the shape has no {exc.args[0]!r}"
    return str(exc)


def _text(value: Any, source: Path, key: str) -> str:
    if not isinstance(value, str):
        raise DatasetError("missing or not a string; labelme writes the image's path here",
                           path=source, key=key)
    return value


def _size(value: Any, source: Path, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 \
            or int(value) != value:
        raise DatasetError(f"must be the image's size in pixels, not {value!r}", path=source,
                           key=key)
    return int(value)


def _flags(value: Any, source: Path, key: str) -> dict[str, bool]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, bool) for v in value.values()):
        raise DatasetError("must map names to true or false", path=source, key=key)
    return {str(k): v for k, v in value.items()}


def _shape_flags(value: Any) -> dict[str, bool]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError("a shape's flags must map names to true or false")
    return {str(k): bool(v) for k, v in value.items()}


def _image_data(value: Any, source: Path) -> bytes | None:
    if value is None or value == "":
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, TypeError, ValueError) as exc:
        raise DatasetError(f"is not base64 ({exc}); remove it to use imagePath instead",
                           path=source, key="imageData") from exc
