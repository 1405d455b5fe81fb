"""Evaluate a model on the project's val split: the engine's metrics, a confusion matrix whose
cells know their images, and PR curves per class. Qt-free; the Evaluate page runs it in a Job.

How it works:

* the project is written as a YOLO dataset to ``<project>/.cache/evaluate/dataset`` (images are
  hard-linked, so this is cheap, and it always reflects the project as it is now: labels fixed
  since training count) and the engine's ``YOLO(model).val(split="val")`` scores it;
* the model then predicts on the same val images (the project's own files, so each outcome
  keeps its image id), for the pictures of the images behind a cell:

  - **classify**: the image's class (row) against the top-1 prediction (column) is its cell,
    and the confusion matrix is made of these cells;
  - **segment / pose**: the confusion matrix is the engine validator's
    (``engine.val.detection_confusion``: predictions above its confidence paired class-blind
    with ground-truth objects above its IoU, highest first), and each image's cells are the
    validator's per-image matches of that image, so clicking a cell lists exactly the images
    counted in it. The boxes drawn on the images are the predictions at ``CONFIDENCE``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from engine.cancel import NEVER, CancelToken
from engine.errors import DatasetError, ModelConfigError
from engine.tasks import get_task
from engine.val.detection_confusion import ImageMatches

from ..state.models import Image
from .dataset_export import YAML_NAME, export_yolo
from .image_files import Progress, no_progress
from .image_queries import Shape, load_rows
from .job_progress import ProgressReporter
from .projects import Project
from .wording import plural

CONFIDENCE = 0.25
RECALL_AXIS = np.linspace(0.0, 1.0, 101)
_PREDICT_BATCH = 16


@dataclass(frozen=True)
class ImageOutcome:
    """One val image: its ground-truth and predicted classes and the confusion cells it adds
    to (``(true, predicted)``; index ``len(names)`` is background; for segment and pose the
    engine validator's matches of the image)."""

    image_id: int
    path: Path
    truth: tuple[int, ...]
    predicted: tuple[int, ...]
    cells: tuple[tuple[int, int], ...]
    boxes: tuple[tuple[float, float, float, float, int, float], ...] = ()
    """Predictions as normalised ``x1, y1, x2, y2, class, confidence`` (segment / pose)."""
    top: tuple[tuple[int, float], ...] = ()
    """The best classes and their probability (classify)."""


@dataclass(frozen=True)
class PrCurves:
    """Precision against recall per class: ``precision[i]`` belongs to ``classes[i]``."""

    recall: np.ndarray
    precision: np.ndarray
    classes: tuple[int, ...]
    ap50: tuple[float, ...]

    @property
    def mean(self) -> np.ndarray:
        """The mean curve over the classes."""
        return self.precision.mean(0) if len(self.classes) else np.zeros_like(self.recall)


@dataclass
class EvaluationResult:
    """What the Evaluate page shows (see the module docstring for how it is made)."""

    task: str
    model_path: Path
    names: list[str]
    columns: list[str]
    overall: dict[str, float | None]
    per_class: list[dict[str, Any]]
    confusion: np.ndarray
    curves: dict[str, PrCurves]
    outcomes: list[ImageOutcome]
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    source: str = ""
    """What made it: ``evaluated`` (this page) or ``final validation of training``."""
    run_name: str | None = None
    made_at: str = ""
    """When it was made (ISO time, UTC); set when it is saved."""
    note: str = ""
    """How the confusion matrix was made, when not as the module docstring says."""
    epoch: int | None = None
    """The epoch of the checkpoint, when known (a run's best.pt)."""

    @property
    def has_outcomes(self) -> bool:
        """Whether the images behind the cells are known (not for a final validation)."""
        return bool(self.outcomes)

    @property
    def has_background(self) -> bool:
        """Detection tasks have a background row and column."""
        return self.confusion.shape[0] == len(self.names) + 1

    @property
    def labels(self) -> list[str]:
        """Axis labels of the confusion matrix."""
        return [*self.names, "background"] if self.has_background else list(self.names)

    def images_in_cell(self, true: int, predicted: int) -> list[ImageOutcome]:
        """The images counted in confusion cell (``true``, ``predicted``)."""
        return [o for o in self.outcomes if (true, predicted) in o.cells]

    def images_of_class(self, index: int) -> list[ImageOutcome]:
        """The images where class ``index`` is in the ground truth or the predictions."""
        return [o for o in self.outcomes if index in o.truth or index in o.predicted]


# -- the use-case --------------------------------------------------------------------------------


def evaluation_folder(project: Project) -> Path:
    """Where the val dataset is written for evaluation (a cache: made again each time)."""
    return project.cache_folder / "evaluate" / "dataset"


def evaluate(project: Project, model_path: str | Path, *, imgsz: int | None = None,
             progress: Progress = no_progress, cancel: CancelToken = NEVER) -> EvaluationResult:
    """Score ``model_path`` (a checkpoint or an export) on the project's val split."""
    from engine.api import YOLO

    started = time.monotonic()
    path = Path(model_path)
    progress(0, 0, f"loading {path.name}")
    model = YOLO(path, progress=lambda _event: None, isolated=True)  # a crash: an error
    names = [c.name for c in project.classes()]
    check_model(model.task, len(model.names), project.task, len(names), path)
    progress(0, 0, "writing the val split")
    folder = evaluation_folder(project)
    export_yolo(project, folder, cancel=cancel)
    images = _val_images(project)
    if not images:
        raise DatasetError("has no images in the val split; assign some images to val on the "
                           "Datasets page (Split…) and evaluate again", path=project.folder)
    data = folder if project.task == "classify" else folder / YAML_NAME
    overrides = {"imgsz": imgsz} if imgsz else {}
    reporter = ProgressReporter(progress, "validating")
    metrics = model.val(data=str(data), split="val", plots=False, save=False, **overrides,
                        progress=reporter, cancel=cancel)
    size = imgsz or int(_val_size(model))
    outcomes, probabilities = _predict(model, project, images, size, progress, cancel)
    if project.task == "classify":
        result = _classify_result(metrics, names, outcomes, probabilities)
    else:
        cells = engine_cells(metrics.confusion_matrix.images, images)
        outcomes = [replace(o, cells=cells.get(o.image_id, ())) for o in outcomes]
        result = _detect_result(metrics, names, outcomes, project.task)
    result.task, result.model_path = project.task, path
    result.warnings, result.seconds = reporter.messages, time.monotonic() - started
    return result


def check_model(model_task: str, model_classes: int, project_task: str, project_classes: int,
                path: Path) -> None:
    """A model of another task, or with another number of classes, cannot score this project."""
    if model_task != project_task:
        raise ModelConfigError(f"is a {model_task} model, but this is a {project_task} project; "
                               f"choose a {project_task} model", path=path)
    if model_classes != project_classes:
        raise ModelConfigError(f"predicts {plural(model_classes, 'class')}, but the project has "
                               f"{project_classes}; choose a model trained on this project",
                               path=path)


def _val_size(model: Any) -> int:
    remembered = (model.checkpoint_meta.get("train_args") or {}).get("imgsz")
    if isinstance(remembered, list | tuple):
        remembered = max(remembered)
    return int(remembered or get_task(model.task).imgsz)


def _val_images(project: Project) -> list[tuple[int, Path, tuple[Shape, ...]]]:
    with project.database.session() as session:
        ids = list(session.scalars(select(Image.id).where(Image.split == "val",
                                                          Image.deleted_at.is_(None))
                                   .order_by(Image.id)))
        rows = load_rows(session, ids)
    return [(row.id, project.resolve(row.path), row.shapes) for row in rows
            if project.resolve(row.path).is_file()]


# -- per-image outcomes --------------------------------------------------------------------------


def _predict(model: Any, project: Project, images: Sequence[tuple[int, Path, tuple[Shape, ...]]],
             size: int, progress: Progress, cancel: CancelToken
             ) -> tuple[list[ImageOutcome], list[np.ndarray]]:
    outcomes: list[ImageOutcome] = []
    probabilities: list[np.ndarray] = []
    for start in range(0, len(images), _PREDICT_BATCH):
        cancel.raise_if_cancelled()
        progress(start, len(images), f"matching predictions: {start} of {len(images)} images")
        chunk = images[start:start + _PREDICT_BATCH]
        results = model.predict([str(p) for _i, p, _s in chunk], imgsz=size, conf=CONFIDENCE,
                                progress=lambda _event: None, cancel=cancel)
        by_path = {str(Path(r.path)): r for r in results}
        for image_id, path, shapes in chunk:
            result = by_path.get(str(path))
            if result is None:
                continue
            if result.probs is not None:
                probs = np.asarray(result.probs.data, dtype=np.float64)
                probabilities.append(probs)
                outcomes.append(classify_outcome(image_id, path, shapes, probs))
            else:
                outcomes.append(detect_outcome(image_id, path, shapes, result))
    progress(len(images), len(images), "predictions matched")
    return outcomes, probabilities


def classify_outcome(image_id: int, path: Path, shapes: Sequence[Shape],
                     probs: np.ndarray) -> ImageOutcome:
    """The image's class against the top-1 prediction."""
    order = np.argsort(-probs, kind="stable")[:5]
    truth = tuple(s.class_index for s in shapes if s.kind == "class")[:1]
    top1 = int(order[0])
    return ImageOutcome(image_id, path, truth, (top1,),
                        ((truth[0], top1),) if truth else (),
                        top=tuple((int(i), float(probs[i])) for i in order))


def truth_classes(shapes: Sequence[Shape]) -> tuple[int, ...]:
    """The classes of the ground-truth objects (polygons and pose boxes)."""
    return tuple(shape.class_index for shape in shapes
                 if (shape.box and len(shape.box) == 4)
                 or (shape.polygon and len(shape.polygon) >= 6))


def detect_outcome(image_id: int, path: Path, shapes: Sequence[Shape],
                   result: Any) -> ImageOutcome:
    """One image's ground truth and predictions; its cells come from the engine (see
    :func:`engine_cells`)."""
    if result.boxes is not None and len(result.boxes):
        data = np.asarray(result.boxes.xyxyn, np.float64).reshape(-1, 4)
        conf = np.asarray(result.boxes.conf, np.float64).reshape(-1)
        classes = np.asarray(result.boxes.cls, np.float64).reshape(-1).astype(np.int64)
        keep = conf >= CONFIDENCE
        data, conf, classes = data[keep], conf[keep], classes[keep]
    else:
        data, conf, classes = np.zeros((0, 4)), np.zeros(0), np.zeros(0, np.int64)
    boxes = tuple((*map(float, b), int(c), float(s)) for b, c, s in zip(data, classes, conf,
                                                                          strict=True))
    return ImageOutcome(image_id, path, truth_classes(shapes),
                        tuple(int(c) for c in classes), (), boxes)


def engine_cells(matches: Sequence[ImageMatches],
                 images: Sequence[tuple[int, Path, Any]]) -> dict[int, tuple[tuple[int, int], ...]]:
    """The engine validator's cells of each val image, by image id. The validator names an
    image by its file in the val dataset written for it: a hard link to the project's file
    (the same file), or a copy under the same name when the disk cannot link."""
    by_file: dict[tuple[int, int], int] = {}
    by_name: dict[str, list[int]] = {}
    for image_id, path, _shapes in images:
        with suppress(OSError):
            status = path.stat()
            by_file[(status.st_dev, status.st_ino)] = image_id
        by_name.setdefault(path.name, []).append(image_id)
    cells: dict[int, tuple[tuple[int, int], ...]] = {}
    for match in matches:
        if match.image is None:
            continue
        try:
            status = Path(match.image).stat()
            image_id = by_file.get((status.st_dev, status.st_ino))
        except OSError:
            image_id = None
        named = by_name.get(Path(match.image).name, [])
        if image_id is None and len(named) == 1:
            image_id = named[0]
        if image_id is not None:
            cells[image_id] = match.cells
    return cells


def confusion_from(outcomes: Sequence[ImageOutcome], size: int) -> np.ndarray:
    """Counts of every cell over the outcomes: rows true, columns predicted."""
    matrix = np.zeros((size, size), np.int64)
    for outcome in outcomes:
        for row, column in outcome.cells:
            matrix[row, column] += 1
    return matrix


# -- tables and curves ---------------------------------------------------------------------------


def classify_columns(num_classes: int) -> list[str]:
    """The classify table's columns: no Top-5 with 5 classes or fewer (it is always 1)."""
    return ["Images", "Top-1", "Top-5"] if num_classes > 5 else ["Images", "Top-1"]


def _classify_result(metrics: Any, names: list[str], outcomes: list[ImageOutcome],
                     probabilities: list[np.ndarray]) -> EvaluationResult:
    counts, accuracy = metrics.class_counts, metrics.per_class_accuracy
    per_class = []
    for index, name in enumerate(names):
        mine = [o for o in outcomes if o.truth[:1] == (index,)]
        top5 = sum(index in [c for c, _p in o.top] for o in mine) / len(mine) if mine else None
        top1 = accuracy.get(metrics.names.get(index, name))
        per_class.append({"index": index, "name": name,
                          "Images": counts.get(metrics.names.get(index, name), 0),
                          "Top-1": None if top1 is None or np.isnan(top1) else top1,
                          "Top-5": top5})
    overall = {"Images": metrics.seen, "Top-1": metrics.top1, "Top-5": metrics.top5}
    curves = {"Classes": classify_pr_curves(outcomes, probabilities, len(names))}
    return EvaluationResult("classify", Path(), names, classify_columns(len(names)), overall,
                            per_class, confusion_from(outcomes, len(names)), curves, outcomes)


def classify_pr_curves(outcomes: Sequence[ImageOutcome], probabilities: Sequence[np.ndarray],
                       num_classes: int) -> PrCurves:
    """One-vs-rest precision/recall of each class with images, from the predicted probabilities."""
    labelled = [(o.truth[0], p) for o, p in zip(outcomes, probabilities, strict=True) if o.truth]
    if not labelled:
        return PrCurves(RECALL_AXIS, np.zeros((0, len(RECALL_AXIS))), (), ())
    truth = np.array([t for t, _p in labelled])
    scores = np.stack([p for _t, p in labelled])
    curves, classes, aps = [], [], []
    for index in range(num_classes):
        positives = truth == index
        if not positives.any():
            continue
        order = np.argsort(-scores[:, index], kind="stable")
        hits = positives[order].astype(np.float64)
        tp = np.cumsum(hits)
        precision = tp / np.arange(1, len(hits) + 1)
        recall = tp / positives.sum()
        envelope = np.maximum.accumulate(precision[::-1])[::-1]
        where = np.searchsorted(recall, RECALL_AXIS, side="left")
        curve = np.where(where < len(envelope), envelope[np.minimum(where, len(envelope) - 1)],
                         0.0)
        curves.append(curve)
        classes.append(index)
        aps.append(float(curve.mean()))
    return PrCurves(RECALL_AXIS, np.stack(curves), tuple(classes), tuple(aps))


_MEASURES = (("mAP50-95", "mAP50-95"), ("mAP50", "mAP50"), ("P", "precision"),
             ("R", "recall"))


def _detect_result(metrics: Any, names: list[str], outcomes: list[ImageOutcome],
                   task: str) -> EvaluationResult:
    parts = metrics.parts  # box first, then seg or pose
    titles = {part.name: part.title for part in metrics.PARTS}
    columns = ["Images", "Instances"]
    columns += [f"{titles[p]} {short}" for p in parts for short, _key in _MEASURES]
    overall: dict[str, float | None] = {"Images": metrics.seen,
                                        "Instances": int(metrics.instances_per_class.sum())}
    for part, metric in parts.items():
        precision, recall, map50, map5095 = metric.mean_results()
        values = {"mAP50-95": map5095, "mAP50": map50, "precision": precision, "recall": recall}
        for short, key in _MEASURES:
            overall[f"{titles[part]} {short}"] = values[key]
    details = metrics.to_dict()["per_class"]
    per_class = []
    for index, name in enumerate(names):
        entry = details.get(metrics.names.get(index, name), {})
        row: dict[str, Any] = {"index": index, "name": name, "Images": entry.get("images", 0),
                               "Instances": entry.get("instances", 0)}
        for part in parts:
            values = entry.get(part) or {}
            for short, key in _MEASURES:
                row[f"{titles[part]} {short}"] = values.get(key)
        per_class.append(row)
    curves = {}
    for part, metric in parts.items():
        _x_label, recall, precision, _y = metric.curves()["PR"]
        curves[titles[part]] = PrCurves(np.asarray(recall), np.asarray(precision),
                                        tuple(int(i) for i in metric.ap_class_index),
                                        tuple(float(v) for v in metric.ap50))
    confusion = np.array(metrics.confusion_matrix.matrix, np.int64)  # the engine's, as it is
    return EvaluationResult(task, Path(), names, columns, overall, per_class,
                            confusion, curves, outcomes)
