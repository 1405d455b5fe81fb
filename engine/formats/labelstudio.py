"""Label Studio's JSON export, read into a :class:`~engine.formats.labelset.LabelSet` (import
only: Label Studio imports YOLO and COCO itself).

The "JSON" export is a list of tasks. Each task has ``data`` (the image's URL, under the name
of the labelling config's ``$variable``, usually ``image``) and ``annotations``, each a
``result`` list of regions. What is read:

- one annotation per task: the latest one not cancelled (``updated_at``, else
  ``created_at``; on a tie the later in the list); the others are named in a warning. A task
  with no annotation is unlabelled and left out (a warning), not read as a background image.
  ``predictions`` (a model's pre-annotations) are not labels: a warning counts them;
- ``polygonlabels``: points in percent of ``original_width``/``original_height`` -> polygon;
- ``rectanglelabels``: ``x``, ``y`` (the top-left corner), ``width``, ``height`` in percent and
  ``rotation`` in degrees clockwise about that corner -> rectangle, or a 4-point polygon when
  rotated;
- ``keypointlabels``: one result per point, its label the joint's name. Points whose
  ``parentID`` names a ``rectanglelabels`` result are one object (kind ``points``) whose class
  is the rectangle's label and whose box is the rectangle (Label Studio's pose layout). Points
  without a parent have nothing saying which person they belong to: those of one control tag
  on a task are read as one object named after the tag (``from_name``), with a warning;
- ``brushlabels``: Label Studio's own run-length code of the RGBA brush layer, decoded here
  (:func:`decode_brush`) and traced to outlines and holes -> mask;
- ``choices`` -> the image's tags;
- the same regions drawn with a bare tool (``rectangle``, ``polygon``, ``keypoint``, ``brush``)
  take their class from the ``labels`` result of the same id, else from the control tag;
- ``relation`` results (links between regions) have no place in a label set: a warning counts
  them. Any other type is a problem naming the task and result.

The image: ``data["image"]``, else the data value named by a result's ``to_name``, else the
first data value that looks like an image. Label Studio writes ``/data/upload/3/5f2a0b1c-a.jpg``
(an upload, its name prefixed with 8 hex digits), ``/data/local-files/?d=folder/a.jpg``,
``s3://``/``gs://``/``http(s)://`` URLs or a bare name. The file is looked for in ``images_dir``
(default: the JSON's folder, and its ``images/``), by the path after ``?d=``, then a relative
reference as written, then the upload name without its prefix, then the name as written. URLs
are never fetched. A missing image is a problem; its labels still come back (``path`` None).
The image's size is the results' ``original_width``/``original_height``, else the image file's.

The "JSON-MIN" export (each task flattened to its data keys plus one list of region values per
control tag) is read too. It drops result ids and ``parentID`` (keypoints cannot be grouped by
person) and writes a single choice as a bare string, which cannot be told from task data: a
warning says so, and the JSON export keeps everything.

A file that is not valid JSON, not UTF-8, or not a list of tasks raises ``DatasetError`` naming
the file and line; a bad task or region is a ``Problem`` (``where`` = ``"task 12, result
'abc123'"``) and the rest is read. The file is only read.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

import numpy as np
from PIL import Image

from ..errors import DatasetError
from .labelset import Keypoint, LabeledImage, LabeledObject, LabelSet, Problem, ring
from .outlines import trace_outlines

__all__ = ["FORMAT", "decode_brush", "find_image", "image_reference", "read_labelstudio"]

FORMAT = "labelstudio"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp",
                            ".jfif", ".pgm", ".ppm", ".heic", ".avif"})
_UPLOAD_PREFIX = re.compile(r"^[0-9a-fA-F]{8}-(.+)$")
_URL_SCHEMES = ("http", "https", "s3", "gs", "azure-blob", "ftp")
_LABEL_KEYS = ("rectanglelabels", "polygonlabels", "keypointlabels", "brushlabels")
_BARE_TOOLS = {"rectangle": "rectanglelabels", "polygon": "polygonlabels",
               "keypoint": "keypointlabels", "brush": "brushlabels"}
_MIN_META = frozenset({"id", "annotator", "annotation_id", "created_at", "updated_at",
                       "lead_time", "agreement", "history"})
_MIN_MARKS = _MIN_META - {"id", "agreement", "history"}
"""Keys only a JSON-MIN record has (a task file for import has ``id`` and data only)."""


class _Skip(ValueError):
    """A result that cannot be read: its message is the problem's reason."""


@dataclass(frozen=True)
class _Region:
    """A region read but still in percent, until the image's size is known."""

    label: str
    kind: str  # the result type: rectanglelabels, polygonlabels or brushlabels
    where: str
    result: Mapping[str, Any]
    value: Mapping[str, Any]


@dataclass
class _Task:
    """What one task's annotation gives, before its regions are placed in pixels."""

    number: str
    regions: list[_Region] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    keypoints: list[tuple[Mapping[str, Any], Keypoint]] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)


def read_labelstudio(path: str | Path, images_dir: str | Path | None = None) -> LabelSet:
    """Read Label Studio's JSON (or JSON-MIN) export at ``path``; images are looked for in
    ``images_dir`` (default: beside the JSON). See the module docstring for what is read."""
    source = Path(path)
    content = _load(source)
    labelset = LabelSet(format=FORMAT, source=source)
    file = str(source)
    tasks = _tasks(content, source, labelset.problems)
    base = Path(images_dir) if images_dir is not None else source.parent
    names: dict[PurePosixPath, str] = {}
    for task in tasks:
        image = _read_task(task, base, file, labelset)
        if image is None:
            continue
        earlier = names.setdefault(image.name, f"task {task.get('id')}")
        if earlier != f"task {task.get('id')}":
            labelset.problems.append(Problem(file, f"task {task.get('id')}",
                                             f"its image is named {str(image.name)!r} like "
                                             f"{earlier}'s", "warning"))
        labelset.images.append(image)
    _count_predictions(tasks, file, labelset.problems)
    return labelset


def _load(source: Path) -> Any:
    """The decoded JSON of ``source``; DatasetError with the line of bad bytes or syntax."""
    try:
        raw = source.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot be read ({exc.strerror or exc})", path=source) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DatasetError(f"not UTF-8 text (byte {exc.start}); export it again from Label "
                           "Studio", path=source, line=line) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"not valid JSON: {exc.msg} at line {exc.lineno}, column "
                           f"{exc.colno}", path=source, line=exc.lineno) from exc


def _tasks(content: Any, source: Path, problems: list[Problem]) -> list[dict[str, Any]]:
    """The tasks of a JSON export, or of a JSON-MIN export in the JSON's shape."""
    expected = ("not a Label Studio export: it should be the list of tasks Label Studio's "
                "JSON export writes (each with 'data' and 'annotations')")
    if not isinstance(content, list):
        raise DatasetError(f"{expected}, not a JSON {_json_type(content)}", path=source)
    tasks = [item for item in content if isinstance(item, dict)]
    for index, item in enumerate(content):
        if not isinstance(item, dict):
            problems.append(Problem(str(source), f"item {index}",
                                    f"a task must be a JSON object, not a {_json_type(item)}"))
    if not tasks:
        if content:
            raise DatasetError(f"{expected}; it holds no JSON object", path=source)
        return []
    if any("annotations" in t or "completions" in t or isinstance(t.get("data"), dict)
           for t in tasks):
        return tasks
    if any(_MIN_MARKS & t.keys() or any(_min_regions(k, v) for k, v in t.items())
           for t in tasks):
        problems.append(Problem(str(source), "", "a JSON-MIN export: it has no region ids or "
                                "parentID (keypoints are not grouped by person), and a single "
                                "choice is a bare string that cannot be told from task data, "
                                "so it is not read; export as JSON to keep everything",
                                "warning"))
        return _from_min(tasks)
    raise DatasetError(f"{expected}; its first item has the keys "
                       f"{', '.join(map(str, tasks[0])) or 'none'}", path=source)


def _from_min(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """JSON-MIN records (one per annotation) as JSON tasks, records of one task id merged."""
    tasks: dict[str, dict[str, Any]] = {}
    for index, record in enumerate(records):
        key = repr(record.get("id", f"item {index}"))
        task = tasks.setdefault(key, {"id": record.get("id", index), "data": {},
                                      "annotations": []})
        result = []
        for name, value in record.items():
            regions = _min_regions(name, value)
            if regions is None:
                if name not in _MIN_META:
                    task["data"].setdefault(name, value)
                continue
            result.extend(regions)
        if record.get("annotation_id") is not None or result:
            task["annotations"].append({"id": record.get("annotation_id"), "result": result,
                                        "created_at": record.get("created_at"),
                                        "updated_at": record.get("updated_at")})
    return list(tasks.values())


def _min_regions(name: str, value: Any) -> list[dict[str, Any]] | None:
    """One JSON-MIN control tag's region values as results, or None for task data."""
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        return None
    types = [_min_type(v) for v in value]
    if any(t is None for t in types):
        return None
    return [{"id": f"{name}[{i}]", "type": t, "from_name": name, "value": v,
             "original_width": v.get("original_width"),
             "original_height": v.get("original_height")}
            for i, (t, v) in enumerate(zip(types, value, strict=True))]


def _min_type(value: Mapping[str, Any]) -> str | None:
    """The result type of a JSON-MIN region value, told by its keys."""
    for key in (*_LABEL_KEYS, "choices", "ellipselabels"):
        if key in value:
            return key
    if "rle" in value:
        return "brush"
    if "points" in value:
        return "polygon"
    if {"x", "y", "width", "height"} <= value.keys():
        return "rectangle"
    return "keypoint" if {"x", "y"} <= value.keys() else None


def _read_task(task: Mapping[str, Any], base: Path, file: str,
               labelset: LabelSet) -> LabeledImage | None:
    """One task's image and labels, or None when it has none to give (a problem says why)."""
    where = f"task {task.get('id')}"
    problems = labelset.problems
    data = task.get("data")
    annotation = _annotation(task, file, where, problems)
    if annotation is None:
        return None
    results = [r for r in annotation.get("result") or () if isinstance(r, dict)]
    reference = image_reference(data if isinstance(data, dict) else {}, results)
    if reference is None:
        keys = ", ".join(map(str, data)) if isinstance(data, dict) else "none"
        problems.append(Problem(file, where, f"no image in its data (keys: {keys}): an image "
                                "task names its image under 'image'"))
        return None
    if not _is_text(reference) or "\x00" in reference:
        problems.append(Problem(file, where, f"the image reference {reference!r} is not valid "
                                "Unicode text for a file name"))
        return None
    path, name, tried = find_image(reference, base)
    if path is None:
        fetched = " (URLs are not fetched: download the images there)" if _is_url(
            reference) else ""
        problems.append(Problem(file, where, f"image {reference!r} not found: looked for "
                                f"{', '.join(tried) or 'nothing'} in {base}{fetched}",
                                missing_image=str(name)))
    read = _Task(where)
    _read_results(results, read, file, labelset)
    width, height = _image_size(read, path, file, where, problems)
    objects = _place(read, width, height, file, problems)
    joints = list(labelset.keypoint_names)
    for obj in objects:
        labelset.add_label(obj.label)
        joints.extend(k.name for k in obj.keypoints if k.name not in joints)
    labelset.keypoint_names = tuple(joints)
    for tag in read.tags:
        labelset.add_label(tag)
    return LabeledImage(name=name, width=width, height=height, file=file, path=path,
                        objects=tuple(objects), tags=tuple(read.tags))


def _annotation(task: Mapping[str, Any], file: str, where: str,
                problems: list[Problem]) -> Mapping[str, Any] | None:
    """The latest annotation not cancelled; the others named in a warning."""
    every = task.get("annotations", task.get("completions")) or []
    if not isinstance(every, list):
        problems.append(Problem(file, where, "'annotations' is not a list"))
        return None
    kept = [(i, a) for i, a in enumerate(every) if isinstance(a, dict)
            and not (a.get("was_cancelled") or a.get("skipped"))]
    if not kept:
        reason = ("every annotation was cancelled (skipped)" if every else "no annotation")
        problems.append(Problem(file, where, f"{reason}: an unlabelled task, not read",
                                "warning"))
        return None
    index, chosen = max(kept, key=lambda pair: (str(pair[1].get("updated_at")
                                                    or pair[1].get("created_at") or ""),
                                                pair[0]))
    if len(every) > 1:
        others = [str(a.get("id", i)) if isinstance(a, dict) else str(i)
                  for i, a in enumerate(every) if i != index]
        problems.append(Problem(file, where, f"{len(every)} annotations: read annotation "
                                f"{chosen.get('id', index)} (the latest not cancelled), left "
                                f"out {', '.join(others)}", "warning"))
    return chosen


def image_reference(data: Mapping[str, Any], results: Sequence[Mapping[str, Any]] = ()
                    ) -> str | None:
    """The task's image as Label Studio wrote it: ``data["image"]``, else the value named by a
    result's ``to_name``, else the first data value that looks like an image."""
    if isinstance(data.get("image"), str) and data["image"]:
        return data["image"]
    for result in results:
        value = data.get(str(result.get("to_name")))
        if isinstance(value, str) and value:
            return value
    for value in data.values():
        if isinstance(value, str) and PurePosixPath(_path_of(value)).suffix.lower() in \
                IMAGE_SUFFIXES:
            return value
    return None


def find_image(reference: str, base: Path) -> tuple[Path | None, PurePosixPath, list[str]]:
    """The file ``reference`` names below ``base`` (None when missing), the image's name
    (the file's name, else the reference's name without an upload prefix) and the relative
    paths tried, in order."""
    tried: list[str] = []
    for candidate in _candidates(reference):
        for folder in ("", "images"):
            relative = PurePosixPath(folder, candidate) if folder else candidate
            if str(relative) in tried:
                continue
            tried.append(str(relative))
            path = base / relative
            if path.is_file():
                return path, PurePosixPath(path.name), tried
    name = PurePosixPath(_path_of(reference)).name
    stripped = _UPLOAD_PREFIX.match(name)
    name = stripped.group(1) if stripped else name
    return None, PurePosixPath(name if name not in ("", ".", "..") else "image"), tried


def _candidates(reference: str) -> list[PurePosixPath]:
    """Relative paths that may hold the image, in the order they are tried."""
    found: list[PurePosixPath] = []
    written = _path_of(reference)
    local = _local_files_path(reference)
    if local is not None:
        found.append(local)
    elif not _is_url(reference) and not written.startswith("/") and \
            not PureWindowsPath(written).drive:  # C:\data\a.jpg: looked for by name only
        found.append(PurePosixPath(written))
    name = PurePosixPath(written).name
    stripped = _UPLOAD_PREFIX.match(name)
    if stripped:
        found.append(PurePosixPath(stripped.group(1)))
    if name:
        found.append(PurePosixPath(name))
    # never look above the images folder (a reference with '..' or a root)
    return [p for p in dict.fromkeys(found) if p.parts and ".." not in p.parts
            and not p.is_absolute()]


def _local_files_path(reference: str) -> PurePosixPath | None:
    """The path after ``?d=`` of a ``/data/local-files/`` reference."""
    if "?d=" not in reference and "&d=" not in reference:
        return None
    values = parse_qs(_split(reference).query).get("d")
    return PurePosixPath(values[0]) if values else None


def _split(reference: str) -> SplitResult:
    """``urlsplit``, which refuses a malformed host (``http://[x``): then no URL at all."""
    try:
        return urlsplit(reference)
    except ValueError:
        return urlsplit("")


def _path_of(reference: str) -> str:
    """The path part of a reference (a URL's path, unquoted; the ``?d=`` path of a local
    file), as a POSIX path."""
    local = _local_files_path(reference)
    if local is not None:
        return str(local)
    if _is_url(reference):
        return unquote(_split(reference).path)
    return unquote(reference.split("?", 1)[0]).replace("\\", "/")


def _is_url(reference: str) -> bool:
    return _split(reference).scheme.lower() in _URL_SCHEMES


def _read_results(results: Sequence[Mapping[str, Any]], read: _Task, file: str,
                  labelset: LabelSet) -> None:
    """Every result of one annotation into ``read`` (objects still in percent are placed
    later, once the image's size is known); unreadable results become problems."""
    labels_by_id = {_id(r): r["value"].get("labels") for r in results
                    if r.get("type") == "labels" and isinstance(r.get("value"), dict)}
    region_ids = {_id(r) for r in results if str(r.get("type")) in _BARE_TOOLS}
    relations = 0
    for result in results:
        kind = str(result.get("type", ""))
        where = f"{read.number}, result {str(result.get('id'))!r}"
        if kind == "relation":
            relations += 1
            continue
        if kind == "labels" and _id(result) in region_ids:
            continue  # the class of a region drawn with a bare tool, read with it
        try:
            doubt = _read_result(result, kind, labels_by_id, read, where)
        except _Skip as exc:
            labelset.problems.append(Problem(file, where, str(exc)))
            continue
        _note_size(result, read)
        if doubt:
            labelset.problems.append(Problem(file, where, doubt, "warning"))
        turned = result.get("image_rotation")
        if isinstance(turned, int | float) and turned % 360:
            labelset.problems.append(Problem(file, where, f"drawn on the image turned by "
                                             f"{turned:g} degrees in Label Studio: read as "
                                             "written", "warning"))
    if relations:
        labelset.problems.append(Problem(file, read.number, f"{relations} relation(s) between "
                                         "regions not read (a label set has no links)",
                                         "warning"))


def _read_result(result: Mapping[str, Any], kind: str, labels_by_id: Mapping[Any, Any],
                 read: _Task, where: str) -> str | None:
    """Read one result into ``read``; what was doubtful about it, if anything."""
    value = result.get("value")
    if not isinstance(value, dict):
        raise _Skip(f"a {kind or 'result'} without a 'value' object")
    if kind == "choices":
        read.tags.extend(c for c in _names(value.get("choices"), "choices")
                         if c not in read.tags)
        return None
    if kind in _BARE_TOOLS:
        label = _names(labels_by_id.get(_id(result)), "labels", required=False)
        value = {**value, _BARE_TOOLS[kind]: label or [str(result.get("from_name") or kind)]}
        kind = _BARE_TOOLS[kind]
    if kind not in _LABEL_KEYS:
        raise _Skip(f"result type {kind!r} is not read (Label Studio image regions read "
                    f"here: {', '.join(_LABEL_KEYS)}, choices)")
    label, *more = _names(value.get(kind), kind)
    if kind == "keypointlabels":
        point = Keypoint(label, _number(value, "x"), _number(value, "y"))
        read.keypoints.append((result, point))
    else:
        read.regions.append(_Region(label, kind, where, result, value))
    return f"{len(more) + 1} labels ({', '.join([label, *more])}): read as {label!r}" \
        if more else None


def _id(result: Mapping[str, Any]) -> str | None:
    """A result's ``id`` as text (None when it has none)."""
    return None if result.get("id") is None else str(result["id"])


def _names(value: Any, key: str, required: bool = True) -> list[str]:
    """A list of class names as Label Studio writes them (``["Car"]``)."""
    if value is None and not required:
        return []
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _Skip(f"'{key}' must be a non-empty list of names, not {value!r}")
    bad = [v for v in value if not _is_text(v) or not v.strip()]
    if bad:
        raise _Skip(f"the name {bad[0]!r} in '{key}' is empty or not valid Unicode text")
    return list(value)


def _note_size(result: Mapping[str, Any], read: _Task) -> None:
    width, height = result.get("original_width"), result.get("original_height")
    if _whole(width) and _whole(height):
        read.sizes.append((int(width), int(height)))


def _image_size(read: _Task, path: Path | None, file: str, where: str,
                problems: list[Problem]) -> tuple[int, int]:
    """The image's size: the results' ``original_width``/``original_height``, else the file's
    header; (0, 0) when neither is known (a problem)."""
    if read.sizes:
        sizes = set(read.sizes)
        if len(sizes) > 1:
            problems.append(Problem(file, where, "its results give different image sizes "
                                    f"({', '.join(f'{w}x{h}' for w, h in sorted(sizes))}): "
                                    "each region is placed with its own", "warning"))
        return read.sizes[0]
    if path is not None:
        try:
            with Image.open(path) as image:
                return image.size
        except (OSError, ValueError) as exc:
            problems.append(Problem(file, where, f"image {path.name} cannot be read for its "
                                    f"size ({exc})"))
            return 0, 0
    if read.regions or read.keypoints:
        problems.append(Problem(file, where, "the image's size is unknown (no original_width/"
                                "original_height in its results, and the image is missing)"))
    return 0, 0


def _place(read: _Task, width: int, height: int, file: str,
           problems: list[Problem]) -> list[LabeledObject]:
    """The task's regions in pixels, keypoints grouped into their objects."""
    if width <= 0 or height <= 0:
        return []
    rectangles: dict[Any, LabeledObject] = {}
    objects: list[LabeledObject] = []
    for region in read.regions:
        try:
            obj = _region(region, width, height)
        except _Skip as exc:
            problems.append(Problem(file, region.where, str(exc)))
            continue
        if region.kind == "rectanglelabels":
            rectangles[_id(region.result)] = obj
        objects.append(obj)
    return _group_keypoints(read, rectangles, objects, width, height, file, problems)


def _size_of(result: Mapping[str, Any], width: int, height: int) -> tuple[float, float]:
    w, h = result.get("original_width"), result.get("original_height")
    return (float(w), float(h)) if _whole(w) and _whole(h) else (float(width), float(height))


def _region(region: _Region, width: int, height: int) -> LabeledObject:
    """One region in pixels."""
    w, h = _size_of(region.result, width, height)
    label, where, value = region.label, region.where, region.value
    if region.kind == "polygonlabels":
        points = value.get("points")
        if not isinstance(points, list) or len(points) < 3:
            count = len(points) if isinstance(points, list) else 0
            raise _Skip(f"a polygon needs at least 3 points, it has {count}")
        polygon = ring([_pair(p) for p in points]) * np.array([w, h]) / 100.0
        if len(polygon) < 3:
            raise _Skip("a polygon needs at least 3 points (its last repeats its first)")
        return LabeledObject(label, "polygon", where, polygons=(polygon,))
    if region.kind == "rectanglelabels":
        return _rectangle(label, where, value, w, h)
    return _brush(label, where, value, int(w), int(h))


def _rectangle(label: str, where: str, value: Mapping[str, Any], w: float,
               h: float) -> LabeledObject:
    x, y, width, height = (_number(value, k) for k in ("x", "y", "width", "height"))
    x, y, width, height = x * w / 100, y * h / 100, width * w / 100, height * h / 100
    if width <= 0 or height <= 0:
        raise _Skip(f"a rectangle of no area ({width:g} x {height:g} pixels)")
    rotation = _number(value, "rotation", 0.0) % 360.0
    if rotation == 0:
        return LabeledObject(label, "rectangle", where, box=(x, y, x + width, y + height))
    # clockwise on screen (y down) about the top-left corner, as Label Studio draws it
    angle = math.radians(rotation)
    cos, sin = math.cos(angle), math.sin(angle)
    corners = np.array([[0.0, 0.0], [width, 0.0], [width, height], [0.0, height]])
    turned = corners @ np.array([[cos, sin], [-sin, cos]]) + np.array([x, y])
    return LabeledObject(label, "polygon", where, polygons=(turned,))


def _brush(label: str, where: str, value: Mapping[str, Any], w: int, h: int) -> LabeledObject:
    if value.get("format", "rle") != "rle" or not isinstance(value.get("rle"), list):
        raise _Skip(f"a brush region must carry 'rle' in format 'rle', not "
                    f"{value.get('format')!r}")
    try:
        flat = decode_brush(value["rle"], expected=w * h * 4)
    except ValueError as exc:
        raise _Skip(f"its brush RLE cannot be decoded for a {w}x{h} image ({exc}: 4 per "
                    "pixel)") from exc
    polygons, holes = trace_outlines(flat.reshape(h, w, 4)[:, :, 3])
    if not polygons:
        raise _Skip("an empty brush region (no painted pixels)")
    return LabeledObject(label, "mask", where, polygons=polygons, holes=holes)


def _group_keypoints(read: _Task, rectangles: Mapping[Any, LabeledObject],
                     objects: list[LabeledObject], width: int, height: int, file: str,
                     problems: list[Problem]) -> list[LabeledObject]:
    """Keypoints joined to their parent rectangle (which becomes their object's box) or, with
    no parent, into one object per control tag."""
    groups: dict[Any, list[Keypoint]] = {}
    first_where: dict[Any, str] = {}
    for result, point in read.keypoints:
        w, h = _size_of(result, width, height)
        pixel = Keypoint(point.name, point.x * w / 100, point.y * h / 100)
        where = f"{read.number}, result {str(result.get('id'))!r}"
        parent = None if result.get("parentID") is None else str(result["parentID"])
        key: Any = ("parent", parent)
        if parent is None or parent not in rectangles:
            if parent is not None:
                problems.append(Problem(file, where, f"its parentID {parent!r} is not a "
                                        "rectangle of this task: read with the points that "
                                        "have no parent", "warning"))
            key = ("tag", str(result.get("from_name") or "keypoints"))
        members = groups.setdefault(key, [])
        if any(k.name == pixel.name for k in members):
            problems.append(Problem(file, where, f"a second {pixel.name!r} point in one "
                                    "object: left out"))
            continue
        members.append(pixel)
        first_where.setdefault(key, where)
    parents = {key[1] for key in groups if key[0] == "parent"}
    out = [obj for obj in objects if not any(rectangles[p] is obj for p in parents)]
    for key, points in groups.items():
        if key[0] == "parent":
            rectangle = rectangles[key[1]]
            out.append(LabeledObject(rectangle.label, "points", rectangle.where,
                                     box=rectangle.bounds(), keypoints=tuple(points)))
        else:
            problems.append(Problem(file, first_where[key], f"{len(points)} keypoint(s) of "
                                    f"{key[1]!r} have no parentID rectangle: read as one "
                                    f"object labelled {key[1]!r}", "warning"))
            out.append(LabeledObject(key[1], "points", first_where[key],
                                     keypoints=tuple(points)))
    return out


def decode_brush(rle: Sequence[int], expected: int | None = None) -> np.ndarray:
    """Label Studio's brush run-length code (a list of bytes) decoded to its flat values
    (RGBA of every pixel, row by row: reshape to ``[height, width, 4]``). A code that does not
    hold ``expected`` values (when given) is refused before it is expanded.

    The bits, most significant first: a 32-bit count of values, 5 bits of word size minus 1,
    four 4-bit run-length field sizes minus 1; then blocks, each a 1-bit flag, a 2-bit choice
    of field size and a length field (the block covers length + 1 values), followed by one
    word repeated over the block (flag 1) or one word per value (flag 0).
    """
    data = np.asarray(rle)
    if data.ndim != 1 or data.size < 7 or data.dtype.kind not in "iu" or (data < 0).any() \
            or (data > 255).any():
        raise ValueError("it must be a list of at least 7 bytes (0..255)")
    bits = np.unpackbits(data.astype(np.uint8))
    text = (bits + ord("0")).tobytes().decode("ascii")  # int(text[a:b], 2) reads a field
    count, word = int(text[:32], 2), int(text[32:37], 2) + 1
    if expected is not None and count != expected:
        raise ValueError(f"it holds {count} values, not {expected}")
    sizes = [int(text[37 + 4 * i:41 + 4 * i], 2) + 1 for i in range(4)]
    # runs gathered as (value, length) and expanded once: a brush has ~10^5 blocks, and
    # one numpy call per block would cost more than the decoding itself
    values: list[int] = []
    lengths: list[int] = []
    at, index, total = 53, 0, len(text)
    while index < count:
        size = sizes[int(text[at + 1:at + 3], 2)] if at + 3 <= total else total
        if at + 3 + size > total:
            raise ValueError("the code ends before its last run")
        repeat, run = text[at] == "1", int(text[at + 3:at + 3 + size], 2) + 1
        at += 3 + size
        run = min(run, count - index)
        if repeat:
            values.append(_field(text, at, word))
            lengths.append(run)
            at += word
        else:
            values.extend(_fields(bits, at, run, word))
            lengths.extend([1] * run)
            at += run * word
        index += run
    dtype = np.uint8 if word <= 8 else np.uint32
    return np.repeat(np.array(values, dtype), np.array(lengths, np.int64))


def _field(text: str, at: int, size: int) -> int:
    if at + size > len(text):
        raise ValueError("the code ends before its last run")
    return int(text[at:at + size], 2)


def _fields(bits: np.ndarray, at: int, count: int, size: int) -> list[int]:
    """``count`` consecutive ``size``-bit fields from bit ``at``, at numpy speed."""
    end = at + count * size
    if end > len(bits):
        raise ValueError("the code ends before its last run")
    block = bits[at:end].reshape(count, size).astype(np.uint64)
    return (block @ (np.uint64(1) << np.arange(size - 1, -1, -1, dtype=np.uint64))).tolist()


def _count_predictions(tasks: Iterable[Mapping[str, Any]], file: str,
                       problems: list[Problem]) -> None:
    count = sum(len(t["predictions"]) for t in tasks if isinstance(t.get("predictions"), list))
    if count:
        problems.append(Problem(file, "", f"{count} prediction(s) (a model's pre-annotations) "
                                "are not labels: not read", "warning"))


def _pair(point: Any) -> tuple[float, float]:
    if not isinstance(point, list | tuple) or len(point) != 2:
        raise _Skip(f"a point must be [x, y] in percent, not {point!r}")
    return _finite(point[0], "a point's x"), _finite(point[1], "a point's y")


def _number(value: Mapping[str, Any], key: str, default: float | None = None) -> float:
    return _finite(value.get(key, default), f"'{key}'")


def _finite(number: Any, what: str) -> float:
    if isinstance(number, bool) or not isinstance(number, int | float) or \
            not math.isfinite(number):
        raise _Skip(f"{what} must be a finite number, not {number!r}")
    return float(number)


def _whole(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and \
        math.isfinite(value) and value > 0 and float(value).is_integer()


def _is_text(value: str) -> bool:
    """False for a string holding lone surrogates (``\\ud800`` in JSON), which no file name
    or label can hold."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_type(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean",
            type(None): "null"}.get(type(value), "number")
