"""Official checkpoints (pickled module trees) import without the reference package."""

import json
import os
import pickle
import sys
import types

import numpy as np
import pytest
import torch

from engine import YOLO, CheckpointError
from tests.conftest import OFFICIAL

STEMS = ["yolov8n-cls-digits", "yolov8n-seg-shapes", "yolov8n-pose-figures"]


def _outputs(model, stem):
    x = torch.from_numpy(np.load(OFFICIAL / f"{stem}.input.npy"))
    with torch.no_grad():
        first, rest = model.model.eval()(x)
    if model.task == "classify":
        return [first, rest]
    if model.task == "segment":
        return [first, rest[2]]
    return [first]


@pytest.mark.parametrize("stem", STEMS)
def test_imported_model_reproduces_reference_outputs(stem):
    assert "ultralytics" not in sys.modules
    meta = json.loads((OFFICIAL / f"{stem}.json").read_text())
    model = YOLO(OFFICIAL / f"{stem}.pt")
    assert model.task == meta["task"]
    assert model.names == {int(k): v for k, v in meta["names"].items()}
    assert model.model.num_parameters() == meta["params"]
    outputs = _outputs(model, stem)
    assert len(outputs) == len(meta["outputs"])
    for got, expected in zip(outputs, meta["outputs"], strict=True):
        reference = np.load(OFFICIAL / expected["file"])
        assert got.shape == reference.shape
        np.testing.assert_allclose(got.numpy(), reference, atol=1e-4, rtol=1e-5)
        if model.task != "classify":  # everything but pixel boxes within 1e-4 absolute
            assert np.abs(got.numpy()[:, 4:] - reference[:, 4:]).max() <= 1e-4
    assert "ultralytics" not in sys.modules


def test_pose_import_keeps_keypoint_shape():
    model = YOLO(OFFICIAL / "yolov8n-pose-figures.pt")
    assert model.model.keypoint_shape == (5, 3)


class _RunsCode:
    """Pickles as a call to os.system: a checkpoint that would run a command when loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_naming_a_forbidden_class_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"model": _RunsCode(marker), "date": "x"}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pt: refused: .*class '(posix|os)\.system'"):
        YOLO(path)
    assert not marker.exists()


def _leave_marker(self, marker):
    open(marker, "w").close()


def test_reference_named_class_is_only_a_placeholder(tmp_path, monkeypatch):
    """A file may name any reference class: it becomes an inert placeholder, never runs."""
    marker = tmp_path / "ran"
    fake_class = type(
        "DetectionModel",
        (),
        {
            "__module__": "ultralytics.nn.tasks",
            "__init__": _leave_marker,  # constructing it for real would leave the marker
            "__reduce__": lambda self: (type(self), (str(marker),)),
        },
    )
    fake_module = types.ModuleType("ultralytics.nn.tasks")
    fake_module.DetectionModel = fake_class
    with monkeypatch.context() as patch:
        for name in ("ultralytics", "ultralytics.nn"):
            patch.setitem(sys.modules, name, types.ModuleType(name))
        patch.setitem(sys.modules, "ultralytics.nn.tasks", fake_module)
        torch.save({"model": object.__new__(fake_class)}, tmp_path / "fake.pt")
    assert "ultralytics" not in sys.modules
    with pytest.raises(CheckpointError, match="carries no architecture yaml"):
        YOLO(tmp_path / "fake.pt")
    assert not marker.exists()


def test_truncated_checkpoint_gets_one_clear_error(tmp_path):
    data = (OFFICIAL / "yolov8n-seg-shapes.pt").read_bytes()
    path = tmp_path / "half.pt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"half\.pt: .*truncated"):
        YOLO(path)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all\n", pickle.dumps([1, 2])])
def test_file_that_is_not_a_checkpoint_gets_one_clear_error(tmp_path, content):
    path = tmp_path / "notes.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"notes\.pt: is not a PyTorch checkpoint"):
        YOLO(path)


def test_pytorch_file_without_a_model_is_named(tmp_path):
    path = tmp_path / "list.pt"
    torch.save([1, 2, 3], path)
    with pytest.raises(CheckpointError, match=r"list\.pt: holds no model"):
        YOLO(path)
