"""Instance segmentation's part of training: YOLO segment datasets, the detection and mask
losses, box and mask AP. The detection family's shared pieces live in ``detect_common``."""

from __future__ import annotations

from pathlib import Path

from ..nn.model import TaskModel
from ..runs.validation import Validation
from ..val.segment_validator import SegmentScorer
from .detect_common import DetectFamilyTask
from .detect_loss import SegmentationLoss


class SegmentTask(DetectFamilyTask):
    """TaskHooks for instance segmentation."""

    task = "segment"
    example_data = "coco8-seg.yaml"
    loss_names = SegmentationLoss.loss_names

    def make_loss(self, model: TaskModel) -> SegmentationLoss:
        gains = self.gains
        return SegmentationLoss(
            model.head, overlap=self.overlap, box=gains["box"], cls=gains["cls"], dfl=gains["dfl"]
        )

    def scorer(self, model: TaskModel):
        # with the split's labels the masks are scored as COCO (and `yolo val`) score them:
        # at the original size against the label polygons, so each epoch's mask mAP, the
        # choice of best.pt and the final figures agree with `yolo val` and pycocotools
        return SegmentScorer(
            model.names, self.overlap, ap_method=self.ap_method, samples=self.val_samples
        )

    def final_plots(self, validation: Validation, save_dir: Path, names: dict[int, str]) -> None:
        """Confusion matrix, and PR / F1 / P / R curves of boxes and masks (PNG and CSV)."""
        validation.details.save(save_dir, plots=True)
