"""Pose estimation's part of training: YOLO pose datasets (``kpt_shape``, ``flip_idx``), the
keypoint losses, box and pose AP. The model's keypoint head follows the data's ``kpt_shape``."""

from __future__ import annotations

from pathlib import Path

from ..events import Warning
from ..nn import build_model
from ..nn.model import TaskModel
from ..val.pose_validator import validate_pose
from .detect_common import DetectFamilyTask
from .pose_loss import PoseLoss
from .task import Validation


class PoseTask(DetectFamilyTask):
    """TaskHooks for pose estimation."""

    task = "pose"
    loss_names = PoseLoss.loss_names

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

    def adapt_model(self, model: TaskModel, names: dict[int, str]) -> TaskModel:
        """The data's classes and ``kpt_shape``: a head of another shape is rebuilt, with a
        warning, keeping every tensor whose name and shape still match."""
        wanted = tuple(self.keypoint_shape) if self.keypoint_shape else model.keypoint_shape
        if model.keypoint_shape == wanted:
            return super().adapt_model(model, names)
        self.progress(
            Warning(
                f"the model predicts {model.keypoint_shape} keypoints but the data has "
                f"kpt_shape {list(wanted)}; the keypoint head was rebuilt for the data",
                None,
            )
        )
        fresh = build_model(model.yaml, num_classes=len(names), keypoint_shape=wanted)
        target = fresh.state_dict()
        matched = {
            k: v
            for k, v in model.state_dict().items()
            if k in target and v.shape == target[k].shape
        }
        fresh.load_state_dict(matched, strict=False)
        return fresh

    def run_validation(self, model, loader, device, *, half, cancel) -> Validation:
        return validate_pose(
            model,
            loader,
            model.names,
            model.keypoint_shape,
            device,
            half=half,
            loss=self.make_loss(model),
            cancel=cancel,
        )

    def final_plots(self, validation: Validation, save_dir: Path, names: dict[int, str]) -> None:
        """Confusion matrix, and PR / F1 / P / R curves of boxes and keypoints (PNG and CSV)."""
        validation.details.save(save_dir, plots=True)
