"""Pascal VOC segmentation masks written from a LabelSet: instance and class PNGs (palette, VOC
colour map), ``labels.txt`` and the split lists, label files only, each atomically.

The layout and the reading side are in :mod:`.masks`; this module paints each object (polygons,
rectangles and traced masks, holes kept; the links a YOLO row drew between an outline's parts
taken apart again, :func:`split_links`) and says what cannot be painted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
from PIL import Image

from ..errors import DatasetError
from ..utils.atomic import atomic_writer
from .labelset import LabeledImage, LabeledObject, LabelSet, Problem
from .masks import BACKGROUND, IGNORE_LABEL, MAX_INDEX, UNSAFE_NAME, VOID, voc_colormap
from .outlines import fill_outlines

__all__ = ["split_links", "write_masks"]


def write_masks(labelset: LabelSet, output: str | Path,
                problems: list[Problem] | None = None) -> list[Path]:
    """Write ``labelset`` as VOC masks under ``output``; return the files written.

    Per image, ``SegmentationObject/<stem>.png`` (instance ids 1.. in object order, later
    objects painted over earlier ones) and ``SegmentationClass/<stem>.png`` (class index =
    position in ``labelset.labels`` + 1, ``__ignore__`` left out of the list and painted as
    void; labels only objects use come after), palette PNGs with the
    VOC colour map; ``labels.txt`` in labelme's convention and
    ``ImageSets/Segmentation/<split>.txt``. Polygons, rectangles and masks are filled (holes
    kept). What cannot be painted (points, an object covered by later ones, an instance past
    254, a repeated stem) is appended to ``problems`` (default: ``labelset.problems``).
    Images are expected at ``output / voc_image_name(...)`` (``JPEGImages/``); this writes
    label files only, each atomically.
    """
    output = Path(output)
    record = labelset.problems if problems is None else problems
    labels = _class_list(labelset, output)
    index = {name: number for number, name in enumerate(labels, start=1)}
    written: list[Path] = []
    stems: dict[str, str] = {}
    split_stems: dict[str, list[str]] = {}
    for image in labelset.images:
        stem = PurePosixPath(image.name).stem
        if UNSAFE_NAME.search(stem) or stem in stems:
            why = f"repeats {stems[stem]}" if stem in stems else "is not a safe file name"
            record.append(Problem(image.file, str(image.name), f"mask file name {stem!r} {why}:"
                                  " VOC names masks by the image's stem alone; left out"))
            continue
        stems[stem] = str(image.name)
        instance_ids, class_ids = _paint(image, index, record)
        written.append(_save_png(output / "SegmentationObject" / f"{stem}.png", instance_ids))
        written.append(_save_png(output / "SegmentationClass" / f"{stem}.png", class_ids))
        if image.split:
            split_stems.setdefault(image.split, []).append(stem)
    written.append(_save_text(output / "labels.txt", [IGNORE_LABEL, "_background_", *labels]))
    for split, listed in split_stems.items():
        if UNSAFE_NAME.search(split):
            record.append(Problem("", f"split {split!r}", "not a safe file name: no list "
                                  "written for it"))
            continue
        written.append(_save_text(output / "ImageSets" / "Segmentation" / f"{split}.txt",
                                  listed))
    return written


def _class_list(labelset: LabelSet, output: Path) -> list[str]:
    """The set's classes, then any label only its objects use; checked to fit a mask PNG."""
    labels = [name for name in labelset.labels if name != IGNORE_LABEL]
    for image in labelset.images:
        for item in image.objects:
            if item.label != IGNORE_LABEL and item.label not in labels:
                labels.append(item.label)
    if len(labels) > MAX_INDEX:
        raise DatasetError(f"{len(labels)} classes: a mask PNG holds at most {MAX_INDEX} "
                           "(index 255 is void); split the set by class", path=output)
    for name in labels:
        if not name.strip() or "\n" in name or "\r" in name:
            raise DatasetError(f"class name {name!r} cannot be a line of labels.txt: rename it",
                               path=output / "labels.txt")
    return labels


def _paint(image: LabeledImage, index: Mapping[str, int], record: list[Problem]
           ) -> tuple[np.ndarray, np.ndarray]:
    instance_ids = np.zeros((image.height, image.width), np.uint8)
    class_ids = np.zeros_like(instance_ids)
    painted: list[tuple[int, LabeledObject]] = []
    for item in image.objects:
        area = _area(item, image.height, image.width)
        if area is None:
            record.append(Problem(image.file, item.where, f"a {item.kind} object cannot be "
                                  "painted into a mask: left out"))
            continue
        if item.label == IGNORE_LABEL:  # labelme2voc's way: void class, no instance
            class_ids[area], instance_ids[area] = VOID, BACKGROUND
            continue
        if len(painted) == MAX_INDEX:
            record.append(Problem(image.file, item.where, f"more than {MAX_INDEX} objects on "
                                  "one image: an instance PNG holds no more; left out"))
            continue
        painted.append((len(painted) + 1, item))
        instance_ids[area], class_ids[area] = len(painted), index[item.label]
    left = set(np.unique(instance_ids).tolist())
    for number, item in painted:
        if number not in left:
            record.append(Problem(image.file, item.where, "covers no pixel (too small, or "
                                  "hidden by later objects): not in the masks"))
    return instance_ids, class_ids


def _area(item: LabeledObject, height: int, width: int) -> np.ndarray | None:
    """The pixels ``item`` covers, or None for a kind that has no area (points)."""
    if item.kind in ("polygon", "mask"):
        rings, lines = [], []
        for ring in item.polygons:
            parts, spurs = split_links(ring)
            rings += parts
            lines += spurs
        outer = [r for r in rings if not any(_inside(r, other) for other in rings
                                             if other is not r)]
        holes = [r for r in rings if not any(r is o for o in outer)]
        area = fill_outlines(outer, [*holes, *item.holes], height, width)
        if lines:  # a one-pixel spur of a traced mask: filled as one, the ring painted it
            cv2.polylines(area, [np.round(line).astype(np.int32) for line in lines], False, 1)
        return area.astype(bool)
    if item.kind == "rectangle" and item.box is not None:
        x1, y1, x2, y2 = item.box
        corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float64)
        return fill_outlines([corners], [], height, width).astype(bool)
    return None


def split_links(ring: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The parts of an outline that a YOLO row joined into one (parts and holes linked by
    edges walked there and back, ``engine.data.polygons.merge_polygons``): filled as one, the
    links would paint a line of pixels over the objects they cross. Also the edges walked
    there and back that are not links between parts (a traced one-pixel spur), as ``[2, 2]``
    segments to draw.

    An edge whose reverse is also in the ring is a link; the chains between links are put
    back together end to start. A ring without links comes back alone."""
    points = np.asarray(ring, np.float64).reshape(-1, 2)
    count = len(points)
    keys = [tuple(point) for point in points]
    edges = {(keys[i], keys[(i + 1) % count]) for i in range(count)}
    linked = [(keys[(i + 1) % count], keys[i]) in edges and keys[i] != keys[(i + 1) % count]
              for i in range(count)]
    if not any(linked):
        return [points], []
    start = linked.index(True) + 1  # the chains, each from just after a link to just before one
    chains: list[list[int]] = []
    for step in range(count):
        i = (start + step) % count
        if not chains or linked[(i - 1) % count]:
            chains.append([])
        chains[-1].append(i)
    rings = [r for r in _closed(chains, keys) if len(r) >= 3]
    on_rings = {keys[i] for r in rings for i in r}
    spurs = [points[[i, (i + 1) % count]] for i in range(count) if linked[i]
             and not (keys[i] in on_rings and keys[(i + 1) % count] in on_rings)]
    return [points[r] for r in rings], spurs


def _closed(chains: list[list[int]], keys: list[tuple]) -> list[list[int]]:
    """Chains joined into closed rings: each followed by the unused chain that starts at the
    point it ends on (one chain is a ring when it ends where it starts)."""
    unused = [chain for chain in chains if chain]
    rings = []
    while unused:
        ring = unused.pop(0)
        while keys[ring[-1]] != keys[ring[0]] or len(ring) == 1:
            follow = next((c for c in unused if keys[c[0]] == keys[ring[-1]]), None)
            if follow is None:
                break
            unused.remove(follow)
            ring += follow[1:]
        if len(ring) > 1 and keys[ring[-1]] == keys[ring[0]]:
            ring = ring[:-1]
        rings.append(ring)
    return rings


def _inside(ring: np.ndarray, other: np.ndarray) -> bool:
    """Whether every point of ``ring`` lies in or on ``other`` (a hole in its outline)."""
    contour = np.asarray(other, np.float32).reshape(-1, 1, 2)
    return len(other) >= 3 and all(
        cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in ring)


def _save_png(path: Path, indices: np.ndarray) -> Path:
    image = Image.fromarray(indices)
    image.putpalette(voc_colormap().tobytes())  # an "L" image with a palette is mode "P"
    with atomic_writer(path) as handle:
        image.save(handle, format="PNG")
    return path


def _save_text(path: Path, lines: list[str]) -> Path:
    with atomic_writer(path) as handle:
        handle.write("".join(f"{line}\n" for line in lines).encode("utf-8"))
    return path
