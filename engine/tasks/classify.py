"""Image classification: one class per image (yolov8*-cls), scored by top-1 accuracy."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .base import Forward, Task
from .registry import register


def _hooks(progress):
    from ..train.classify import ClassifyTask

    return ClassifyTask(progress)


def _validate(*args, **kwargs):
    from ..val.classify_run import run_classify_val

    return run_classify_val(*args, **kwargs)


def _val_forward(run: Forward) -> Forward:
    """Classification's validation takes (probabilities, logits or None); an export, and a
    model outside training, give probabilities alone."""

    def forward(images):
        out = run(images)
        return out if isinstance(out, tuple) else (out, None)

    return forward


def _steps(backend, imgsz, options):
    from ..predict.task_steps import ClassifySteps

    return ClassifySteps(backend, imgsz, options)


def _parity():
    from ..export.parity import TOP1

    return TOP1


def _samples():
    from ..export.samples import SampleRule, center_cropped, folder_images

    return SampleRule(folder_images, center_cropped)


def _sample_data(folder: Path) -> Path:
    from ..data.samples import make_digits_folder

    return make_digits_folder(folder / "digits", limit=160)


def _fitness(metrics: Mapping[str, float]) -> float:
    """The mean of top-1 and top-5 accuracy."""
    return (metrics["metrics/accuracy_top1"] + metrics["metrics/accuracy_top5"]) / 2


CLASSIFY = register(
    Task(
        name="classify",
        title="classification",
        suffix="-cls",
        imgsz=224,  # classifiers' native size, not detection's 640
        key_metric="metrics/accuracy_top1",
        metric_label="top1",
        metric_columns=("metrics/accuracy_top1",),
        fitness=_fitness,
        annotation_kind="class",
        pretrained_on=("ImageNet", 1000),
        train_seconds_per_pixel=8.5e-7,  # the demo: 0.25 s an epoch at 64 px, 72 images
        hooks=_hooks,
        validate=_validate,
        val_forward=_val_forward,
        steps=_steps,
        parity=_parity,
        samples=_samples,
        sample_data=_sample_data,
        any_imgsz=True,  # global pooling: any size, no stride multiple
    )
)
