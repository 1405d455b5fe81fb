"""A :class:`LabelSet` written as CVAT for images 1.1 XML (``annotations.xml``), the file CVAT
imports and :mod:`engine.formats.cvat` reads back.

Label files only: each image is assumed to sit at ``output / image.name``, as CVAT's export
zip puts it under ``images/`` (the caller links or copies the images). Rectangles are boxes,
polygons polygons (parts joined by a ``group_id``), masks and polygons with holes ``<mask>``
runs, point sets skeletons (or plain ``points`` as read), tags ``<tag>``; see
:func:`cvat_document`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from xml.etree import ElementTree as ET  # noqa: N817 - the usual name

import numpy as np

from ..utils.atomic import atomic_writer
from .cvat import ANNOTATIONS
from .cvat_shapes import encode_mask
from .labelset import ABSENT, OCCLUDED, Keypoint, LabeledImage, LabeledObject, LabelSet
from .outlines import fill_outlines
from .yolo_labels import format_number

__all__ = ["cvat_document", "write_cvat"]

VERSION = "1.1"
"""The format version written in ``<version>``."""
SUBSETS = {"train": "Train", "val": "Validation", "test": "Test"}
"""Our split names as CVAT's default subsets, for writing."""


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
