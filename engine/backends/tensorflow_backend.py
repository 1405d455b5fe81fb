"""TensorFlow exports as inference backends: SavedModel folders, frozen GraphDefs, TFLite files.

TensorFlow models take NHWC images: each backend transposes our NCHW batch and returns outputs
in the PyTorch model's layout (engine/backends/base.py). The exports have a fixed input shape,
so larger batches run in chunks of the export's batch. Everything runs on the CPU.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ExportError
from ..formats.export_metadata import ExportMetadata, read_metadata, read_metadata_yaml
from ..utils.native_stderr import native_stderr_filtered
from .base import Backend, metadata_fields

log = logging.getLogger(__name__)

INSTALL = "pip install 'yolo-studio[tensorflow]'"
TFLITE_METADATA = "metadata.json"  # engine/export/tensorflow.py appends it in a zip
EDGETPU_LIBRARY = "libedgetpu.so.1"


def import_tensorflow(path: Path) -> Any:
    """TensorFlow, imported on first use, kept on the CPU; a clear error when missing."""
    # TensorFlow's C++ INFO notices are noise in the user's terminal and the studio's log; they
    # come before its log level is read, so they are filtered (engine/utils/native_stderr.py).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with native_stderr_filtered():
        try:
            import tensorflow as tf
        except ImportError as exc:
            raise ExportError(f"running TensorFlow models needs tensorflow ({INSTALL})",
                              path=path) from exc
        # By default TensorFlow reserves all of a GPU's memory on first use, which would starve
        # a torch training beside it; these backends run on the CPU. (Once TensorFlow has set
        # up its devices this raises: an earlier use chose, and its choice is kept.)
        with contextlib.suppress(RuntimeError, ValueError):
            tf.config.set_visible_devices([], "GPU")
            tf.config.list_logical_devices()  # initialise now (cuInit), inside the filter
    return tf


class _NhwcBackend(Backend):
    """What the TensorFlow backends share: metadata, the fixed input shape, NCHW -> NHWC."""

    def _setup(self, path: Path, metadata: ExportMetadata, input_shape: list[int | None],
               device: torch.device) -> None:
        if device.type != "cpu":
            log.warning("%s runs on the CPU here; %s is not used", self.kind, device)
        fields = metadata_fields(metadata)
        batch, height, width, channels = (input_shape + [None] * 4)[:4]
        if height and width:
            fields["imgsz"] = (int(height), int(width))
        if channels:
            fields["channels"] = int(channels)
        fields["batch"] = int(batch) if batch else None
        fields["dynamic"] = not (batch and height and width)
        super().__init__(source=path, device=torch.device("cpu"), fp16=False,
                         fixed_shape=bool(height and width), **fields)
        self.metadata = metadata

    @staticmethod
    def _nhwc(images: torch.Tensor) -> np.ndarray:
        return images.detach().to("cpu", torch.float32).permute(0, 2, 3, 1).contiguous().numpy()


class SavedModelBackend(_NhwcBackend):
    """A ``*_saved_model/`` folder, run through its ``serving_default`` signature."""

    kind = "saved_model"

    def __init__(self, path: Path, *, device: torch.device, fp16: bool = False) -> None:
        tf = import_tensorflow(path)
        metadata = read_metadata_yaml(path)
        try:
            self.loaded = tf.saved_model.load(str(path))
            self.function = self.loaded.signatures["serving_default"]
        except Exception as exc:  # noqa: BLE001 - TensorFlow raises many kinds for a bad folder
            raise ExportError(
                f"cannot be loaded as a TensorFlow SavedModel with a 'serving_default' signature "
                f"({_first_line(exc)}); export the model again",
                path=path,
            ) from exc
        _, inputs = self.function.structured_input_signature
        if len(inputs) != 1:
            raise ExportError(f"takes {len(inputs)} inputs, not one image batch", path=path)
        (self.input_name, spec), = inputs.items()
        self.output_keys = _natural_order(self.function.structured_outputs)
        self._tf = tf
        self._setup(path, metadata, list(spec.shape), device)

    @classmethod
    def from_path(cls, path: Path, *, device: torch.device, fp16: bool = False) -> Backend:
        return cls(path, device=device, fp16=fp16)

    def _run(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feed = {self.input_name: self._tf.constant(self._nhwc(images))}
        results = self.function(**feed)
        return tuple(_tensor(results[key].numpy()) for key in self.output_keys)


class GraphDefBackend(_NhwcBackend):
    """A frozen ``.pb`` GraphDef with ``metadata.yaml`` beside it.

    The input is the graph's one placeholder; the outputs are its ``Identity`` nodes that feed
    nothing else, in name order (``Identity``, ``Identity_1`` ...: output0, output1 ...).
    """

    kind = "pb"

    def __init__(self, path: Path, *, device: torch.device, fp16: bool = False) -> None:
        tf = import_tensorflow(path)
        metadata = read_metadata_yaml(path.parent)
        graph_def = _read_graph_def(tf, path)
        placeholders = [n for n in graph_def.node if n.op == "Placeholder"]
        outputs = _graph_outputs(graph_def)
        if len(placeholders) != 1 or not outputs:
            raise ExportError(
                f"is not a frozen image model: {len(placeholders)} inputs, {len(outputs)} "
                "outputs found; export the model again",
                path=path,
            )
        placeholder = placeholders[0]
        wrapped = tf.compat.v1.wrap_function(
            lambda: tf.compat.v1.import_graph_def(graph_def, name=""), []
        )
        graph = wrapped.graph
        self.function = wrapped.prune(
            feeds=[graph.as_graph_element(f"{placeholder.name}:0")],
            fetches=[graph.as_graph_element(f"{name}:0") for name in outputs],
        )
        self._tf = tf
        shape = [d.size if d.size >= 0 else None
                 for d in placeholder.attr["shape"].shape.dim]
        self._setup(path, metadata, shape, device)

    @classmethod
    def from_path(cls, path: Path, *, device: torch.device, fp16: bool = False) -> Backend:
        return cls(path, device=device, fp16=fp16)

    def _run(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        results = self.function(self._tf.constant(self._nhwc(images)))
        return tuple(_tensor(result.numpy()) for result in results)


class TfLiteBackend(_NhwcBackend):
    """A ``.tflite`` file (``*_edgetpu.tflite`` through the Edge TPU delegate) on LiteRT.

    int8 inputs are quantised and int8 outputs dequantised with each tensor's scale and zero
    point. Detection outputs hold coordinates divided by the image size (metadata
    ``coordinates: normalized``, also the reference's convention); they are multiplied back.
    """

    kind = "tflite"

    def __init__(self, path: Path, *, device: torch.device, fp16: bool = False) -> None:
        metadata = read_tflite_metadata(path)
        self.interpreter = _interpreter(path)
        self._bind_tensors(path)
        self._setup(path, metadata, list(self.input_detail["shape"]), device)
        normalized = metadata.extras.get("coordinates", "normalized") == "normalized"
        # rows of boxes (and masks or keypoints) per anchor, [N, rows, anchors]: a detection
        # head's coordinates; a classifier's [N, classes] has none
        boxes = len(self.output_details[0]["shape"]) == 3
        self._scales = self._pixel_scales() if normalized and boxes else None

    @classmethod
    def from_path(cls, path: Path, *, device: torch.device, fp16: bool = False) -> Backend:
        return cls(path, device=device, fp16=fp16)

    def _bind_tensors(self, path: Path) -> None:
        """The input and the outputs in order: by the signature's names when the file has one
        (``output0`` ...), else by tensor name."""
        self.interpreter.allocate_tensors()
        signatures = self.interpreter.get_signature_list()
        if signatures:
            key = "serving_default" if "serving_default" in signatures else next(iter(signatures))
            runner = self.interpreter.get_signature_runner(key)
            inputs, outputs = runner.get_input_details(), runner.get_output_details()
            order = _natural_order(outputs)
            self.output_details = [outputs[name] for name in order]
            details = list(inputs.values())
        else:
            details = self.interpreter.get_input_details()
            self.output_details = sorted(self.interpreter.get_output_details(),
                                         key=lambda d: _natural_key(d["name"]))
        if len(details) != 1:
            raise ExportError(f"takes {len(details)} inputs, not one image batch", path=path)
        self.input_detail = details[0]

    def _pixel_scales(self) -> np.ndarray:
        """Per row of output0: the image width for x (and w), the height for y (and h)."""
        height, width = self.imgsz
        rows = self.output_details[0]["shape"][1]
        scales = np.ones(rows, dtype=np.float32)
        scales[[0, 2]], scales[[1, 3]] = width, height
        if self.keypoint_shape:
            keypoints, ndim = self.keypoint_shape
            first = rows - keypoints * ndim
            scales[first::ndim] = width
            scales[first + 1 :: ndim] = height
        return scales.reshape(1, rows, 1)

    def _run(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        detail = self.input_detail
        self.interpreter.set_tensor(detail["index"], _quantize(self._nhwc(images), detail))
        self.interpreter.invoke()
        outputs = [_dequantize(self.interpreter.get_tensor(d["index"]), d)
                   for d in self.output_details]
        if self._scales is not None and outputs[0].ndim == 3:
            outputs[0] = outputs[0] * self._scales
        return tuple(_tensor(output) for output in outputs)


def read_tflite_metadata(path: Path) -> ExportMetadata:
    """The metadata in the zip appended to a ``.tflite`` (``metadata.json``)."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = next((n for n in archive.namelist() if n.endswith(".json")), None)
            raw = json.loads(archive.read(name)) if name else None
    except (zipfile.BadZipFile, OSError, json.JSONDecodeError, KeyError) as exc:
        raise ExportError(
            f"carries no YOLO Studio metadata (expected a zip with {TFLITE_METADATA} appended to "
            f"the model: {_first_line(exc)}), so its task, classes and image size are unknown. "
            "Export the model again with YOLO Studio",
            path=path,
        ) from exc
    if not isinstance(raw, dict):
        raise ExportError(
            f"carries no {TFLITE_METADATA} metadata; export the model again with YOLO Studio",
            path=path,
        )
    return read_metadata(raw, path)


def _interpreter(path: Path) -> Any:
    """A LiteRT interpreter (tf.lite's when ai_edge_litert is missing), Edge TPU delegate for
    ``*_edgetpu.tflite``; a corrupt file gives an ExportError naming it."""
    try:
        from ai_edge_litert.interpreter import Interpreter, load_delegate
    except ImportError:
        tf = import_tensorflow(path)
        Interpreter, load_delegate = tf.lite.Interpreter, tf.lite.experimental.load_delegate
    delegates = []
    if path.name.endswith("_edgetpu.tflite"):
        try:
            # the runtime library is opened first: LiteRT's Delegate raises again from its
            # __del__ when it fails to open it itself
            ctypes.CDLL(EDGETPU_LIBRARY)
            delegates = [load_delegate(EDGETPU_LIBRARY)]
        except (ValueError, OSError) as exc:
            raise ExportError(
                f"is compiled for the Edge TPU, which needs a Coral device and its runtime "
                f"({EDGETPU_LIBRARY}, from Google's Coral package repository): "
                f"{_first_line(exc)}. Run the <stem>_full_integer_quant.tflite beside it here",
                path=path,
            ) from exc
    try:
        return Interpreter(model_path=str(path), experimental_delegates=delegates or None,
                           num_threads=max(1, torch.get_num_threads()))
    except (ValueError, RuntimeError) as exc:
        raise ExportError(
            f"cannot be loaded by TensorFlow Lite ({_first_line(exc)}): the file is damaged or "
            "not a TFLite model. Export the model again",
            path=path,
        ) from exc


def _quantize(values: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    dtype = detail["dtype"]
    if dtype == np.float32:
        return values
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(values / scale + zero_point), info.min, info.max).astype(dtype)


def _dequantize(values: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    if detail["dtype"] == np.float32:
        return values
    scale, zero_point = detail["quantization"]
    return (values.astype(np.float32) - zero_point) * np.float32(scale)


def _read_graph_def(tf: Any, path: Path) -> Any:
    from google.protobuf.message import DecodeError

    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(path.read_bytes())
    except (DecodeError, RuntimeWarning) as exc:
        raise ExportError(
            f"is not a TensorFlow GraphDef ({_first_line(exc)}); export the model again",
            path=path,
        ) from exc
    return graph_def


def _graph_outputs(graph_def: Any) -> list[str]:
    consumed = {i.split(":")[0].lstrip("^") for n in graph_def.node for i in n.input}
    names = [n.name for n in graph_def.node if n.op == "Identity" and n.name not in consumed]
    return sorted(names, key=_natural_key)


def _natural_key(name: str) -> list[Any]:
    """``output2`` before ``output10``."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _natural_order(names: Any) -> list[str]:
    return sorted(names, key=_natural_key)


def _tensor(values: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else type(exc).__name__
