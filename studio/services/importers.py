"""Import a dataset into a project: YOLO classify folders, YOLO segment/pose datasets (by
their yaml, or a zip of one), plain folders of images, and other tools' labels read through the
engine's label set (``import_labelset``): COCO JSON, labelme JSON folders, CVAT for images 1.1
XML, Label Studio JSON exports and mask PNGs, as files, folders or zips.

``import_dataset`` is a plain function a ``studio.workers.Job`` runs off the GUI thread. It
writes one ``ImportRecord`` per import with the problems found (file, line, reason): bad label
rows and unreadable images are reported and skipped, never fatal, and source files are only
read. A source that cannot be imported at all raises ``ImportProblem`` naming the file and key.

Images are referenced in place (absolute path) unless ``copy`` puts them into the project's
images folder (path relative to the project); the images of a zip are always copied (the zip
is extracted into a temporary folder, refusing unsafe members). An image already in the project
is left as it is, so importing the same source twice adds nothing. Class names are merged into
the project's classes by name. Cancel: the batches committed before the cancel are kept (each
batch is one transaction) and the record's status says ``cancelled``.
"""

from __future__ import annotations

import os
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.cancel import NEVER, CancelToken
from engine.data.dataset_convert import guess_format, open_source
from engine.data.images import IMAGE_SUFFIXES, is_image_file
from engine.errors import EngineError

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
from .import_folder import plan_images
from .import_labelset import (
    LABELSET_FORMATS,
    ROBOFLOW_COCO,
    SourceFiles,
    joints_of,
    plan_labelset,
    read_source,
    roboflow_coco_files,
)
from .import_yolo import plan_classify, plan_detect
from .projects import Project
from .wording import plural

FORMATS = ("yolo-classify", "yolo-segment", "yolo-pose", "coco", "labelme", "cvat",
           "labelstudio", "masks", "images")
FORMAT_LABELS = {
    "yolo-classify": "YOLO classification (train/<class>/ folders)",
    "yolo-segment": "YOLO segmentation (dataset yaml, or its zip)",
    "yolo-pose": "YOLO pose (dataset yaml with kpt_shape, or its zip)",
    "coco": "COCO JSON (polygons, masks or keypoints)",
    "labelme": "labelme JSON (a folder of .json files)",
    "cvat": "CVAT for images 1.1 XML (annotations.xml, or the export zip)",
    "labelstudio": "Label Studio JSON export",
    "masks": "Mask PNGs (SegmentationObject / SegmentationClass folders)",
    "images": "Images without labels",
}
FORMAT_KINDS = {
    "yolo-classify": (CLASS,),
    "yolo-segment": (POLYGON,),
    "yolo-pose": (KEYPOINTS,),
    "coco": (POLYGON, KEYPOINTS),
    "labelme": (CLASS, POLYGON, KEYPOINTS),  # flags, shapes, point groups
    "cvat": (CLASS, POLYGON, KEYPOINTS),  # tags, shapes, skeletons
    "labelstudio": (CLASS, POLYGON, KEYPOINTS),  # choices, polygons, keypoints
    "masks": (POLYGON,),
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
    "labelme": "a labelme folder",
    "cvat": "a CVAT export",
    "labelstudio": "a Label Studio export",
    "masks": "a folder of mask PNGs",
    "images": "a folder of images",
}
ENGINE_FORMATS = {"coco": "coco", "labelme": "labelme", "cvat": "cvat",
                  "labelstudio": "labelstudio", "masks": "masks"}
"""The engine's name (``dataset_convert.FORMATS``) of each studio format it guesses."""
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
    return detect_format_why(path)[0]


def detect_format_why(path: str | Path) -> tuple[str | None, str]:
    """The format of a source and why it was chosen ("annotations.xml", "JSON with shapes");
    ``(None, why not)`` when it cannot be told."""
    path = Path(path).expanduser()
    if path.is_file() and path.suffix.lower() == ".zip":
        return _zip_format(path)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in (".yaml", ".yml"):
            return _yaml_format(path), "a dataset yaml"
        if suffix in (".json", ".xml"):
            return _engine_guess(path, "coco" if suffix == ".json" else None)
        if is_image_file(path):
            return "images", "an image file"
        return None, "not a file this imports (.yaml, .json, .xml, .zip or an image)"
    if not path.is_dir():
        return None, "not found"
    return _folder_format(path)


def _folder_format(path: Path) -> tuple[str | None, str]:
    yamls = sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml"))
    if len(yamls) == 1:
        return _yaml_format(yamls[0]), yamls[0].name
    if _is_classify_folder(path):
        return "yolo-classify", "train/<class>/ folders"
    jsons = any(path.glob("*.json")) or any((path / "annotations").glob("*.json"))
    if not jsons and roboflow_coco_files(path):
        return "coco", f"<split>/{ROBOFLOW_COCO} files, as Roboflow writes them"
    found, why = _engine_guess(path, "coco" if jsons else None)
    if found is not None:
        return found, why
    if _holds_images(path):
        return "images", "no labels found beside them"
    return None, why


def _engine_guess(path: Path, fallback: str | None) -> tuple[str | None, str]:
    """The engine's guess for another tool's labels, as a studio format; ``fallback`` for a
    JSON it cannot tell (a COCO import then says what is wrong with it)."""
    try:
        found, why = guess_format(path)
    except EngineError as exc:
        reason = str(getattr(exc, "message", exc))
        return (fallback, "a JSON file (assumed COCO)") if fallback else (None, reason)
    if found in ENGINE_FORMATS:
        return ENGINE_FORMATS[found], why
    return None, why


def _zip_format(path: Path) -> tuple[str | None, str]:
    """Tell a zip's format from its member names (and the start of its one label file)
    without extracting it."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [name for name in archive.namelist() if not name.endswith("/")]
            return _zip_members_format(archive, names)
    except (OSError, zipfile.BadZipFile) as exc:
        return None, f"not a readable zip ({exc})"


def _zip_members_format(archive: zipfile.ZipFile, names: list[str]) -> tuple[str | None, str]:
    def top(name: str) -> str:  # the name below a single top folder (``export/...`` zips)
        parts = PurePosixPath(name).parts
        return "/".join(parts[1:]) if len(parts) > 1 and len(prefixes) == 1 else name

    prefixes = {PurePosixPath(name).parts[0] for name in names if "/" in name} | {
        name for name in names if "/" not in name}
    inner = [top(name) for name in names]
    if "annotations.xml" in inner:
        return "cvat", "annotations.xml in the zip"
    for name, member in zip(inner, names, strict=True):
        if "/" not in name and name.endswith((".yaml", ".yml")):
            return _zip_yaml_format(archive, member), f"{name} in the zip"
    if any(name.startswith(("SegmentationObject/", "SegmentationClass/")) for name in inner):
        return "masks", "SegmentationObject/SegmentationClass folders in the zip"
    jsons = [(n, m) for n, m in zip(inner, names, strict=True) if n.endswith(".json")
             and n.count("/") <= 1]
    if jsons:
        return _zip_json_format(archive, *jsons[0])
    return None, "the zip holds no labels this reads (annotations.xml, a dataset yaml, " \
                 "SegmentationObject/, JSON files)"


def _zip_yaml_format(archive: zipfile.ZipFile, member: str) -> str:
    with archive.open(member) as file:
        head = file.read(1 << 16).decode("utf-8", errors="replace")
    return "yolo-pose" if "kpt_shape" in head else "yolo-segment"


def _zip_json_format(archive: zipfile.ZipFile, name: str, member: str
                     ) -> tuple[str | None, str]:
    """The start of the JSON, put in a temporary file for the engine's guess."""
    with archive.open(member) as file:
        head = file.read(1 << 20)
    with tempfile.TemporaryDirectory(prefix="studio-guess-") as folder:
        probe = Path(folder) / PurePosixPath(name).name
        probe.write_bytes(head)
        found, why = _engine_guess(probe, "coco")
    return found, f"{name} in the zip: {why}"


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
    rectangles: str = "polygon",
    joint_map: Mapping[str, str | None] | None = None,
) -> ImportSummary:
    """Import ``source`` into ``project`` and return what was done.

    ``format`` is one of ``FORMATS`` (None: detected); ``copy`` copies the images into the
    project (always, for a zip); ``images_dir`` is where a COCO JSON's or Label Studio
    export's images are (default: found near the labels). For other tools' labels,
    ``rectangles`` (``polygon`` or ``skip``) says what a rectangle becomes in a segment
    project and ``joint_map`` maps source joints the project's schema lacks by name to one
    of its joints (None: left out). Raises ``ImportProblem`` for a source that cannot be
    imported at all (nothing is added).
    """
    started = time.monotonic()
    path = Path(source).expanduser().resolve()
    if not path.exists():
        raise ImportProblem("does not exist; choose a dataset file or folder", path=path)
    chosen = format or detect_format(path)
    _check_format(project, path, chosen)
    zipped = path.is_file() and path.suffix.lower() == ".zip"
    copy = copy or zipped  # the extracted files are gone after the import
    record_id = _start_record(project, path, chosen, copy)
    try:
        progress(0, 0, f"reading {path.name}")
        with _opened(path, zipped) as files:
            plan = _plan(project, files, chosen, images_dir, rectangles, joint_map)
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


@contextmanager
def _opened(path: Path, zipped: bool) -> Iterator[SourceFiles]:
    """The source to read: ``path`` itself, or a zip extracted safely into a temporary
    folder (removed afterwards; the images were copied into the project by then)."""
    if not zipped:
        yield SourceFiles(path)
        return
    with ExitStack() as stack:
        try:
            folder = stack.enter_context(open_source(path))
        except EngineError as exc:  # refused: zip slip, a link, too big, damaged
            raise ImportProblem(str(getattr(exc, "message", exc)), path=path) from exc
        yield SourceFiles(folder, archive=path, extracted=folder)


def _plan(project: Project, files: SourceFiles, chosen: str, images_dir: str | Path | None,
          rectangles: str, joint_map: Mapping[str, str | None] | None) -> SourcePlan:
    path = files.opened
    if chosen in LABELSET_FORMATS:
        return plan_labelset(project, files, chosen, rectangles=rectangles,
                             joint_map=joint_map,
                             images_dir=Path(images_dir) if images_dir else None)
    if chosen == "yolo-classify":
        return plan_classify(path)
    if chosen in ("yolo-segment", "yolo-pose"):
        return plan_detect(project, path, project.task)
    return plan_images(path)


def source_joints(project: Project, source: str | Path, format: str,
                  images_dir: str | Path | None = None) -> tuple[str, ...]:
    """The joint names of a pose source in another tool's format (() for the formats whose
    keypoints match by position, or with none), read as the import would read them; for
    the joint-mapping dialog. Raises ``ImportProblem`` as the import would."""
    if format not in LABELSET_FORMATS:
        return ()
    path = Path(source).expanduser().resolve()
    with _opened(path, path.is_file() and path.suffix.lower() == ".zip") as files:
        labels = read_source(project, files, format,
                             Path(images_dir) if images_dir else None)
    return joints_of(labels)


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
