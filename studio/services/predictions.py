"""Predictions for the Predict page: load a model, run it over a source, keep the RAW output.

The model runs once per frame with a permissive threshold (``RAW_CONF``, ``RAW_IOU``,
``RAW_MAX_DET``) and every candidate is kept (normalised boxes, scores, classes, mask
outlines, keypoints, class probabilities). The confidence and IoU sliders then re-filter
those cached candidates with ``filter_detections``: a confidence cut, then greedy class-aware
NMS (``engine.predict.nms.nms``) at the slider's IoU — the model is not run again.
Qt-free: the page calls ``predict_frames`` inside a Job.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from engine.api import YOLO
from engine.cancel import NEVER, CancelToken
from engine.errors import EngineError
from engine.events import RunStarted
from engine.predict.nms import nms
from engine.val.detection_metrics import box_iou

from .image_queries import Shape
from .job_progress import ProgressReporter, say_compiling

log = logging.getLogger(__name__)

RAW_CONF = 0.001
RAW_IOU = 0.95
RAW_MAX_DET = 300
DISPLAY_SIDE = 1280
"""The longest side of the display copy kept per frame (JPEG bytes)."""
MAX_FRAMES = 1000
"""At most this many frames of a video or camera are kept (memory)."""
KEYPOINT_MIN_CONF = 0.5
MATCH_IOU = 0.5


class ModelMismatch(EngineError):
    """A model that does not fit the project (wrong task, classes or keypoints)."""


@dataclass(frozen=True)
class ModelInfo:
    """What the page shows of a loaded model."""

    path: Path
    task: str
    names: dict[int, str]
    imgsz: int
    skeleton: tuple[tuple[int, int], ...] = ()
    warnings: tuple[str, ...] = ()
    """What the user should know about the file (an export another tool wrote can run code)."""


def open_model(path: str | Path) -> tuple[YOLO, ModelInfo]:
    """Load a checkpoint or export (engine errors, e.g. an export this machine can't run,
    propagate with the engine's message). An export's runtime runs in a child process, so
    that its crash is an error here, not the end of the app (engine/backends/isolated.py)."""
    reporter = ProgressReporter()  # keeps the warnings
    model = YOLO(str(path), progress=reporter, isolated=True)
    args = model.checkpoint_meta.get("train_args") or {}
    imgsz = args.get("imgsz", 640)
    imgsz = int(max(imgsz) if isinstance(imgsz, list | tuple) else imgsz)
    layout: dict[str, Any] = {}
    if model.model is not None:
        layout = dict(model.model.keypoint_layout or {})
    elif model.exported is not None:
        layout = dict(getattr(model.exported, "keypoint_layout", {}) or {})
    skeleton = tuple((int(a), int(b)) for a, b in layout.get("skeleton") or ())
    return model, ModelInfo(Path(path), model.task, dict(model.names), imgsz, skeleton,
                            tuple(reporter.messages))


def check_task(info: ModelInfo, project_task: str) -> None:
    """Raise ``ModelMismatch`` when the model's task is not the project's."""
    if info.task != project_task:
        raise ModelMismatch(
            f"is a {info.task} model, but this is a {project_task} project. Choose a "
            f"{project_task} model (a run of this project, or a {project_task} checkpoint "
            "or export)", path=info.path)


def _ignore(_event: Any) -> None:
    """A reporter that drops the engine's events."""


@dataclass
class FramePrediction:
    """One image or video frame with the model's raw candidates (normalised 0..1 geometry).

    ``boxes`` xyxy ``[n, 4]``; ``contours[i]`` the outline(s) of mask ``i`` (each ``[k, 2]``);
    ``keypoints`` ``[n, K, 3]`` (x, y, confidence); ``probs`` the class scores (classify).
    ``jpeg`` is a display copy (longest side ``DISPLAY_SIDE``).
    """

    key: str
    source: str
    width: int
    height: int
    jpeg: bytes
    frame: int | None = None
    image_id: int | None = None
    boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    classes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    contours: list[list[np.ndarray]] | None = None
    keypoints: np.ndarray | None = None
    probs: np.ndarray | None = None

    @property
    def label(self) -> str:
        name = Path(self.source).name
        return name if self.frame is None else f"{name} · frame {self.frame}"


@dataclass
class PredictionRun:
    """What a run produced: the frames in order and the inputs it skipped (with why)."""

    frames: list[FramePrediction] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    runtime: str = ""
    """What ran the model: ``OpenVINO``, ``ONNX Runtime``, ``PyTorch`` ... (a checkpoint runs on
    the fastest runtime that matches it, engine/api/runtime_cache.py)."""
    notes: list[str] = field(default_factory=list)
    """What the user should know about how it ran (a runtime that fell back to PyTorch)."""


def frame_from_result(result: Any, *, image_id: int | None = None) -> FramePrediction:
    """Turn an engine ``Results`` into a cached ``FramePrediction`` (runs off the GUI thread)."""
    height, width = result.orig_shape
    scale = min(1.0, DISPLAY_SIDE / max(height, width))
    image = result.orig_img
    if scale < 1:
        image = cv2.resize(image, (round(width * scale), round(height * scale)),
                           interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    key = f"{result.path}#{result.frame}" if result.frame is not None else result.path
    frame = FramePrediction(key, result.path, width, height, encoded.tobytes() if ok else b"",
                            result.frame, image_id)
    if result.probs is not None:
        frame.probs = _numpy(result.probs.data).astype(np.float32)
        return frame
    if result.boxes is None:
        return frame
    rows = _numpy(result.boxes.data).astype(np.float32)
    frame.boxes = rows[:, :4] / np.array([width, height, width, height], np.float32)
    frame.scores, frame.classes = rows[:, 4], rows[:, 5].astype(np.int64)
    if result.masks is not None:
        frame.contours = [mask_outlines(mask) for mask in _numpy(result.masks.data) > 0.5]
    if result.keypoints is not None:
        points = _numpy(result.keypoints.data).astype(np.float32).copy()
        points[..., 0] /= width
        points[..., 1] /= height
        if points.shape[-1] == 2:
            points = np.concatenate([points, np.ones(points.shape[:2] + (1,), np.float32)], -1)
        frame.keypoints = points
    return frame


def mask_outlines(mask: np.ndarray) -> list[np.ndarray]:
    """Every outer contour and hole of a boolean mask, normalised to 0..1 (``[k, 2]`` each)."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_CCOMP,
                                   cv2.CHAIN_APPROX_SIMPLE)
    size = np.array([mask.shape[1], mask.shape[0]], np.float32)
    return [c.reshape(-1, 2).astype(np.float32) / size for c in contours if len(c) >= 3]


def _numpy(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def predict_frames(model: YOLO, source: Any, *, imgsz: int, image_ids: dict[str, int] | None
                   = None, on_frame: Callable[[FramePrediction], None] | None = None,
                   progress: Callable[[int, int, str], None] | None = None,
                   cancel: CancelToken = NEVER, total: int = 0,
                   max_frames: int = MAX_FRAMES) -> PredictionRun:
    """Run ``model`` over ``source`` (paths, a folder, a video, a camera index) keeping raw
    candidates. Unreadable inputs are skipped and listed; ``on_frame`` gets each frame."""
    run = PredictionRun()
    started: list[int] = []  # how many warnings came before the run's first input

    def mark_start(event: Any) -> None:
        if isinstance(event, RunStarted) and event.mode == "predict" and not started:
            started.append(len(report.warnings))
        if progress is not None:
            say_compiling(event, progress)  # a checkpoint's first run compiles it once

    # keeps the warnings: before the run, about the model; after, the inputs skipped, with why
    report = ProgressReporter(forward=mark_start)
    stream = model.predict(source, stream=True, conf=RAW_CONF, iou=RAW_IOU,
                           max_det=RAW_MAX_DET, imgsz=imgsz, progress=report, cancel=cancel)
    try:
        for result in stream:
            image_id = (image_ids or {}).get(str(result.path))
            frame = frame_from_result(result, image_id=image_id)
            run.frames.append(frame)
            if on_frame is not None:
                on_frame(frame)
            if progress is not None:
                progress(len(run.frames), total, frame.label)
            if len(run.frames) >= max_frames or cancel.cancelled:
                break
    finally:
        stream.close()
    before = started[0] if started else len(report.warnings)
    run.notes = [warning.message for warning in report.warnings[:before]]
    run.skipped = [(warning.path or "", warning.message) for warning in report.warnings[before:]]
    run.runtime = str(getattr(model, "runtime", ""))
    return run


def filter_detections(frame: FramePrediction, conf: float, iou: float,
                      visible: Iterable[int] | None = None) -> np.ndarray:
    """Indices of the cached candidates shown at ``conf`` / ``iou``: a confidence cut, then
    class-aware greedy NMS on the survivors; best first. ``visible`` limits the classes."""
    keep = np.flatnonzero(frame.scores >= conf)
    if visible is not None:
        allowed = np.array(sorted(set(visible)), np.int64)
        keep = keep[np.isin(frame.classes[keep], allowed)]
    if len(keep) == 0:
        return keep
    boxes = torch.from_numpy(frame.boxes[keep]).float()
    offsets = torch.from_numpy(frame.classes[keep]).float()[:, None] * 4.0  # classes apart
    kept = nms(boxes + offsets, torch.from_numpy(frame.scores[keep]).float(), float(iou))
    return keep[kept.numpy()]


def top_classes(probs: np.ndarray, k: int = 5) -> list[tuple[int, float]]:
    """The ``k`` best ``(class, score)`` pairs, best first."""
    order = np.argsort(-probs, kind="stable")[:k]
    return [(int(i), float(probs[i])) for i in order]


@dataclass(frozen=True)
class Match:
    """Predictions matched to ground truth: true positives, false positives, misses."""

    matched: dict[int, int]  # prediction index -> ground-truth index
    false_positives: tuple[int, ...]
    missed: tuple[int, ...]


def shape_box(shape: Shape) -> tuple[float, float, float, float] | None:
    """A ground-truth shape's box (xyxy, normalised): the pose box or the polygon's extent."""
    if shape.box and len(shape.box) == 4:
        cx, cy, w, h = shape.box
        return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    if shape.polygon and len(shape.polygon) >= 6:
        xs, ys = shape.polygon[0::2], shape.polygon[1::2]
        return min(xs), min(ys), max(xs), max(ys)
    return None


def match_ground_truth(frame: FramePrediction, shown: Sequence[int], truth: Sequence[Shape],
                       threshold: float = MATCH_IOU) -> Match:
    """Greedy matching, best prediction first: same class and box IoU >= ``threshold``."""
    gt = [(i, shape.class_index, shape_box(shape)) for i, shape in enumerate(truth)]
    gt = [(i, c, b) for i, c, b in gt if b is not None]
    free = {i for i, _, _ in gt}
    matched: dict[int, int] = {}
    order = sorted(shown, key=lambda i: -float(frame.scores[i]))
    overlaps = box_iou([frame.boxes[i] for i in order], [box for _, _, box in gt])
    for row, index in enumerate(order):
        best, best_iou = None, threshold
        for column, (gt_index, class_index, _box) in enumerate(gt):
            if gt_index not in free or class_index != int(frame.classes[index]):
                continue
            if overlaps[row, column] >= best_iou:
                best, best_iou = gt_index, float(overlaps[row, column])
        if best is not None:
            matched[int(index)] = best
            free.discard(best)
    fps = tuple(int(i) for i in shown if int(i) not in matched)
    return Match(matched, fps, tuple(sorted(free)))
