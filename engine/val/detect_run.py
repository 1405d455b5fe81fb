"""``yolo detect|segment|pose val``: score a model (checkpoint or export) on a dataset split,
save plots and curves (and, with ``save_json``, COCO JSON files for segment and pose)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..cancel import NEVER, CancelToken
from ..config import Settings
from ..data.detect_dataset import load_detect_dataset
from ..data.detect_labels import verify_split
from ..data.detect_loader import DetectBatchLoader
from ..errors import DatasetError
from ..events import Reporter, RunStarted, Warning, ignore, reported_run
from ..runs.run_dir import run_dir
from ..runs.validation import Validation
from .classify_run import check_class_names, saving_results
from .detect_validator import validate_detections
from .segment_validator import SegmentForward

ScorerFor = Callable[..., tuple[Any, Any]]
"""``scorer(names, settings, dataset, samples)`` -> (the task's Scorer, its COCO JSON collector
or None): ``box_scorer``, ``segment_scorer`` or ``pose_scorer``, beside each scorer; the task
(engine/tasks/) hands its own to ``run_detect_val``."""


def run_detect_val(
    task: str,
    forward: SegmentForward,
    names: dict[int, str],
    settings: Settings,
    imgsz: int,
    *,
    scorer: ScorerFor,
    device: torch.device,
    progress: Reporter = ignore,
    cancel: CancelToken = NEVER,
) -> tuple[Validation, Path | None]:
    """Validate on ``settings.split`` of the dataset yaml ``settings.data`` with the task's
    ``scorer`` (and its COCO JSON collector, or None); plots and curves go to runs/<task>/val*.
    Ends with one ``RunFinished`` event however it ends."""
    with reported_run("val", progress) as record:
        if not settings.data:
            raise DatasetError(
                "no dataset to validate on; pass data=<dataset .yaml> (models "
                "trained here remember theirs)",
                key="data",
            )
        dataset = load_detect_dataset(settings.data, task, progress=progress, cancel=cancel)
        images = dataset.splits.get(settings.split)
        if not images:
            raise DatasetError(
                f"has no images in the {settings.split} split", path=dataset.yaml_path, key="split"
            )
        check_class_names(
            names,
            tuple(dataset.names[i] for i in sorted(dataset.names)),
            dataset.yaml_path,
            progress,
        )
        report = verify_split(
            images, task, dataset.names, kpt_shape=dataset.kpt_shape, cancel=cancel
        )
        for problem in report.problems:
            where = f"{problem.path}:{problem.line}" if problem.line else str(problem.path)
            progress(Warning(problem.reason, where))
        save_dir = None
        if settings.save or settings.plots or settings.save_json:
            save_dir = run_dir(
                task,
                "val",
                project=settings.project,
                name=settings.name,
                exist_ok=settings.exist_ok,
            )
            record.save_dir = str(save_dir)
        progress(
            RunStarted(
                "val",
                task,
                record.save_dir,
                len(report.samples),
                f"{dataset.yaml_path.name} {settings.split}: {len(report.samples)} images",
            )
        )
        batch = int(settings.batch) if settings.batch and settings.batch >= 1 else 16
        loader = DetectBatchLoader.from_settings(
            list(report.samples),
            settings,
            imgsz=imgsz,
            task=task,
            batch_size=batch,
            keypoint_shape=dataset.kpt_shape,
            on_warning=lambda m, p: progress(Warning(m, p)),
            cancel=cancel,
        )
        scoring, collector = scorer(names, settings, dataset, report.samples)
        options = dict(
            half=settings.half,
            conf=settings.conf if settings.conf is not None else 0.001,
            iou=settings.iou,
            max_det=settings.max_det,
            cancel=cancel,
            progress=progress,
        )
        try:
            validation = validate_detections(forward, loader, scoring, device, **options)
        finally:
            loader.close()
        if save_dir is not None:
            with saving_results(save_dir, validation):
                if collector is not None:
                    collector.write(save_dir)
                validation.details.save(save_dir, plots=settings.plots)
        record.results = validation.metrics
    return validation, save_dir
