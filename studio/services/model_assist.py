"""The project's own trained model as an annotation assist (issue 20, item 3).

Segment: a click takes the predicted mask under the cursor as a polygon. Pose: a drawn box takes
the predicted instance that overlaps it best (box and keypoints). Both come back as draft
annotations (``draft=True`` with the model's ``score``), exactly as pre-labelling makes them, so
the Annotate page accepts them with Enter or edits them.

The model is the newest run of the project with a checkpoint, opened as pre-labelling opens it
(``predictions.open_model``: an export's runtime runs in a child process). Each image is predicted
once; later clicks on it only look up the cached masks / instances. Qt-free: the Annotate page
calls ``ModelAssist.predict`` on a Job; one lock keeps two jobs from loading the model twice.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from engine.cancel import NEVER, CancelToken

from ..state.models import KEYPOINTS, POLYGON, annotation_kind
from .annotations import AnnotationData
from .predictions import check_task, open_model
from .prelabel import DEFAULT_CONF, DEFAULT_IOU, class_map, drafts_from_result, polygon_from_mask
from .projects import Project
from .runs import RunInfo, list_runs

CACHED_IMAGES = 8
MASK_SIDE = 1024
"""Cached masks are kept at most this many pixels a side (a 10,000² image's masks would be
100 MB each); a polygon from them is normalised, so it maps back to the full image."""
MIN_POSE_IOU = 0.3
"""A drawn box takes a predicted instance only when they overlap at least this much (IoU)."""
ASSIST_TASKS = ("segment", "pose")

Point = tuple[float, float]
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class AssistModel:
    """The run whose checkpoint serves as the assist."""

    run: str
    checkpoint: Path

    @property
    def label(self) -> str:
        """``train3 · best.pt``."""
        return f"{self.run} · {self.checkpoint.name}"


def assist_model(project: Project) -> tuple[AssistModel | None, str]:
    """The run the assist uses (the newest with a checkpoint) and a sentence for the user: which
    run, or why there is none."""
    if project.task not in ASSIST_TASKS:
        return None, f"The model assist is for segment and pose projects, not {project.task}"
    runs: list[RunInfo] = list_runs(project)  # newest first
    for run in runs:
        checkpoint = run.checkpoint()
        if checkpoint is not None:
            found = AssistModel(run.name, checkpoint)
            return found, f"Model assist: {found.label}"
    return None, ("No trained model yet: train a run on the Train page, then its model "
                  "suggests masks here" if project.task == "segment" else
                  "No trained model yet: train a run on the Train page, then its model "
                  "suggests keypoints here")


@dataclass
class ImagePrediction:
    """One image's predicted instances (normalised coordinates), asked by point or box."""

    task: str
    masks: np.ndarray | None = None  # [n, h, w] bool (segment)
    drafts: list[AnnotationData] = field(default_factory=list)  # one per instance
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))  # [n, 4] xyxy, 0..1

    def mask_at(self, point: Point) -> AnnotationData | None:
        """The highest-scoring instance whose mask holds ``point`` (normalised x, y), as a draft
        polygon of the part of the mask under the point; None when no mask is there."""
        if self.masks is None or not len(self.masks):
            return None
        height, width = self.masks.shape[1:]
        col = int(np.clip(point[0] * width, 0, width - 1))
        row = int(np.clip(point[1] * height, 0, height - 1))
        hits = [i for i in range(len(self.masks)) if self.masks[i, row, col]]
        if not hits:
            return None
        best = max(hits, key=lambda i: self.drafts[i].score or 0.0)
        # the connected part under the cursor: a mask in pieces gives the piece clicked
        _count, parts = cv2.connectedComponents(self.masks[best].astype(np.uint8))
        polygon = polygon_from_mask(parts == parts[row, col])
        if polygon is None:
            return None
        draft = self.drafts[best]
        return AnnotationData(POLYGON, draft.class_index, polygon=polygon, draft=True,
                              score=draft.score)

    def pose_in(self, box: Box) -> AnnotationData | None:
        """The instance whose box best overlaps ``box`` (normalised xyxy), IoU at least
        ``MIN_POSE_IOU``, as a draft with its box and keypoints; None when none does."""
        if not self.drafts or self.task != KEYPOINTS:
            return None
        overlaps = box_iou(np.asarray(box, np.float64), self.boxes)
        best = int(np.argmax(overlaps))
        return self.drafts[best] if overlaps[best] >= MIN_POSE_IOU else None


def smaller_masks(masks: np.ndarray, side: int = MASK_SIDE) -> np.ndarray:
    """``masks`` ``[n, h, w]`` shrunk (nearest) to at most ``side`` pixels a side."""
    height, width = masks.shape[1:]
    scale = side / max(height, width)
    if scale >= 1 or not len(masks):
        return masks
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.stack([cv2.resize(m.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
                     for m in masks]).astype(bool)


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box with each of ``boxes`` ``[n, 4]``."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-12)


class ModelAssist:
    """A trained model's predictions for the Annotate page, one prediction per image (cached).

    ``predict(path)`` runs off the GUI thread; the returned ``ImagePrediction`` answers
    ``mask_at`` / ``pose_in``. A checkpoint of another task or with more classes than the
    project raises ``ModelMismatch`` (its message names the file and what to do)."""

    def __init__(self, project: Project, checkpoint: str | Path, *, conf: float = DEFAULT_CONF,
                 iou: float = DEFAULT_IOU) -> None:
        self.task = project.task
        self.classes = project.classes()
        schema = project.keypoint_schema()
        self.keypoint_count = len(schema.names) if schema else 0
        self.checkpoint = Path(checkpoint)
        self.conf, self.iou = conf, iou
        self._model: Any = None
        self._imgsz = 640
        self._mapping: dict[int, int] = {}
        self._cache: OrderedDict[Path, ImagePrediction] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the checkpoint has been opened and fits the project."""
        return self._model is not None

    def cached(self, path: str | Path) -> ImagePrediction | None:
        """The prediction of ``path`` when already made (no model run)."""
        with self._lock:
            return self._cache.get(Path(path))

    def predict(self, path: str | Path, cancel: CancelToken = NEVER) -> ImagePrediction:
        """The model's instances on image ``path`` (made once per image, then cached)."""
        path = Path(path)
        with self._lock:
            known = self._cache.get(path)
            if known is not None:
                self._cache.move_to_end(path)
                return known
            model = self._load()
            results = model.predict(str(path), conf=self.conf, iou=self.iou, imgsz=self._imgsz,
                                    progress=_ignore, cancel=cancel)
            prediction = self._from_result(results[0]) if results else ImagePrediction(
                annotation_kind(self.task))
            self._cache[path] = prediction
            while len(self._cache) > CACHED_IMAGES:
                self._cache.popitem(last=False)
            return prediction

    def _load(self) -> Any:
        if self._model is None:
            model, info = open_model(self.checkpoint)
            check_task(info, self.task)
            self._mapping = class_map(info.names, self.classes)
            self._imgsz = info.imgsz
            self._model = model
        return self._model

    def _from_result(self, result: Any) -> ImagePrediction:
        kind = annotation_kind(self.task)
        prediction = ImagePrediction(kind)
        if result.boxes is None or len(result.boxes) == 0:
            return prediction
        rows = np.asarray(result.boxes.data.cpu(), np.float64)
        height, width = result.orig_shape
        prediction.boxes = np.clip(rows[:, :4] / [width, height, width, height], 0, 1)
        if kind == POLYGON:
            prediction.masks = smaller_masks(np.asarray(result.masks.data.cpu()) > 0.5)
            prediction.drafts = [AnnotationData(POLYGON, self._mapping[int(row[5])], draft=True,
                                                score=float(row[4])) for row in rows]
        else:
            prediction.drafts, _ = drafts_from_result(result, self.task, self._mapping,
                                                      self.keypoint_count)
        return prediction


def _ignore(_event: Any) -> None:
    """A reporter that drops the engine's events."""

