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

The image references are resolved in :mod:`~engine.formats.labelstudio_images`, JSON-MIN
turned into tasks in :mod:`~engine.formats.labelstudio_min`, regions placed in pixels in
:mod:`~engine.formats.labelstudio_regions` and brushes decoded in
:mod:`~engine.formats.labelstudio_brush`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from PIL import Image

from ..errors import DatasetError
from .labelset import Keypoint, LabeledImage, LabelSet, Problem
from .labelstudio_images import find_image, image_reference, is_url
from .labelstudio_min import is_json_min, tasks_from_min
from .labelstudio_regions import (
    LABEL_KEYS,
    Region,
    Skip,
    TaskLabels,
    number_of,
    place_regions,
    result_id,
    whole,
)

__all__ = ["FORMAT", "read_labelstudio"]

FORMAT = "labelstudio"
_BARE_TOOLS = {"rectangle": "rectanglelabels", "polygon": "polygonlabels",
               "keypoint": "keypointlabels", "brush": "brushlabels"}


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
    if is_json_min(tasks):
        problems.append(Problem(str(source), "", "a JSON-MIN export: it has no region ids or "
                                "parentID (keypoints are not grouped by person), and a single "
                                "choice is a bare string that cannot be told from task data, "
                                "so it is not read; export as JSON to keep everything",
                                "warning"))
        return tasks_from_min(tasks)
    raise DatasetError(f"{expected}; its first item has the keys "
                       f"{', '.join(map(str, tasks[0])) or 'none'}", path=source)


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
        fetched = " (URLs are not fetched: download the images there)" if is_url(
            reference) else ""
        problems.append(Problem(file, where, f"image {reference!r} not found: looked for "
                                f"{', '.join(tried) or 'nothing'} in {base}{fetched}",
                                missing_image=str(name)))
    read = TaskLabels(where)
    _read_results(results, read, file, labelset)
    width, height = _image_size(read, path, file, where, problems)
    objects = place_regions(read, width, height, file, problems)
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


def _read_results(results: Sequence[Mapping[str, Any]], read: TaskLabels, file: str,
                  labelset: LabelSet) -> None:
    """Every result of one annotation into ``read`` (objects still in percent are placed
    later, once the image's size is known); unreadable results become problems."""
    labels_by_id = {result_id(r): r["value"].get("labels") for r in results
                    if r.get("type") == "labels" and isinstance(r.get("value"), dict)}
    region_ids = {result_id(r) for r in results if str(r.get("type")) in _BARE_TOOLS}
    relations = 0
    for result in results:
        kind = str(result.get("type", ""))
        where = f"{read.number}, result {str(result.get('id'))!r}"
        if kind == "relation":
            relations += 1
            continue
        if kind == "labels" and result_id(result) in region_ids:
            continue  # the class of a region drawn with a bare tool, read with it
        try:
            doubt = _read_result(result, kind, labels_by_id, read, where)
        except Skip as exc:
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
                 read: TaskLabels, where: str) -> str | None:
    """Read one result into ``read``; what was doubtful about it, if anything."""
    value = result.get("value")
    if not isinstance(value, dict):
        raise Skip(f"a {kind or 'result'} without a 'value' object")
    if kind == "choices":
        read.tags.extend(c for c in _names(value.get("choices"), "choices")
                         if c not in read.tags)
        return None
    if kind in _BARE_TOOLS:
        label = _names(labels_by_id.get(result_id(result)), "labels", required=False)
        value = {**value, _BARE_TOOLS[kind]: label or [str(result.get("from_name") or kind)]}
        kind = _BARE_TOOLS[kind]
    if kind not in LABEL_KEYS:
        raise Skip(f"result type {kind!r} is not read (Label Studio image regions read "
                   f"here: {', '.join(LABEL_KEYS)}, choices)")
    label, *more = _names(value.get(kind), kind)
    if kind == "keypointlabels":
        point = Keypoint(label, number_of(value, "x"), number_of(value, "y"))
        read.keypoints.append((result, point))
    else:
        read.regions.append(Region(label, kind, where, result, value))
    return f"{len(more) + 1} labels ({', '.join([label, *more])}): read as {label!r}" \
        if more else None


def _names(value: Any, key: str, required: bool = True) -> list[str]:
    """A list of class names as Label Studio writes them (``["Car"]``)."""
    if value is None and not required:
        return []
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise Skip(f"'{key}' must be a non-empty list of names, not {value!r}")
    bad = [v for v in value if not _is_text(v) or not v.strip()]
    if bad:
        raise Skip(f"the name {bad[0]!r} in '{key}' is empty or not valid Unicode text")
    return list(value)


def _note_size(result: Mapping[str, Any], read: TaskLabels) -> None:
    width, height = result.get("original_width"), result.get("original_height")
    if whole(width) and whole(height):
        read.sizes.append((int(width), int(height)))


def _image_size(read: TaskLabels, path: Path | None, file: str, where: str,
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


def _count_predictions(tasks: Iterable[Mapping[str, Any]], file: str,
                       problems: list[Problem]) -> None:
    count = sum(len(t["predictions"]) for t in tasks if isinstance(t.get("predictions"), list))
    if count:
        problems.append(Problem(file, "", f"{count} prediction(s) (a model's pre-annotations) "
                                "are not labels: not read", "warning"))


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
