"""Issue 16: a full disk while a segment validation writes its files (COCO JSON, curves, plots)
is one message that gives the figures the validation computed."""

from __future__ import annotations

import pytest
import torch

from engine import YOLO
from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.data.shape_samples import SHAPE_NAMES, make_shapes_dataset
from engine.events import ignore
from engine.nn import build_model
from engine.utils.atomic import DiskFullError

from ..utils.filling_disk import FillingDisk


@pytest.fixture(scope="module")
def segment_checkpoint(tmp_path_factory):
    """An untrained yolov8n-seg for the shapes classes (figures of 0 are figures too)."""
    torch.manual_seed(0)
    model = build_model("yolov8n-seg.yaml", num_classes=len(SHAPE_NAMES))
    model.names = dict(enumerate(SHAPE_NAMES))
    path = tmp_path_factory.mktemp("seg") / "best.pt"
    return save_checkpoint(path, checkpoint_dict(model))


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return make_shapes_dataset(tmp_path_factory.mktemp("shapes") / "data", size=64, train=2,
                               val=2)


@pytest.mark.parametrize("full_at", ["predictions.json", "*.csv", "*.png"])
def test_a_full_disk_in_segment_val_files_gives_the_figures(segment_checkpoint, shapes,
                                                             tmp_path, monkeypatch, full_at):
    folder = tmp_path / "val"
    FillingDisk(monkeypatch, folder, pattern=full_at)
    with pytest.raises(DiskFullError) as caught:
        YOLO(segment_checkpoint, progress=ignore).val(
            data=str(shapes), imgsz=64, batch=2, save_json=True, project=str(tmp_path))
    message = str(caught.value)
    assert message.startswith(f"{folder}: the disk is full: ")
    assert "could not be saved. The validation itself finished (precision(B) " in message
    assert "mAP50-95(M) " in message
    assert message.endswith("the plots and files in this folder are incomplete. Free some "
                            "space and validate again")
    assert not [p for p in folder.rglob("*.tmp")]
