"""``yolo classify val``: score a model (checkpoint or export) on a dataset split, save plots."""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator
from pathlib import Path

import torch

from ..cancel import NEVER, CancelToken
from ..config import Settings
from ..data.classify_folder import load_classify_folder
from ..data.loader import BatchLoader, ImageStore
from ..data.named import resolve_dataset_dir
from ..errors import DatasetError
from ..events import Reporter, RunStarted, Warning, ignore, reported_run
from ..runs.run_dir import run_dir
from ..runs.validation import Validation
from ..utils.atomic import DiskFullError, atomic_writer, disk_full_cause, disk_full_target
from .classify_validator import Forward, center_crop_transform, validate_classify


def run_classify_val(
    forward: Forward,
    names: dict[int, str],
    settings: Settings,
    imgsz: int,
    *,
    device: torch.device,
    progress: Reporter = ignore,
    cancel: CancelToken = NEVER,
) -> tuple[Validation, Path | None]:
    """Validate on ``settings.split`` of ``settings.data``; plots go to runs/classify/val*.

    Ends with one ``RunFinished`` event however it ends (completed, cancelled or failed).
    """
    with reported_run("val", progress) as record:
        if not settings.data:
            raise DatasetError("no dataset to validate on; pass data=<folder or name> (models "
                               "trained here remember theirs)", key="data")
        root = resolve_dataset_dir(settings.data, progress=progress, cancel=cancel)
        report = load_classify_folder(root, cancel=cancel)
        for problem in report.problems:
            progress(Warning(problem.reason, str(problem.path)))
        splits = report.splits
        samples = {"train": splits.train, "val": splits.val, "test": splits.test}[settings.split]
        if not samples:
            raise DatasetError(f"has no images in the {settings.split} split", path=root,
                               key="split")
        check_class_names(names, splits.names, root, progress)
        save_dir = None
        if settings.save or settings.plots:
            save_dir = run_dir("classify", "val", project=settings.project, name=settings.name,
                               exist_ok=settings.exist_ok)
            record.save_dir = str(save_dir)
        progress(RunStarted("val", "classify", record.save_dir, len(samples),
                            f"{root.name} {settings.split}: {len(samples)} images"))
        store = ImageStore([s.path for s in samples], cache=settings.cache)
        batch = int(settings.batch) if settings.batch and settings.batch >= 1 else 32
        loader = BatchLoader(store, [s.label for s in samples], center_crop_transform(imgsz),
                             batch_size=batch, shuffle=False, workers=settings.workers,
                             on_warning=lambda m, p: progress(Warning(m, p)), cancel=cancel)
        try:
            validation = validate_classify(forward, loader, names, device, half=settings.half,
                                           cancel=cancel, progress=progress)
        finally:
            loader.close()
        if save_dir is not None and settings.plots:
            with saving_results(save_dir, validation):
                save_confusion_matrix(validation, save_dir, names)
        record.results = validation.metrics
    return validation, save_dir


def save_confusion_matrix(validation: Validation, save_dir: Path, names: dict[int, str]) -> None:
    """Confusion matrices as pictures (counts and row-normalised) and as CSV data."""
    from ..plots import plot_confusion_matrix

    matrix = validation.details.confusion_matrix
    labels = [names[i] for i in sorted(names)]
    plot_confusion_matrix(matrix, labels, save_dir / "confusion_matrix.png", normalize=False)
    plot_confusion_matrix(matrix, labels, save_dir / "confusion_matrix_normalized.png")
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["true \\ predicted", *labels])
    writer.writerows([label, *map(int, row)] for label, row in zip(labels, matrix, strict=True))
    with atomic_writer(save_dir / "confusion_matrix.csv") as handle:
        handle.write(text.getvalue().encode())


@contextlib.contextmanager
def saving_results(save_dir: Path, validation: Validation) -> Iterator[None]:
    """Around writing a finished validation's plots and files: a full disk becomes one
    DiskFullError that gives the figures, which would otherwise be lost with the traceback."""
    try:
        yield
    except Exception as exc:
        if disk_full_cause(exc) is None:
            raise
        target = disk_full_target(exc)
        what = target.name if target is not None else "a file"
        figures = ", ".join(f"{k.split('/')[-1]} {v:.4g}" for k, v in validation.metrics.items())
        raise DiskFullError(
            f"the disk is full: {what} could not be saved. The validation itself finished "
            f"({figures}); the plots and files in this folder are incomplete. Free some space "
            "and validate again",
            path=save_dir,
            target=target,
        ) from exc


def check_class_names(
    model_names: dict[int, str], data_names: tuple[str, ...], root: Path, progress: Reporter
) -> None:
    """Class counts must match; names that differ are scored by position, with a warning
    (ImageNet folders named by WordNet id against a model holding readable names are fine)."""
    if len(model_names) != len(data_names):
        raise DatasetError(
            f"has {len(data_names)} classes but the model predicts {len(model_names)}; "
            "validate on the dataset the model was trained for",
            path=root,
        )
    differ = [(i, name) for i, name in enumerate(data_names) if model_names.get(i) != name]
    if differ:
        shown = ", ".join(
            f"{name!r} is the model's {model_names.get(i)!r}" for i, name in differ[:3]
        )
        more = f" and {len(differ) - 3} more" if len(differ) > 3 else ""
        progress(Warning(
            f"{len(differ)} class names differ from the model's and are scored by position "
            f"(sorted folder order): {shown}{more}. Check that this is the dataset the model "
            "was trained for",
            str(root),
        ))
