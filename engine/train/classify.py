"""Classification's part of training: ImageNet-style folders, cross-entropy, top-1/top-5."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..cancel import NEVER, CancelToken
from ..config import Settings
from ..data.classify_augment import ClassifyAugment
from ..data.classify_folder import load_classify_folder
from ..data.loader import BatchLoader, ImageStore
from ..data.named import resolve_dataset_dir
from ..errors import DatasetError
from ..events import Reporter, ignore
from ..nn.model import TaskModel
from ..runs.validation import Validation
from ..val.classify_run import save_confusion_matrix
from ..val.classify_validator import (
    center_crop_transform,
    model_forward,
    validate_classify,
)
from .task import TaskData, WarningSink


class ClassifyTask:
    """TaskHooks for classification."""

    task = "classify"
    loss_names = ("loss",)
    # Channels-last convolutions (oneDNN on the CPU), as the detection family trains: 3 epochs
    # of yolov8n-cls on the digits at 32 px, batch 64, trained in 4.5-5.0 s of wall time
    # instead of 7.0-9.5 s (alternating runs on the busy 2-core machine; 6% less CPU time a
    # step with one thread), to the same top-1.
    channels_last = True
    # Each epoch validates a contiguous copy of the EMA (a small model: a few ms), the layout
    # best.pt loads in, so best.pt's final validation is its epoch's (engine/train/trainer.py).
    validates_as_loaded = True

    def __init__(self, progress: Reporter = ignore) -> None:
        self.progress = progress

    def build_data(
        self,
        settings: Settings,
        imgsz: int,
        batch: int,
        *,
        warn: WarningSink,
        cancel: CancelToken = NEVER,
    ) -> TaskData:
        if not settings.data:
            raise DatasetError(
                "no dataset given; pass data=<folder with train/ and val/> or a "
                "dataset name such as mnist160",
                key="data",
            )
        root = resolve_dataset_dir(settings.data, progress=self.progress, cancel=cancel)
        report = load_classify_folder(root, cancel=cancel)
        for problem in report.problems:
            warn(problem.reason, str(problem.path))
        splits = report.splits
        names = dict(enumerate(splits.names))
        train = list(splits.train)
        if settings.fraction < 1.0:
            train = train[: max(1, round(len(train) * settings.fraction))]
        self.dropout = settings.dropout
        if settings.auto_augment and settings.auto_augment != "randaugment":
            warn(
                f"auto_augment={settings.auto_augment} is done with RandAugment's operations "
                "(2 per image, magnitude 9); auto_augment=randaugment says so, None turns it "
                "off",
                None,
            )
        train_loader = self._loader(
            train,
            ClassifyAugment.from_settings(settings, imgsz),
            batch,
            True,
            settings,
            warn,
            cancel,
        )
        val_loader = None
        if splits.val:
            val_loader = self._loader(
                splits.val, center_crop_transform(imgsz), batch * 2, False, settings, warn, cancel
            )
        description = (
            f"{root.name}: {len(names)} classes, {len(train)} train / "
            f"{len(splits.val)} {splits.val_split_name} images"
        )
        return TaskData(train_loader, val_loader, names, root, description)

    @staticmethod
    def _loader(samples, transform, batch, shuffle, settings, warn, cancel) -> BatchLoader:
        store = ImageStore([s.path for s in samples], cache=settings.cache)
        store.fill(settings.workers, cancel)
        return BatchLoader(
            store,
            [s.label for s in samples],
            transform,
            batch_size=batch,
            shuffle=shuffle,
            seed=settings.seed,
            workers=settings.workers,
            on_warning=warn,
            cancel=cancel,
        )

    def adapt_model(self, model: TaskModel, names: dict[int, str]) -> TaskModel:
        """Resize the classifier to the dataset's classes (pretrained backbones keep theirs)."""
        head = model.head
        if model.num_classes != len(names):
            head.linear = nn.Linear(head.linear.in_features, len(names))
            model.yaml["nc"] = len(names)
        head.drop.p = getattr(self, "dropout", 0.0)
        return model

    def loss(self, model: TaskModel, preds, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        loss = F.cross_entropy(preds, batch["cls"].to(preds.device))
        return loss, loss.detach().reshape(1)

    def validate(
        self,
        model: TaskModel,
        loader: BatchLoader,
        device: torch.device,
        *,
        half: bool,
        cancel: CancelToken,
    ) -> Validation:
        was_training = model.training
        try:
            return validate_classify(
                model_forward(model), loader, model.names, device, half=half, cancel=cancel
            )
        finally:
            model.train(was_training)

    def plot_batch(self, batch: dict, names: dict[int, str], path: Path) -> None:
        """A mosaic of augmented training images with their labels (train_batch0.jpg …)."""
        from ..plots import plot_image_grid

        labels = [names[int(c)] for c in batch["cls"]]
        plot_image_grid(batch["img"], labels, path)

    def final_plots(self, validation: Validation, save_dir: Path, names: dict[int, str]) -> None:
        """Confusion matrices as pictures (counts and row-normalised) and as CSV data."""
        save_confusion_matrix(validation, save_dir, names)
