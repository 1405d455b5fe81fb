"""One forward for a TaskModel, a .pt checkpoint, a TorchScript and an ONNX export."""

import onnx
import pytest
import torch
from onnx import TensorProto, helper

from engine.backends import OnnxBackend, TorchBackend, TorchScriptBackend, load_backend
from engine.backends.torchscript_backend import quiet_jit
from engine.errors import CheckpointError, ExportError
from tests.engine.backends.conftest import IMGSZ, NAMES, coloured_images

KINDS = {
    "pt": TorchBackend,
    "onnx_dynamic": OnnxBackend,
    "onnx_batch2": OnnxBackend,
    "torchscript_batch2": TorchScriptBackend,
}


@pytest.mark.parametrize("which", list(KINDS))
def test_every_backend_gives_the_eager_probabilities(which, model_files, images, eager_probs):
    backend = load_backend(model_files[which])
    assert isinstance(backend, KINDS[which])
    probs = backend(images)  # batch 3: the fixed-batch exports run it in chunks of 2
    assert isinstance(probs, torch.Tensor) and probs.dtype == torch.float32
    assert probs.shape == (3, 3)
    torch.testing.assert_close(probs, eager_probs, atol=1e-4, rtol=0)


def test_a_task_model_runs_as_it_is_and_is_left_unchanged(classifier, images, eager_probs):
    backend = load_backend(classifier)
    torch.testing.assert_close(backend.forward(images), eager_probs, atol=1e-5, rtol=0)
    assert backend.kind == "torch" and backend.imgsz is None and backend.batch is None
    assert not classifier.is_fused and classifier.head.export is False
    assert classifier(images)[0].shape == (3, 3)  # still (probs, logits) for its owner


@pytest.mark.parametrize("which", list(KINDS))
def test_backends_describe_the_model(which, model_files):
    backend = load_backend(model_files[which])
    assert backend.task == "classify"
    assert backend.names == NAMES
    assert backend.stride == 32
    assert backend.device == torch.device("cpu") and backend.fp16 is False
    if which == "pt":
        assert (backend.imgsz, backend.batch, backend.dynamic) == (None, None, True)
    elif which == "onnx_dynamic":
        assert (backend.imgsz, backend.batch, backend.dynamic) == ((IMGSZ, IMGSZ), None, True)
    else:
        assert (backend.imgsz, backend.batch, backend.dynamic) == ((IMGSZ, IMGSZ), 2, False)


def test_dynamic_onnx_takes_any_batch_and_size(model_files, classifier):
    backend = load_backend(model_files["onnx_dynamic"])
    for count, size in ((1, 32), (5, 64)):
        images = coloured_images(count, size)
        with torch.inference_mode():
            expected = classifier(images)[0]
        torch.testing.assert_close(backend(images), expected, atol=1e-4, rtol=0)


def test_fixed_batch_runs_single_images_too(model_files, images, eager_probs):
    backend = load_backend(model_files["onnx_batch2"])
    torch.testing.assert_close(backend(images[2:]), eager_probs[2:], atol=1e-4, rtol=0)
    backend.warmup()


def test_fixed_size_export_says_which_size_it_needs(model_files):
    backend = load_backend(model_files["onnx_batch2"])
    with pytest.raises(
        ExportError, match=r"batch2\.onnx: was exported for 32x32 images, got 64x64"
    ):
        backend(torch.rand(2, 3, 64, 64))
    with pytest.raises(ExportError, match=r"\[N, 3, H, W\] batch, got shape \(3, 32, 32\)"):
        backend(torch.rand(3, 32, 32))
    with pytest.raises(ExportError, match="divide uint8 images by 255"):
        backend(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))


def test_an_onnx_file_that_is_not_ours_names_the_missing_key(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Identity", ["images"], ["output0"])],
        "foreign",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 3, 8, 8])],
    )
    path = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.raises(ExportError) as caught:
        load_backend(path)
    assert caught.value.path == str(path) and caught.value.key == "task"
    assert "not exported by YOLO Studio" in str(caught.value)


def test_a_torchscript_file_that_is_not_ours_names_the_missing_file(tmp_path):
    path = tmp_path / "foreign.torchscript"
    with quiet_jit():
        torch.jit.save(torch.jit.script(torch.nn.ReLU()), str(path))
    with pytest.raises(ExportError) as caught:
        load_backend(path)
    assert caught.value.path == str(path) and caught.value.key == "config.txt"


@pytest.mark.parametrize("suffix", [".onnx", ".torchscript"])
def test_a_damaged_export_is_reported_not_crashed_on(tmp_path, suffix):
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(b"\x08\x07 not a model at all" * 10)
    with pytest.raises(ExportError, match=r"broken\.(onnx|torchscript): cannot be loaded"):
        load_backend(path)


def test_unknown_suffix_and_missing_files(tmp_path):
    with pytest.raises(
        ExportError, match=r"cannot run '\.h5' files; .*\.pt, \.torchscript, \.onnx.*"
        r"\(\*_openvino_model/, \*_saved_model/"
    ):
        load_backend(tmp_path / "model.h5")
    with pytest.raises(ExportError, match=r"m_openvino_model: no such folder"):
        load_backend(tmp_path / "m_openvino_model")
    with pytest.raises(ExportError, match=r"missing\.onnx: no such file"):
        load_backend(tmp_path / "missing.onnx")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match=r"junk\.pt: is not a PyTorch checkpoint"):
        load_backend(tmp_path / "junk.pt")


def test_fp16_on_the_cpu_runs_in_float32(model_files, images, eager_probs):
    backend = load_backend(model_files["torchscript_batch2"], fp16=True)
    assert backend.fp16 is False
    torch.testing.assert_close(backend(images), eager_probs, atol=1e-4, rtol=0)
