"""CVAT for images 1.1 XML (``annotations.xml``) read into a :class:`LabelSet`.

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

The XML is parsed in :mod:`~engine.formats.cvat_xml`, each shape element read in
:mod:`~engine.formats.cvat_shapes`; :mod:`~engine.formats.cvat_write` writes the format.
"""

from __future__ import annotations

import math
from pathlib import Path, PurePosixPath, PureWindowsPath
from xml.etree import ElementTree as ET  # noqa: N817 - the usual name

import numpy as np

from ..errors import DatasetError
from .cvat_shapes import SHAPES, read_joint
from .cvat_xml import parse_xml, utf8_or_replaced
from .labelset import ABSENT, Keypoint, LabeledImage, LabeledObject, LabelSet, Problem

__all__ = ["ANNOTATIONS", "FORMAT", "read_cvat"]

FORMAT = "cvat"
ANNOTATIONS = "annotations.xml"
"""The file name CVAT gives its XML in an export."""
SPLITS = {"train": "train", "training": "train", "validation": "val", "val": "val",
          "valid": "val", "test": "test", "testing": "test"}
"""CVAT subset names (any case) to our split names; other subsets are kept as written."""
_KNOWN = (*SHAPES, "skeleton", "tag")
"""The elements of an ``<image>`` that are read."""


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
        if child.tag == "polyline":
            raise ValueError("a polyline is an open line with no area: no task can use it")
        if child.tag not in _KNOWN:
            raise ValueError(f"<{child.tag}> is not a shape this reader knows (it reads "
                             f"{', '.join(_KNOWN)})")
        label = self._label(child, where)
        if label is None:
            return None
        if child.tag == "tag":  # an image-level class
            tags.append(label)
            return None
        if child.tag == "skeleton":  # its joints are its label's, declared in the meta
            return label, self.skeleton(child, label, where)
        return label, SHAPES[child.tag](child, label, where)

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
                found[joint] = read_joint(part, joint)
            except (ValueError, KeyError) as exc:
                self.problem(self.at(part, f"{where}, joint {joint!r}"),
                             f"{_reason(exc)}; the joint reads as not labelled")
        keypoints = tuple(found.get(j, Keypoint(j, 0.0, 0.0, ABSENT)) for j in joints)
        return LabeledObject(label=label, kind="points", where=where, keypoints=keypoints)


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
