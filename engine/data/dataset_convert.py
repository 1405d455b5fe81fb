"""``yolo convert``: another tool's labels (labelme, CVAT, Label Studio, COCO, mask PNGs, a
YOLO folder or zip) to a YOLO dataset for one task.

The format is guessed from the source when not given (:func:`guess_format`, which says why),
read by that format's codec in ``engine.formats`` into a neutral set, fitted to the task
(``engine.data.labelset_fit``: what does not fit is listed by file, element and reason) and
written by ``engine.data.labelset_yolo`` with the images linked or copied in, never moved.
A zip is extracted first, refusing members that would land outside the folder, links, and
archives that expand past a limit (``engine.utils.safe_zip``).
"""

from __future__ import annotations

import difflib
import re
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import DatasetError, SettingsError
from ..formats.labelset import LabelSet, Problem
from ..utils.atomic import atomic_writer
from .labelset_fit import RECTANGLE_CHOICES, FitOptions, Fitted, fit_labelset
from .labelset_yolo import write_yolo_dataset

__all__ = ["FORMATS", "ConvertReport", "convert_dataset", "convert_from_cli", "guess_format",
           "guess_task", "open_source", "read_labels"]

FORMATS = ("yolo", "coco", "labelme", "cvat", "labelstudio", "masks")
TASKS = ("classify", "detect", "segment", "pose")
CLI_KEYS = ("source", "output", "format", "task", "images", "rectangles", "copy",
            "include_crowd")
REPORT_NAME = "convert-report.txt"
_ROBOFLOW_COCO = "_annotations.coco.json"
_IMAGES_GIVEN = ("coco", "labelstudio")
"""Formats whose images may live elsewhere (``images=``); the others find them by layout."""
_COCO_KINDS = ("instances_", "person_keypoints_", "keypoints_")
_COCO_NO_OBJECTS = ("captions_", "image_info_")
_NAMED_BELOW = ("masks", "yolo")
"""Formats whose codecs name files by their path below the folder they read."""
_SHOWN = 20
_PEEK = 1 << 20
"""Bytes of a JSON file read to tell which tool wrote it."""


@dataclass
class ConvertReport:
    """What a conversion read, wrote and left out, and why."""

    source: Path
    output: Path
    format: str
    format_reason: str
    task: str
    task_reason: str
    images: int
    read: int
    written: int
    skipped: int
    label_files: int
    images_placed: int
    images_missing: int
    classes: list[str]
    classes_added: list[str] = field(default_factory=list)
    unmatched_joints: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    unread: int = 0
    """Error lines of the reader other than missing images: elements or files it left out
    (a line, a polygon of 2 points, a malformed file), which no count above includes."""

    def summary(self) -> str:
        """The lines ``yolo convert`` prints."""
        what = "labels (image classes, objects)" if self.task == "classify" else "objects"
        unread = f", {self.unread} more left out when read" if self.unread else ""
        lines = [
            f"format {self.format} ({self.format_reason}); task {self.task} ({self.task_reason})",
            f"{self.images} images: {self.read} {what} read, {self.written} written, "
            f"{self.skipped} skipped{unread}; {self.label_files} label files, "
            f"{self.images_placed} images linked or copied into {self.output}",
            f"classes: {', '.join(self.classes) or '(none)'}",
        ]
        if self.unmatched_joints:
            lines.append(f"joints not in the schema: {', '.join(self.unmatched_joints)}")
        if self.images_missing:
            lines.append(f"{self.images_missing} images not found (their labels are written)")
        lines += [f"  {p.severity:<7} {p.line()}" for p in self.problems[:_SHOWN]]
        if len(self.problems) > _SHOWN:
            lines.append(f"  ... and {len(self.problems) - _SHOWN} more: every line is in "
                         f"{self.output / REPORT_NAME}")
        lines.append(f"dataset yaml {self.output / 'data.yaml'}")
        return "\n".join(lines)


# -- the source --------------------------------------------------------------------------------


@contextmanager
def open_source(source: str | Path) -> Iterator[Path]:
    """The folder or file to read: ``source`` itself, or a zip extracted into a temporary
    folder that is removed afterwards (hard-linked images outlive it)."""
    path = Path(source).expanduser()
    if not path.exists():
        raise DatasetError("does not exist; give the labels' file or folder", path=path)
    if path.is_file() and path.suffix.lower() == ".zip":
        from ..utils.safe_zip import extract_zip

        with tempfile.TemporaryDirectory(prefix="yolo-convert-") as temp:
            yield _single_folder(extract_zip(path, Path(temp) / path.stem))
        return
    yield path


def _single_folder(folder: Path) -> Path:
    """The one folder a zip holds when it holds nothing else (``export/…`` zips)."""
    entries = list(folder.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return folder


def guess_format(path: Path) -> tuple[str, str]:
    """The format of ``path`` (a file or an extracted folder) and why it was chosen.

    Raises ``DatasetError`` saying what was looked for when nothing fits."""
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".xml":
            return "cvat", "an XML file"
        if suffix in (".yaml", ".yml"):
            return "yolo", "a dataset yaml"
        if suffix == ".json":
            return _json_format(path)
        raise DatasetError("is not a label file this reads (.json, .xml, .yaml, .zip); give "
                           "format= or the folder", path=path)
    if (path / "annotations.xml").is_file():
        return "cvat", "annotations.xml"
    yamls = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))
    if yamls:
        return "yolo", yamls[0].name
    if (path / "SegmentationObject").is_dir() or (path / "SegmentationClass").is_dir():
        return "masks", "SegmentationObject/SegmentationClass folders"
    roboflow = sorted(path.glob(f"*/{_ROBOFLOW_COCO}"))
    if roboflow:
        return "coco", f"{roboflow[0].relative_to(path).as_posix()} (a Roboflow COCO export)"
    jsons = sorted(path.glob("*.json")) or sorted((path / "annotations").glob("*.json"))
    if jsons:
        found, why = _json_format(jsons[0])
        return found, f"{jsons[0].relative_to(path).as_posix()}: {why}"
    xmls = sorted(path.glob("*.xml"))
    if len(xmls) == 1:  # a CVAT task export names its XML after the task or subset
        return "cvat", f"{xmls[0].name}: an XML file"
    if (path / "train").is_dir():
        return "yolo", "train/<class>/ folders"
    raise DatasetError("holds no labels this reads (annotations.xml, a dataset yaml, "
                       "SegmentationObject/, JSON files, train/<class>/); give format=",
                       path=path)


def _json_format(path: Path) -> tuple[str, str]:
    """Tell COCO, labelme and Label Studio JSON apart by their first keys."""
    try:
        with open(path, "rb") as file:
            head = file.read(_PEEK).decode("utf-8", errors="replace").lstrip()
    except OSError as exc:
        raise DatasetError(f"cannot be read ({exc.strerror})", path=path) from exc
    if head.startswith("["):
        if '"image_id"' in head and '"score"' in head:  # the COCO codec says what it is
            return "coco", "a JSON list of COCO results"
        return "labelstudio", "a JSON list of tasks"
    for key, found, why in (('"shapes"', "labelme", "JSON with shapes"),
                            ('"annotations"', "coco", "JSON with images and annotations"),
                            ('"images"', "coco", "JSON with images and annotations")):
        if key in head:
            return found, why
    raise DatasetError("is JSON but not COCO (images, annotations), labelme (shapes) or a "
                       "Label Studio export (a list of tasks); give format=", path=path)


def read_labels(path: Path, format: str, *, images: Path | None = None,
                task: str | None = None) -> LabelSet:
    """Read ``path`` (a file or folder; a zip opened with :func:`open_source` first) with the
    codec of ``format``."""
    if format == "coco":
        from ..formats.coco_labelset import read_coco_labelset

        if path.is_dir():
            return _merged([read_coco_labelset(json, images)
                            for json in _coco_files(path, task)], path)
        return read_coco_labelset(path, images)
    if format == "labelme":
        from ..formats.labelme_labelset import read_labelme_folder

        if path.is_dir():
            return read_labelme_folder(path)
        return read_labelme_folder(path.parent, only=[path])
    if format == "cvat":
        from ..formats.cvat import read_cvat

        xmls = sorted(path.glob("*.xml")) if path.is_dir() else []
        if not (path / "annotations.xml").is_file() and len(xmls) == 1:
            return read_cvat(xmls[0])  # a task export's XML named after its subset
        return read_cvat(path)
    if format == "labelstudio":
        from ..formats.labelstudio import read_labelstudio

        if path.is_dir():
            exports = sorted(path.glob("*.json"))
            if not exports:
                raise DatasetError("holds no Label Studio JSON export; give the file itself",
                                   path=path)
            return _merged([read_labelstudio(json, images) for json in exports], path)
        return read_labelstudio(path, images)
    if format == "masks":
        from ..formats.masks import read_masks

        return read_masks(path)
    if format == "yolo":
        from ..formats.yolo_dataset import read_yolo_dataset

        return read_yolo_dataset(path, task)
    raise SettingsError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}",
                        key="format")


def _coco_files(folder: Path, task: str | None = None) -> list[Path]:
    """The COCO JSONs of a folder: its own, those in ``annotations/`` (COCO's and Datumaro's
    ``instances_<split>.json``), or one per split folder (Roboflow's). Of COCO's own
    ``instances_`` and ``person_keypoints_`` files for one split, the one for ``task``
    (keypoints for pose); ``captions_`` and ``image_info_`` files hold no objects."""
    candidates = (sorted(folder.glob("*.json")) + sorted((folder / "annotations").glob("*.json"))
                  + sorted(folder.glob(f"*/{_ROBOFLOW_COCO}")))
    candidates = [json for json in candidates if not json.name.startswith(_COCO_NO_OBJECTS)]
    chosen: dict[tuple[Path, str], Path] = {}
    for json in candidates:
        kind = next((p for p in _COCO_KINDS if json.name.startswith(p)), "")
        key = (json.parent, json.name[len(kind):] if kind else json.name)
        keypoints = kind in _COCO_KINDS[1:]
        if key not in chosen or keypoints == (task == "pose"):
            chosen[key] = json
    found = [json for json in chosen.values() if _is_coco_dataset(json)]
    if not found:
        raise DatasetError("holds no COCO JSON (looked in it, in annotations/ and for "
                           f"<split>/{_ROBOFLOW_COCO}); give the JSON file itself", path=folder)
    return found


def _is_coco_dataset(path: Path) -> bool:
    """Whether ``path`` starts like a COCO dataset file (not a results list, nor another
    tool's JSON)."""
    try:
        return _json_format(path) == ("coco", "JSON with images and annotations")
    except DatasetError:
        return False


def _merged(sets: list[LabelSet], source: Path) -> LabelSet:
    """One set of several files' sets (a COCO file per split): their images, classes in the
    order first seen, and problems; joints from the first that names any."""
    merged = LabelSet(sets[0].format, source)
    for part in sets:
        merged.images += part.images
        merged.problems += part.problems
        for name in part.labels:
            merged.add_label(name)
        if part.keypoint_names and not merged.keypoint_names:
            merged.keypoint_names, merged.skeleton = part.keypoint_names, part.skeleton
        elif part.keypoint_names and part.keypoint_names != merged.keypoint_names:
            merged.problems.append(Problem(str(part.source), "categories", "names other "
                                           f"keypoints than {sets[0].source.name}; its joints "
                                           "are matched to those by name", "warning"))
    return merged


def guess_task(labels: LabelSet) -> tuple[str, str]:
    """The task most of the objects suit, and why: objects with keypoints -> pose, outlines
    (polygons, masks) -> segment, boxes -> detect; image tags alone -> classify. A tie goes
    to the task that keeps more of them (segment, then detect, then pose)."""
    known = getattr(labels, "task", None)  # a YOLO dataset says its own (yolo_dataset.py)
    if isinstance(known, str) and known in TASKS:
        return known, getattr(labels, "task_reason", "the dataset's")
    votes = {"pose": 0, "segment": 0, "detect": 0}
    for image in labels.images:
        for obj in image.objects:
            if obj.keypoints:
                votes["pose"] += 1
            elif obj.kind in ("polygon", "mask"):
                votes["segment"] += 1
            else:
                votes["detect"] += 1
    total = sum(votes.values())
    if total:
        # a tie goes to the task that keeps more: segment takes rectangles too, detect
        # anything with an extent, pose only point sets
        keeps = {"segment": 2, "detect": 1, "pose": 0}
        task = max(votes, key=lambda name: (votes[name], keeps[name]))
        what = {"pose": "have keypoints", "segment": "are outlines", "detect": "are boxes"}
        return task, f"{votes[task]} of {total} objects {what[task]}"
    if any(image.tags for image in labels.images):
        return "classify", "image classes only"
    return "segment", "no objects found; the default"


# -- converting --------------------------------------------------------------------------------


def convert_dataset(source: str | Path, output: str | Path, *, format: str | None = None,
                    task: str | None = None, images: str | Path | None = None,
                    rectangles: str = "polygon", copy: bool = False,
                    include_crowd: bool = False) -> ConvertReport:
    """Convert ``source`` to a YOLO dataset for ``task`` under ``output``; see the module
    docstring. Raises ``DatasetError`` for a source that cannot be read at all."""
    started = time.monotonic()
    if format is not None and format not in FORMATS:
        raise SettingsError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}",
                            key="format")
    if task is not None and task not in TASKS:
        raise SettingsError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}",
                            key="task")
    output_dir = Path(output).expanduser()
    with open_source(source) as path:
        zipped = path != Path(source).expanduser()
        try:
            chosen, why = (format, "given") if format else guess_format(path)
            if images and chosen not in _IMAGES_GIVEN:
                raise SettingsError(f"is read for the {' and '.join(_IMAGES_GIVEN)} formats "
                                    f"only; {chosen} ({why}) finds the images beside its "
                                    "labels: leave images= out", key="images")
            labels = read_labels(path, chosen, images=Path(images) if images else None,
                                 task=task)
            _refuse_empty(labels, path, chosen, why)
        except DatasetError as exc:
            if not zipped:
                raise
            raise DatasetError(exc.message, path=_shown(exc.path or "", path, Path(source)),
                               line=exc.line, key=exc.key) from exc
        task_name, task_why = (task, "given") if task else guess_task(labels)
        fitted = fit_labelset(labels, FitOptions(task_name, rectangles=rectangles,
                                                 include_crowd=include_crowd))
        written = write_yolo_dataset(fitted, output_dir, copy=copy)
        extracted = path
    report = _report(Path(source), output_dir, chosen, why, task_name, task_why, fitted,
                     written)
    report.unread = sum(p.severity == "error" and not p.missing_image for p in labels.problems)
    read = len(report.problems) - len(written.problems)  # the writer's name the output
    report.problems = sorted(
        (_named(p, extracted, Path(source), zipped, chosen in _NAMED_BELOW)
         for p in report.problems[:read]), key=_place) + report.problems[read:]
    report.seconds = time.monotonic() - started
    _write_report(report)
    return report


def _place(problem: Problem) -> tuple[str, int, list[tuple[int, int | str]]]:
    """Sorts lines file by file, then by the line they name (CVAT's elements), then elements
    in order ("shape 2" before "shape 10"); the sort is stable, so an element's reader line
    stays before its fit line."""
    line = re.search(r"\bline (\d+)", problem.where)
    parts = re.split(r"(\d+)", problem.where)
    return (problem.file, int(line.group(1)) if line else -1,
            [(1, int(p)) if p.isdigit() else (0, p) for p in parts])


def _refuse_empty(labels: LabelSet, path: Path, chosen: str, why: str) -> None:
    """A source in which the codec found no image at all is an error, not an empty dataset
    (the wrong format given or guessed, or every file unreadable): its first lines say why."""
    if labels.images:
        return
    shown = "; ".join(p.line() for p in labels.problems[:3])
    more = f" (and {len(labels.problems) - 3} more)" if len(labels.problems) > 3 else ""
    raise DatasetError(f"no labelled image read as {chosen} ({why})"
                       + (f": {shown}{more}" if shown else "")
                       + f"; give another format= ({', '.join(FORMATS)}) or fix the files",
                       path=path)


def _named(problem: Problem, folder: Path, source: Path, zipped: bool, below: bool) -> Problem:
    """``problem`` naming its file as the user can find it: a file extracted from a zip as
    ``archive: member`` (the temporary folder it was read from is gone), and a file a codec
    named below the source folder (masks, YOLO) with that folder in front."""
    file = problem.file
    if not file or file.startswith(f"{source}: "):
        return problem
    if zipped:
        return replace(problem, file=_shown(file, folder, source))
    if below and not Path(file).is_absolute():
        return replace(problem, file=str((source if source.is_dir() else source.parent) / file))
    return problem


def _shown(file: str, folder: Path, archive: Path) -> str:
    """``file``, read from ``archive`` extracted into ``folder``, as ``archive: member``."""
    try:
        member = Path(file).relative_to(folder) if Path(file).is_absolute() else Path(file)
    except ValueError:
        return file
    return f"{archive}: {member.as_posix()}" if member.parts else str(archive)


def _report(source: Path, output: Path, chosen: str, why: str, task: str, task_why: str,
            fitted: Fitted, written: Any) -> ConvertReport:
    return ConvertReport(
        source=source, output=output, format=chosen, format_reason=why, task=task,
        task_reason=task_why, images=len(fitted.images), read=fitted.read,
        written=fitted.written, skipped=fitted.skipped, label_files=written.label_files,
        images_placed=written.images_placed, images_missing=written.images_missing,
        classes=list(fitted.classes), classes_added=list(fitted.classes_added),
        unmatched_joints=list(fitted.unmatched_joints),
        problems=written.all_problems(fitted.problems),
    )


def _write_report(report: ConvertReport) -> None:
    """The summary, then every problem line (the summary shows the first), tab-separated, in
    ``output/convert-report.txt``."""
    summary = [line for line in report.summary().splitlines() if not line.startswith("  ")]
    lines = [*summary, ""]
    lines += [f"{p.severity}\t{p.file}\t{p.where}\t{p.reason}" for p in report.problems]
    with atomic_writer(report.output / REPORT_NAME) as file:
        file.write(("\n".join(lines) + "\n").encode("utf-8", errors="replace"))


def convert_from_cli(values: Mapping[str, Any]) -> ConvertReport:
    """``yolo convert source=... [output=...] [format=...] [task=...] [images=...]
    [rectangles=polygon|skip] [copy=True] [include_crowd=True]``: check the keys, then
    :func:`convert_dataset`."""
    for key in values:
        if key not in CLI_KEYS:
            close = difflib.get_close_matches(key, CLI_KEYS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(CLI_KEYS)}"
            raise SettingsError(f"unknown convert setting{hint}", key=key)
    if not values.get("source"):
        raise SettingsError("give the labels to convert, e.g. source=annotations.xml",
                            key="source")
    source = Path(str(values["source"]))
    output = values.get("output") or source.with_name(f"{source.stem}-yolo")
    rectangles = str(values.get("rectangles", "polygon"))
    if rectangles not in RECTANGLE_CHOICES:
        raise SettingsError(f"choose {' or '.join(RECTANGLE_CHOICES)}", key="rectangles")
    return convert_dataset(
        source, Path(str(output)), format=_text(values.get("format")),
        task=_text(values.get("task")), images=_text(values.get("images")),
        rectangles=rectangles, copy=_flag(values.get("copy", False), "copy"),
        include_crowd=_flag(values.get("include_crowd", False), "include_crowd"),
    )


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _flag(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise SettingsError(f"'{value}' is not True or False", key=key)
