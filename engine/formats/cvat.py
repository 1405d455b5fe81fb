"""CVAT for images 1.1 XML (``annotations.xml``): read into a :class:`LabelSet`, written back.

What is read (the format as CVAT's docs describe it and its exports show it):

- ``<meta>``: the labels of ``<task>``, ``<project>`` or ``<job>``, in order. A label whose
  ``<type>`` is ``skeleton`` is a pose class; its joints are the labels naming it as
  ``<parent>``, and its edges are the ``<line data-node-from data-node-to>`` of its ``<svg>``
  (node ids mapped to joint names through the ``<circle data-node-id data-label-name>``).
- ``<image id name width height [subset]>``, found beside the XML (``images/<name>``, then
  ``images/<subset>/<name>`` as a project export lays it out, then ``<name>``).
- shapes: ``box`` (a rectangle; a rotated one a 4-point polygon), ``polygon``, ``ellipse``
  (a polygon of 32 or more points), ``mask`` (CVAT's row-major run lengths of a crop, traced to
  outlines and holes), ``points`` (joints named "1", "2", ... in order: a plain point set has
  no joint names), ``skeleton`` (its ``<points label=JOINT outside occluded>`` children:
  outside is not labelled, occluded is hidden), ``tag`` (an image-level class). Shapes with
  the same label and a non-zero ``group_id`` in one image are one object in parts.

Left out, each with a :class:`Problem` naming the image, the element's index and its line:
``polyline`` (an open line has no area), ``cuboid`` and unknown elements, polygons of fewer
than 3 points, shapes without a label, numbers that do not parse. A label the meta does not
declare is kept and added (a warning). Attributes, ``z_order`` and a whole shape's
``occluded`` flag have no place in a LabelSet and are not kept.

A file that is not XML raises :class:`DatasetError` naming the line; so does CVAT *for video*
(``<track>`` elements), which is another layout.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath, PureWindowsPath
from xml.etree import ElementTree as ET  # noqa: N817 - the usual name
from xml.parsers import expat

import numpy as np

from ..errors import DatasetError
from ..utils.atomic import atomic_writer
from ..utils.rle import rle_counts
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
from .outlines import fill_outlines, trace_outlines
from .yolo_labels import format_number

__all__ = ["ANNOTATIONS", "FORMAT", "read_cvat", "write_cvat", "cvat_document"]

FORMAT = "cvat"
ANNOTATIONS = "annotations.xml"
"""The file name CVAT gives its XML in an export."""
VERSION = "1.1"
SPLITS = {"train": "train", "training": "train", "validation": "val", "val": "val",
          "valid": "val", "test": "test", "testing": "test"}
"""CVAT subset names (any case) to our split names; other subsets are kept as written."""
SUBSETS = {"train": "Train", "val": "Validation", "test": "Test"}
"""Our split names as CVAT's default subsets, for writing."""
ELLIPSE_MIN_POINTS = 32
_ELLIPSE_MAX_POINTS = 720
_ELLIPSE_SAGITTA = 0.25  # px: an ellipse's polygon strays at most this far inside the curve
_ENCODING = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")


# -- parsing ----------------------------------------------------------------------------------


def parse_xml(data: bytes, source: Path) -> tuple[ET.Element, dict[int, int]]:
    """The element tree of ``data`` and each element's line (keyed by ``id(element)``).

    ElementTree elements built by expat, the parser ElementTree itself uses, driven here so the
    line of every element is known for reports (ElementTree keeps none). Expat never fetches
    external entities and (2.4.1 and later, as the Python docs note) bounds entity expansion;
    CVAT declares no entities, so any declaration is refused outright. A syntax error raises
    DatasetError naming the file and line.
    """
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()
    parser.buffer_text = True
    lines: dict[int, int] = {}

    def start(tag: str, attributes: dict[str, str]) -> None:
        lines[id(builder.start(tag, attributes))] = parser.CurrentLineNumber

    def refuse_entity(name: str, *_: object) -> None:
        raise DatasetError(f"declares the entity {name!r}: CVAT never writes entities, and "
                           "this reader expands none; remove the DOCTYPE",
                           path=source, line=parser.CurrentLineNumber)

    parser.StartElementHandler = start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    parser.EntityDeclHandler = refuse_entity
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise DatasetError(f"not well-formed XML ({expat.ErrorString(exc.code)}, column "
                           f"{exc.offset + 1}); fix the file or export it from CVAT again",
                           path=source, line=exc.lineno) from exc
    return builder.close(), lines


def utf8_or_replaced(data: bytes, source: Path, problems: list[Problem]) -> bytes:
    """``data`` as UTF-8: unchanged when it is UTF-8 or declares another encoding (expat
    decodes that); else each line that is not UTF-8 gets a warning and its bad bytes become
    U+FFFD, so one misencoded image name does not lose the whole file."""
    declared = _ENCODING.match(data)
    if declared and declared.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        return data
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):  # UTF-16 with a byte order mark
        return data
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        pass
    fixed = []
    for number, line in enumerate(data.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(Problem(str(source), f"line {number}", "not UTF-8 (the file says "
                                    "it is): its bad bytes read as U+FFFD; save the file as "
                                    "UTF-8", severity="warning"))
            line = line.decode("utf-8", errors="replace").encode("utf-8")
        fixed.append(line)
    return b"\n".join(fixed)


def annotations_file(path: str | Path) -> Path:
    """The XML at ``path``, or the ``annotations.xml`` inside the folder ``path``."""
    source = Path(path)
    if source.is_dir():
        inside = source / ANNOTATIONS
        if not inside.is_file():
            raise DatasetError(f"holds no {ANNOTATIONS}; give the CVAT XML file itself or the "
                               "folder of an unpacked 'CVAT for images 1.1' export", path=source)
        return inside
    return source


# -- reading ----------------------------------------------------------------------------------


def read_cvat(path: str | Path) -> LabelSet:
    """Read a CVAT for images 1.1 XML (or the folder holding ``annotations.xml``)."""
    source = annotations_file(path)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot be read ({exc.strerror or exc})", path=source) from exc
    labelset = LabelSet(format=FORMAT, source=source)
    data = utf8_or_replaced(data, source, labelset.problems)
    root, lines = parse_xml(data, source)
    if root.tag != "annotations":
        raise DatasetError(f"the root element is <{root.tag}>, not <annotations>: not a CVAT "
                           "XML file", path=source, line=lines.get(id(root)))
    _Reader(source, labelset, lines).read(root)
    return labelset


class _Reader:
    """One file's reading: the set being filled, the declared labels, element lines."""

    def __init__(self, source: Path, labelset: LabelSet, lines: dict[int, int]) -> None:
        self.source = source
        self.file = str(source)
        self.labelset = labelset
        self.lines = lines
        self.declared: set[str] = set()
        self.joints: dict[str, tuple[str, ...]] = {}  # skeleton label -> its joint names
        self.warned: set[str] = set()

    def read(self, root: ET.Element) -> None:
        track = root.find("track")
        if track is not None:
            raise DatasetError("holds <track> elements: this is 'CVAT for video 1.1'; export "
                               "the task as 'CVAT for images 1.1'", path=self.source,
                               line=self.lines.get(id(track)))
        self._read_meta(root.find("meta"))
        for index, element in enumerate(root.findall("image")):
            image = self._read_image(element, index)
            if image is not None:
                self.labelset.images.append(image)

    def problem(self, where: str, reason: str, severity: str = "error") -> None:
        self.labelset.problems.append(Problem(self.file, where, reason, severity))

    def at(self, element: ET.Element, where: str) -> str:
        line = self.lines.get(id(element))
        return where if line is None else f"{where} (line {line})"

    # -- meta

    def _read_meta(self, meta: ET.Element | None) -> None:
        labels = _meta_labels(meta)
        skeletons = []
        for label in labels:
            name = (label.findtext("name") or "").strip()
            if not name or (label.findtext("parent") or "").strip():
                continue  # a skeleton's joint is not a class
            self.labelset.add_label(name)
            self.declared.add(name)
            if (label.findtext("type") or "").strip() == "skeleton":
                self.joints[name] = _joint_names(label, name, labels)
                skeletons.append((name, label))
        if skeletons:
            self._read_skeleton(*skeletons[0])
        for name, _ in skeletons[1:]:
            self.problem("meta", f"skeleton {name!r}: a set has one keypoint schema, that of "
                         f"the first skeleton ({skeletons[0][0]!r}); {name!r}'s objects keep "
                         "their joint names", severity="warning")

    def _read_skeleton(self, name: str, label: ET.Element) -> None:
        joints = self.joints[name]
        self.labelset.keypoint_names = joints
        svg = label.findtext("svg") or ""
        if not svg.strip():
            return
        try:
            drawing, _ = parse_xml(f"<svg>{svg}</svg>".encode(), self.source)
        except DatasetError as exc:
            self.problem(f"meta, skeleton {name!r}", f"its <svg> is not readable ({exc.message});"
                         " its edges are left out", severity="warning")
            return
        nodes = {c.get("data-node-id"): c.get("data-label-name") for c in drawing.iter("circle")}
        edges = []
        for line in drawing.iter("line"):
            ends = [nodes.get(line.get(key)) for key in ("data-node-from", "data-node-to")]
            if not all(end in joints for end in ends):
                self.problem(f"meta, skeleton {name!r}", "an edge joins nodes that name no "
                             "joint; it is left out", severity="warning")
                continue
            edges.append((joints.index(ends[0]), joints.index(ends[1])))
        self.labelset.skeleton = tuple(edges)

    # -- images

    def _read_image(self, element: ET.Element, index: int) -> LabeledImage | None:
        header = self._image_header(element, index)
        if header is None:
            return None
        name, width, height, split = header
        # a project export repeats names (and ids) in each subset
        title = f"image {str(name)!r}" + (f" in {split}" if split else "")
        objects: list[tuple[int, str, str, LabeledObject]] = []  # index, label, group, object
        tags: list[str] = []
        for number, child in enumerate(element):
            where = self.at(child, f"{title}, {child.tag} {number}")
            try:
                read = self._read_child(child, where, tags)
            except (ValueError, KeyError) as exc:
                self.problem(where, _reason(exc))
                continue
            if read is not None:
                label, obj = read
                objects.append((number, label, child.get("group_id") or "0", obj))
        return LabeledImage(name=name, width=width, height=height, file=self.file,
                            path=self._find_image(name, split, title), split=_split(split),
                            objects=_join_groups(objects, title), tags=tuple(tags))

    def _image_header(self, element: ET.Element, index: int
                      ) -> tuple[PurePosixPath, int, int, str | None] | None:
        where = self.at(element, f"image {index}")
        written = element.get("name") or ""
        try:
            width, height = (_size(element.get(key), key) for key in ("width", "height"))
            if not written.strip():
                raise ValueError("the image has no name")
        except ValueError as exc:
            self.problem(where, f"{exc}; the image and its labels are left out")
            return None
        name, changed = _image_name(written)
        if changed:
            self.problem(self.at(element, f"image {written!r}"), f"{changed}: looked for by "
                         f"its file name {name.name!r} instead", severity="warning")
        return name, width, height, element.get("subset")

    def _find_image(self, name: PurePosixPath, subset: str | None, title: str) -> Path | None:
        folder = self.source.parent
        places = [folder / "images" / name]
        if subset:
            places.append(folder / "images" / subset / name)
        places.append(folder / name)
        for place in places:
            if place.is_file():
                return place
        tried = ", ".join(str(p.relative_to(folder)) for p in places)
        self.labelset.problems.append(Problem(
            self.file, title, f"image not found beside the XML (looked for {tried}); its labels "
            "are read", "warning", missing_image=str(name)))
        return None

    # -- shapes

    def _read_child(self, child: ET.Element, where: str, tags: list[str]
                    ) -> tuple[str, LabeledObject] | None:
        reader = _SHAPES.get(child.tag)
        if child.tag == "polyline":
            raise ValueError("a polyline is an open line with no area: no task can use it")
        if reader is None and child.tag != "tag":
            raise ValueError(f"<{child.tag}> is not a shape this reader knows (it reads "
                             f"{', '.join([*_SHAPES, 'tag'])})")
        label = self._label(child, where)
        if label is None:
            return None
        if reader is None:  # a tag: an image-level class
            tags.append(label)
            return None
        return label, reader(self, child, label, where)

    def _label(self, child: ET.Element, where: str) -> str | None:
        label = (child.get("label") or "").strip()
        if not label:
            self.problem(where, "the shape has no label; it is left out")
            return None
        if label not in self.declared and label not in self.warned:
            self.warned.add(label)
            self.labelset.add_label(label)
            self.problem(where, f"label {label!r} is not declared in <meta>; it is kept and "
                         "added to the labels", severity="warning")
        return label

    def skeleton(self, child: ET.Element, label: str, where: str) -> LabeledObject:
        joints = list(self.joints.get(label, ()))
        found: dict[str, Keypoint] = {}
        for part in child.iter("points"):
            joint = (part.get("label") or "").strip()
            if not joint:
                self.problem(self.at(part, where), "a skeleton point has no label; left out")
                continue
            if joint not in joints:
                joints.append(joint)
            try:
                found[joint] = _joint(part, joint)
            except (ValueError, KeyError) as exc:
                self.problem(self.at(part, f"{where}, joint {joint!r}"),
                             f"{_reason(exc)}; the joint reads as not labelled")
        keypoints = tuple(found.get(j, Keypoint(j, 0.0, 0.0, ABSENT)) for j in joints)
        return LabeledObject(label=label, kind="points", where=where, keypoints=keypoints)


def _box(reader: _Reader, child: ET.Element, label: str, where: str) -> LabeledObject:
    x1, y1, x2, y2 = (_number(child, key) for key in ("xtl", "ytl", "xbr", "ybr"))
    x1, x2, y1, y2 = min(x1, x2), max(x1, x2), min(y1, y2), max(y1, y2)
    rotation = _number(child, "rotation", 0.0)
    if rotation % 360 == 0:
        return LabeledObject(label=label, kind="rectangle", where=where, box=(x1, y1, x2, y2))
    corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float64)
    return LabeledObject(label=label, kind="polygon", where=where,
                         polygons=(_rotate(corners, rotation, (x1 + x2) / 2, (y1 + y2) / 2),))


def _polygon(reader: _Reader, child: ET.Element, label: str, where: str) -> LabeledObject:
    points = _points(child.get("points"))
    if len(points) < 3:
        raise ValueError(f"a polygon needs at least 3 points, it has {len(points)}")
    return LabeledObject(label=label, kind="polygon", where=where, polygons=(points,))


def _ellipse(reader: _Reader, child: ET.Element, label: str, where: str) -> LabeledObject:
    """An ellipse as a polygon (no task has ellipses): enough points that the outline strays
    at most a quarter pixel inside the curve, and never fewer than 32."""
    cx, cy, rx, ry = (_number(child, key) for key in ("cx", "cy", "rx", "ry"))
    if rx <= 0 or ry <= 0:
        raise ValueError(f"an ellipse needs positive radii, not rx={rx:g} ry={ry:g}")
    radius = max(rx, ry)
    step = math.acos(max(-1.0, 1 - _ELLIPSE_SAGITTA / radius)) * 2
    count = min(_ELLIPSE_MAX_POINTS, max(ELLIPSE_MIN_POINTS, math.ceil(2 * math.pi / step)))
    angles = np.linspace(0, 2 * math.pi, count, endpoint=False)
    ring = np.stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)], axis=1)
    ring = _rotate(ring, _number(child, "rotation", 0.0), cx, cy)
    return LabeledObject(label=label, kind="polygon", where=where, polygons=(ring,))


def _mask(reader: _Reader, child: ET.Element, label: str, where: str) -> LabeledObject:
    crop = decode_mask(child.get("rle") or "", int(_number(child, "width")),
                       int(_number(child, "height")))
    outer, holes = trace_outlines(crop, offset=(_number(child, "left"), _number(child, "top")))
    if not outer:
        raise ValueError("the mask has no area (no pixels, or lines one pixel wide)")
    return LabeledObject(label=label, kind="mask", where=where, polygons=outer, holes=holes)


def _point_set(reader: _Reader, child: ET.Element, label: str, where: str) -> LabeledObject:
    points = _points(child.get("points"))
    if not len(points):
        raise ValueError("the point set has no points")
    visibility = OCCLUDED if child.get("occluded") == "1" else VISIBLE
    keypoints = tuple(Keypoint(str(i + 1), float(x), float(y), visibility)
                      for i, (x, y) in enumerate(points))
    return LabeledObject(label=label, kind="points", where=where, keypoints=keypoints)


_SHAPES: dict[str, Callable[[_Reader, ET.Element, str, str], LabeledObject]] = {
    "box": _box, "polygon": _polygon, "ellipse": _ellipse, "mask": _mask,
    "points": _point_set, "skeleton": lambda reader, c, label, w: reader.skeleton(c, label, w),
}


def _joint(part: ET.Element, joint: str) -> Keypoint:
    if part.get("outside") == "1":  # the joint is not there: its coordinates mean nothing
        return Keypoint(joint, 0.0, 0.0, ABSENT)
    points = _points(part.get("points"))
    if len(points) != 1:
        raise ValueError(f"a skeleton joint is one point, this has {len(points)}")
    visibility = OCCLUDED if part.get("occluded") == "1" else VISIBLE
    return Keypoint(joint, float(points[0, 0]), float(points[0, 1]), visibility)


def _join_groups(objects: list[tuple[int, str, str, LabeledObject]], title: str
                 ) -> tuple[LabeledObject, ...]:
    """Shapes with an area that share a label and a non-zero group id become one object in
    parts (a rectangle joins as its 4 corners); point sets and ungrouped shapes stay alone."""
    groups: dict[tuple[str, str], list[tuple[int, LabeledObject]]] = {}
    order: list[tuple[str, str] | LabeledObject] = []
    for number, label, group, obj in objects:
        if group in ("", "0") or obj.kind == "points":
            order.append(obj)
            continue
        key = (label, group)
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append((number, obj))
    return tuple(item if isinstance(item, LabeledObject) else _joined(groups[item], title,
                                                                       *item)
                 for item in order)


def _joined(parts: list[tuple[int, LabeledObject]], title: str, label: str, group: str
            ) -> LabeledObject:
    if len(parts) == 1:
        return parts[0][1]
    polygons, holes = [], []
    for _, obj in parts:
        polygons.extend(obj.polygons or (_corners(obj.box),))
        holes.extend(obj.holes)
    kind = "mask" if all(obj.kind == "mask" for _, obj in parts) else "polygon"
    numbers = ", ".join(str(number) for number, _ in parts)
    return LabeledObject(label=label, kind=kind, where=f"{title}, shapes {numbers} (group "
                         f"{group})", polygons=tuple(polygons), holes=tuple(holes))


def decode_mask(rle: str, width: int, height: int) -> np.ndarray:
    """CVAT's mask runs (``"3, 5, 7"``: a run of 0s, of 1s, of 0s ... over the ``width`` x
    ``height`` crop, row by row) as a ``[height, width]`` uint8 0/1 array."""
    if width <= 0 or height <= 0:
        raise ValueError(f"a mask needs a positive size, not {width}x{height}")
    try:
        runs = np.array([int(v) for v in rle.replace(",", " ").split()], np.int64)
    except ValueError as exc:
        raise ValueError(f"the mask's rle must be whole numbers ({exc})") from None
    if runs.size == 0 or (runs < 0).any() or runs.sum() != width * height:
        raise ValueError(f"the mask's rle covers {int(runs.sum())} pixels, its crop "
                         f"{width}x{height} has {width * height}")
    values = np.arange(runs.size, dtype=np.int64) % 2
    return np.repeat(values.astype(np.uint8), runs).reshape(height, width)


def encode_mask(mask: np.ndarray) -> tuple[list[int], int, int, int, int]:
    """The runs, left, top, width and height of the tight crop of a 0/1 ``mask``, as CVAT
    writes a ``<mask>`` (the first run is of 0s, 0 long when the crop starts set)."""
    ys, xs = np.nonzero(mask)
    left, top, right, bottom = int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())
    crop = np.asarray(mask)[top:bottom + 1, left:right + 1]
    # rle_counts reads column by column; the transpose's columns are the crop's rows
    counts = rle_counts(crop.T)
    return [int(c) for c in counts], left, top, right - left + 1, bottom - top + 1


# -- small readers ----------------------------------------------------------------------------


def _meta_labels(meta: ET.Element | None) -> list[ET.Element]:
    if meta is None:
        return []
    for owner in ("task", "project", "job"):
        labels = meta.find(f"{owner}/labels")
        if labels is not None:
            return labels.findall("label")
    return []


def _joint_names(label: ET.Element, name: str, labels: list[ET.Element]) -> tuple[str, ...]:
    """A skeleton's joints: the labels naming it as ``<parent>`` (or nested in
    ``<sublabels>``), in their order."""
    nested = label.findall("sublabels/label")
    children = nested or [x for x in labels if (x.findtext("parent") or "").strip() == name]
    names = [(x.findtext("name") or "").strip() for x in children]
    return tuple(dict.fromkeys(n for n in names if n))


def _image_name(written: str) -> tuple[PurePosixPath, str]:
    """The image's name as a relative POSIX path, and why it was changed ("" if it was
    not): an absolute or escaping name keeps only its file name."""
    windows = PureWindowsPath(written)
    posix = PurePosixPath(*windows.parts) if "\\" in written or windows.drive else None
    name = posix or PurePosixPath(written)
    if windows.drive or windows.root or name.is_absolute():
        return PurePosixPath(windows.name or name.name), "an absolute path"
    if ".." in name.parts:
        return PurePosixPath(name.name), "a path that leaves the dataset's folder"
    return name, ""


def _split(subset: str | None) -> str | None:
    if subset is None or not subset.strip():
        return None
    return SPLITS.get(subset.strip().lower(), subset.strip())


def _size(value: str | None, key: str) -> int:
    try:
        number = float(value) if value is not None else math.nan
    except ValueError:
        number = math.nan
    if not (number > 0 and number.is_integer()):
        raise ValueError(f"the image's {key} must be a whole number of pixels, not {value!r}")
    return int(number)


def _number(element: ET.Element, key: str, default: float | None = None) -> float:
    value = element.get(key)
    if value is None:
        if default is None:
            raise ValueError(f"the <{element.tag}> has no {key!r}")
        return default
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{key}={value!r} is not a finite number")
    return number


def _points(text: str | None) -> np.ndarray:
    """``"x1,y1;x2,y2"`` as a ``[k, 2]`` float64 array."""
    if text is None:
        raise ValueError("the shape has no 'points'")
    pairs = [p for p in text.replace(" ", "").split(";") if p]
    values = []
    for pair in pairs:
        numbers = pair.split(",")
        if len(numbers) != 2:
            raise ValueError(f"a point must be 'x,y', not {pair!r}")
        values.append([float(v) for v in numbers])
    array = np.array(values, np.float64).reshape(-1, 2)
    if not np.isfinite(array).all():
        raise ValueError("the points must be finite numbers")
    return array


def _rotate(points: np.ndarray, degrees: float, cx: float, cy: float) -> np.ndarray:
    """Points turned ``degrees`` clockwise on screen (y points down) about (cx, cy), as CVAT
    turns a box or an ellipse."""
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    x, y = points[:, 0] - cx, points[:, 1] - cy
    return np.stack([cx + x * cos - y * sin, cy + x * sin + y * cos], axis=1)


def _corners(box: tuple[float, float, float, float] | None) -> np.ndarray:
    x1, y1, x2, y2 = box if box is not None else (0.0, 0.0, 0.0, 0.0)
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float64)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyError):
        return f"the shape has no {exc.args[0]!r}"
    text = str(exc)
    if text.startswith("could not convert string to float"):
        return f"a number does not parse ({text.split(': ', 1)[-1]})"
    return text


# -- writing ----------------------------------------------------------------------------------


def write_cvat(labelset: LabelSet, output: str | Path) -> list[Path]:
    """Write ``output/annotations.xml`` (CVAT for images 1.1) atomically; each image is
    assumed to sit at ``output / image.name``, as CVAT's export zip puts it under images/."""
    root = cvat_document(labelset)
    ET.indent(root)
    target = Path(output) / ANNOTATIONS
    with atomic_writer(target) as handle:
        handle.write(b'<?xml version="1.0" encoding="utf-8"?>\n')  # as CVAT writes it
        ET.ElementTree(root).write(handle, encoding="utf-8", xml_declaration=False)
        handle.write(b"\n")
    return [target]


def cvat_document(labelset: LabelSet) -> ET.Element:
    """The ``<annotations>`` element of ``labelset``.

    Rectangles are boxes; polygons without holes are polygons (one per part, the parts joined
    by a ``group_id``); traced masks and polygons with holes (which a CVAT polygon cannot
    hold) are ``<mask>`` runs of their filled pixels; point sets are skeletons whose joints
    are the set's keypoint names (and any other joint the objects name), not-labelled
    joints ``outside``. Coordinates are the shortest text that reads back exactly.
    """
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = VERSION
    joints = _skeleton_joints(labelset)
    meta = ET.SubElement(root, "meta")
    task = ET.SubElement(meta, "task")
    ET.SubElement(task, "name").text = labelset.source.name or "dataset"
    ET.SubElement(task, "size").text = str(len(labelset.images))
    ET.SubElement(task, "mode").text = "annotation"
    task.append(_labels_element(_all_labels(labelset), joints, labelset))
    groups = iter(range(1, 1 << 62))
    for index, image in enumerate(labelset.images):
        root.append(_image_element(index, image, joints, groups))
    return root


def _all_labels(labelset: LabelSet) -> list[str]:
    names = dict.fromkeys(labelset.labels)
    for image in labelset.images:
        names.update(dict.fromkeys(image.tags))
        names.update(dict.fromkeys(obj.label for obj in image.objects))
    return list(names)


def _skeleton_joints(labelset: LabelSet) -> dict[str, tuple[str, ...]]:
    """The labels written as skeletons, each with its joints: the set's keypoint names, then
    any other joint its objects name (so no joint is lost).

    A label whose point sets all look like CVAT's plain ``points`` shapes as read (joints
    "1".."n", none missing, one visibility) and are not the set's keypoint schema stays a
    plain point set, so a file read and written again keeps its shapes."""
    points: dict[str, list[LabeledObject]] = {}
    for image in labelset.images:
        for obj in image.objects:
            if obj.kind == "points":
                points.setdefault(obj.label, []).append(obj)
    schema = set(labelset.keypoint_names)
    joints = {}
    for label, objects in points.items():
        in_schema = bool(schema) and all({k.name for k in o.keypoints} <= schema
                                         for o in objects)
        if not in_schema and all(_plain_points(o) for o in objects):
            continue
        names = dict.fromkeys(labelset.keypoint_names)
        for obj in objects:
            names.update(dict.fromkeys(k.name for k in obj.keypoints))
        joints[label] = tuple(names)
    return joints


def _plain_points(obj: LabeledObject) -> bool:
    names = tuple(k.name for k in obj.keypoints)
    seen = {k.visibility for k in obj.keypoints}
    return (bool(names) and names == tuple(str(i + 1) for i in range(len(names)))
            and ABSENT not in seen and len(seen) == 1)


def _labels_element(names: Sequence[str], joints: dict[str, tuple[str, ...]],
                    labelset: LabelSet) -> ET.Element:
    labels = ET.Element("labels")
    for name in names:
        label = ET.SubElement(labels, "label")
        ET.SubElement(label, "name").text = name
        if name not in joints:
            ET.SubElement(label, "type").text = "any"
            continue
        ET.SubElement(label, "type").text = "skeleton"
        ET.SubElement(label, "svg").text = _skeleton_svg(joints[name], labelset)
        for joint in joints[name]:
            sublabel = ET.SubElement(labels, "label")
            ET.SubElement(sublabel, "name").text = joint
            ET.SubElement(sublabel, "type").text = "points"
            ET.SubElement(sublabel, "parent").text = name
    return labels


def _skeleton_svg(joints: tuple[str, ...], labelset: LabelSet) -> str:
    """The skeleton drawing CVAT's label editor keeps: joints on a circle in a 100 x 100
    box, and the set's edges as lines between node ids (1-based joint positions)."""
    spots = [(50 + 40 * math.cos(2 * math.pi * i / max(1, len(joints))),
              50 + 40 * math.sin(2 * math.pi * i / max(1, len(joints))))
             for i in range(len(joints))]
    known = len(labelset.keypoint_names)
    parts = []
    for a, b in labelset.skeleton:
        if max(a, b) < known and min(a, b) >= 0:
            (x1, y1), (x2, y2) = spots[a], spots[b]
            parts.append(ET.Element("line", {
                "x1": f"{x1:.3f}", "y1": f"{y1:.3f}", "x2": f"{x2:.3f}", "y2": f"{y2:.3f}",
                "stroke": "black", "data-type": "edge", "data-node-from": str(a + 1),
                "stroke-width": "0.5", "data-node-to": str(b + 1)}))
    for i, (joint, (x, y)) in enumerate(zip(joints, spots, strict=True)):
        parts.append(ET.Element("circle", {
            "r": "1.5", "stroke": "black", "fill": "#b3b3b3", "cx": f"{x:.3f}",
            "cy": f"{y:.3f}", "stroke-width": "0.1", "data-type": "element node",
            "data-element-id": str(i + 1), "data-node-id": str(i + 1),
            "data-label-name": joint}))
    return "".join(ET.tostring(p, encoding="unicode", short_empty_elements=False)
                   for p in parts)


def _image_element(index: int, image: LabeledImage, joints: dict[str, tuple[str, ...]],
                   groups: Iterator[int]) -> ET.Element:
    attributes = {"id": str(index), "name": image.name.as_posix(), "width": str(image.width),
                  "height": str(image.height)}
    if image.split:
        attributes["subset"] = SUBSETS.get(image.split, image.split)
    element = ET.Element("image", attributes)
    for obj in image.objects:
        for shape in _shape_elements(obj, image, joints, groups):
            element.append(shape)
    for tag in image.tags:
        ET.SubElement(element, "tag", {"label": tag, "source": "manual"})
    return element


def _shape_elements(obj: LabeledObject, image: LabeledImage,
                    joints: dict[str, tuple[str, ...]], groups: Iterator[int]
                    ) -> list[ET.Element]:
    common = {"label": obj.label, "source": "manual", "occluded": "0"}
    if obj.kind == "rectangle":
        box = obj.box if obj.box is not None else obj.bounds()
        if box is None:
            return []
        x1, y1, x2, y2 = (format_number(v) for v in box)
        return [ET.Element("box", {**common, "xtl": x1, "ytl": y1, "xbr": x2, "ybr": y2,
                                   "z_order": "0"})]
    if obj.kind == "points" and obj.label in joints:
        return [_skeleton_element(obj, joints[obj.label])]
    if obj.kind == "points":
        points = np.array([[k.x, k.y] for k in obj.keypoints], np.float64)
        occluded = "1" if obj.keypoints[0].visibility == OCCLUDED else "0"
        return [ET.Element("points", {**common, "occluded": occluded,
                                      "points": _points_text(points), "z_order": "0"})]
    rings = [p for p in obj.polygons if len(p) >= 3]
    if obj.kind == "mask" or obj.holes:
        mask = fill_outlines(rings, obj.holes, image.height, image.width)
        if mask.any():
            return [_mask_element(mask, common)]
    group = {"group_id": str(next(groups))} if len(rings) > 1 else {}
    return [ET.Element("polygon", {**common, "points": _points_text(ring), "z_order": "0",
                                   **group}) for ring in rings]


def _mask_element(mask: np.ndarray, common: dict[str, str]) -> ET.Element:
    runs, left, top, width, height = encode_mask(mask)
    return ET.Element("mask", {**common, "rle": ", ".join(map(str, runs)), "left": str(left),
                               "top": str(top), "width": str(width), "height": str(height),
                               "z_order": "0"})


def _skeleton_element(obj: LabeledObject, joints: tuple[str, ...]) -> ET.Element:
    skeleton = ET.Element("skeleton", {"label": obj.label, "source": "manual", "z_order": "0"})
    by_name = {k.name: k for k in obj.keypoints}
    for joint in joints:
        keypoint = by_name.get(joint, Keypoint(joint, 0.0, 0.0, ABSENT))
        ET.SubElement(skeleton, "points", {
            "label": joint, "occluded": "1" if keypoint.visibility == OCCLUDED else "0",
            "source": "manual", "outside": "1" if keypoint.visibility == ABSENT else "0",
            "points": f"{format_number(keypoint.x)},{format_number(keypoint.y)}"})
    return skeleton


def _points_text(points: np.ndarray) -> str:
    return ";".join(f"{format_number(float(x))},{format_number(float(y))}" for x, y in points)
