"""Import another tool's labels (labelme, CVAT, Label Studio, mask PNGs, COCO) through the
engine's neutral label set.

The engine reads the source with its format's codec (``engine.data.dataset_convert``) and fits
it to the project's task, classes and keypoint schema (``engine.data.labelset_fit``: what each
shape becomes, and a line for each one that does not fit). This module turns each fitted image
into a :class:`~studio.services.image_files.Candidate` whose annotation rows are the fitted
values (normalised, as ``studio.state.models`` stores them), and every problem the engine
found into one line of the import report.

An image found beside the labels is referenced (or copied) like any import's; an image held
only inside the labels (labelme ``imageData``) is written into the project's images folder; an
image that is missing is a line in the report, and its labels wait until it is there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from engine.data.dataset_convert import read_labels
from engine.data.labelset_fit import FitOptions, Fitted, FittedImage, FittedObject, fit_labelset
from engine.errors import EngineError
from engine.formats.coco import split_name
from engine.formats.labelset import LabeledImage, LabelSet, Problem
from engine.utils.atomic import atomic_writer

from ..errors import ImportProblem
from ..state.models import CLASS, KEYPOINTS, POLYGON, SPLITS, annotation_kind
from .image_files import AnnotationRow, Candidate, ProblemRecord, SourcePlan, problem_record
from .projects import Project

__all__ = ["LABELSET_FORMATS", "ROBOFLOW_COCO", "SourceFiles", "coco_split", "find_coco_json",
           "joints_of", "plan_from_labelset", "plan_labelset", "read_source",
           "roboflow_coco_files"]

LABELSET_FORMATS = ("coco", "labelme", "cvat", "labelstudio", "masks")
"""The studio formats read through the engine's label set."""
SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val",
               "validation": "val", "test": "test", "testing": "test"}
_LINE = re.compile(r"^line (\d+)$")


@dataclass(frozen=True)
class SourceFiles:
    """Where the labels were read from: ``opened`` (the file or folder the codec read) and,
    for a zip extracted into a temporary folder, the zip and that folder, so the report names
    ``data.zip/annotations.xml`` rather than a temporary path."""

    opened: Path
    archive: Path | None = None
    extracted: Path | None = None

    def shown(self, file: str | Path) -> str:
        """``file`` as the report names it."""
        text = str(file)
        if self.archive is None or self.extracted is None:
            return text
        try:
            inside = Path(text).relative_to(self.extracted)
        except ValueError:
            return text
        return str(self.archive / inside)


ROBOFLOW_COCO = "_annotations.coco.json"
"""The COCO file Roboflow writes in each split folder (train/, valid/, test/)."""


def roboflow_coco_files(folder: Path) -> list[Path]:
    """Roboflow's per-split COCO files below ``folder`` (``train/_annotations.coco.json``)."""
    return sorted(folder.glob(f"*/{ROBOFLOW_COCO}"))


def find_coco_json(folder: Path) -> Path:
    """The one COCO JSON in ``folder`` or ``folder/annotations``."""
    found = sorted(folder.glob("*.json")) or sorted((folder / "annotations").glob("*.json"))
    if len(found) != 1:
        what = "no .json file" if not found else f"{len(found)} .json files"
        raise ImportProblem(f"holds {what} (also looked in annotations/); choose the COCO "
                            "JSON file itself", path=folder)
    return found[0]


def coco_split(json_path: Path) -> str | None:
    """The split a COCO file name says (``instances_val2017.json`` -> ``val``), else None."""
    name = split_name(json_path).lower()
    for split in ("val", "test", "train"):
        if split in name:
            return split
    return None


def read_source(project: Project, source: SourceFiles, format: str,
                images_dir: Path | None = None) -> LabelSet:
    """The source read by its format's codec; a source that cannot be read at all raises
    ``ImportProblem`` naming the file (and line) the codec named."""
    path = source.opened
    if format == "coco" and path.is_dir():
        splits = roboflow_coco_files(path)
        if splits and not any(path.glob("*.json")):
            return _merged([read_source(project, SourceFiles(json_path, source.archive,
                                                             source.extracted), format,
                                        images_dir) for json_path in splits], path)
        path = find_coco_json(path)
    try:
        labels = read_labels(path, format, images=images_dir, task=project.task)
        if format == "coco" and images_dir is None and not _any_image(labels):
            labels = _coco_images_above(project, path) or labels
        return labels
    except EngineError as exc:
        where = source.shown(exc.path) if getattr(exc, "path", None) else str(path)
        raise ImportProblem(getattr(exc, "message", str(exc)), path=Path(where),
                            line=getattr(exc, "line", None), key=getattr(exc, "key", None)
                            ) from exc
    except (OSError, ValueError) as exc:
        raise ImportProblem(f"cannot be read as {format} ({exc})", path=path) from exc


def _merged(parts: list[LabelSet], folder: Path) -> LabelSet:
    """Several label sets of one dataset (a split each) as one; classes match by name."""
    merged = LabelSet(format=parts[0].format, source=folder)
    for part in parts:
        merged.images += part.images
        merged.problems += part.problems
        for name in part.labels:
            merged.add_label(name)
        if not merged.keypoint_names:
            merged.keypoint_names, merged.skeleton = part.keypoint_names, part.skeleton
    return merged


def _any_image(labels: LabelSet) -> bool:
    return not labels.images or any(image.path is not None or image.image_data is not None
                                    for image in labels.images)


def _coco_images_above(project: Project, json_path: Path) -> LabelSet | None:
    """The classic layout the studio always read, ``annotations/x.json`` beside ``images/``:
    the codec looks beside the JSON, so the folders above are tried here."""
    up = json_path.parent.parent
    for place in (up / "images", up):
        if place.is_dir():
            labels = read_labels(json_path, "coco", images=place, task=project.task)
            if labels.images and _any_image(labels):
                return labels
    return None


def joints_of(labels: LabelSet) -> tuple[str, ...]:
    """The joint names of a pose source: those it declares, then any its objects use."""
    names = list(labels.keypoint_names)
    for image in labels.images:
        for obj in image.objects:
            for point in obj.keypoints:
                if point.name not in names:
                    names.append(point.name)
    return tuple(names)


def plan_labelset(project: Project, source: SourceFiles | Path, format: str, *,
                  rectangles: str = "polygon", joint_map: Mapping[str, str | None] | None = None,
                  images_dir: Path | None = None) -> SourcePlan:
    """Read ``source`` (a file or folder; a zip is opened by ``importers``) with the codec of
    ``format`` and plan its import (see the module)."""
    source = source if isinstance(source, SourceFiles) else SourceFiles(Path(source))
    labels = read_source(project, source, format, images_dir)
    split = coco_split(source.opened) if format == "coco" and source.opened.is_file() else None
    return plan_from_labelset(project, labels, source, rectangles=rectangles,
                              joint_map=joint_map, default_split=split)


def plan_from_labelset(project: Project, labels: LabelSet, source: SourceFiles, *,
                       rectangles: str = "polygon",
                       joint_map: Mapping[str, str | None] | None = None,
                       default_split: str | None = None) -> SourcePlan:
    """Fit ``labels`` to the project and plan its candidates; raises ``ImportProblem`` when
    none of the images is there (nothing could be imported)."""
    options = _fit_options(project, rectangles, joint_map)
    fitted = fit_labelset(labels, options)
    _refuse_without_images(labels, source)
    planner = _Planner(project, fitted, source, labels.problems, options.keypoint_dims,
                       default_split)
    if options.classes is not None:
        return SourcePlan(list(fitted.classes), planner.candidates, planner.problems)
    # a project without classes takes those the source uses (not the ones it only declares,
    # such as labelme2coco's "_background_"), in the source's order
    used = sorted(_used_classes(fitted))
    position = {index: i for i, index in enumerate(used)}

    def build(class_map: list[int]) -> list[Candidate]:
        full = [class_map[position[i]] if i in position else -1
                for i in range(len(fitted.classes))]
        return planner.candidates(full)

    return SourcePlan([fitted.classes[i] for i in used], build, planner.problems)


def _used_classes(fitted: Fitted) -> set[int]:
    used = {obj.class_index for item in fitted.images for obj in item.objects}
    return used | {item.class_index for item in fitted.images if item.class_index is not None}


def _fit_options(project: Project, rectangles: str,
                 joint_map: Mapping[str, str | None] | None) -> FitOptions:
    settings = project.settings()
    classes = [info.name for info in project.classes()]
    pose = annotation_kind(settings.task) == KEYPOINTS
    return FitOptions(
        settings.task,
        classes=classes or None,  # a project without classes takes the source's, in its order
        add_classes=True, rectangles=rectangles,
        keypoint_names=list(settings.keypoint_names) if pose else None,
        joint_map=dict(joint_map or {}), keypoint_dims=settings.keypoint_dims if pose else 3,
    )


def _refuse_without_images(labels: LabelSet, source: SourceFiles) -> None:
    """Nothing can be imported when not one image is found: say where they were looked for."""
    if _any_image(labels):
        return
    first = labels.images[0]
    raise ImportProblem(
        f"cannot find its images (e.g. {first.name}) beside the labels; put the images where "
        "the labels say, or choose the folder that holds both",
        path=Path(source.shown(first.file)), key="images")


def _record(problem: Problem, source: SourceFiles) -> ProblemRecord:
    """One report line: the file, the line when the engine named one, and the reason (with
    the element it is about in front)."""
    match = _LINE.match(problem.where or "")
    line = int(match.group(1)) if match else None
    reason = problem.reason if match or not problem.where else f"{problem.where}: {problem.reason}"
    return problem_record(source.shown(problem.file), reason, line, problem.severity)


class _Planner:
    """Turns the fitted images into candidates once the classes are mapped."""

    def __init__(self, project: Project, fitted: Fitted, source: SourceFiles,
                 read_problems: list[Problem], dims: int, default_split: str | None) -> None:
        self.project, self.fitted, self.source = project, fitted, source
        self.dims, self.default_split = dims, default_split
        self.problems = [_record(problem, source) for problem in fitted.problems]
        # images the codec already reported (missing, unreadable): not said twice
        self.reported: dict[str, list[str]] = {}
        for problem in read_problems:
            self.reported.setdefault(problem.file, []).append(f"{problem.where} {problem.reason}")
        self.root_name = (source.archive or source.opened).stem or "dataset"

    def candidates(self, class_map: list[int]) -> list[Candidate]:
        found = (self._candidate(item, class_map) for item in self.fitted.images)
        return [candidate for candidate in found if candidate is not None]

    def _candidate(self, item: FittedImage, class_map: list[int]) -> Candidate | None:
        image = item.image
        relative = PurePosixPath(self.root_name, *_safe_parts(image.name))
        path = self._image_file(image, relative)
        if path is None:
            return None
        split = SPLIT_NAMES.get((image.split or "").lower()) or self.default_split
        split = split if split in SPLITS else None
        rows = _rows(item, self.fitted, class_map, self.dims)
        if rows is None:  # labelled in the source, nothing fitted: unlabelled, not a negative
            return Candidate(path, relative, split)
        return Candidate(path, relative, split, lambda: (rows, []))

    def _image_file(self, image: LabeledImage, relative: PurePosixPath) -> Path | None:
        """The image's file: found beside the labels, or written into the project's images
        folder from the bytes embedded in the labels; None (and a line) when missing."""
        if image.path is not None and image.path.is_file():
            return image.path
        if image.image_data is not None:
            target = self.project.images_folder / Path(*relative.parts)
            if not (target.is_file() and target.read_bytes() == image.image_data):
                with atomic_writer(target) as writer:
                    writer.write(image.image_data)
            return target
        name = PurePosixPath(image.name).name
        if not any(name in text for text in self.reported.get(image.file, ())):
            self.problems.append(problem_record(
                self.source.shown(image.file), f"image {image.name}: not found beside the "
                "labels; its labels were not imported (put the image there and import again)"))
        return None


def _safe_parts(name: PurePosixPath) -> tuple[str, ...]:
    """The parts of an image's name that stay below the images folder (no ``..``)."""
    parts = tuple(part for part in PurePosixPath(name).parts if part not in ("/", ".", ".."))
    return parts or ("image",)


def _rows(item: FittedImage, fitted: Fitted, class_map: list[int], dims: int
          ) -> list[AnnotationRow] | None:
    """The image's annotation rows ([] for a negative), or None when the source labelled it
    but nothing of it fits the project (it is then imported unlabelled, not as a negative)."""
    kind = annotation_kind(fitted.task)
    if kind == CLASS:
        if item.class_index is None:
            return None
        return [{"kind": CLASS, "class_index": class_map[item.class_index]}]
    if not item.objects and item.image.objects:
        return None
    return [_row(obj, kind, class_map, dims) for obj in item.objects]


def _row(obj: FittedObject, kind: str | None, class_map: list[int], dims: int
         ) -> AnnotationRow:
    index = class_map[obj.class_index]
    if kind == POLYGON:
        return {"kind": POLYGON, "class_index": index,
                "polygon": [_unit(v) for v in obj.polygon or ()]}
    # visibility as the YOLO import stores it (an int); coordinates clipped like the box's
    keypoints = [int(v) if dims == 3 and i % 3 == 2 else _unit(v)
                 for i, v in enumerate(obj.keypoints or ())]
    return {"kind": KEYPOINTS, "class_index": index,
            "box": [_unit(v) for v in obj.box or ()], "keypoints": keypoints}


def _unit(value: float) -> float:
    """A coordinate clipped into 0..1 (a point drawn a pixel past the edge), as the YOLO
    import and the engine clip it."""
    return 0.0 if value < 0.0 else 1.0 if value > 1.0 else float(value)

