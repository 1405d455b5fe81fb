"""Object detection: boxes alone (yolov8*: the same models without a mask or keypoint head),
scored by box mAP50-95. Its datasets are YOLO detect datasets (one ``class cx cy w h`` row per
object)."""

from __future__ import annotations

from pathlib import Path

from .base import Task, detections_rule, map_fitness, raw_forward
from .registry import register


def _hooks(progress):
    from ..train.detect import DetectTask

    return DetectTask(progress)


def _validate(*args, **kwargs):
    from ..val.box_scorer import box_scorer
    from ..val.detect_run import run_detect_val

    return run_detect_val("detect", *args, scorer=box_scorer, **kwargs)


def _steps(backend, imgsz, options):
    from ..predict.task_steps import DetectSteps

    return DetectSteps(backend, imgsz, options)


def _samples():
    from ..export.samples import SampleRule, letterboxed, yaml_images

    return SampleRule(yaml_images("detect"), letterboxed)


def _sample_data(folder: Path) -> Path:
    """The generated shapes, each polygon label rewritten as its bounding box."""
    import numpy as np

    from ..data.shape_samples import make_shapes_dataset
    from ..formats.yolo_labels import box_line, parse_line, write_label_file

    data = make_shapes_dataset(folder / "boxes", size=64, train=8, val=4)
    for labels in sorted((data.parent / "labels").rglob("*.txt")):
        rows = [parse_line(line, "segment") for line in labels.read_text().splitlines()]
        lines = []
        for row in filter(None, rows):
            low, high = row.polygon.min(0), row.polygon.max(0)
            lines.append(box_line(row.class_id, np.concatenate(((low + high) / 2, high - low))))
        write_label_file(labels, lines)
    return data


DETECT = register(
    Task(
        name="detect",
        title="detection",
        suffix="",
        imgsz=640,
        key_metric="metrics/mAP50-95(B)",
        metric_label="box mAP50-95",
        metric_columns=("metrics/mAP50-95(B)",),
        fitness=map_fitness("metrics/mAP50-95(B)"),
        annotation_kind="box",
        pretrained_on=("COCO", 80),
        train_seconds_per_pixel=7.5e-7,  # as pose
        hooks=_hooks,
        validate=_validate,
        val_forward=raw_forward,
        steps=_steps,
        parity=detections_rule,
        samples=_samples,
        sample_data=_sample_data,
    )
)
