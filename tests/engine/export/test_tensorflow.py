"""TensorFlow exports of every task: SavedModel, GraphDef, TFLite (fp32, fp16, int8) and Edge
TPU, through onnx2tf in the conversion worker; the parity gate, the backends, predict and val on
the exports, atomic files and clear errors."""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import YOLO
from engine.backends import load_backend
from engine.backends.torch_backend import prepare_model
from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.errors import ExportError
from engine.events import ignore
from engine.export import base as export_base
from engine.export import dataset_samples, export_model, get_exporter
from engine.export import tensorflow as tf_export
from engine.export.base import ExportOptions
from engine.export.run import build_metadata, output_shapes
from engine.tasks import get_task
from tests.engine.export.task_models import TASKS, as_tuple, first_image, make_datasets, task_model

# what each export is called in the tests -> (format=, extra export arguments)
VARIANTS = {
    "saved_model": ("saved_model", {}),
    "pb": ("pb", {}),
    "tflite": ("tflite", {}),
    "tflite_fp16": ("tflite", {"half": True}),
    "tflite_int8": ("tflite", {"int8": True}),
    "tfjs": ("tfjs", {}),
}
PRECISION = {"tflite_fp16": "fp16", "tflite_int8": "int8"}


class Exports:
    """Each task's checkpoint and its exports, made on first use (once per test module).

    The conversion worker keeps the last converted model, so a task's later formats skip
    onnx2tf: tests ask for all variants of one task before the next task.
    """

    def __init__(self, root: Path, datasets: dict[str, Path]) -> None:
        self.root, self.datasets = root, datasets
        self.checkpoints: dict[str, Path] = {}
        self.made: dict[tuple[str, str], object] = {}

    def checkpoint(self, task: str) -> Path:
        if task not in self.checkpoints:
            folder = self.root / task
            folder.mkdir(parents=True, exist_ok=True)
            self.checkpoints[task] = save_checkpoint(folder / "best.pt",
                                                     checkpoint_dict(task_model(task)))
        return self.checkpoints[task]

    def __call__(self, task: str, variant: str):
        """The ExportResult of ``variant``, checked by the parity gate on the task's data."""
        if (task, variant) not in self.made:
            format_, options = VARIANTS[variant]
            checkpoint = self.checkpoint(task)
            folder = checkpoint.parent / variant  # variants of one format must not collide
            folder.mkdir(exist_ok=True)
            source = shutil.copy2(checkpoint, folder / "best.pt")
            _, _, _, size, batch = TASKS[task]
            self.made[task, variant] = YOLO(source, progress=ignore).export(
                format=format_, imgsz=size, batch=batch, data=str(self.datasets[task]),
                **options,
            )
        return self.made[task, variant]


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, Path]:
    return make_datasets(tmp_path_factory.mktemp("tf_data"))


@pytest.fixture(scope="module")
def exports(datasets, tmp_path_factory) -> Exports:
    return Exports(tmp_path_factory.mktemp("tf"), datasets)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("task", TASKS)
def test_the_export_passes_the_parity_gate(exports, task, variant):
    result = exports(task, variant)
    precision = PRECISION.get(variant, "fp32")
    assert result.parity.status == "passed", result.parity.summary()
    assert result.parity.precision == precision and result.parity.inputs > 1  # noise + data
    bound = {"fp32": 1e-4, "fp16": 1e-2}.get(precision)
    assert bound is None or result.parity.max_error < bound
    if task != "classify":  # real detections were compared, not none
        assert result.parity.agreement >= 0.9 and "matched 0/" not in result.parity.decisions
    else:
        assert "equal 0/" not in result.parity.decisions
    folder = result.path.parent
    expected = {
        "saved_model": ["best.pt", "best_saved_model"],
        "pb": ["best.pb", "best.pt", "metadata.yaml"],
        "tfjs": ["best.pt", "best_web_model"],
    }.get(variant, ["best.pt", "best.tflite"])
    assert sorted(os.listdir(folder)) == expected  # no ONNX, no scratch, no temp file


def test_the_saved_model_folder_holds_the_model_and_its_metadata(exports):
    result = exports("segment", "saved_model")
    assert sorted(os.listdir(result.path)) == [
        "assets", "fingerprint.pb", "metadata.yaml", "saved_model.pb", "variables"
    ]
    export = YOLO(result.path, progress=ignore)
    assert (export.task, export.names) == ("segment", TASKS["segment"][2])
    assert export.exported.imgsz == (64, 64) and export.exported.batch == 1


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("task", TASKS)
def test_the_backend_gives_the_models_outputs_in_its_layout(exports, task, variant):
    result = exports(task, variant)
    backend = load_backend(result.path)
    _, _, names, size, batch = TASKS[task]
    assert (backend.task, backend.names, backend.imgsz, backend.batch) == (
        task, names, (size, size), batch
    )
    assert backend.fixed_shape
    images = torch.rand(3, 3, size, size, generator=torch.Generator().manual_seed(3))
    got, expected = as_tuple(backend(images)), as_tuple(load_backend(task_model(task))(images))
    tolerance = {"tflite_fp16": 5e-2, "tflite_int8": None}.get(variant, 1e-3)
    for a, b in zip(got, expected, strict=True):
        assert a.dtype == torch.float32 and a.shape == b.shape  # NCHW prototypes, as PyTorch's
        if tolerance is not None:
            torch.testing.assert_close(a, b, atol=tolerance, rtol=1e-3)
    if variant == "tflite_int8" and task != "classify":
        # boxes and keypoints within a few pixels, scores within a few hundredths
        nc = len(names)
        assert (got[0][:, 4 : 4 + nc] - expected[0][:, 4 : 4 + nc]).abs().mean() < 0.03
        assert (got[0][:, :4] - expected[0][:, :4]).abs().mean() < 3.0
        if task == "pose":
            xy = [5 + i for i in range(15) if i % 3 != 2]
            assert (got[0][:, xy] - expected[0][:, xy]).abs().mean() < 3.0
    with pytest.raises(ExportError, match=f"was exported for {size}x{size} images, got"):
        backend(torch.rand(1, 3, size + 32, size))


@pytest.mark.parametrize(("task", "variant"), [("classify", "saved_model"), ("segment", "pb"),
                                                ("pose", "tflite"), ("segment", "tflite_int8"),
                                                ("pose", "tfjs")])
def test_yolo_predicts_and_validates_on_the_export(exports, datasets, task, variant):
    result = exports(task, variant)
    model = YOLO(exports.checkpoint(task), progress=ignore)
    export = YOLO(result.path, progress=ignore)
    size = TASKS[task][3]
    assert (export.task, export.names) == (task, model.names)
    image = first_image(task, datasets[task])
    ours, theirs = model(image, imgsz=size)[0], export(image)[0]
    if task == "classify":
        torch.testing.assert_close(theirs.probs.data, ours.probs.data, atol=1e-4, rtol=0)
    else:
        assert len(ours.boxes) > 0 and len(theirs.boxes) > 0
    metrics = export.val(data=str(datasets[task]), plots=False).results_dict
    if variant != "tflite_int8":
        expected = model.val(data=str(datasets[task]), imgsz=size, plots=False).results_dict
        assert metrics == pytest.approx(expected, abs=1e-3)
    else:
        assert metrics and all(np.isfinite(v) for v in metrics.values())


def test_the_web_model_folder_holds_the_graph_its_weights_and_metadata(exports):
    result = exports("segment", "tfjs")
    files = set(os.listdir(result.path))
    shards = {name for name in files if name.startswith("group") and name.endswith(".bin")}
    assert shards and files - shards == {"metadata.yaml", "model.json"}
    manifest = json.loads((result.path / "model.json").read_text())
    assert manifest["format"] == "graph-model"
    assert sorted(manifest["signature"]["outputs"]) == ["output0", "output1"]
    export = YOLO(result.path, progress=ignore)
    assert (export.task, export.names) == ("segment", TASKS["segment"][2])


def test_exports_run_by_a_child_process_load_from_a_relative_path(exports, monkeypatch):
    result = exports("classify", "tfjs")
    monkeypatch.chdir(result.path.parent)
    backend = load_backend(Path(result.path.name))
    assert backend(torch.rand(2, 3, 32, 32)).shape == (2, 3)
    backend.close()


def test_a_tfjs_export_without_the_runner_names_how_to_install_it(exports, monkeypatch):
    from engine.backends import tfjs_backend

    result = exports("classify", "tfjs")
    monkeypatch.setattr(tfjs_backend, "RUNNER_DIR", result.path.parent / "no_runner")
    with pytest.raises(ExportError, match=r"best_web_model: .+npm packages are not installed "
                                          r"\(npm ci --prefix "):
        load_backend(result.path)
    monkeypatch.setattr(tfjs_backend.shutil, "which", lambda _name: None)
    with pytest.raises(ExportError, match=r"needs Node\.js 18 or newer"):
        load_backend(result.path)


def test_the_tflite_file_carries_its_metadata_in_an_appended_zip(exports):
    result = exports("pose", "tflite")
    with zipfile.ZipFile(result.path) as archive:
        assert archive.namelist() == ["metadata.json"]
        metadata = json.loads(archive.read("metadata.json"))
    assert (metadata["task"], metadata["kpt_shape"], metadata["coordinates"]) == (
        "pose", [5, 3], "normalized"
    )
    assert metadata["args"] == {"imgsz": [64, 64], "batch": 1, "half": False, "int8": False}


def test_int8_tflite_takes_int8_images(exports):
    from ai_edge_litert.interpreter import Interpreter

    result = exports("classify", "tflite_int8")
    interpreter = Interpreter(model_path=str(result.path))
    (detail,) = interpreter.get_input_details()
    assert detail["dtype"] == np.int8 and list(detail["shape"]) == [2, 32, 32, 3]
    assert interpreter.get_output_details()[0]["dtype"] == np.int8


def test_keras_writes_a_keras_model_beside_the_saved_model(exports, tmp_path):
    import tf_keras

    checkpoint = shutil.copy2(exports.checkpoint("classify"), tmp_path / "best.pt")
    result = YOLO(checkpoint, progress=ignore).export(format="saved_model", imgsz=32, batch=2,
                                                      keras=True)
    assert result.parity.status == "passed" and (result.path / "best.h5").is_file()
    assert any("best.h5" in note or "<stem>.h5" in note for note in result.notes)
    keras_model = tf_keras.models.load_model(result.path / "best.h5")
    images = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    expected = load_backend(task_model("classify"))(images)
    got = keras_model(images.permute(0, 2, 3, 1).numpy()).numpy()
    np.testing.assert_allclose(got, expected.numpy(), atol=1e-4)


def test_the_worker_converts_a_model_once_for_several_formats(exports):
    exports("pose", "tflite")
    process = tf_export.WORKER._process
    assert process is not None and process.poll() is None
    exports("pose", "pb")
    assert tf_export.WORKER._process is process  # the same worker served both


def test_edgetpu_without_calibration_images_names_data(tmp_path):
    with pytest.raises(ExportError, match=r"Edge TPU export quantises .+ Pass data=") as caught:
        export_model(task_model("classify"), "edgetpu", output=tmp_path / "best.pt", imgsz=32)
    assert caught.value.key == "data" and os.listdir(tmp_path) == []


def _edgetpu_export(task: str, target: Path, samples: list[torch.Tensor]) -> Path:
    """The Edge TPU exporter called directly with calibration images (run.py passes them to
    int8 exports only)."""
    model = task_model(task)
    size = TASKS[task][3]
    options = ExportOptions(imgsz=(size, size), calibration=tuple(samples))
    exporter = get_exporter("edgetpu")
    prepared = prepare_model(model)
    example = torch.zeros(1, 3, size, size)
    return exporter.export(prepared, example, target, options=options,
                           metadata=build_metadata(model, options, exporter),
                           output_shapes=output_shapes(prepared, example), progress=ignore)


def test_edgetpu_writes_the_full_integer_tflite_and_names_the_missing_compiler(
    datasets, tmp_path, monkeypatch
):
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no edgetpu_compiler anywhere
    samples = dataset_samples(datasets["classify"], get_task("classify").samples(), (32, 32))
    quantised = tmp_path / "best_full_integer_quant.tflite"
    with pytest.raises(ExportError, match=(
        r"best_edgetpu.tflite: needs edgetpu_compiler, which is not installed: it comes only "
        r"from Google's Coral package repository .+ The full-integer TFLite was written to "
        + str(quantised).replace(".", r"\.")
    )):
        _edgetpu_export("classify", tmp_path / "best_edgetpu.tflite", samples)
    assert sorted(os.listdir(tmp_path)) == ["best_full_integer_quant.tflite"]
    backend = load_backend(quantised)  # runs here, on the CPU
    assert backend.task == "classify" and backend(torch.rand(2, 3, 32, 32)).shape == (2, 3)
    assert "Edge TPU device" in get_exporter("edgetpu").runtime_missing()


def test_yolo_export_to_edgetpu_calibrates_on_data(exports, datasets, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no edgetpu_compiler anywhere
    checkpoint = shutil.copy2(exports.checkpoint("classify"), tmp_path / "best.pt")
    with pytest.raises(ExportError, match=r"needs edgetpu_compiler, which is not installed"):
        YOLO(checkpoint, progress=ignore).export(format="edgetpu", imgsz=32,
                                                 data=str(datasets["classify"]))
    assert (tmp_path / "best_full_integer_quant.tflite").is_file()  # calibrated on the data


def test_edgetpu_runs_the_compiler_when_it_is_installed(datasets, tmp_path, monkeypatch):
    # a stand-in compiler: copies its input as <stem>_edgetpu.tflite into --out_dir
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    compiler = bin_dir / "edgetpu_compiler"
    compiler.write_text(
        f"#!{sys.executable}\n"
        "import shutil, sys\n"
        "out = sys.argv[sys.argv.index('--out_dir') + 1]\n"
        "shutil.copy(sys.argv[-1], out + '/' + sys.argv[-1].rsplit('/', 1)[-1][:-7]"
        " + '_edgetpu.tflite')\n"
    )
    compiler.chmod(compiler.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir))
    samples = dataset_samples(datasets["classify"], get_task("classify").samples(), (32, 32))
    target = _edgetpu_export("classify", tmp_path / "out" / "best_edgetpu.tflite", samples)
    assert sorted(os.listdir(target.parent)) == ["best_edgetpu.tflite",
                                                 "best_full_integer_quant.tflite"]
    with zipfile.ZipFile(target) as archive:
        assert json.loads(archive.read("metadata.json"))["task"] == "classify"
    with pytest.raises(ExportError, match=r"best_edgetpu.tflite: is compiled for the Edge TPU"):
        load_backend(target)  # no Coral device (libedgetpu) here


@pytest.mark.parametrize(
    ("missing", "message"),
    [
        ("tf_keras", r"needs the Python package\(s\) tf_keras, which are not installed\. Install "
                     r"them \(pip install 'yolo-studio\[tensorflow\]'\)"),
        ("onnx2tf", r"needs onnx2tf, which is installed apart .+: pip install --no-deps onnx2tf "
                    r"tensorflowjs"),
    ],
)
@pytest.mark.parametrize("format_", ["saved_model", "pb", "tflite", "edgetpu"])
def test_a_missing_package_names_how_to_install_it(monkeypatch, tmp_path, missing, message,
                                                   format_):
    real = export_base.modules_available
    monkeypatch.setattr(export_base, "modules_available",
                        lambda *names: missing not in names and real(*names))
    with pytest.raises(ExportError, match=message) as caught:
        export_model(task_model("classify"), format_, output=tmp_path / "m.pt", imgsz=32)
    assert caught.value.key == "format" and not os.listdir(tmp_path)


def test_an_unavailable_exporter_names_the_extra(monkeypatch, tmp_path):
    exporter = get_exporter("saved_model")
    monkeypatch.setattr(type(exporter), "available", lambda self: False)
    with pytest.raises(ExportError, match=r"pip install 'yolo-studio\[tensorflow\]'"):
        export_model(task_model("classify"), "saved_model", output=tmp_path / "m.pt", imgsz=32)


def metadata_of(tflite: Path) -> dict:
    with zipfile.ZipFile(tflite) as archive:
        return json.loads(archive.read("metadata.json"))


def _previous_export(tmp_path: Path) -> Path:
    previous = tmp_path / "m_saved_model"
    previous.mkdir()
    (previous / "saved_model.pb").write_text("previous export")
    return previous


def test_a_crashed_converter_is_named_and_keeps_the_previous_export(tmp_path, monkeypatch):
    previous = _previous_export(tmp_path)
    # a worker that takes the job and aborts, as a C++ converter failure would
    monkeypatch.setattr(tf_export, "worker_command", lambda: [
        sys.executable, "-c", "import os, sys; sys.stdin.readline(); os.abort()"
    ])
    monkeypatch.setattr(tf_export, "WORKER", tf_export.ConversionWorker())
    with pytest.raises(ExportError, match=(
        r"m_saved_model: TF SavedModel export failed: the TensorFlow converter process crashed "
        r"\(SIGABRT\).+Nothing was written"
    )):
        export_model(task_model("classify"), "saved_model", output=tmp_path / "m.pt", imgsz=32)
    assert os.listdir(tmp_path) == ["m_saved_model"]  # no half-written or temp folder
    assert (previous / "saved_model.pb").read_text() == "previous export"


def test_a_converter_error_is_named_and_writes_nothing(tmp_path, monkeypatch):
    from onnx import TensorProto, helper

    # a graph onnx2tf has no converter for
    graph = helper.make_graph(
        [helper.make_node("NoSuchOperator", ["images"], ["output0"], domain="studio.test")],
        "unconvertible",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 3])],
    )
    unconvertible = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                             helper.make_opsetid("studio.test", 1)])
    monkeypatch.setattr("engine.export.onnx.build_onnx", lambda *args: unconvertible)
    previous = tmp_path / "m.pb"
    previous.write_bytes(b"previous export")
    with pytest.raises(ExportError, match=r"m\.pb: TF GraphDef export failed: \w+: .+Nothing "
                                          r"was written"):
        export_model(task_model("classify"), "pb", output=tmp_path / "m.pt", imgsz=32)
    assert os.listdir(tmp_path) == ["m.pb"] and previous.read_bytes() == b"previous export"


@pytest.mark.parametrize(
    ("variant", "damage", "message"),
    [
        ("tflite", lambda p: p.write_bytes(p.read_bytes()[:2000]),
         r"best\.tflite: carries no YOLO Studio metadata"),
        ("tflite", lambda p: p.write_bytes(tf_export.with_tflite_metadata(b"no model",
                                                                           metadata_of(p))),
         r"best\.tflite: cannot be loaded by TensorFlow Lite \(.+\): the file is damaged"),
        ("pb", lambda p: (p.parent / "metadata.yaml").unlink(),
         r"has no metadata\.yaml, which says the model's task"),
        ("pb", lambda p: p.write_bytes(b"\x00\xff garbage"),
         r"best\.pb: is not a TensorFlow GraphDef"),
        ("saved_model", lambda p: (p / "metadata.yaml").unlink(),
         r"best_saved_model: has no metadata\.yaml"),
        ("saved_model", lambda p: (p / "saved_model.pb").write_bytes(b"garbage"),
         r"best_saved_model: cannot be loaded as a TensorFlow SavedModel"),
    ],
    ids=["tflite-truncated", "tflite-not-a-model", "pb-no-metadata", "pb-garbage",
         "saved-model-no-metadata", "saved-model-garbage"],
)
def test_a_damaged_export_is_named_when_loading(exports, tmp_path, variant, damage, message):
    result = exports("classify", variant)
    if result.path.is_dir():
        copy = shutil.copytree(result.path, tmp_path / result.path.name)
    else:
        copy = Path(shutil.copy2(result.path, tmp_path / result.path.name))
        if variant == "pb":
            shutil.copy2(result.path.parent / "metadata.yaml", tmp_path / "metadata.yaml")
    damage(copy)
    with pytest.raises(ExportError, match=message):
        load_backend(copy)


def test_the_exporters_say_what_they_take():
    expected = {
        "saved_model": ("_saved_model", {"imgsz", "batch", "keras"}),
        "pb": (".pb", {"imgsz", "batch"}),
        "tflite": (".tflite", {"imgsz", "batch", "half", "int8"}),
        "edgetpu": ("_edgetpu.tflite", {"imgsz"}),
    }
    for format_, (suffix, arguments) in expected.items():
        exporter = get_exporter(format_)
        assert (exporter.suffix, exporter.extra, exporter.arguments) == (
            suffix, "tensorflow", frozenset(arguments)
        )
        assert exporter.available()
    assert get_exporter("tflite").runtime_missing() == ""
