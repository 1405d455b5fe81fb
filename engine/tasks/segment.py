"""Instance segmentation: boxes and polygon masks (yolov8*-seg), scored by mask mAP50-95."""

from __future__ import annotations

from pathlib import Path

from .base import Task, detections_rule, map_fitness, raw_forward
from .registry import register


def _hooks(progress):
    from ..train.segment import SegmentTask

    return SegmentTask(progress)


def _validate(*args, **kwargs):
    from ..val.detect_run import run_detect_val
    from ..val.segment_validator import segment_scorer

    return run_detect_val("segment", *args, scorer=segment_scorer, **kwargs)


def _steps(backend, imgsz, options):
    from ..predict.task_steps import SegmentSteps

    return SegmentSteps(backend, imgsz, options)


def _samples():
    from ..export.samples import SampleRule, letterboxed, yaml_images

    return SampleRule(yaml_images("segment"), letterboxed)


def _sample_data(folder: Path) -> Path:
    from ..data.shape_samples import make_shapes_dataset

    return make_shapes_dataset(folder / "shapes", size=64, train=8, val=4)


SEGMENT = register(
    Task(
        name="segment",
        title="segmentation",
        suffix="-seg",
        imgsz=640,
        key_metric="metrics/mAP50-95(M)",
        metric_label="mask mAP50-95",
        metric_columns=("metrics/mAP50-95(B)", "metrics/mAP50-95(M)"),
        fitness=map_fitness("metrics/mAP50-95(B)", "metrics/mAP50-95(M)"),
        annotation_kind="polygon",
        pretrained_on=("COCO", 80),
        train_seconds_per_pixel=1.05e-6,  # the demo: 1.3 s an epoch at 160 px, 48 images
        hooks=_hooks,
        validate=_validate,
        val_forward=raw_forward,
        steps=_steps,
        parity=detections_rule,
        samples=_samples,
        sample_data=_sample_data,
    )
)
