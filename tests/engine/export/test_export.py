"""export_model: formats from a registry, metadata that reads back, atomic files, clear errors."""

import ast
import json
import os

import onnx
import pytest
import torch

from engine.backends import load_backend
from engine.backends.torchscript_backend import quiet_jit
from engine.cancel import CancelToken
from engine.errors import Cancelled, ExportError
from engine.events import RunFinished, RunStarted, Warning
from engine.export import (
    EXPORT_FORMATS,
    ExportOptions,
    check_imgsz,
    export_model,
    get_exporter,
    read_metadata,
)
from engine.export.run import build_metadata
from engine.formats.export_layouts import TORCHSCRIPT_CONFIG_FILE
from engine.nn import build_model
from engine.version import __version__


@pytest.fixture(scope="module")
def classifier():
    model = build_model("yolov8n-cls.yaml", num_classes=3)
    model.names = {0: "cat", 1: "dog", 2: "bird"}
    return model


def test_registry_lists_the_formats_and_what_they_honour():
    assert {"onnx", "torchscript"} <= set(EXPORT_FORMATS)
    onnx_exporter = get_exporter("ONNX")
    assert (onnx_exporter.suffix, onnx_exporter.available()) == (".onnx", True)
    assert {"half", "dynamic", "simplify", "opset"} <= onnx_exporter.arguments
    assert get_exporter("torchscript").arguments >= {"imgsz", "optimize"}


def test_unknown_format_names_the_nearest_and_lists_the_valid_ones():
    with pytest.raises(
        ExportError,
        match=r"unknown export format 'onxx'; did you mean 'onnx'\? valid formats: coreml, edgetpu, "
        r"engine, ncnn, onnx, openvino, paddle, pb, saved_model, tfjs, tflite, torchscript",
    ) as caught:
        get_exporter("onxx")
    assert caught.value.key == "format"


def test_onnx_export_with_metadata_and_events(classifier, tmp_path):
    events = []
    result = export_model(
        classifier,
        "onnx",
        output=tmp_path / "best.pt",
        imgsz=48,
        metadata={"description": "shapes", "task": "detect"},  # task describes the file: kept
        progress=events.append,
    )
    path = result.path
    assert path == tmp_path / "best.onnx" and os.fspath(result) == str(path)
    # the parity gate ran the file with onnxruntime beside the model
    assert result.parity.status == "passed" and result.parity.max_error < 1e-4
    assert result.parity.decisions.startswith("top-1 equal") and result.latency_ms > 0
    assert result.files == ("best.onnx",) and result.size_mb > 1
    assert sorted(os.listdir(tmp_path)) == ["best.onnx"]  # no temp file left behind
    props = {p.key: p.value for p in onnx.load(path).metadata_props}
    # Python literals, as the reference writes them and its loader (ast.literal_eval) reads them
    assert ast.literal_eval(props["names"]) == {0: "cat", 1: "dog", 2: "bird"}
    assert ast.literal_eval(props["args"])["opset"] == 17
    assert (props["author"], props["version"], props["description"]) == (
        "YOLO Studio",
        __version__,
        "shapes",
    )
    metadata = read_metadata(props, path)
    assert metadata.task == "classify" and metadata.names == classifier.names
    assert (metadata.stride, metadata.imgsz, metadata.batch, metadata.dynamic) == (
        32,
        (48, 48),
        1,
        False,
    )
    assert metadata.extras["args"]["opset"] == 17
    started, finished = events
    assert isinstance(started, RunStarted) and (started.mode, started.task) == (
        "export",
        "classify",
    )
    assert isinstance(finished, RunFinished) and finished.status == "completed"
    assert finished.results["size_mb"] > 1
    assert finished.results["export"]["passed"] is True


def test_torchscript_export_carries_its_metadata_and_refuses_arguments_it_does_not_take(
    classifier, tmp_path
):
    events = []
    with pytest.raises(
        ExportError,
        match=r"torchscript export does not take dynamic=True; it takes batch, imgsz, optimize\. "
        r"dynamic is taken by: engine, onnx, openvino",
    ) as caught:
        export_model(classifier, "torchscript", output=tmp_path / "m.pt", imgsz=32, dynamic=True,
                     progress=events.append)
    assert caught.value.key == "dynamic" and not os.listdir(tmp_path)
    # refused before the run starts: no RunStarted is left without its RunFinished
    assert not [e for e in events if isinstance(e, (RunStarted, RunFinished))]
    path = export_model(classifier, "torchscript", output=tmp_path / "m.pt", imgsz=32).path
    assert path.name == "m.torchscript"
    metadata = read_metadata(_torchscript_config(path), path)
    with quiet_jit():
        module = torch.jit.load(str(path))
    assert (metadata.task, metadata.names, metadata.imgsz) == (
        "classify",
        classifier.names,
        (32, 32),
    )
    images = torch.rand(1, 3, 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(module(images), classifier.eval()(images)[0], atol=1e-4, rtol=0)


def test_export_leaves_the_given_model_alone(classifier, tmp_path):
    classifier.train()
    export_model(classifier, "torchscript", output=tmp_path / "m.pt", imgsz=32)
    assert classifier.training and not classifier.is_fused and classifier.head.export is False
    assert all(p.requires_grad for p in classifier.parameters())


def test_segment_export_rounds_imgsz_up_and_gives_two_outputs(tmp_path):
    model = build_model("yolov8n-seg.yaml", num_classes=2)
    events = []
    path = export_model(
        model, "onnx", output=tmp_path / "seg.pt", imgsz=60, progress=events.append
    ).path
    warnings = [e for e in events if isinstance(e, Warning)]
    assert [w.message for w in warnings] == [
        "imgsz=60 is not a multiple of the model's largest stride 32; exporting at 64x64 instead"
    ]
    onnx_backend, torch_backend = load_backend(path), load_backend(model)
    assert onnx_backend.imgsz == (64, 64) and onnx_backend.task == "segment"
    images = torch.rand(1, 3, 64, 64)
    (detections, prototypes), (expected, expected_prototypes) = (
        onnx_backend(images),
        torch_backend(images),
    )
    assert detections.shape == (1, 4 + 2 + 32, 84) and prototypes.shape == (1, 32, 16, 16)
    torch.testing.assert_close(detections, expected, atol=1e-3, rtol=1e-4)  # boxes in pixels
    torch.testing.assert_close(prototypes, expected_prototypes, atol=1e-4, rtol=0)


def test_check_imgsz_rounds_up_to_the_multiple_it_is_given():
    """The detection family passes its largest stride, a classifier 1 (any size)."""
    assert check_imgsz(64, multiple=32) == ((64, 64), None)
    size, message = check_imgsz([100, 60], multiple=32)
    assert size == (128, 64) and "exporting at 128x64 instead" in message
    assert check_imgsz(10, multiple=32)[0] == (32, 32)
    assert check_imgsz(50, multiple=1) == ((50, 50), None)
    with pytest.raises(ExportError, match="imgsz must be a whole number >= 1 or"):
        check_imgsz([0, 64], multiple=1)


def test_pose_metadata_carries_the_keypoint_shape():
    with torch.device("meta"):
        model = build_model("yolov8n-pose.yaml")
    metadata = build_metadata(model, ExportOptions(imgsz=(640, 640)), get_exporter("onnx"))
    assert metadata["kpt_shape"] == [17, 3] and metadata["task"] == "pose"
    assert metadata["stride"] == 32 and metadata["date"]


def test_reference_style_metadata_reads_back():
    props = {
        "task": "detect",
        "names": "{0: 'person', 1: 'bicycle'}",
        "stride": "32",
        "imgsz": "[640, 640]",
        "batch": "1",
    }
    metadata = read_metadata(props, "yolov8n.onnx")
    assert metadata.names == {0: "person", 1: "bicycle"} and metadata.imgsz == (640, 640)
    with pytest.raises(
        ExportError, match=r"yolov8n\.onnx, key 'stride': has no 'stride' in its metadata"
    ):
        read_metadata({k: v for k, v in props.items() if k != "stride"}, "yolov8n.onnx")


def test_metadata_written_as_json_by_earlier_exports_still_reads_back():
    props = {"task": "segment", "names": '{"0": "circle"}', "stride": "32",
             "imgsz": "[320, 320]", "batch": "1", "args": '{"dynamic": false, "nms": null}'}
    metadata = read_metadata(props, "old.onnx")
    assert metadata.names == {0: "circle"} and metadata.extras["args"]["nms"] is None


def test_half_on_the_cpu_is_refused_with_what_to_do(classifier, tmp_path):
    with pytest.raises(
        ExportError, match="needs the model on a CUDA GPU, but it is on cpu"
    ) as caught:
        export_model(classifier, "onnx", output=tmp_path / "m.pt", half=True)
    assert caught.value.key == "half" and not os.listdir(tmp_path)


def test_bad_arguments_are_named(classifier, tmp_path):
    with pytest.raises(ExportError, match="batch must be a whole number >= 1"):
        export_model(classifier, "onnx", output=tmp_path / "m.pt", batch=0)
    with pytest.raises(ExportError, match="opset must be an ONNX opset number"):
        export_model(classifier, "onnx", output=tmp_path / "m.pt", opset=3)


def test_a_failed_export_names_format_and_model_and_writes_nothing(
    classifier, tmp_path, monkeypatch
):
    def broken_checker(_proto):
        raise ValueError("Graph must be in single static assignment form")

    monkeypatch.setattr(onnx.checker, "check_model", broken_checker)
    events = []
    with pytest.raises(ExportError) as caught:
        export_model(classifier, "onnx", output=tmp_path / "m.pt", imgsz=32, progress=events.append)
    assert str(caught.value).startswith(
        f"{tmp_path / 'm.onnx'}: ONNX export of yolov8n-cls failed (ValueError: Graph must be"
    )
    assert events[-1].status == "failed" and not os.listdir(tmp_path)


def test_an_opset_torch_cannot_write_is_refused_before_tracing(classifier, tmp_path):
    with pytest.raises(ExportError, match="opset 99 cannot be written by this torch") as caught:
        export_model(classifier, "onnx", output=tmp_path / "m.pt", imgsz=32, opset=99)
    assert caught.value.key == "opset"


@pytest.mark.parametrize(
    "interruption", [OSError(28, "No space left on device"), KeyboardInterrupt()]
)
def test_an_interrupted_write_keeps_the_previous_export(
    classifier, tmp_path, monkeypatch, interruption
):
    previous = tmp_path / "m.onnx"
    previous.write_bytes(b"previous export")

    def fail(_fd):
        raise interruption

    monkeypatch.setattr(os, "fsync", fail)
    events = []
    disk_full = isinstance(interruption, OSError)
    with pytest.raises(ExportError if disk_full else KeyboardInterrupt) as caught:
        export_model(classifier, "onnx", output=tmp_path / "m.pt", imgsz=32, progress=events.append)
    if disk_full:
        assert "could not be written (No space left on device)" in str(caught.value)
    assert os.listdir(tmp_path) == ["m.onnx"] and previous.read_bytes() == b"previous export"
    assert events[-1].status == ("failed" if disk_full else "cancelled")


def test_a_cancelled_export_writes_nothing(classifier, tmp_path):
    token, events = CancelToken(), []
    token.cancel()
    with pytest.raises(Cancelled):
        export_model(
            classifier,
            "torchscript",
            output=tmp_path / "m.pt",
            cancel=token,
            progress=events.append,
        )
    assert not os.listdir(tmp_path) and events[-1].status == "cancelled"


def test_optimize_is_applied_or_the_reason_given(classifier, tmp_path):
    import torch.backends.xnnpack

    events = []
    path = export_model(
        classifier,
        "torchscript",
        output=tmp_path / "m.pt",
        imgsz=32,
        optimize=True,
        progress=events.append,
    ).path
    warnings = [e.message for e in events if isinstance(e, Warning)]
    if torch.backends.xnnpack.enabled:
        assert warnings == []
    else:  # as in the CPU wheels here
        assert warnings == [
            "optimize=True skipped: this torch build has no XNNPACK, which mobile optimisation needs"
        ]
    images = torch.rand(2, 3, 32, 32)
    with torch.inference_mode():
        expected = classifier.eval()(images)[0]
    torch.testing.assert_close(load_backend(path)(images), expected, atol=1e-4, rtol=0)


def _torchscript_config(path):
    extra = {TORCHSCRIPT_CONFIG_FILE: ""}
    with quiet_jit():
        torch.jit.load(str(path), _extra_files=extra)
    return json.loads(extra[TORCHSCRIPT_CONFIG_FILE])


def test_an_exported_model_says_what_it_cannot_do(classifier, tmp_path):
    """YOLO("m.onnx") predicts and validates; layers, weights and fusing need the checkpoint
    (they raised AttributeError on None)."""
    from engine import YOLO
    from engine.errors import ModelConfigError

    path = export_model(classifier, "onnx", output=tmp_path / "m.pt", imgsz=32,
                        verify=False).path
    exported = YOLO(path)
    assert repr(exported) == "YOLO(task='classify', classes=3, export='m.onnx')"
    for call, action in ((exported.info, "show its layers"), (exported.fuse, "fuse"),
                         (lambda: exported.load(path), "load weights"),
                         (lambda: exported.save(tmp_path / "copy.pt"), "be saved")):
        with pytest.raises(ModelConfigError, match=f"exported model: .* not {action}"):
            call()
    assert not (tmp_path / "copy.pt").exists()
