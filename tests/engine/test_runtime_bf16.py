"""The fast CPU path in bfloat16 (issue 21 item 1): where OpenVINO's CPU plugin computes bf16
natively, ``runtime=auto`` compiles the cached export for it when it passes the bf16 parity
gate, else float32; ``YOLO_STUDIO_RUNTIME_PRECISION=f32`` asks for float32.

The reference's digits classifier at 32 px: the smallest checkpoint, built in a few seconds.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
import yaml

from engine import YOLO
from engine.api import runtime_cache
from engine.api.runtime_cache import (
    MANIFEST,
    PRECISION_VARIABLE,
    RUNTIME_VARIABLE,
    runtime_title,
)
from engine.backends import load_backend
from engine.backends.openvino_backend import PRECISION_KEY, cpu_supports_bf16
from engine.errors import SettingsError
from engine.events import RunStarted, Warning
from engine.export import parity

from ..conftest import OFFICIAL

CLASSIFY = OFFICIAL / "yolov8n-cls-digits.pt"
SIZE = 32


@pytest.fixture
def images(tmp_path) -> list[str]:
    """Four 40 x 40 pictures: a drawn digit-like stroke each, on grey."""
    paths = []
    for number in range(4):
        picture = np.full((40, 40, 3), 90, np.uint8)
        cv2.putText(picture, str(number + 3), (8, 32), cv2.FONT_HERSHEY_SIMPLEX, 1.2,
                    (250, 250, 250), 3)
        path = tmp_path / f"digit{number}.png"
        cv2.imwrite(str(path), picture)
        paths.append(str(path))
    return paths


@pytest.fixture
def auto_precision(monkeypatch, tmp_path):
    """The user's defaults (runtime and precision unset) with a cache of the test's own."""
    monkeypatch.delenv(RUNTIME_VARIABLE, raising=False)
    monkeypatch.delenv(PRECISION_VARIABLE, raising=False)
    monkeypatch.setenv("YOLO_STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "runtimes"


def entry_files(runtimes) -> tuple[dict, dict]:
    """(manifest, the export's metadata.yaml) of the one entry in ``runtimes``."""
    (folder,) = list(runtimes.iterdir())
    manifest = json.loads((folder / MANIFEST).read_text())
    (metadata,) = list(folder.rglob("metadata.yaml"))
    return manifest, yaml.safe_load(metadata.read_text())


def test_auto_runs_bf16_where_the_cpu_computes_it_and_matches_pytorch(auto_precision, images):
    events: list = []
    model = YOLO(CLASSIFY, progress=events.append)
    fast = model.predict(images, imgsz=SIZE)
    native = cpu_supports_bf16()
    assert model.runtime == ("OpenVINO (bf16)" if native else "OpenVINO")
    assert not [e for e in events if isinstance(e, Warning)]
    manifest, metadata = entry_files(auto_precision)
    precision = "bf16" if native else "f32"
    assert manifest["precision"] == precision and metadata[PRECISION_KEY] == precision
    assert manifest["parity"].startswith("passed")
    assert f"({'bf16' if native else 'fp32'}," in manifest["parity"]
    reference = model.predict(images, imgsz=SIZE, runtime="torch")
    assert model.runtime == "PyTorch"
    for a, b in zip(fast, reference, strict=True):
        assert a.probs.top1 == b.probs.top1
        assert torch.allclose(a.probs.data, b.probs.data, atol=3e-2)
    # the yolo command and the studio run the entry in a child process: it says the same
    (folder,) = list(auto_precision.iterdir())
    isolated = load_backend(folder / manifest["model"], isolated=True)
    try:
        assert runtime_title(isolated) == ("OpenVINO (bf16)" if native else "OpenVINO")
    finally:
        isolated.close()


def test_bf16_that_fails_its_gate_is_compiled_in_float32(auto_precision, images, monkeypatch):
    # a bf16 gate no computation meets (error 0): on any CPU the first check fails, and the
    # entry is the float32 one, which passes the fp32 gate
    monkeypatch.setattr(runtime_cache, "_precisions", lambda key: ["bf16", "f32"])
    strict = parity.Tolerance("bf16", 0.0, 1.0, 0.9, 3e-2, per_channel_range=True)
    monkeypatch.setitem(parity.TOLERANCES, "bf16", strict)
    events: list = []
    model = YOLO(CLASSIFY, progress=events.append)
    fast = model.predict(images, imgsz=SIZE)
    assert model.runtime == "OpenVINO"
    assert len([e for e in events if isinstance(e, RunStarted) and e.mode == "export"]) == 1
    assert not [e for e in events if isinstance(e, Warning)]
    manifest, metadata = entry_files(auto_precision)
    assert manifest["precision"] == "f32" and metadata[PRECISION_KEY] == "f32"
    assert "(fp32," in manifest["parity"]
    reference = model.predict(images, imgsz=SIZE, runtime="torch")
    for a, b in zip(fast, reference, strict=True):
        assert torch.allclose(a.probs.data, b.probs.data, atol=1e-4)


def test_precision_f32_keeps_an_entry_of_its_own(auto_precision, images, monkeypatch):
    monkeypatch.setenv(PRECISION_VARIABLE, "f32")
    model = YOLO(CLASSIFY, progress=lambda _e: None)
    model.predict(images[:1], imgsz=SIZE)
    assert model.runtime == "OpenVINO"
    (folder,) = list(auto_precision.iterdir())
    assert folder.name.endswith("-classify-32-openvino-f32")


def test_an_unknown_precision_names_the_variable(auto_precision, images, monkeypatch):
    monkeypatch.setenv(PRECISION_VARIABLE, "int4")
    model = YOLO(CLASSIFY, progress=lambda _e: None)
    with pytest.raises(SettingsError, match=f"{PRECISION_VARIABLE}='int4'.*auto or f32"):
        model.predict(images[:1], imgsz=SIZE)
