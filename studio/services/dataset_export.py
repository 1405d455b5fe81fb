"""Export a project's dataset as the engine trains on it (YOLO layout) or as COCO JSON.

Only live data is written: images and annotations in the trash (``deleted_at`` set) and draft
annotations (a model's suggestions not yet accepted) are left out. Images without a split go
to ``train``. For segment and pose an image is written when it has labels, or when it is marked
as background (then with an empty label file: a labelled negative); an image with neither has
not been labelled yet and is left out (a YOLO image without labels would train as "no objects
here", teaching the model to miss what it holds). Image files are hard-linked into the export
when the disk allows it (no extra space; the engine refuses symbolic links that leave a
dataset folder), copied otherwise.

Writes are atomic: the YOLO export is built in a temp folder beside the target and renamed into
place when complete (an earlier export there is replaced only then); the COCO JSON is written
to a temp file and renamed. A cancelled export raises ``Cancelled`` and leaves nothing behind.
Label lines and the yaml are written by the engine's codecs (``engine.formats``): numbers in the
shortest form that reads back as the same float, so a YOLO dataset imported and exported again
gives label files that parse to the same values.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from sqlalchemy import select

from engine.cancel import NEVER, CancelToken
from engine.data.labelset_yolo import place_image
from engine.formats.dataset_yaml import dataset_config, write_dataset_yaml
from engine.formats.yolo_labels import label_text, polygon_line, pose_line
from engine.utils.atomic import atomic_directory

from ..errors import ProjectError
from ..state.models import (
    CLASS,
    KEYPOINTS,
    POLYGON,
    Annotation,
    Image,
    ProjectSettings,
    annotation_kind,
)
from .image_files import ProblemRecord, Progress, no_progress, problem_record
from .projects import Project

EXPORT_MARKER = ".yolo-studio-export"
"""A file in every YOLO export folder: a later export may replace a folder that has it."""
YAML_NAME = "data.yaml"
_CANCEL_EVERY = 200


@dataclass
class ExportSummary:
    """What an export wrote: where, how many images and annotations, what it left out."""

    path: Path
    images: int = 0
    annotations: int = 0
    linked: int = 0
    copied: int = 0
    backgrounds: int = 0  # images written with no objects (marked background)
    unlabelled: int = 0  # images left out: no labels, not marked background
    images_root: Path | None = None  # COCO without images_folder: what file_name is relative to
    problems: list[ProblemRecord] = field(default_factory=list)


@dataclass
class ImageRow:
    id: int
    path: Path
    width: int
    height: int
    split: str
    annotations: list[Annotation]
    background: bool = False


# -- reading the project -----------------------------------------------------------------------


def live_images(project: Project) -> list[ImageRow]:
    """Images not in the trash, each with its accepted annotations not in the trash."""
    with project.database.session() as session:
        images = session.execute(
            select(Image.id, Image.path, Image.width, Image.height, Image.split, Image.background)
            .where(Image.deleted_at.is_(None)).order_by(Image.id)
        ).all()
        annotations = session.scalars(
            select(Annotation)
            .join(Image, Annotation.image_id == Image.id)
            .where(Image.deleted_at.is_(None), Annotation.deleted_at.is_(None),
                   Annotation.draft.is_(False))
            .order_by(Annotation.image_id, Annotation.position, Annotation.id)
        ).all()
    by_image: dict[int, list[Annotation]] = {}
    for annotation in annotations:
        by_image.setdefault(annotation.image_id, []).append(annotation)
    return [
        ImageRow(row.id, project.resolve(row.path), row.width, row.height, row.split or "train",
                  by_image.get(row.id, []), bool(row.background))
        for row in images
    ]


def labelled_or_background(images: list[ImageRow], kind: str,
                            summary: ExportSummary) -> list[ImageRow]:
    """The images to write for an object task: those with a label of ``kind`` and those marked
    as background. The rest (not labelled yet) are counted in ``summary.unlabelled`` and named
    in one warning, not one per image."""
    kept = [image for image in images
            if image.background or any(a.kind == kind for a in image.annotations)]
    summary.unlabelled = len(images) - len(kept)
    if summary.unlabelled:
        summary.problems.append(problem_record(
            summary.path, f"{summary.unlabelled} image{'s' if summary.unlabelled != 1 else ''} "
            "with no labels and not marked as background were left out; label them, or mark "
            "them as background (no objects) on the Datasets page to train on them as "
            "negatives", severity="warning"))
    return kept


# -- YOLO --------------------------------------------------------------------------------------


def export_yolo(project: Project, folder: str | Path, progress: Progress = no_progress,
                cancel: CancelToken = NEVER) -> ExportSummary:
    """Write the project as a YOLO dataset in ``folder``: for segment and pose
    ``images/<split>/``, ``labels/<split>/`` and ``data.yaml`` (names, and for pose kpt_shape,
    flip_idx, kpt_names, skeleton); for classify ``<split>/<class name>/<image>``.

    ``folder`` must be empty, missing, or an earlier export (it is then replaced as a whole).
    """
    target = Path(folder).expanduser().resolve()
    check_target(target, project)
    settings = project.settings()
    names = [info.name for info in project.classes()]
    images = live_images(project)
    summary = ExportSummary(target)
    with atomic_directory(target) as temp:
        if annotation_kind(settings.task) == CLASS:  # class folders, no label files
            _write_classify(temp, images, names, summary, progress, cancel)
        else:
            splits = _write_detect(temp, images, settings, summary, progress, cancel)
            _write_yaml(temp / YAML_NAME, splits, names, settings, summary)
        (temp / EXPORT_MARKER).write_text("written by YOLO Studio; a new export replaces this "
                                          "folder\n", encoding="utf-8")
    return summary


def check_target(target: Path, project: Project) -> None:
    if target == project.folder or project.folder.is_relative_to(target):
        raise ProjectError("would hold the project itself; choose another folder", path=target)
    if target.exists() and not target.is_dir():
        raise ProjectError("is a file; choose a folder for the export", path=target)
    if target.is_dir() and any(target.iterdir()) and not (target / EXPORT_MARKER).exists():
        raise ProjectError("is not empty and is not an earlier YOLO Studio export; choose an "
                           "empty folder (nothing was written)", path=target)


def _write_detect(root: Path, images: list[ImageRow], settings: ProjectSettings,
                  summary: ExportSummary, progress: Progress, cancel: CancelToken) -> set[str]:
    names_taken: dict[str, set[str]] = {}
    dims = settings.keypoint_dims
    wanted = annotation_kind(settings.task)  # polygons or boxes with keypoints
    images = labelled_or_background(images, wanted, summary)
    for image in ticking(images, progress, cancel, "images"):
        if not readable(image, summary):
            continue
        name = unique_name(image.path, names_taken.setdefault(image.split, set()))
        place_file(image.path, root / "images" / image.split / name, summary)
        lines = [line for a in image.annotations if a.kind == wanted
                 for line in [_label_line(a, dims)] if line]
        # a background image gets its empty label file: the engine reads it as "no objects"
        label = root / "labels" / image.split / PurePosixPath(name).with_suffix(".txt")
        label.parent.mkdir(parents=True, exist_ok=True)
        label.write_text(label_text(lines), encoding="utf-8")  # the folder is written atomically
        summary.images += 1
        summary.annotations += len(lines)
        summary.backgrounds += not lines
    return set(names_taken)


def _label_line(annotation: Annotation, dims: int) -> str | None:
    """One label row: ``class x1 y1 ...`` (polygon) or ``class cx cy w h x y [v] ...`` (pose)."""
    if annotation.kind == POLYGON and annotation.polygon and len(annotation.polygon) >= 6:
        return polygon_line(annotation.class_index, annotation.polygon)
    if annotation.kind == KEYPOINTS and annotation.box and annotation.keypoints is not None:
        keypoints = [int(value) if dims == 3 and i % 3 == 2 else value
                     for i, value in enumerate(annotation.keypoints)]
        return pose_line(annotation.class_index, annotation.box, keypoints)
    return None


def _write_yaml(path: Path, splits: set[str], names: list[str], settings: ProjectSettings,
                summary: ExportSummary) -> None:
    for split in ("train", "val"):
        if split not in splits:
            summary.problems.append(problem_record(
                path, f"no {split} images, so the yaml has no {split} key; assign some images "
                f"to {split} before training", severity="warning"))
    pose = annotation_kind(settings.task) == KEYPOINTS
    config = dataset_config(
        {split: f"images/{split}" for split in splits}, names,
        kpt_shape=[len(settings.keypoint_names), settings.keypoint_dims] if pose else None,
        flip_idx=settings.flip_idx if pose else None,
        kpt_names=settings.keypoint_names if pose else None,
        skeleton=settings.skeleton if pose and settings.skeleton else None)
    write_dataset_yaml(path, config)


def _write_classify(root: Path, images: list[ImageRow], names: list[str],
                    summary: ExportSummary, progress: Progress, cancel: CancelToken) -> None:
    taken: dict[tuple[str, str], set[str]] = {}
    for image in ticking(images, progress, cancel, "images"):
        labels = [a.class_index for a in image.annotations if a.kind == CLASS]
        if not labels or not 0 <= labels[0] < len(names):
            summary.problems.append(problem_record(
                image.path, "has no class; not exported (give it a class)", severity="warning"))
            continue
        if not readable(image, summary):
            continue
        folder = _folder_name(names[labels[0]])
        name = unique_name(image.path, taken.setdefault((image.split, folder), set()))
        place_file(image.path, root / image.split / folder / name, summary)
        summary.images += 1
        summary.annotations += 1
    splits = {split for split, _folder in taken}
    if "train" not in splits or not splits & {"val", "test"}:
        summary.problems.append(problem_record(
            root, "training needs train/ and val/ images; assign some images to each split",
            severity="warning"))


def _folder_name(class_name: str) -> str:
    """A class name usable as one folder name."""
    cleaned = "".join("_" if c in '/\\:*?"<>|' else c for c in class_name).strip(". ")
    return cleaned or "_"


# -- COCO --------------------------------------------------------------------------------------


def export_coco(project: Project, json_path: str | Path, progress: Progress = no_progress,
                cancel: CancelToken = NEVER, *,
                images_folder: str | Path | None = None) -> ExportSummary:
    """Write the project's objects as COCO JSON (polygons for segment, keypoints for pose)
    through the engine's COCO codec (``engine.formats.coco_labelset_write``).

    With ``images_folder`` the images are linked (or copied) there and ``file_name`` is their
    name in it; without it ``file_name`` is relative to the folder all images share
    (``summary.images_root``). Classify projects export as folders (``export_yolo``).
    """
    from engine.formats.coco_labelset_write import write_coco_labelset

    from .export_labelset import project_labelset  # it builds on this module's helpers

    settings = project.settings()
    target = Path(json_path).expanduser().resolve()
    if annotation_kind(settings.task) not in (POLYGON, KEYPOINTS):
        raise ProjectError("a classify project has no objects to write as COCO; export it as "
                           "YOLO folders instead", path=target)
    summary = ExportSummary(target)
    folder = Path(images_folder).expanduser().resolve() if images_folder else None
    labels, sources = project_labelset(project, "coco", summary, progress, cancel)
    summary.images_root = folder or _common_folder_of(sources)
    named = []
    for image, source in zip(labels.images, sources, strict=True):
        if folder is not None:
            place_file(source, folder / image.name, summary)
            named.append(image)
        else:
            relative = PurePosixPath(source.relative_to(summary.images_root or "/").as_posix())
            named.append(replace(image, name=relative))
    labels.images = named
    write_coco_labelset(labels, target)
    return summary


def _common_folder_of(paths: list[Path]) -> Path | None:
    if not paths:
        return None
    return Path(os.path.commonpath([str(p.parent) for p in paths]))


# -- shared ------------------------------------------------------------------------------------


def ticking(images: list[ImageRow], progress: Progress, cancel: CancelToken,
             what: str) -> Iterable[ImageRow]:
    """The images, reporting progress and honouring ``cancel`` every few hundred."""
    total = len(images)
    progress(0, total, f"exporting {total} {what}")
    for done, image in enumerate(images):
        if done % _CANCEL_EVERY == 0:
            cancel.raise_if_cancelled()
            progress(done, total, f"{done} of {total} {what}")
        yield image
    progress(total, total, f"{total} {what} exported")


def readable(image: ImageRow, summary: ExportSummary) -> bool:
    if image.path.is_file():
        return True
    summary.problems.append(problem_record(
        image.path, "image file is missing; not exported (restore the file or delete the "
        "image from the project)"))
    return False


def unique_name(path: Path, taken: set[str]) -> str:
    """The file name of ``path``, with ``-1``, ``-2`` ... when its stem is already used (two
    images may not share a label file)."""
    stem, suffix = path.stem, path.suffix
    name, count = path.name, 0
    while stem.lower() in taken:
        count += 1
        stem = f"{path.stem}-{count}"
        name = f"{stem}{suffix}"
    taken.add(stem.lower())
    return name


def place_file(source: Path, target: Path, summary: ExportSummary) -> None:
    """Hard-link ``source`` at ``target`` (same disk), else copy it (the engine's
    ``place_image``), and count which."""
    linked = place_image(source, target)
    summary.linked += linked
    summary.copied += not linked
