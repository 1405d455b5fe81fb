"""Export a project's dataset in another tool's format: labelme JSON, CVAT for images 1.1 XML
or mask PNGs (Pascal VOC style), through the engine's neutral label set.

The project's annotations (normalised, see ``studio.state.models``) become a
:class:`~engine.formats.labelset.LabelSet` in pixels: a polygon is a ``polygon`` object, a pose
annotation a ``points`` object with its box and the schema's joint names (visibility kept,
a joint not labelled is absent), an image's class a tag. The format's codec writes the label
files and the images are hard-linked (or copied) where its files expect them. What the format
cannot hold (keypoints in masks, image classes in masks) is left out and said in one line.

As ``export_yolo``: live data only (no trash, no drafts), images not labelled yet are left out
(one line), the folder is written in a temporary folder and renamed into place when complete
(an earlier export there is replaced only then), and a cancel leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath

import numpy as np

from engine.cancel import NEVER, CancelToken
from engine.formats.labelset import (
    ABSENT,
    OCCLUDED,
    VISIBLE,
    Keypoint,
    LabeledImage,
    LabeledObject,
    LabelSet,
    Problem,
)
from engine.utils.atomic import atomic_directory

from ..errors import ProjectError
from ..state.models import CLASS, KEYPOINTS, POLYGON, Annotation, ProjectSettings, annotation_kind
from .dataset_export import (
    EXPORT_MARKER,
    ExportSummary,
    ImageRow,
    check_target,
    labelled_or_background,
    live_images,
    place_file,
    readable,
    ticking,
    unique_name,
)
from .image_files import Progress, no_progress, problem_record
from .projects import Project

__all__ = ["FORMAT_HOLDS", "FORMAT_TITLES", "TOOL_FORMATS", "export_tool_format",
           "project_labelset"]

TOOL_FORMATS = ("labelme", "cvat", "masks")
FORMAT_TITLES = {"labelme": "labelme JSON", "cvat": "CVAT for images 1.1", "masks": "mask PNGs"}
FORMAT_HOLDS = {"labelme": (CLASS, POLYGON, KEYPOINTS), "cvat": (CLASS, POLYGON, KEYPOINTS),
                "masks": (POLYGON,)}
"""The kinds of annotation each format can hold."""
_WHAT = {CLASS: "image classes", POLYGON: "polygons", KEYPOINTS: "keypoint objects"}
_KEEPS = {CLASS: "labelme or CVAT", POLYGON: "labelme, CVAT, COCO or mask PNGs",
          KEYPOINTS: "labelme, CVAT or COCO"}


def export_tool_format(project: Project, folder: str | Path, format: str,
                       progress: Progress = no_progress, cancel: CancelToken = NEVER
                       ) -> ExportSummary:
    """Write the project in ``format`` (one of ``TOOL_FORMATS``) into ``folder``: the label
    files the tool reads and the images beside them as it expects them. ``folder`` must be
    empty, missing, or an earlier export (it is then replaced as a whole)."""
    if format not in TOOL_FORMATS:
        raise ProjectError(f"unknown export format {format!r}; choose one of "
                           f"{', '.join(TOOL_FORMATS)}", key="format")
    target = Path(folder).expanduser().resolve()
    check_target(target, project)
    summary = ExportSummary(target)
    with atomic_directory(target) as temp:
        labelset, sources = project_labelset(project, format, summary, progress, cancel)
        for image, source in zip(labelset.images, sources, strict=True):
            place_file(source, temp / _image_place(format, image.name), summary)
        cancel.raise_if_cancelled()
        problems: list[Problem] = []
        _write(format, labelset, temp, problems)
        summary.problems += [problem_record(p.file, f"{p.where}: {p.reason}" if p.where
                                            else p.reason, None, p.severity) for p in problems]
        (temp / EXPORT_MARKER).write_text("written by YOLO Studio; a new export replaces this "
                                          "folder\n", encoding="utf-8")
    return summary


def project_labelset(project: Project, format: str, summary: ExportSummary,
                     progress: Progress = no_progress, cancel: CancelToken = NEVER
                     ) -> tuple[LabelSet, list[Path]]:
    """The project's live, labelled images as a label set in pixels (file names unique), and
    each image's file; what ``format`` cannot hold is counted into one line of ``summary``."""
    settings = project.settings()
    kind = annotation_kind(settings.task)
    names = [info.name for info in project.classes()]
    held = kind in FORMAT_HOLDS.get(format, (kind,))
    labels = LabelSet(format=format, source=summary.path, labels=list(names))
    if kind == KEYPOINTS:
        labels.keypoint_names = tuple(settings.keypoint_names)
        labels.skeleton = tuple((int(a), int(b)) for a, b in settings.skeleton)
    images = _images_to_write(live_images(project), kind, summary)
    sources: list[Path] = []
    taken: set[str] = set()
    left_out = occluded = 0
    for image in ticking(images, progress, cancel, "images"):
        if not readable(image, summary):
            continue
        objects, tags = _objects(image, kind, names, settings) if held else ((), ())
        left_out += 0 if held else sum(a.kind == kind for a in image.annotations)
        labels.images.append(LabeledImage(
            name=PurePosixPath(unique_name(image.path, taken)), width=image.width,
            height=image.height, file=str(image.path), path=image.path, objects=objects,
            tags=tags, split=image.split))
        sources.append(image.path)
        occluded += sum(p.visibility == OCCLUDED for o in objects for p in o.keypoints)
        summary.images += 1
        summary.annotations += len(objects) + len(tags)
        summary.backgrounds += not objects and not tags
    if left_out:
        summary.problems.append(problem_record(
            summary.path, f"{left_out:,} {_WHAT[kind]} left out: {FORMAT_TITLES[format]} cannot "
            f"hold them (export as {_KEEPS[kind]} to keep them)", severity="warning"))
    if occluded and format == "labelme":
        summary.problems.append(problem_record(
            summary.path, f"{occluded:,} occluded keypoints written as plain points: labelme "
            "has no visibility (export as CVAT or COCO to keep it)", severity="warning"))
    return labels, sources


def _images_to_write(images: list[ImageRow], kind: str | None,
                     summary: ExportSummary) -> list[ImageRow]:
    """Labelled (or background) images; for classify those with a class, the rest named in
    one line."""
    if kind != CLASS:
        return labelled_or_background(images, str(kind), summary)
    kept = [image for image in images if any(a.kind == CLASS for a in image.annotations)]
    summary.unlabelled = len(images) - len(kept)
    if summary.unlabelled:
        summary.problems.append(problem_record(
            summary.path, f"{summary.unlabelled:,} images without a class were left out; give "
            "them a class on the Annotate page to export them", severity="warning"))
    return kept


def _objects(image: ImageRow, kind: str | None, names: list[str], settings: ProjectSettings
             ) -> tuple[tuple[LabeledObject, ...], tuple[str, ...]]:
    """The image's annotations in pixels: objects, or (classify) its class as a tag."""
    if kind == CLASS:
        tags = [names[a.class_index] for a in image.annotations
                if a.kind == CLASS and 0 <= a.class_index < len(names)]
        return (), tuple(tags[:1])
    objects = []
    for annotation in image.annotations:
        if annotation.kind != kind or not 0 <= annotation.class_index < len(names):
            continue
        made = _object(annotation, names[annotation.class_index], image, settings)
        if made is not None:
            objects.append(made)
    return tuple(objects), ()


def _object(annotation: Annotation, label: str, image: ImageRow, settings: ProjectSettings
            ) -> LabeledObject | None:
    w, h = image.width, image.height
    where = f"annotation {annotation.id}"
    if annotation.kind == POLYGON:
        if not annotation.polygon or len(annotation.polygon) < 6:
            return None
        points = np.asarray(annotation.polygon, np.float64).reshape(-1, 2) * (w, h)
        return LabeledObject(label, "polygon", where, polygons=(points,))
    if not annotation.box or annotation.keypoints is None:
        return None
    cx, cy, bw, bh = annotation.box
    box = ((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h)
    keypoints = _keypoints(annotation.keypoints, settings, w, h)
    return LabeledObject(label, "points", where, box=box, keypoints=keypoints)


def _keypoints(values: list[float], settings: ProjectSettings, w: int, h: int
               ) -> tuple[Keypoint, ...]:
    """The schema's joints in pixels; one not labelled is absent at (0, 0)."""
    dims = settings.keypoint_dims
    points = []
    for index, name in enumerate(settings.keypoint_names):
        x, y = values[index * dims], values[index * dims + 1]
        # without a visibility value a joint is labelled when it lies on the image
        v = int(values[index * dims + 2]) if dims == 3 else (VISIBLE if x >= 0 and y >= 0
                                                             else ABSENT)
        points.append(Keypoint(name, x * w, y * h, v) if v != ABSENT
                      else Keypoint(name, 0.0, 0.0, ABSENT))
    return tuple(points)


# -- the codecs ---------------------------------------------------------------------------------


def _image_place(format: str, name: PurePosixPath) -> PurePosixPath:
    """Where the tool looks for an image, relative to the export folder."""
    if format == "cvat":
        return PurePosixPath("images", name)  # as CVAT's own export zip lays it out
    if format == "masks":
        from engine.formats.masks import voc_image_name

        return voc_image_name(str(name))
    return name


def _write(format: str, labels: LabelSet, folder: Path, problems: list[Problem]) -> list[Path]:
    writer = _writer(format)
    return writer(labels, folder, problems)


def _writer(format: str) -> Callable[[LabelSet, Path, list[Problem]], list[Path]]:
    if format == "labelme":
        from engine.formats.labelme_labelset_write import write_labelme_folder

        return lambda labels, folder, problems: _collect(write_labelme_folder, labels, folder,
                                                         problems)
    if format == "cvat":
        from engine.formats.cvat_write import write_cvat

        return lambda labels, folder, problems: _collect(write_cvat, labels, folder, problems)
    from engine.formats.masks_write import write_masks

    return lambda labels, folder, problems: write_masks(labels, folder, problems)


def _collect(write: Callable[[LabelSet, Path], list[Path]], labels: LabelSet, folder: Path,
             problems: list[Problem]) -> list[Path]:
    """Run a writer that records what it could not write in ``labels.problems``."""
    before = len(labels.problems)
    written = write(labels, folder)
    problems += labels.problems[before:]
    return written
