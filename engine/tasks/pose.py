"""Pose estimation: boxes and keypoints (yolov8*-pose, yolov8*-pose-p6), scored by keypoint
mAP50-95 (OKS)."""

from __future__ import annotations

from pathlib import Path

from .base import Task, detections_rule, map_fitness, raw_forward
from .registry import register


def _hooks(progress):
    from ..train.pose import PoseTask

    return PoseTask(progress)


def _validate(*args, **kwargs):
    from ..val.detect_run import run_detect_val
    from ..val.pose_validator import pose_scorer

    return run_detect_val("pose", *args, scorer=pose_scorer, **kwargs)


def _steps(backend, imgsz, options):
    from ..predict.task_steps import PoseSteps

    return PoseSteps(backend, imgsz, options)


def _samples():
    from ..export.samples import SampleRule, letterboxed, yaml_images

    return SampleRule(yaml_images("pose"), letterboxed)


def _sample_data(folder: Path) -> Path:
    from ..data.figure_samples import make_figures_dataset

    return make_figures_dataset(folder / "figures", size=64, train=8, val=4)


POSE = register(
    Task(
        name="pose",
        title="pose",
        suffix="-pose",
        imgsz=640,
        key_metric="metrics/mAP50-95(P)",
        metric_label="pose mAP50-95",
        metric_columns=("metrics/mAP50-95(B)", "metrics/mAP50-95(P)"),
        fitness=map_fitness("metrics/mAP50-95(B)", "metrics/mAP50-95(P)"),
        annotation_kind="pose",
        pretrained_on=("COCO", 80),
        train_seconds_per_pixel=7.5e-7,  # the demo: 0.9 s an epoch at 160 px, 48 images
        hooks=_hooks,
        validate=_validate,
        val_forward=raw_forward,
        steps=_steps,
        parity=detections_rule,
        samples=_samples,
        sample_data=_sample_data,
    )
)
