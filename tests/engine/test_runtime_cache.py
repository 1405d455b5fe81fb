"""The fast CPU path (issue 21 item 1): a .pt on the CPU predicts through its OpenVINO export,
made once, cached on disk and checked against PyTorch; every failure falls back to PyTorch.

One small checkpoint (the reference's yolov8n-seg, 10 epochs) at imgsz 64, its entry built once
for the module; the tests that need a build of their own say why.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine import YOLO
from engine.api.runtime_cache import MANIFEST, PRECISION_VARIABLE, RUNTIME_VARIABLE
from engine.events import RunStarted, Warning
from engine.process.allocator import ACTIVE_VARIABLE
from engine.utils.boxes import box_iou

from ..conftest import OFFICIAL

SEGMENT = OFFICIAL / "yolov8n-seg-shapes.pt"
CLASSIFY = OFFICIAL / "yolov8n-cls-digits.pt"
SIZE = 64
YOLO_SCRIPT = Path(sys.executable).parent / "yolo"


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    """A 96 x 72 picture of shapes on a gradient (candidates at conf 0.001)."""
    y, x = np.mgrid[0:72, 0:96].astype(np.float32)
    picture = np.stack([x * 2.5, y * 3.0, (x + y) * 1.5], -1)
    cv2.circle(picture, (30, 30), 18, (20, 200, 40), -1)
    cv2.rectangle(picture, (55, 25), (90, 65), (220, 30, 30), -1)
    path = tmp_path_factory.mktemp("picture") / "shapes.png"
    cv2.imwrite(str(path), np.clip(picture, 0, 255).astype(np.uint8))
    return path


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """The module's cache folder (YOLO_STUDIO_CACHE_DIR); its runtimes/ holds the entries."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def default_runtime(monkeypatch, cache) -> Path:
    """The user's default (no YOLO_STUDIO_RUNTIME) with the module's cache folder."""
    monkeypatch.delenv(RUNTIME_VARIABLE, raising=False)
    monkeypatch.setenv("YOLO_STUDIO_CACHE_DIR", str(cache))
    return cache


def predict(source: Path, image: Path, **kwargs):
    """(result, model, events) of one predict of ``image`` at conf 0.001."""
    events: list = []
    model = YOLO(source, progress=events.append)
    result = model.predict(image, imgsz=SIZE, conf=0.001, **kwargs)[0]
    return result, model, events


def exports(events: list) -> list[RunStarted]:
    return [e for e in events if isinstance(e, RunStarted) and e.mode == "export"]


def warnings(events: list) -> list[Warning]:
    return [e for e in events if isinstance(e, Warning)]


def manifest(cache: Path) -> Path:
    found = list((cache / "runtimes").glob(f"*-segment-{SIZE}-openvino-f32/{MANIFEST}"))
    assert len(found) == 1, found
    return found[0]


def assert_same_detections(fast, torch_result) -> None:
    """Every candidate of one is found in the other: same class, IoU >= 0.99, score within
    1e-4; their masks agree on 99.9% of the pixels."""
    a, b = torch_result.boxes.data, fast.boxes.data
    assert len(a) > 0 and len(a) == len(b)
    iou = box_iou(a[:, :4], b[:, :4])
    same = (a[:, 5:6] == b[:, 5].unsqueeze(0)) & ((a[:, 4:5] - b[:, 4]).abs() < 1e-4)
    matched = (iou >= 0.99) & same
    assert matched.any(1).all() and matched.any(0).all()
    order = matched.float().argmax(1)
    masks_a, masks_b = torch_result.masks.data > 0.5, fast.masks.data[order] > 0.5
    assert (masks_a == masks_b).float().mean() > 0.999


@pytest.fixture(scope="module")
def first_call(image, cache):
    """The first predict through the default runtime: it builds the module's entry."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(RUNTIME_VARIABLE, raising=False)
        patch.setenv("YOLO_STUDIO_CACHE_DIR", str(cache))
        patch.setenv(PRECISION_VARIABLE, "f32")  # as tests/conftest.py sets it for the tests
        result, model, events = predict(SEGMENT, image)
        torch_result, torch_model, _ = predict(SEGMENT, image, runtime="torch")
    return result, model, events, torch_result, torch_model


def test_auto_predicts_a_checkpoint_with_openvino_matching_pytorch(first_call, cache):
    result, model, events, torch_result, torch_model = first_call
    assert model.runtime == "OpenVINO" and torch_model.runtime == "PyTorch"
    started = exports(events)
    assert len(started) == 1 and "OpenVINO" in started[0].description
    assert warnings(events) == []
    assert_same_detections(result, torch_result)
    written = json.loads(manifest(cache).read_text())
    assert written["status"] == "passed" and written["key"]["imgsz"] == SIZE
    assert written["precision"] == "f32" and "(fp32," in written["parity"]
    assert written["parity"].startswith("passed")


def test_a_later_model_of_the_same_checkpoint_reuses_the_entry(first_call, default_runtime,
                                                               image):
    written = manifest(default_runtime)
    before = written.stat().st_mtime_ns
    result, model, events = predict(SEGMENT, image)
    assert model.runtime == "OpenVINO"
    assert exports(events) == [] and warnings(events) == []
    assert written.stat().st_mtime_ns == before
    assert_same_detections(result, first_call[3])


def test_val_runs_on_the_cached_runtime(first_call, default_runtime, tmp_path):
    from engine.data.shape_samples import make_shapes_dataset

    data = make_shapes_dataset(tmp_path / "shapes", size=SIZE, train=1, val=3)
    fast = YOLO(SEGMENT, progress=lambda _e: None)
    metrics = fast.val(data=str(data), imgsz=SIZE, batch=2, plots=False, conf=0.001)
    assert fast.runtime == "OpenVINO"
    reference = YOLO(SEGMENT, progress=lambda _e: None)
    expected = reference.val(data=str(data), imgsz=SIZE, batch=2, plots=False, conf=0.001,
                             runtime="torch")
    assert reference.runtime == "PyTorch"
    for key, value in expected.results_dict.items():
        assert metrics.results_dict[key] == pytest.approx(value, abs=1e-3), key


def test_runtime_torch_forces_pytorch(first_call, default_runtime, image):
    result, model, events = predict(SEGMENT, image, runtime="torch")
    assert model.runtime == "PyTorch" and exports(events) == []


def test_weights_changed_in_memory_run_on_pytorch(first_call, default_runtime, image):
    # the cache holds the checkpoint's weights as saved: a model changed since runs itself
    events: list = []
    model = YOLO(SEGMENT, progress=events.append)
    model.predict(image, imgsz=SIZE)
    assert model.runtime == "OpenVINO"
    with torch.no_grad():
        next(model.model.parameters()).mul_(0.5)
    model.predict(image, imgsz=SIZE)
    assert model.runtime == "PyTorch" and exports(events) == [] and warnings(events) == []


def test_the_yolo_command_in_a_new_process_reuses_the_cache(first_call, cache, image, tmp_path):
    written = manifest(cache)
    before = written.stat().st_mtime_ns
    env = {k: v for k, v in os.environ.items()
           if k not in (ACTIVE_VARIABLE, "LD_PRELOAD", RUNTIME_VARIABLE, "PYTEST_CURRENT_TEST")}
    env["YOLO_STUDIO_CACHE_DIR"] = str(cache)
    done = subprocess.run([str(YOLO_SCRIPT), "predict", f"model={SEGMENT}", f"source={image}",
                           f"imgsz={SIZE}", "conf=0.001"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=240)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-3000:]
    assert "Traceback" not in out and "WARNING" not in out, out[-3000:]
    assert "compiling" not in out, out[-3000:]  # no export: the entry was reused
    assert "shapes.png" in out and "ran on OpenVINO\n" in out, out[-3000:]
    assert written.stat().st_mtime_ns == before


def test_a_cache_folder_that_cannot_be_written_predicts_with_pytorch(monkeypatch, image,
                                                                     tmp_path):
    # tests run as root here, for whom a read-only mode does not bind: the folder cannot be
    # made because a file stands where its parent should be
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file")
    monkeypatch.delenv(RUNTIME_VARIABLE, raising=False)
    monkeypatch.setenv("YOLO_STUDIO_CACHE_DIR", str(blocker / "cache"))
    model = YOLO(SEGMENT, progress=(events := []).append)
    for _ in range(2):  # one warning, not one per call
        result = model.predict(image, imgsz=SIZE, conf=0.001)[0]
    assert model.runtime == "PyTorch" and exports(events) == []
    said = warnings(events)
    assert len(said) == 1 and "PyTorch" in said[0].message and "cache" in said[0].message
    assert len(result.boxes) > 0


def test_an_export_that_failed_its_check_is_remembered_and_pytorch_runs(monkeypatch, image,
                                                                        tmp_path):
    # the verdict a build writes when the export does not match PyTorch (written here with the
    # key a build of this checkpoint would have): later runs warn and use PyTorch, no export
    from engine.api.runtime_cache import (
        RUNTIMES,
        CacheKey,
        file_digest,
        precision_preference,
        runtime_version,
    )

    key = CacheKey(file_digest(SEGMENT), "segment", SIZE, "openvino",
                   runtime_version(RUNTIMES["openvino"]), precision=precision_preference())
    folder = tmp_path / "cache" / "runtimes" / key.folder_name
    folder.mkdir(parents=True)
    reason = "outputs differ by 2.50e-02, more than the fp32 tolerance 1e-03"
    (folder / MANIFEST).write_text(json.dumps({"version": 1, "key": key.__dict__,
                                               "status": "failed", "reason": reason}))
    monkeypatch.delenv(RUNTIME_VARIABLE, raising=False)
    monkeypatch.setenv("YOLO_STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    result, model, events = predict(SEGMENT, image)
    assert model.runtime == "PyTorch" and exports(events) == []
    said = warnings(events)
    assert len(said) == 1 and reason in said[0].message and "PyTorch" in said[0].message
    assert len(result.boxes) > 0


def test_a_runtime_broken_at_import_falls_back_to_pytorch(monkeypatch, image, tmp_path):
    # an openvino package whose import fails as a broken install's does (a library missing)
    broken = tmp_path / "site" / "openvino"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text(
        'raise ImportError("libopenvino.so.2026.4.1: cannot open shared object file")\n')
    monkeypatch.syspath_prepend(str(broken.parent))
    for name in [n for n in sys.modules if n == "openvino" or n.startswith("openvino.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delenv(RUNTIME_VARIABLE, raising=False)
    monkeypatch.setenv("YOLO_STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    result, model, events = predict(SEGMENT, image)
    assert model.runtime == "PyTorch" and exports(events) == []
    said = warnings(events)
    assert len(said) == 1 and "OpenVINO" in said[0].message and "load" in said[0].message
    assert len(result.boxes) > 0


@pytest.fixture(scope="module")
def classify_entry(tmp_path_factory):
    """Two builder processes (the one the yolo command and the studio start) at once on one
    entry of the smallest checkpoint, the reference's digits classifier at 32 px."""
    from engine.api.runtime_cache import (
        RUNTIMES,
        CacheKey,
        file_digest,
        runtime_version,
    )

    key = CacheKey(file_digest(CLASSIFY), "classify", 32, "openvino",
                   runtime_version(RUNTIMES["openvino"]), precision="f32")
    folder = tmp_path_factory.mktemp("classify") / "runtimes" / key.folder_name
    command = [sys.executable, "-m", "engine.api.runtime_cache", str(CLASSIFY),
               json.dumps(key.__dict__), str(folder), "1"]
    children = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(2)]
    replies = [(child.returncode, *child.communicate(timeout=240)) for child in children]
    return key, folder, [(child.returncode, out, err)
                         for child, (_, out, err) in zip(children, replies, strict=True)]


def test_two_processes_building_one_entry_both_succeed(classify_entry):
    key, folder, replies = classify_entry
    for code, out, err in replies:
        assert code == 0, err[-2000:]
        assert json.loads(out.strip().splitlines()[-1])["status"] == "passed", out + err
    written = json.loads((folder / MANIFEST).read_text())
    assert written["status"] == "passed" and written["key"] == key.__dict__
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # no temp left


def test_the_yolo_command_with_a_broken_runtime_predicts_with_pytorch(image, tmp_path):
    # the command runs the build in a child process: a runtime that fails there (here: an
    # openvino package whose import fails) is one warning, and PyTorch predicts
    broken = tmp_path / "site" / "openvino"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text(
        'raise ImportError("libopenvino.so.2026.4.1: cannot open shared object file")\n')
    env = {k: v for k, v in os.environ.items()
           if k not in (ACTIVE_VARIABLE, "LD_PRELOAD", RUNTIME_VARIABLE, "PYTEST_CURRENT_TEST")}
    env.update(YOLO_STUDIO_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(broken.parent))
    done = subprocess.run([str(YOLO_SCRIPT), "predict", f"model={SEGMENT}", f"source={image}",
                           f"imgsz={SIZE}", "conf=0.001"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=240)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in out, out[-3000:]
    said = [line for line in out.splitlines() if line.startswith("WARNING")]
    assert len(said) == 1 and "OpenVINO" in said[0] and "PyTorch" in said[0], out[-3000:]
    assert "cannot open shared object file" in said[0]
    assert "shapes.png" in out and "ran on PyTorch" in out  # predicted


def test_a_corrupt_entry_is_rebuilt_not_trusted(classify_entry, monkeypatch, image, tmp_path):
    # a copy of the classifier's entry in a cache of its own, with damaged weights
    _key, source, _replies = classify_entry
    copy = tmp_path / "cache" / "runtimes" / source.name
    shutil.copytree(source, copy)
    weights = next(copy.rglob("*.bin"))
    damaged = bytearray(weights.read_bytes())
    damaged[len(damaged) // 2: len(damaged) // 2 + 64] = bytes(64)
    weights.write_bytes(bytes(damaged))
    monkeypatch.delenv(RUNTIME_VARIABLE, raising=False)
    monkeypatch.setenv("YOLO_STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    events: list = []
    model = YOLO(CLASSIFY, progress=events.append)
    fast = model.predict(image, imgsz=32)[0]
    assert model.runtime == "OpenVINO" and len(exports(events)) == 1
    assert warnings(events) == []
    assert next(copy.rglob("*.bin")).read_bytes() != bytes(damaged)  # rebuilt in place
    reference = model.predict(image, imgsz=32, runtime="torch")[0]
    assert model.runtime == "PyTorch"
    assert fast.probs.top1 == reference.probs.top1
    assert torch.allclose(fast.probs.data, reference.probs.data, atol=1e-4)
