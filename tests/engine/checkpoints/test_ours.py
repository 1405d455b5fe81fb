"""Our own checkpoints: plain dicts, weights_only-loadable, atomic, and transfer by name."""

import pytest
import torch

from engine import YOLO, CheckpointError
from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.nn import build_model
from tests.conftest import OFFICIAL


def test_saved_checkpoint_is_a_plain_dict_with_everything(tmp_path):
    model = YOLO(OFFICIAL / "yolov8n-seg-shapes.pt")
    path = model.save(tmp_path / "best.pt")
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == "yolo-studio-checkpoint"
    assert raw["task"] == "segment"
    assert raw["names"] == {0: "circle", 1: "triangle", 2: "rectangle", 3: "star"}
    assert raw["model_yaml"]["nc"] == 4
    assert set(raw) >= {"state_dict", "train_args", "metrics", "engine_version", "date", "epoch"}
    assert raw["train_args"]["imgsz"] == 320  # carried over from the imported checkpoint
    assert "metrics/mAP50-95(M)" in raw["metrics"]


def test_round_trip_rebuilds_the_same_model(tmp_path):
    original = YOLO(OFFICIAL / "yolov8n-pose-figures.pt")
    reloaded = YOLO(original.save(tmp_path / "pose.pt"))
    assert reloaded.task == "pose" and reloaded.names == original.names
    assert reloaded.model.keypoint_shape == (5, 3)
    x = torch.rand(1, 3, 64, 64)
    assert torch.equal(original.forward(x)[0], reloaded.forward(x)[0])


def test_half_precision_save_loads_back_as_float(tmp_path):
    path = YOLO("yolov8n-cls.yaml", num_classes=3).save(tmp_path / "h.pt", half=True)
    assert (
        torch.load(path, weights_only=True)["state_dict"]["model.0.conv.weight"].dtype
        == torch.float16
    )
    assert YOLO(path).model.model[0].conv.weight.dtype == torch.float32


def test_failed_write_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "best.pt"
    save_checkpoint(path, checkpoint_dict(build_model("yolov8n-cls.yaml", num_classes=2)))
    before = path.read_bytes()

    def full_disk(obj, handle, *args, **kwargs):
        handle.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, checkpoint_dict(build_model("yolov8n-cls.yaml", num_classes=5)))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]  # no temp file left behind


def test_load_transfers_matching_tensors_and_reports(tmp_path):
    model = YOLO("yolov8n-pose.yaml", keypoint_shape=(5, 3)).load(
        OFFICIAL / "yolov8n-pose-figures.pt"
    )
    assert (model.transfer_report.transferred, model.transfer_report.total) == (397, 397)
    assert "Transferred 397/397 items" in str(model.transfer_report)
    reference = YOLO(OFFICIAL / "yolov8n-pose-figures.pt")
    x = torch.rand(1, 3, 64, 64)
    assert torch.allclose(model.forward(x)[0], reference.forward(x)[0], atol=1e-4)


def test_load_skips_tensors_whose_shape_differs():
    model = YOLO("yolov8n-seg.yaml").load(OFFICIAL / "yolov8n-seg-shapes.pt")  # 80 vs 4 classes
    report = model.transfer_report
    assert 0 < report.transferred < report.total
    assert "model.22.cv3.0.2.weight" in report.skipped
    assert "model.0.conv.weight" not in report.skipped


def test_load_accepts_a_plain_state_dict(tmp_path):
    source = build_model("yolov8n-cls.yaml", num_classes=4)
    path = tmp_path / "sd.pt"
    torch.save(source.state_dict(), path)
    model = YOLO("yolov8n-cls.yaml", num_classes=4).load(path)
    assert model.transfer_report.transferred == model.transfer_report.total
    with pytest.raises(CheckpointError, match="bare state dict"):
        YOLO(path)


def test_weights_that_do_not_fit_their_yaml_are_named(tmp_path):
    checkpoint = checkpoint_dict(build_model("yolov8n-cls.yaml", num_classes=2))
    checkpoint["model_yaml"]["nc"] = 7
    path = save_checkpoint(tmp_path / "odd.pt", checkpoint)
    with pytest.raises(CheckpointError, match=r"odd\.pt: its weights do not fit"):
        YOLO(path)
