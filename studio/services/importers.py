"""Import a dataset into a project: YOLO classify folders, YOLO segment/pose datasets (by
their yaml), COCO JSON, or plain folders of images.

``import_dataset`` is a plain function a ``studio.workers.Job`` runs off the GUI thread. It
writes one ``ImportRecord`` per import with the problems found (file, line, reason): bad label
rows and unreadable images are reported and skipped, never fatal, and source files are only
read. A source that cannot be imported at all raises ``ImportProblem`` naming the file and key.

Images are referenced in place (absolute path) unless ``copy`` puts them into the project's
images folder (path relative to the project). An image already in the project is left as it
is, so importing the same source twice adds nothing. Class names are merged into the project's
classes by name. Cancel: the batches committed before the cancel are kept (each batch is one
transaction) and the record's status says ``cancelled``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.cancel import NEVER, CancelToken
from engine.data.images import IMAGE_SUFFIXES, is_image_file

from ..errors import ImportProblem, ProjectError
from ..state.models import (
    ANNOTATION_KINDS,
    CLASS,
    KEYPOINTS,
    POLYGON,
    TASKS,
    Image,
    ImportRecord,
    annotation_kind,
    utc_now,
)
from .image_files import ImageRegistrar, ProblemRecord, Progress, SourcePlan, no_progress
from .import_coco import find_coco_json, plan_coco
from .import_folder import plan_images
from .import_yolo import plan_classify, plan_detect
from .projects import Project
from .wording import plural

FORMATS = ("yolo-classify", "yolo-segment", "yolo-pose", "coco", "images")
FORMAT_LABELS = {
    "yolo-classify": "YOLO classification (train/<class>/ folders)",
    "yolo-segment": "YOLO segmentation (dataset yaml)",
    "yolo-pose": "YOLO pose (dataset yaml with kpt_shape)",
    "coco": "COCO JSON (polygons or keypoints)",
    "images": "Images without labels",
}
FORMAT_KINDS = {
    "yolo-classify": (CLASS,),
    "yolo-segment": (POLYGON,),
    "yolo-pose": (KEYPOINTS,),
    "coco": (POLYGON, KEYPOINTS),
    "images": ANNOTATION_KINDS,
}
"""The kinds of annotation each format holds (plain images fit any)."""
FORMAT_TASKS = {
    source: tuple(task for task in TASKS if annotation_kind(task) in kinds)
    for source, kinds in FORMAT_KINDS.items()
}
"""The tasks each format can feed: those trained by a kind of annotation it holds."""
# The studio's own wording, keyed by task name (the registry's titles are shorter: "pose").
TASK_NAMES = {"classify": "classification", "segment": "segmentation",
              "pose": "pose estimation"}
"""Each task as people say it (messages never show the internal ids)."""
FORMAT_NAMES = {
    "yolo-classify": "a YOLO classification dataset",
    "yolo-segment": "a YOLO segmentation dataset",
    "yolo-pose": "a YOLO pose dataset",
    "coco": "a COCO dataset",
    "images": "a folder of images",
}
TASK_SOURCES = {
    "classify": "a classification dataset (a folder with train/<class>/ folders) or plain "
                "images",
    "segment": "a segmentation dataset (a dataset yaml without kpt_shape, or a COCO JSON with "
               "polygons) or plain images",
    "pose": "a pose dataset (a dataset yaml with kpt_shape, or a COCO JSON with keypoints) or "
            "plain images",
}
_SCAN_LIMIT = 2000
"""Directory entries looked at when deciding whether a folder holds images."""


@dataclass
class ImportSummary:
    """What an import did: its ``ImportRecord`` id, counts, problems and outcome."""

    record_id: int
    source: str
    format: str
    status: str  # "completed" or "cancelled"
    images: int = 0
    annotations: int = 0
    already_present: int = 0
    skipped: int = 0
    classes_added: list[str] = field(default_factory=list)
    problems: list[ProblemRecord] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def errors(self) -> list[ProblemRecord]:
        return [p for p in self.problems if p.get("severity", "error") == "error"]

    def text(self) -> str:
        """One line for a status bar or a dialog."""
        parts = [f"{plural(self.images, 'image')} and "
                 f"{plural(self.annotations, 'annotation')} imported"]
        if self.already_present:
            parts.append(f"{self.already_present:,} already in the project")
        if self.skipped:
            parts.append(f"{self.skipped:,} skipped")
        if self.problems:
            parts.append(plural(len(self.problems), "problem"))
        if self.status == "cancelled":
            parts.append("cancelled (what was imported before is kept)")
        return "; ".join(parts)


# -- detecting the format ----------------------------------------------------------------------


def detect_format(path: str | Path) -> str | None:
    """The format of a source (one of ``FORMATS``), or None when it cannot be told."""
    path = Path(path).expanduser()
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".json":
            return "coco"
        if suffix in (".yaml", ".yml"):
            return _yaml_format(path)
        return "images" if is_image_file(path) else None
    if not path.is_dir():
        return None
    yamls = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))
    if len(yamls) == 1:
        return _yaml_format(yamls[0])
    if _is_classify_folder(path):
        return "yolo-classify"
    if any(path.glob("*.json")) or any((path / "annotations").glob("*.json")):
        return "coco"
    return "images" if _holds_images(path) else None


def _yaml_format(path: Path) -> str:
    """``yolo-pose`` for a yaml with ``kpt_shape``, else ``yolo-segment``."""
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return "yolo-segment"  # the import reports what is wrong with it
    return "yolo-pose" if isinstance(config, dict) and "kpt_shape" in config else "yolo-segment"


def _is_classify_folder(path: Path) -> bool:
    """A ``train/`` holding class folders (and no ``images/`` beside it)."""
    train = path / "train"
    if not train.is_dir() or (path / "images").is_dir():
        return False
    return any(entry.is_dir() and _holds_images(entry) for entry in train.iterdir())


def _holds_images(folder: Path) -> bool:
    seen = 0
    for _directory, _folders, files in os.walk(folder):
        for name in files:
            if os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES:
                return True
            seen += 1
        seen += 1
        if seen > _SCAN_LIMIT:
            return False
    return False


# -- importing ---------------------------------------------------------------------------------


def import_dataset(
    project: Project,
    source: str | Path,
    format: str | None = None,
    copy: bool = False,
    progress: Progress = no_progress,
    cancel: CancelToken = NEVER,
    *,
    images_dir: str | Path | None = None,
) -> ImportSummary:
    """Import ``source`` into ``project`` and return what was done.

    ``format`` is one of ``FORMATS`` (None: detected); ``copy`` copies the images into the
    project; ``images_dir`` is where a COCO JSON's images are (default: found near the JSON).
    Raises ``ImportProblem`` for a source that cannot be imported at all (nothing is added).
    """
    started = time.monotonic()
    path = Path(source).expanduser().resolve()
    if not path.exists():
        raise ImportProblem("does not exist; choose a dataset file or folder", path=path)
    chosen = format or detect_format(path)
    _check_format(project, path, chosen)
    record_id = _start_record(project, path, chosen, copy)
    try:
        progress(0, 0, f"reading {path.name}")
        plan = _plan(project, path, chosen, images_dir)
        classes_added, class_map = merge_classes(project, plan.names)
        candidates = plan.build(class_map)
        registrar = ImageRegistrar(project, record_id, copy=copy)
        finished = registrar.register(candidates, progress=progress, cancel=cancel)
    except BaseException as exc:
        _fail_record(project, record_id, path, exc)
        raise
    counts = registrar.counts
    summary = ImportSummary(
        record_id=record_id, source=str(path), format=chosen,
        status="completed" if finished else "cancelled", images=counts.images,
        annotations=counts.annotations, already_present=counts.already_present,
        skipped=counts.left_out, classes_added=classes_added,
        problems=plan.problems + counts.problems, seconds=time.monotonic() - started,
    )
    _finish_record(project, summary)
    return summary


def _check_format(project: Project, path: Path, chosen: str | None) -> None:
    if chosen is None:
        raise ImportProblem(
            "cannot tell the dataset format; choose one (a dataset yaml, a COCO JSON, a "
            "classify folder with train/<class>/, or a folder of images)", path=path)
    if chosen not in FORMATS:
        raise ImportProblem(f"unknown format {chosen!r}; choose one of {', '.join(FORMATS)}",
                            path=path, key="format")
    if project.task not in FORMAT_TASKS[chosen]:
        raise ImportProblem(wrong_task_message(chosen, project.task, path.is_dir()), path=path)


def wrong_task_message(chosen: str, task: str, is_folder: bool) -> str:
    """Why a source of format ``chosen`` cannot go into a ``task`` project, and what to do,
    in words people use: "This folder is a YOLO segmentation dataset, but the project is for
    pose estimation. …"."""
    what = "folder" if is_folder else "file"
    fits = " or ".join(TASK_NAMES[t] for t in FORMAT_TASKS[chosen])
    return (f"This {what} is {FORMAT_NAMES[chosen]}, but the project is for "
            f"{TASK_NAMES[task]}. Import it into a {fits} project (File > New Project), or "
            f"choose {TASK_SOURCES[task]} for this project.")


def _plan(project: Project, path: Path, chosen: str, images_dir: str | Path | None
          ) -> SourcePlan:
    if chosen == "yolo-classify":
        return plan_classify(path)
    if chosen in ("yolo-segment", "yolo-pose"):
        return plan_detect(project, path, project.task)
    if chosen == "coco":
        json_path = find_coco_json(path) if path.is_dir() else path
        return plan_coco(project, json_path, Path(images_dir) if images_dir else None)
    return plan_images(path)


def merge_classes(project: Project, names: Sequence[str]) -> tuple[list[str], list[int]]:
    """Add the names the project lacks (after its own); return them and, for each source
    class index, the project's class index of the same name."""
    existing = [info.name for info in project.classes()]
    added = [name for name in dict.fromkeys(names) if name not in existing]
    if added:
        project.set_classes(existing + added)
    index = {name: i for i, name in enumerate(existing + added)}
    return added, [index[name] for name in names]


# -- the import record -------------------------------------------------------------------------


def _start_record(project: Project, path: Path, chosen: str, copy: bool) -> int:
    with project.database.session() as session:
        record = ImportRecord(source=str(path), format=chosen, copied=copy, status="running",
                              problems=[])
        session.add(record)
        session.flush()
        return record.id


def _finish_record(project: Project, summary: ImportSummary) -> None:
    with project.database.session() as session:
        record = session.get(ImportRecord, summary.record_id)
        record.status = summary.status
        record.finished_at = utc_now()
        record.images = summary.images
        record.annotations = summary.annotations
        record.problems = summary.problems


def _fail_record(project: Project, record_id: int, path: Path, exc: BaseException) -> None:
    """Mark the record failed (the images of batches already committed stay)."""
    try:
        with project.database.session() as session:
            record = session.get(ImportRecord, record_id)
            record.status = "failed"
            record.finished_at = utc_now()
            where = getattr(exc, "path", None) or str(path)
            record.problems = [{"path": where, "line": getattr(exc, "line", None),
                                "reason": str(getattr(exc, "message", exc)),
                                "severity": "error"}]
            record.images = _images_of(session, record_id)
    except ProjectError:
        pass  # the database itself is failing: the caller already reports the first error


def _images_of(session: Session, record_id: int) -> int:
    return len(session.scalars(select(Image.id).where(Image.import_id == record_id)).all())
