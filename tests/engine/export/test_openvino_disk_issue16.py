"""Issue 16: OpenVINO reports a full disk as a bare stream error; the export says the disk is
full and where, instead of advising other export arguments."""

from __future__ import annotations

import shutil
from collections import namedtuple

import openvino
import pytest

from engine.errors import ExportError
from engine.export import export_model
from engine.utils.atomic import DiskFullError

from .test_openvino import _model

Usage = namedtuple("Usage", "total used free")


def save_model_on_a_full_disk(monkeypatch, *, free: int) -> None:
    """openvino.save_model writes part of the .bin, then fails as it does on a full disk;
    the disk has ``free`` bytes left."""

    def save_model(model, path, **kwargs):
        path.with_suffix(".bin").write_bytes(b"\0" * 1000)
        raise RuntimeError("basic_ios::clear: iostream error")

    monkeypatch.setattr(openvino, "save_model", save_model)
    real_usage = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda p: real_usage(p)._replace(free=free))


def test_a_full_disk_says_so_and_where(tmp_path, monkeypatch):
    model, size = _model("classify")
    save_model_on_a_full_disk(monkeypatch, free=1_000_000)
    with pytest.raises(DiskFullError) as caught:
        export_model(model, "openvino", output=tmp_path / "best.pt", imgsz=size)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path}: the disk is full: the OpenVINO model (about ")
    assert message.endswith("could not be written, 1.0 MB are free there; nothing was "
                            "written. Free some space and export again")
    assert "simplify" not in message and "opset" not in message
    assert list(tmp_path.iterdir()) == []  # no partial folder


def test_another_failure_with_room_to_spare_keeps_its_own_message(tmp_path, monkeypatch):
    model, size = _model("classify")
    save_model_on_a_full_disk(monkeypatch, free=10**12)
    with pytest.raises(ExportError, match="basic_ios::clear") as caught:
        export_model(model, "openvino", output=tmp_path / "best.pt", imgsz=size)
    assert not isinstance(caught.value, DiskFullError)
    assert list(tmp_path.iterdir()) == []
