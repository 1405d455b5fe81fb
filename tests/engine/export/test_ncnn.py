"""ncnn export of every task in fp32 and fp16: pnnx in a temp folder, the parity gate, predict
and val on the export, fixed input size, atomic folders and clear errors."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
import torch

from engine import YOLO
from engine.backends import load_backend
from engine.errors import ExportError
from engine.events import ignore
from engine.export import export_model, get_exporter
from engine.export import ncnn as ncnn_export
from engine.nn.heads import Pose
from tests.engine.export.task_models import TASKS, first_image, make_datasets, task_model
from tests.engine.export.test_paddle import Exports, assert_predictions_match

PRECISIONS = {"fp32": False, "fp16": True}


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, Path]:
    return make_datasets(tmp_path_factory.mktemp("ncnn_data"))


@pytest.fixture(scope="module")
def exports(datasets, tmp_path_factory) -> dict[str, Exports]:
    """fp32 and fp16 exports of each task (converted on first use), made from an empty working
    folder that must stay empty: pnnx writes its side files where it runs."""
    cwd = tmp_path_factory.mktemp("ncnn_cwd")
    made = {
        precision: Exports(tmp_path_factory.mktemp(f"ncnn_{precision}"), datasets, "ncnn",
                           half=half)
        for precision, half in PRECISIONS.items()
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        for group in made.values():
            for task in TASKS:
                group[task]  # noqa: B018 - converts it, from the empty working folder
        assert os.listdir(cwd) == []
    return made


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("task", TASKS)
def test_the_export_passes_the_parity_gate_and_holds_only_the_ncnn_files(
    exports, task, precision
):
    checkpoint, result = exports[precision][task]
    assert result.path == checkpoint.parent / "best_ncnn_model"
    assert result.parity.status == "passed" and result.parity.precision == precision
    assert result.parity.max_error < (1e-4 if precision == "fp32" else 1e-2)
    assert result.parity.inputs > 1  # noise + the dataset's images
    if task != "classify":
        assert result.parity.agreement == 1.0 and "matched 0/0" not in result.parity.decisions
    assert sorted(os.listdir(result.path)) == ["metadata.yaml", "model.ncnn.bin",
                                               "model.ncnn.param"]
    # no pnnx side files (TorchScript, .py, .onnx, pnnx param/bin) and no temp folder
    assert sorted(os.listdir(checkpoint.parent)) == ["best.pt", "best_ncnn_model"]
    assert any("takes" in note and "images only" in note for note in result.notes)


@pytest.mark.parametrize("task", TASKS)
def test_half_stores_fp16_weights_in_the_same_graph(exports, task):
    full, half = (exports[p][task][1].path for p in PRECISIONS)
    assert (full / "model.ncnn.param").read_text() == (half / "model.ncnn.param").read_text()
    ratio = (half / "model.ncnn.bin").stat().st_size / (full / "model.ncnn.bin").stat().st_size
    assert 0.45 < ratio < 0.55
    backend = load_backend(half)
    assert backend.metadata.half and not load_backend(full).metadata.half
    assert YOLO(half, progress=ignore).task == task  # half exports load like fp32 ones


@pytest.mark.parametrize("task", TASKS)
def test_the_backend_runs_any_batch_at_the_exported_size_only(exports, task):
    _, result = exports["fp32"][task]
    backend = load_backend(result.path)
    size = TASKS[task][3]
    assert (backend.kind, backend.task, backend.names) == ("ncnn", task, TASKS[task][2])
    assert backend.fixed_shape and backend.imgsz == (size, size) and backend.batch is None
    images = torch.rand(3, 3, size, size, generator=torch.Generator().manual_seed(3))
    got, expected = backend(images), load_backend(task_model(task))(images)
    for a, b in zip(got if isinstance(got, tuple) else (got,),
                    expected if isinstance(expected, tuple) else (expected,), strict=True):
        assert a.dtype == torch.float32 and a.shape == b.shape
        torch.testing.assert_close(a, b, atol=1e-3, rtol=1e-4)
    # ncnn would run it, with the anchors of the exported size: refused instead
    with pytest.raises(ExportError, match=f"was exported for {size}x{size} images, got"):
        backend(torch.rand(1, 3, size + 32, size))


@pytest.mark.parametrize("task", TASKS)
def test_yolo_predicts_and_validates_on_the_export(exports, datasets, task):
    checkpoint, result = exports["fp32"][task]
    model, export = YOLO(checkpoint, progress=ignore), YOLO(result.path, progress=ignore)
    size = TASKS[task][3]
    assert (export.task, export.names) == (task, model.names)
    assert export.exported.keypoint_shape == model.model.keypoint_shape
    image = first_image(task, datasets[task])
    assert_predictions_match(task, model(image, imgsz=size)[0], export(image)[0])
    ours = model.val(data=str(datasets[task]), imgsz=size, plots=False)
    theirs = export.val(data=str(datasets[task]), plots=False)
    assert theirs.results_dict == pytest.approx(ours.results_dict, abs=1e-3)


def test_a_pose_head_with_strided_slices_is_refused_with_the_reason(tmp_path, monkeypatch):
    """A head that decodes keypoints into strided slices (as ours once did): pnnx keeps
    ``Tensor.slice`` (step 3), which ncnn has no layer for, and the export stops before writing
    anything."""

    def strided(head, keypoints, anchors, strides):
        out = keypoints.clone()
        out[:, 2::3] = out[:, 2::3].sigmoid()
        out[:, 0::3] = (out[:, 0::3] * 2.0 + (anchors[0] - 0.5)) * strides
        out[:, 1::3] = (out[:, 1::3] * 2.0 + (anchors[1] - 0.5)) * strides
        return out

    monkeypatch.setattr(Pose, "decode_keypoints", strided)
    with pytest.raises(ExportError, match=r"pnnx left operations that ncnn has no layer for: "
                                          r".*Tensor\.slice"):
        export_model(task_model("pose"), "ncnn", output=tmp_path / "m.pt", imgsz=64)
    assert os.listdir(tmp_path) == []


def test_a_pnnx_failure_is_named_and_keeps_the_previous_export(tmp_path, monkeypatch):
    fake = tmp_path / "fake_pnnx"
    fake.write_text("#!/bin/sh\necho 'converting...'\necho 'unsupported aten::foo' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setattr(ncnn_export, "pnnx_executable", lambda: str(fake))
    previous = tmp_path / "out" / "m_ncnn_model"
    previous.mkdir(parents=True)
    (previous / "model.ncnn.param").write_text("previous export")
    with pytest.raises(ExportError, match=r"pnnx could not convert the model \(exit code 3\): "
                                          r"unsupported aten::foo"):
        export_model(task_model("classify"), "ncnn", output=tmp_path / "out" / "m.pt", imgsz=32)
    assert os.listdir(tmp_path / "out") == ["m_ncnn_model"]
    assert (previous / "model.ncnn.param").read_text() == "previous export"


def test_a_missing_extra_names_the_pip_extra(monkeypatch, tmp_path):
    monkeypatch.setattr(ncnn_export, "modules_available", lambda *names: "pnnx" not in names)
    with pytest.raises(ExportError, match=r"pip install 'yolo-studio\[ncnn\]'") as caught:
        export_model(task_model("classify"), "ncnn", output=tmp_path / "m.pt", imgsz=32)
    assert caught.value.key == "format" and not os.listdir(tmp_path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda f: (f / "metadata.yaml").unlink(), r"best_ncnn_model: has no metadata\.yaml"),
        (lambda f: (f / "metadata.yaml").write_text("task: classify\n"),
         r"metadata\.yaml, key 'names': has no 'names'"),
        (lambda f: (f / "model.ncnn.param").unlink(), r"model\.ncnn\.param: is missing"),
        (lambda f: (f / "model.ncnn.bin").unlink(), r"model\.ncnn\.bin: is missing"),
        (lambda f: (f / "model.ncnn.param").write_text("not a graph\n"),
         r"model\.ncnn\.param: is not an ncnn graph"),
        (lambda f: (f / "model.ncnn.bin").write_bytes(b"\0" * 64),
         r"model\.ncnn\.bin: does not hold the weights"),
    ],
    ids=["no-metadata", "incomplete-metadata", "no-param", "no-bin", "broken-param",
         "truncated-bin"],
)
def test_a_damaged_export_folder_is_named_when_loading(exports, tmp_path, damage, message):
    _, result = exports["fp32"]["classify"]
    folder = shutil.copytree(result.path, tmp_path / "best_ncnn_model")
    damage(folder)
    with pytest.raises(ExportError, match=message):
        load_backend(folder)


def test_the_exporter_says_what_it_takes():
    exporter = get_exporter("ncnn")
    assert (exporter.suffix, exporter.extra, exporter.arguments) == (
        "_ncnn_model", "ncnn", frozenset({"imgsz", "batch", "half"})
    )
    assert exporter.available() and exporter.runtime_missing() == ""
    assert exporter.half_needs_cuda is False
