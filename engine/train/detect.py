"""Detection's part of training: YOLO detect datasets (box rows), the box, class and DFL losses,
box AP. The detection family's shared pieces live in ``detect_common``."""

from __future__ import annotations

from pathlib import Path

from ..nn.model import TaskModel
from ..runs.validation import Validation
from ..val.box_scorer import BoxScorer
from .detect_common import DetectFamilyTask
from .detect_loss import DetectionLoss


class DetectTask(DetectFamilyTask):
    """TaskHooks for object detection (boxes alone)."""

    task = "detect"
    loss_names = DetectionLoss.loss_names

    def make_loss(self, model: TaskModel) -> DetectionLoss:
        gains = self.gains
        return DetectionLoss(model.head, box=gains["box"], cls=gains["cls"], dfl=gains["dfl"])

    def scorer(self, model: TaskModel):
        return BoxScorer(model.names, ap_method=self.ap_method)

    def final_plots(self, validation: Validation, save_dir: Path, names: dict[int, str]) -> None:
        """Confusion matrix, and PR / F1 / P / R curves of boxes (PNG and CSV)."""
        validation.details.save(save_dir, plots=True)
