"""What the detection-family tasks (segment, pose) share in training: the dataset check, the
augmented and letterboxed loaders, resizing the head to the data's classes, the loss call and
the label mosaics of ``train_batch*.jpg``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import torch

from ..cancel import NEVER, CancelToken
from ..checkpoints import transfer_matching
from ..config import Settings
from ..data.detect_augment import DetectAugment
from ..data.detect_dataset import DetectDataset, load_detect_dataset
from ..data.detect_labels import require_labels, verify_split
from ..data.detect_loader import DetectBatchLoader
from ..errors import DatasetError
from ..events import Reporter, Warning, ignore
from ..nn import build_model
from ..nn.model import TaskModel
from ..runs.validation import Validation
from ..val.detect_validator import validate_detections
from .task import TaskData, WarningSink


class DetectFamilyTask:
    """TaskHooks base for detect, segment and pose; subclasses give ``task``, ``loss_names``,
    ``make_loss`` and ``scorer`` (and, with keypoints, ``loss_gains`` and ``read_keypoints``)."""

    task = "detect"
    example_data = "coco8-detect.yaml"  # named when no dataset is given
    loss_names: tuple[str, ...] = ()
    loss_gains: Mapping[str, float] = MappingProxyType({"box": 7.5, "cls": 0.5, "dfl": 1.5})
    """The loss gains the task's loss takes (the Settings keys), with their defaults."""
    # Channels-last convolutions (oneDNN on the CPU): measured for a yolov8n-seg step at 320
    # px, batch 16: 1.0 s instead of 1.1 s and a 1.6 GiB peak instead of 2.0 GiB.
    channels_last = True
    # The loss is the batch's sum (mean × batch size, as the reference's): DDP's gradient
    # average over the ranks is scaled back by the number of ranks (engine/train/trainer.py)
    loss_sums_batch = True

    def __init__(self, progress: Reporter = ignore) -> None:
        self.progress = progress
        self.overlap = True
        self.ap_method = "coco"
        self.gains = dict(self.loss_gains)
        self.keypoint_shape: tuple[int, int] | None = None
        self.keypoint_layout: dict[str, list] = {}
        self.val_samples: list | None = None  # the validation split's labelled images
        self._loss = None
        self._loss_model: TaskModel | None = None

    # --- data -----------------------------------------------------------------------------

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
                "no dataset given; pass data=<dataset .yaml> (for example "
                f"{self.example_data})",
                key="data",
            )
        dataset = load_detect_dataset(
            settings.data, self.task, progress=self.progress, cancel=cancel
        )
        for problem in dataset.problems:
            warn(problem.reason, _where(problem))
        self.overlap = bool(settings.overlap_mask)
        self.ap_method = settings.ap_method
        self.gains = {k: float(getattr(settings, k)) for k in self.gains}
        self.keypoint_shape = dataset.kpt_shape
        flip_idx = self.read_keypoints(dataset, settings.fliplr)
        train = self._verified(dataset, "train", settings, warn, cancel)
        require_labels(train, "train")
        samples = list(train.samples)
        if settings.fraction < 1.0:
            samples = samples[: max(1, round(len(samples) * settings.fraction))]
        augment = DetectAugment.from_settings(settings, imgsz, task=self.task, flip_idx=flip_idx)
        train_loader = self._loader(samples, imgsz, batch, augment, settings, warn, cancel)
        val_loader, val_count = None, 0
        val_split = "val" if "val" in dataset.splits else "test"
        if dataset.splits.get(val_split):
            val = self._verified(dataset, val_split, settings, warn, cancel)
            val_count = len(val.samples)
            self.val_samples = list(val.samples)
            if val.samples:
                val_loader = self._loader(
                    list(val.samples), imgsz, batch * 2, None, settings, warn, cancel
                )
        description = (
            f"{dataset.yaml_path.name}: {dataset.num_classes} classes, {len(samples)} train / "
            f"{val_count} {val_split} images, {train.num_instances} train objects"
        )
        return TaskData(train_loader, val_loader, dict(dataset.names), dataset.root, description)

    def read_keypoints(self, dataset: DetectDataset, fliplr: float) -> tuple[int, ...] | None:
        """The data's ``flip_idx`` for left-right flips, None without keypoints (pose reads
        its keypoint layout here)."""
        return None

    def _verified(
        self, dataset, split: str, settings: Settings, warn: WarningSink, cancel: CancelToken
    ):
        report = verify_split(
            dataset.splits[split],
            self.task,
            dataset.names,
            kpt_shape=dataset.kpt_shape,
            cancel=cancel,
        )
        for problem in report.problems:
            warn(problem.reason, _where(problem))
        return report

    def _loader(self, samples, imgsz, batch, augment, settings, warn, cancel):
        return DetectBatchLoader.from_settings(
            samples,
            settings,
            imgsz=imgsz,
            task=self.task,
            batch_size=batch,
            keypoint_shape=self.keypoint_shape,
            augment=augment,
            on_warning=warn,
            cancel=cancel,
        )

    # --- model and loss -------------------------------------------------------------------

    def adapt_model(self, model: TaskModel, names: dict[int, str]) -> TaskModel:
        """A head for the dataset's classes (and, for pose, its ``kpt_shape``): rebuilt when
        they differ, keeping every tensor whose name and shape still match (the backbone, the
        box branches). A rebuilt keypoint head is announced with a warning."""
        keypoints = tuple(self.keypoint_shape) if self.keypoint_shape else model.keypoint_shape
        if self.keypoint_layout:
            model.keypoint_layout = dict(self.keypoint_layout)
        if model.num_classes == len(names) and model.keypoint_shape == keypoints:
            return model
        if model.keypoint_shape != keypoints:
            self.progress(
                Warning(
                    f"the model predicts {model.keypoint_shape} keypoints but the data has "
                    f"kpt_shape {list(keypoints)}; the keypoint head was rebuilt for the data",
                    None,
                )
            )
        fresh = build_model(model.yaml, num_classes=len(names), keypoint_shape=keypoints)
        transfer_matching(fresh, model.state_dict())
        fresh.keypoint_layout = dict(model.keypoint_layout)
        return fresh

    def make_loss(self, model: TaskModel):
        raise NotImplementedError

    def loss(self, model: TaskModel, preds, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
        if self._loss is None or self._loss_model is not model:
            self._loss, self._loss_model = self.make_loss(model), model
        return self._loss(preds, batch)

    # --- validation and plots -------------------------------------------------------------

    def validate(
        self, model: TaskModel, loader, device: torch.device, *, half: bool, cancel: CancelToken
    ) -> Validation:
        was_training = model.training
        model.eval()
        try:
            return validate_detections(model, loader, self.scorer(model), device, half=half,
                                       loss=self.make_loss(model), cancel=cancel)
        finally:
            model.train(was_training)

    def scorer(self, model: TaskModel):
        """The task's :class:`~engine.val.detect_validator.Scorer` for ``model``."""
        raise NotImplementedError

    def plot_batch(self, batch: dict, names: dict[int, str], path: Path) -> None:
        """Augmented training images with their boxes (and masks) drawn (train_batch0.jpg …)."""
        from .detection_plots import plot_detection_batch

        plot_detection_batch(batch, names, path, overlap=self.overlap)


def _where(problem) -> str:
    line = getattr(problem, "line", None)
    return f"{problem.path}:{line}" if line else str(problem.path)

