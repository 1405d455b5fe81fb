"""Pre-labelling: a trained model's predictions become draft annotations, and a review queue
orders the images by how unsure the model was.

Drafts are ordinary annotation rows with ``draft=True`` and ``score`` set. They never replace
the user's labels: an image's earlier drafts go to the trash and the new ones are appended
after its own annotations (classify: an image that has a class already is left alone).
Segment → the mask's largest contour, simplified; pose → box and keypoints; classify → class.
Qt-free: the Predict page runs ``run_prelabel`` in a Job.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sqlalchemy import select

from engine.cancel import NEVER, CancelToken
from engine.errors import EngineError
from engine.utils.atomic import atomic_writer

from ..state import Annotation, Database, Image
from ..state.models import CLASS, KEYPOINTS, POLYGON, annotation_kind, utc_now
from .annotations import AnnotationData
from .job_progress import say_compiling
from .predictions import KEYPOINT_MIN_CONF, ModelMismatch, check_task, open_model
from .projects import ClassInfo, Project
from .wording import plural

DEFAULT_CONF = 0.25
DEFAULT_IOU = 0.7
SIMPLIFY = 0.004
"""Polygon simplification: Douglas-Peucker tolerance as a fraction of the contour's length."""
UNCERTAINTY_FILE = "prelabel_uncertainty.json"


@dataclass
class PrelabelReport:
    """What a pre-label run did: images looked at, drafts written, inputs skipped (why)."""

    images: int = 0
    drafts: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


def class_map(model_names: dict[int, str], classes: Sequence[ClassInfo]) -> dict[int, int]:
    """Model class → project class: by name when every model name is a project class, else
    by index; ``ModelMismatch`` when the model knows more classes than the project."""
    by_name = {info.name: info.index for info in classes}
    if model_names and all(name in by_name for name in model_names.values()):
        return {index: by_name[name] for index, name in model_names.items()}
    if len(model_names) > len(classes):
        raise ModelMismatch(f"knows {plural(len(model_names), 'class')}, but the project has "
                            f"{len(classes)}. Add the classes on the Datasets page, or choose "
                            "a model trained on this project")
    return {index: classes[index].index for index in model_names}


def prelabel_targets(database: Database, *, only_unlabelled: bool = True) -> list[int]:
    """Images to pre-label: every live image, or only those without labels of the user's
    (earlier drafts don't count as labels)."""
    with database.session() as session:
        ids = list(session.scalars(select(Image.id).where(Image.deleted_at.is_(None))
                                   .order_by(Image.id)))
        if not only_unlabelled:
            return ids
        labelled = set(session.scalars(select(Annotation.image_id).where(
            Annotation.deleted_at.is_(None), Annotation.draft.is_(False))))
    return [i for i in ids if i not in labelled]


def polygon_from_mask(mask: np.ndarray) -> tuple[float, ...] | None:
    """The largest outer contour of a mask, simplified, normalised ``(x1, y1, x2, y2, ...)``."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    largest = max(contours, key=cv2.contourArea)
    epsilon = max(0.5, SIMPLIFY * cv2.arcLength(largest, True))
    points = cv2.approxPolyDP(largest, epsilon, True).reshape(-1, 2).astype(np.float64)
    if len(points) < 3:
        return None
    height, width = mask.shape
    points = (points + 0.5) / np.array([width, height])
    return tuple(float(v) for v in np.clip(points, 0.0, 1.0).reshape(-1))


def drafts_from_result(result: Any, task: str, mapping: dict[int, int],
                       keypoint_count: int = 0) -> tuple[list[AnnotationData], float | None]:
    """Draft annotations from one engine ``Results`` and the image's uncertainty (classify:
    the top-1 margin; others: the drafts' mean confidence; None without drafts)."""
    kind = annotation_kind(task)
    if kind == CLASS:
        probs = np.asarray(result.probs.data.cpu() if hasattr(result.probs.data, "cpu")
                           else result.probs.data, np.float64)
        order = np.argsort(-probs, kind="stable")
        top = int(order[0])
        margin = float(probs[top] - (probs[order[1]] if len(order) > 1 else 0.0))
        draft = AnnotationData(CLASS, mapping[top], draft=True, score=float(probs[top]))
        return [draft], margin
    if result.boxes is None or len(result.boxes) == 0:
        return [], None
    height, width = result.orig_shape
    rows = np.asarray(result.boxes.data.cpu(), np.float64)
    drafts: list[AnnotationData] = []
    if kind == POLYGON:
        masks = np.asarray(result.masks.data.cpu()) > 0.5
        for row, mask in zip(rows, masks, strict=True):
            polygon = polygon_from_mask(mask)
            if polygon is not None:
                drafts.append(AnnotationData(POLYGON, mapping[int(row[5])], polygon=polygon,
                                             draft=True, score=float(row[4])))
    elif kind == KEYPOINTS:
        points = np.asarray(result.keypoints.data.cpu(), np.float64)
        if keypoint_count and points.shape[1] != keypoint_count:
            raise ModelMismatch(f"predicts {points.shape[1]} keypoints, but the project's "
                                f"schema has {keypoint_count}. Choose a model trained on "
                                "this project")
        for row, person in zip(rows, points, strict=True):
            x0, y0, x1, y1 = np.clip(row[:4] / [width, height, width, height], 0, 1)
            values: list[float] = []
            for point in person:
                seen = point.shape[0] < 3 or point[2] >= KEYPOINT_MIN_CONF
                values += ([float(np.clip(point[0] / width, 0, 1)),
                            float(np.clip(point[1] / height, 0, 1)), 2.0] if seen
                           else [0.0, 0.0, 0.0])
            box = ((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)
            drafts.append(AnnotationData(KEYPOINTS, mapping[int(row[5])],
                                         box=tuple(float(v) for v in box),
                                         keypoints=tuple(values), draft=True,
                                         score=float(row[4])))
    scores = [d.score for d in drafts if d.score is not None]
    return drafts, (float(np.mean(scores)) if scores else None)


def write_drafts(database: Database, image_id: int, drafts: Sequence[AnnotationData],
                 keypoint_dims: int = 3) -> int:
    """Replace the image's live drafts by ``drafts`` (old ones to the trash), after its own
    labels; a classify image with a class of the user's keeps it. Returns rows written."""
    from .annotations import _fill_row  # the one place rows are filled from values

    now = utc_now()
    with database.session() as session:
        rows = list(session.scalars(select(Annotation).where(
            Annotation.image_id == image_id, Annotation.deleted_at.is_(None))))
        own = [row for row in rows if not row.draft]
        if any(row.kind == "class" for row in own):
            drafts = [d for d in drafts if d.kind != "class"]
        for row in rows:
            if row.draft:
                row.deleted_at = now
        position = max((row.position for row in own), default=-1) + 1
        for offset, data in enumerate(drafts):
            row = Annotation(image_id=image_id)
            _fill_row(row, data, position + offset, keypoint_dims, now)
            session.add(row)
    return len(drafts)


def run_prelabel(project: Project, model_path: str | Path, *, only_unlabelled: bool = True,
                 conf: float = DEFAULT_CONF, iou: float = DEFAULT_IOU,
                 progress: Callable[[int, int, str], None] | None = None,
                 cancel: CancelToken = NEVER) -> PrelabelReport:
    """Pre-label the project's images with ``model_path`` (off the GUI thread)."""
    model, info = open_model(model_path)
    task = project.task
    check_task(info, task)
    mapping = class_map(info.names, project.classes())
    schema = project.keypoint_schema()
    count, dims = (len(schema.names), schema.dims) if schema else (0, 3)
    database = project.database
    targets = prelabel_targets(database, only_unlabelled=only_unlabelled)
    report, margins = PrelabelReport(), load_uncertainty(project)
    for done, image_id in enumerate(targets):
        cancel.raise_if_cancelled()
        with database.session() as session:
            path = project.resolve(session.get(Image, image_id).path)
        try:
            results = model.predict(str(path), conf=conf, iou=iou, imgsz=info.imgsz,
                                    progress=_compiling(progress), cancel=cancel)
        except EngineError as exc:
            report.skipped.append((str(path), exc.message))
            continue
        report.images += 1
        for result in results:
            drafts, uncertainty = drafts_from_result(result, task, mapping, count)
            report.drafts += write_drafts(database, image_id, drafts, dims)
            if uncertainty is not None:
                margins[str(image_id)] = uncertainty
        if progress is not None:
            progress(done + 1, len(targets), path.name)
    save_uncertainty(project, margins)
    return report


def _compiling(progress: Callable[[int, int, str], None] | None) -> Callable[[Any], None]:
    """A reporter that only shows what the first prediction compiles (once per checkpoint)."""
    return _ignore if progress is None else lambda event: say_compiling(event, progress)


def _ignore(_event: Any) -> None:
    """A reporter that drops the engine's events."""


def load_uncertainty(project: Project) -> dict[str, float]:
    """Per image id, how sure the model was at the last pre-label (lower: less sure)."""
    path = project.cache_folder / UNCERTAINTY_FILE
    try:
        return {str(k): float(v) for k, v in json.loads(path.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def save_uncertainty(project: Project, values: dict[str, float]) -> None:
    with atomic_writer(project.cache_folder / UNCERTAINTY_FILE) as handle:
        handle.write(json.dumps(values).encode())


def review_queue(project: Project) -> list[int]:
    """Images that still hold drafts, most unsure first: classify by the top-1 margin of the
    last pre-label, detection by the mean confidence of the image's drafts."""
    known = load_uncertainty(project)
    scores: dict[int, list[float]] = {}
    with project.database.session() as session:
        rows = session.execute(select(Annotation.image_id, Annotation.score).join(Image).where(
            Annotation.draft.is_(True), Annotation.deleted_at.is_(None),
            Image.deleted_at.is_(None)))
        for image_id, score in rows:
            scores.setdefault(image_id, []).append(1.0 if score is None else float(score))
    if project.task == "classify":
        def key(image_id: int) -> tuple[float, int]:
            return known.get(str(image_id), min(scores[image_id])), image_id
    else:
        def key(image_id: int) -> tuple[float, int]:
            return float(np.mean(scores[image_id])), image_id
    return sorted(scores, key=key)
