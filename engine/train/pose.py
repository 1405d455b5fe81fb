"""Pose estimation's part of training: YOLO pose datasets (``kpt_shape``, ``flip_idx``), the
keypoint losses, box and pose AP. The model's keypoint head follows the data's ``kpt_shape``
(``DetectFamilyTask.adapt_model``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from ..data.detect_dataset import DetectDataset, require_flip_idx
from ..nn.model import TaskModel
from ..runs.validation import Validation
from ..val.pose_validator import PoseScorer
from .detect_common import DetectFamilyTask
from .pose_loss import PoseLoss


class PoseTask(DetectFamilyTask):
    """TaskHooks for pose estimation."""

    task = "pose"
    example_data = "coco8-pose.yaml"
    loss_names = PoseLoss.loss_names
    loss_gains: Mapping[str, float] = MappingProxyType(
        {**DetectFamilyTask.loss_gains, "pose": 12.0, "kobj": 1.0}
    )

    def read_keypoints(self, dataset: DetectDataset, fliplr: float) -> tuple[int, ...] | None:
        """The data's ``flip_idx`` (a DatasetError when flips need one and it has none); keeps
        its keypoint layout (names, skeleton, flips) for the model."""
        flip_idx = require_flip_idx(dataset, fliplr)
        self.keypoint_layout = dataset.keypoint_layout()
        return flip_idx

    def make_loss(self, model: TaskModel) -> PoseLoss:
        gains = self.gains
        return PoseLoss(
            model.head,
            box=gains["box"],
            cls=gains["cls"],
            dfl=gains["dfl"],
            pose=gains["pose"],
            kobj=gains["kobj"],
        )

    def scorer(self, model: TaskModel):
        return PoseScorer(model.names, model.keypoint_shape, ap_method=self.ap_method)

    def final_plots(self, validation: Validation, save_dir: Path, names: dict[int, str]) -> None:
        """Confusion matrix, and PR / F1 / P / R curves of boxes and keypoints (PNG and CSV)."""
        validation.details.save(save_dir, plots=True)
