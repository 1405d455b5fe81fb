"""TensorFlow exports: SavedModel, frozen GraphDef, TFLite (fp32, fp16, int8) and Edge TPU.

Every one starts the same way: the model's ONNX graph (opset 17, simplified by onnxslim: onnx2tf
fails on the raw C2f graph) goes through onnx2tf to a Keras graph, which is saved as a plain
SavedModel with one signature, ``serving_default``: ``images`` (NHWC float32 in 0..1) in,
``output0`` (``output1``) out in exactly the PyTorch model's layout (onnx2tf gives segment
prototypes as NHWC; they are transposed back inside the graph). The formats are made from it.

The conversion runs in a worker process (``serve_jobs``, one per application process, started
on first use, stopped after ``IDLE_SECONDS`` unused and at exit), because onnx2tf changes its host
process: importing it reseeds Python's and NumPy's global random generators and raises the
recursion limit to 2**31 - 1; converting sets ``CUDA_VISIBLE_DEVICES=-1`` and TensorFlow op
determinism, prints to stdout, and leaves by ``sys.exit`` on some errors; and the TFLite
converter is C++ that can abort. The worker keeps the last converted model, so exporting one
model to several TensorFlow formats (the export wizard, ``benchmark``) converts it once. Each
job's working folder holds our own ``calibration_image_sample_data_20x128x128x3_float32.npy``:
onnx2tf reads that file from its working folder and downloads it when it is missing, and exports
must never touch the network.

onnx2tf's own writers are not used (``disable_model_save``): they serialise Keras metadata for
every layer, which took 45 s for yolov8n-seg at 64 px where a signature-only SavedModel takes 1 s.

Detection outputs (segment, pose) are converted with box and keypoint coordinates divided by the
image width and height, and the SavedModel (GraphDef, TF.js) signature multiplies them back in
float; TFLite files keep them divided, as the reference's do (metadata ``coordinates:
normalized``; the backend multiplies them back): int8 quantises the output concatenation with
one scale, and pixel coordinates up to the image size beside 0..1 scores would round every score
to 0.
"""

from __future__ import annotations

import atexit
import hashlib
import io
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ExportError
from ..events import Reporter
from ..utils.atomic import atomic_directory, atomic_writer
from . import base
from .base import (
    DEFAULT_OPSET,
    INPUT_NAME,
    METADATA_FILE,
    ExportOptions,
    metadata_to_json,
    output_names,
    write_metadata_yaml,
)

log = logging.getLogger(__name__)

EXTRA_MODULES = ("tensorflow", "tf_keras", "ai_edge_litert", "onnx_graphsurgeon", "sng4onnx")
"""What ``pip install 'yolo-studio[tensorflow]'`` brings (import names)."""
NO_DEPS_INSTALL = "pip install --no-deps onnx2tf tensorflowjs"
"""Installed apart: their own pins would downgrade tensorflow, numpy, onnx and protobuf."""
TFLITE_METADATA = "metadata.json"
"""The member of the zip appended to a ``.tflite`` that holds the export's metadata (JSON)."""
CALIBRATION_SAMPLE = "calibration_image_sample_data_20x128x128x3_float32.npy"
"""The file onnx2tf reads from its working folder (and downloads when it is missing)."""
EDGETPU_COMPILER = "edgetpu_compiler"
IDLE_SECONDS = 300.0
"""The conversion worker stops after this long without a job (it holds a TensorFlow model)."""
_ENGINE_ROOT = Path(__file__).resolve().parents[2]  # the folder that holds ``engine/``


class TensorFlowExporter:
    """What the TensorFlow formats share: requirements, the conversion, the runtime check."""

    format = ""
    name = ""
    suffix = ""
    arguments: frozenset[str] = frozenset()
    requirements: tuple[str, ...] = ("tensorflow", "tf_keras", "ai-edge-litert",
                                     "onnx_graphsurgeon", "sng4onnx", "onnx2tf")
    extra = "tensorflow"
    half_needs_cuda = False  # the converters store fp16 weights themselves
    no_deps_modules: tuple[str, ...] = ("onnx2tf",)

    def available(self) -> bool:
        return not self._missing_extra() and not self._missing_no_deps()

    def unavailable_reason(self) -> str:
        """Which install command brings what is missing (the extra, or the --no-deps pair)."""
        extra, no_deps = self._missing_extra(), self._missing_no_deps()
        if no_deps and not extra:
            return (f"{self.name} export needs {', '.join(no_deps)}, which is installed apart "
                    f"from the extras because its own pins would downgrade tensorflow, numpy "
                    f"and onnx: {NO_DEPS_INSTALL}")
        then = f", then {NO_DEPS_INSTALL}" if no_deps else ""
        packages = ", ".join(extra or ["tensorflow"])
        return (f"{self.name} export needs the Python package(s) {packages}, which are not "
                f"installed. Install them (pip install 'yolo-studio[{self.extra}]'{then}) and "
                "export again")

    def runtime_missing(self) -> str:
        if base.modules_available("tensorflow"):
            return ""
        return f"tensorflow is not installed (pip install 'yolo-studio[{self.extra}]')"

    def export(
        self,
        model: nn.Module,
        example: torch.Tensor,
        target: Path,
        *,
        options: ExportOptions,
        metadata: Mapping[str, Any],
        output_shapes: tuple[tuple[int, ...], ...],
        progress: Reporter,
    ) -> Path:
        raise NotImplementedError

    def _missing_extra(self) -> list[str]:
        return [m for m in EXTRA_MODULES if not base.modules_available(m)]

    def _missing_no_deps(self) -> list[str]:
        return [m for m in self.no_deps_modules if not base.modules_available(m)]


class SavedModelExporter(TensorFlowExporter):
    """``format='saved_model'`` -> ``<stem>_saved_model/`` (SavedModel + ``metadata.yaml``).

    With ``keras=True`` the folder also holds ``<stem>.h5``: onnx2tf's Keras model in tf_keras's
    HDF5 format (``tf_keras.models.load_model(path)`` loads it, no custom objects needed). It is
    the graph before our signature: NHWC segment prototypes, and for segment and pose, box and
    keypoint coordinates divided by the image width and height (module docstring).
    """

    format = "saved_model"
    name = "TF SavedModel"
    suffix = "_saved_model"
    arguments = frozenset({"imgsz", "batch", "keras"})

    def notes(self, options: ExportOptions) -> list[str]:
        if not options.keras:
            return []
        return ["Keras model: <stem>.h5 in the folder (tf_keras.models.load_model; NHWC input, "
                "detection coordinates divided by the image size)"]

    def export(self, model, example, target, *, options, metadata, output_shapes, progress):
        stem = target.name[: -len(self.suffix)] or "model"
        with (
            converted(model, example, output_shapes, options, metadata, progress, self.name,
                      product="saved_model", keras=options.keras) as out,
            atomic_directory(target) as folder,
        ):
            _move_contents(out.folder / "saved_model", folder)
            if options.keras:
                shutil.move(out.folder / "model.h5", folder / f"{stem}.h5")
            write_metadata_yaml(folder, metadata)
        return target


class GraphDefExporter(TensorFlowExporter):
    """``format='pb'`` -> ``<stem>.pb``, the frozen ``serving_default`` graph (input
    ``images:0``, outputs ``Identity:0``, ``Identity_1:0``), with ``metadata.yaml`` beside it:
    a GraphDef holds no metadata."""

    format = "pb"
    name = "TF GraphDef"
    suffix = ".pb"
    arguments = frozenset({"imgsz", "batch"})

    def export(self, model, example, target, *, options, metadata, output_shapes, progress):
        with converted(model, example, output_shapes, options, metadata, progress, self.name,
                       product="pb") as out:
            # metadata first: a .pb is never left without the file that says how to run it
            _write_metadata_beside(target, metadata)
            with atomic_writer(target) as handle, open(out.folder / "model.pb", "rb") as source:
                shutil.copyfileobj(source, handle)
        return target


class TfLiteExporter(TensorFlowExporter):
    """``format='tflite'`` -> ``<stem>.tflite``: fp32, fp16 weights (``half``) or full int8
    (``int8``: int8 input, output and ops, calibrated on the dataset's images). The metadata is
    a zip (one ``metadata.json``) appended to the flatbuffer, which interpreters ignore."""

    format = "tflite"
    name = "TF Lite"
    suffix = ".tflite"
    arguments = frozenset({"imgsz", "batch", "half", "int8"})

    def export(self, model, example, target, *, options, metadata, output_shapes, progress):
        write_tflite(model, example, target, options, metadata, output_shapes, progress,
                     self.name)
        return target


class EdgeTpuExporter(TensorFlowExporter):
    """``format='edgetpu'`` -> ``<stem>_edgetpu.tflite``: the full-integer TFLite (written as
    ``<stem>_full_integer_quant.tflite``) compiled by Google's ``edgetpu_compiler``.

    The compiler is neither on PyPI nor in Debian (only in Google's Coral package repository);
    without it the export stops with an error that says where the full-integer TFLite is, to
    compile elsewhere. Calibration needs images of the dataset (``data=``).
    """

    format = "edgetpu"
    name = "TF Edge TPU"
    suffix = "_edgetpu.tflite"
    arguments = frozenset({"imgsz"})
    calibrates = True  # quantises to int8 without an int8 argument: needs the dataset's images

    def runtime_missing(self) -> str:
        return ("an Edge TPU model runs only on an Edge TPU device (Coral USB/PCIe/Dev Board) "
                "with its runtime libedgetpu")

    def export(self, model, example, target, *, options, metadata, output_shapes, progress):
        if not options.calibration:
            raise ExportError(
                "Edge TPU export quantises the model to full int8, calibrated on images of the "
                "model's dataset, and none were given. Pass data=<dataset yaml or folder> (the "
                "dataset the model was trained on, or images like the ones it will see)",
                key="data",
            )
        stem = target.name[: -len(self.suffix)] or "model"
        quantised = target.with_name(f"{stem}_full_integer_quant.tflite")
        flatbuffer, facts = write_tflite(model, example, quantised,
                                         replace(options, int8=True, half=False), metadata,
                                         output_shapes, progress, self.name)
        compiler = shutil.which(EDGETPU_COMPILER)
        if compiler is None:
            raise ExportError(
                f"needs {EDGETPU_COMPILER}, which is not installed: it comes only from Google's "
                "Coral package repository (https://coral.ai/docs/edgetpu/compiler/), not from "
                "PyPI or Debian, and runs on x86-64 Linux. The full-integer TFLite was written "
                f"to {quantised}; compile it with `{EDGETPU_COMPILER} {quantised.name}` where "
                "the compiler is installed",
                path=target,
            )
        _compile_for_edgetpu(compiler, flatbuffer, quantised, target, facts)
        return target


# --- the application's side: ONNX, a job for the worker, the files ----------------------------


@dataclass(frozen=True)
class Converted:
    """A finished job: ``folder`` holds the product; ``normalized`` says whether detection
    coordinates were divided by the image size (what TFLite files keep)."""

    folder: Path
    normalized: bool


def write_tflite(
    model: nn.Module,
    example: torch.Tensor,
    target: Path,
    options: ExportOptions,
    metadata: Mapping[str, Any],
    output_shapes: tuple[tuple[int, ...], ...],
    progress: Reporter,
    name: str,
) -> tuple[bytes, dict[str, Any]]:
    """Convert and write one ``.tflite`` of ``options.precision`` with its metadata appended;
    returns the flatbuffer alone and the metadata written."""
    if options.int8 and not len(calibration_images(options)):
        raise ExportError(
            f"int8 calibration needs images of {options.imgsz[0]}x{options.imgsz[1]}; none of "
            "the given images has that size. Pass data= with the model's dataset",
            key="data",
        )
    with converted(model, example, output_shapes, options, metadata, progress, name,
                   product="tflite") as out:
        facts = dict(metadata)
        if out.normalized:
            facts["coordinates"] = "normalized"
        flatbuffer = (out.folder / "model.tflite").read_bytes()
    with atomic_writer(target) as handle:
        handle.write(with_tflite_metadata(flatbuffer, facts))
    return flatbuffer, facts


def with_tflite_metadata(flatbuffer: bytes, metadata: Mapping[str, Any]) -> bytes:
    """The flatbuffer followed by a zip holding ``metadata.json``.

    TFLite interpreters read the flatbuffer from its start and ignore what follows; zip readers
    find the archive from the end of the file.
    """
    buffer = io.BytesIO(flatbuffer)
    buffer.seek(0, io.SEEK_END)
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(TFLITE_METADATA, metadata_to_json(metadata))
    return buffer.getvalue()


@contextmanager
def converted(
    model: nn.Module,
    example: torch.Tensor,
    output_shapes: tuple[tuple[int, ...], ...],
    options: ExportOptions,
    metadata: Mapping[str, Any],
    progress: Reporter,
    name: str,
    *,
    product: str,
    keras: bool = False,
) -> Iterator[Converted]:
    """Have the worker convert ``model`` to ``product``; yield where the result is.

    ``product``: ``saved_model``, ``pb``, ``tflite`` or ``tfjs``. The folder (and the scratch
    folder around it) is deleted when the ``with`` block ends.
    """
    from .onnx import build_onnx

    settings = replace(options, opset=DEFAULT_OPSET, simplify=True)
    proto = build_onnx(model, example, output_shapes, settings, progress)
    pixel_scales = normalize_coordinates(proto, metadata, options.imgsz)
    graph = proto.SerializeToString()
    with tempfile.TemporaryDirectory(prefix="yolo_studio_tf_") as scratch:
        work = Path(scratch)
        (work / "model.onnx").write_bytes(graph)
        # onnx2tf checks its conversion on 20 images from this file (and would download it)
        sample = np.random.default_rng(0).random((20, 128, 128, 3), dtype=np.float32)
        np.save(work / CALIBRATION_SAMPLE, sample)
        if options.int8:
            np.save(work / "calibration.npy", calibration_images(options))
        job = {
            "key": hashlib.sha256(graph).hexdigest(),
            "product": product,
            "precision": options.precision,
            "keras": keras,
            "batch": options.batch,
            "output_shapes": [list(shape) for shape in output_shapes],
            "pixel_scales": None if pixel_scales is None else pixel_scales.tolist(),
        }
        (work / "job.json").write_text(json.dumps(job), encoding="utf-8")
        WORKER.run(work, name)
        yield Converted(work / "out", pixel_scales is not None)


def calibration_images(options: ExportOptions) -> np.ndarray:
    """The calibration images of the export's size, NHWC float32 (others are skipped)."""
    size = tuple(options.imgsz)
    images = [image.detach().float().cpu() for image in options.calibration
              if tuple(image.shape[1:]) == size]
    if not images:
        return np.zeros((0, *size, 3), dtype=np.float32)
    return torch.stack(images).permute(0, 2, 3, 1).contiguous().numpy()


def worker_command() -> list[str]:
    """How the conversion worker is started: this Python running ``serve_jobs``."""
    return [sys.executable, "-c", "from engine.export.tensorflow import serve_jobs; serve_jobs()"]


class ConversionWorker:
    """The worker process (module docstring): started on the first job, restarted after a
    crash, stopped when idle for ``IDLE_SECONDS`` and at exit. One job at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._timer: threading.Timer | None = None
        self._stderr: Any = None  # the worker's own messages (outside jobs): start-up errors

    def run(self, work: Path, name: str) -> None:
        """Run ``work/job.json``; a failed or crashed job raises one clear ExportError."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            reply = self._send(work / "job.json")
            self._timer = threading.Timer(IDLE_SECONDS, self.stop)
            self._timer.daemon = True
            self._timer.start()
        if reply.get("ok"):
            return
        log_text = _read_text(work / "convert.log") or reply.get("stderr", "")
        log.debug("TensorFlow conversion log:\n%s", log_text)
        raise ExportError(f"{name} export failed: {_failure(reply, log_text)}. Nothing was "
                          "written; run with debug logging for the converter's full log")

    def stop(self) -> None:
        """End the worker (it exits when its input closes); a later job starts a new one."""
        with self._lock:
            process, self._process = self._process, None
        if process is None:
            return
        try:
            process.stdin.close()
            process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
        process.stdout.close()

    def _send(self, job_file: Path) -> dict[str, Any]:
        if self._process is None or self._process.poll() is not None:
            self._process = self._start()
        try:
            self._process.stdin.write(f"{job_file}\n".encode())
            self._process.stdin.flush()
            line = self._process.stdout.readline()
        except OSError:
            line = b""
        if line:
            return json.loads(line)
        process, self._process = self._process, None
        code = process.wait()
        self._stderr.seek(0)
        return {"ok": False, "exit_code": code,
                "stderr": self._stderr.read().decode("utf-8", "replace")}

    def _start(self) -> subprocess.Popen:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(_ENGINE_ROOT), env.get("PYTHONPATH")) if p
        )
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ notices
        env["CUDA_VISIBLE_DEVICES"] = "-1"  # converting needs no GPU; leave it to training
        if self._stderr is not None:
            self._stderr.close()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - kept for the next failure
        return subprocess.Popen(worker_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=self._stderr, cwd=tempfile.gettempdir(), env=env)


WORKER = ConversionWorker()
"""The application's conversion worker (no process until the first TensorFlow export)."""
atexit.register(WORKER.stop)


def _failure(reply: Mapping[str, Any], log_text: str) -> str:
    lines = [line.strip() for line in log_text.splitlines() if line.strip()]
    errors = [line for line in lines if "error" in line.lower() and "Traceback" not in line]
    last = (errors or lines or ["no message"])[-1][:300]
    if "type" in reply:
        message = str(reply.get("message", "")).strip().splitlines()
        return f"{reply['type']}: {message[0][:300] if message else last}"
    code = int(reply.get("exit_code", 0))
    if code < 0:
        try:
            what = signal.Signals(-code).name
        except ValueError:
            what = f"signal {-code}"
        return f"the TensorFlow converter process crashed ({what}); its last words: {last}"
    return f"the TensorFlow converter process stopped (exit code {code}): {last}"


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""


def normalize_coordinates(
    proto: Any, metadata: Mapping[str, Any], imgsz: tuple[int, int]
) -> np.ndarray | None:
    """Rebuild a detection ``output0`` from its parts, coordinates divided by the image size.

    ``output0`` is a Concat of the boxes, the class scores and the mask coefficients or the
    keypoints. Each part is multiplied by its rows' factors (1/width for x and w, 1/height for
    y and h) before the Concat, so that it concatenates values of similar range.

    Pose keypoints are assembled by ScatterND (visibility, then x, then y into every third
    row), which TFLite int8 gets wrong: a scatter's output keeps the scale of what is written
    into it, so raw keypoints read back from it were clipped (keypoints came out 20-400x off).
    The parts join the Concat directly (a Gather puts the rows in order), and the raw rows are
    read from before the scatters (which are then dropped). Returns the factors that restore
    pixels per row of ``output0`` (``[rows]``), or None (graph unchanged) for classify models
    and graphs of another shape.
    """
    import onnx

    if metadata.get("task") not in ("detect", "segment", "pose"):
        return None
    rows = _row_scales(metadata, imgsz)
    graph = proto.graph
    nodes = {output: node for node in graph.node for output in node.output}
    concat = nodes.get(graph.output[0].name)
    axis = next((a.i for a in concat.attribute if a.name == "axis"), None) if concat else None
    if concat is None or concat.op_type != "Concat" or axis != 1:
        return None
    inferred = onnx.shape_inference.infer_shapes(proto)
    parts = _output_parts(graph, inferred, nodes, list(concat.input))
    if parts is None or sorted(c for _, rows_of in parts for c in rows_of) != list(
        range(len(rows))
    ):
        return None
    _rebuild_output(graph, concat, parts, rows)
    _bypass_scatters(graph, inferred)
    _drop_unused_nodes(graph)
    onnx.checker.check_model(proto)
    return rows


def _row_scales(metadata: Mapping[str, Any], imgsz: tuple[int, int]) -> np.ndarray:
    """Per row of ``output0``: the width for x (and w), the height for y (and h), else 1."""
    height, width = imgsz
    task = metadata["task"]
    keypoints, ndim = metadata.get("kpt_shape") or (0, 0)
    extra = {"segment": 32, "pose": keypoints * ndim}.get(task, 0)
    first = 4 + len(metadata["names"])
    rows = np.ones(first + extra, dtype=np.float64)
    rows[[0, 2]], rows[[1, 3]] = width, height
    if task == "pose":
        rows[first : first + extra : ndim] = width
        rows[first + 1 : first + extra : ndim] = height
    return rows


def _output_parts(
    graph: Any, inferred: Any, nodes: Mapping[str, Any], inputs: list[str]
) -> list[tuple[str, list[int]]] | None:
    """``(tensor, rows of output0 it fills)`` for each input of the Concat, ScatterND chains
    (every row written once, by constant indices) replaced by their updates."""
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in
              [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]}
    parts, start = [], 0
    for name in inputs:
        shape = shapes.get(name)
        if shape is None or len(shape) != 3 or not shape[1]:
            return None
        scattered = _scattered_rows(graph, nodes, name, shape[0], shape[1])
        for part, local_rows in scattered or [(name, list(range(shape[1])))]:
            parts.append((part, [start + row for row in local_rows]))
        start += shape[1]
    return parts


def _scattered_rows(
    graph: Any, nodes: Mapping[str, Any], name: str, batch: int, channels: int
) -> list[tuple[str, list[int]]] | None:
    """For a tensor made by ScatterND writes that cover all its rows: each update and the rows
    it writes; else None."""
    constants = _constants(graph)
    writes, written = [], []
    node = nodes.get(name)
    while node is not None and node.op_type == "ScatterND":
        rows = _scatter_rows(constants.get(node.input[1]), batch)
        if rows is None:
            return None
        writes.append((node.input[2], rows))
        written += rows
        node = nodes.get(node.input[0])
    if not writes or sorted(written) != list(range(channels)):
        return None
    return writes[::-1]


def _bypass_scatters(graph: Any, inferred: Any) -> None:
    """Slices that read rows a ScatterND did not write read them from its input instead.

    Pose decoding reads the raw x (y) rows back from the tensor the visibility (x) was
    scattered into; once these reads go around them, the scatters feed nothing and are dropped.
    """
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in
              [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]}
    constants = _constants(graph)
    nodes = {output: node for node in graph.node for output in node.output}
    for node in graph.node:
        if node.op_type != "Slice":
            continue
        source = nodes.get(node.input[0])
        while source is not None and source.op_type == "ScatterND":
            shape = shapes.get(source.input[0]) or [0, 0]
            written = _scatter_rows(constants.get(source.input[1]), shape[0])
            read = _sliced_rows(node, constants, shape[1]) if len(shape) > 1 else None
            if written is None or read is None or set(written) & set(read):
                break
            node.input[0] = source.input[0]
            source = nodes.get(source.input[0])


def _sliced_rows(node: Any, constants: Mapping[str, np.ndarray], channels: int) -> list[int] | None:
    """The rows (axis 1) a Slice with constant arguments takes; None for other slices."""
    values = [constants.get(name) for name in node.input[1:]]
    if len(values) < 3 or any(v is None for v in values) or values[2].tolist() != [1]:
        return None
    start, end = int(values[0][0]), int(values[1][0])
    step = int(values[3][0]) if len(values) > 3 else 1
    return np.arange(channels)[start:end:step].tolist()


def _scatter_rows(indices: np.ndarray | None, batch: int) -> list[int] | None:
    """The rows a ScatterND writes when its indices are ``(n, row)`` pairs with the same rows
    for every image of the batch; else None."""
    if indices is None or indices.ndim != 3 or indices.shape[0] != batch:
        return None
    if indices.shape[-1] != 2 or not (
        (indices[..., 0] == np.arange(batch)[:, None]).all()
        and (indices[..., 1] == indices[:1, :, 1]).all()
    ):
        return None
    return [int(r) for r in indices[0, :, 1]]


def _constants(graph: Any) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def _rebuild_output(
    graph: Any, concat: Any, parts: list[tuple[str, list[int]]], rows: np.ndarray
) -> None:
    """``output0 = Gather(Concat(part * factors ...), order)`` (no Gather when in order)."""
    from onnx import helper, numpy_helper

    inputs, added, order = [], [], []
    for index, (name, part_rows) in enumerate(parts):
        order += part_rows
        factors = 1.0 / rows[part_rows]
        if np.all(factors == 1.0):
            inputs.append(name)
            continue
        constant, scaled = f"output0/part{index}/scale", f"output0/part{index}/normalized"
        values = factors.reshape(1, len(part_rows), 1).astype(np.float32)
        graph.initializer.append(numpy_helper.from_array(values, constant))
        added.append(helper.make_node("Mul", [name, constant], [scaled],
                                      name=f"output0/part{index}/normalize"))
        inputs.append(scaled)
    output = concat.output[0]
    del concat.input[:]
    concat.input.extend(inputs)
    if order != sorted(order):
        gathered = np.argsort(np.asarray(order)).astype(np.int64)
        graph.initializer.append(numpy_helper.from_array(gathered, "output0/order"))
        concat.output[0] = "output0/unordered"
        graph.node.append(helper.make_node("Gather", ["output0/unordered", "output0/order"],
                                           [output], axis=1, name="output0/order"))
    _insert_before(graph, concat, added)


def _drop_unused_nodes(graph: Any) -> None:
    """Remove nodes whose outputs nothing uses (the ScatterND chain after a rebuild)."""
    while True:
        used = {name for node in graph.node for name in node.input}
        used |= {output.name for output in graph.output}
        dead = [node for node in graph.node if not any(o in used for o in node.output)]
        if not dead:
            return
        kept = [node for node in graph.node if all(node is not d for d in dead)]
        _replace_nodes(graph, kept)


def _insert_before(graph: Any, producer: Any, nodes: list[Any]) -> None:
    """Put ``nodes`` just before ``producer``: ONNX wants nodes in topological order."""
    ordered = []
    for node in graph.node:
        if node is producer:
            ordered += nodes
        ordered.append(node)
    _replace_nodes(graph, ordered)


def _replace_nodes(graph: Any, nodes: list[Any]) -> None:
    copies = []
    for node in nodes:
        copies.append(type(node)())
        copies[-1].CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


def _write_metadata_beside(target: Path, metadata: Mapping[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        text = write_metadata_yaml(Path(scratch), metadata).read_bytes()
    with atomic_writer(target.parent / METADATA_FILE) as handle:
        handle.write(text)


def _move_contents(source: Path, folder: Path) -> None:
    for item in sorted(source.iterdir()):
        shutil.move(item, folder / item.name)  # a copy across file systems


def _compile_for_edgetpu(
    compiler: str, flatbuffer: bytes, quantised: Path, target: Path, metadata: Mapping[str, Any]
) -> None:
    with tempfile.TemporaryDirectory(prefix="yolo_studio_edgetpu_") as scratch:
        given = Path(scratch) / "model.tflite"  # the flatbuffer without our appended zip
        given.write_bytes(flatbuffer)
        run = subprocess.run(
            [compiler, "-s", "-d", "-k", "10", "--out_dir", scratch, str(given)],
            capture_output=True, text=True, check=False,
        )
        compiled = Path(scratch) / "model_edgetpu.tflite"
        if run.returncode != 0 or not compiled.is_file():
            lines = (run.stderr or run.stdout).strip().splitlines()
            raise ExportError(
                f"{EDGETPU_COMPILER} failed ({lines[-1][:300] if lines else run.returncode}); "
                f"the full-integer TFLite it was given is {quantised}",
                path=target,
            )
        result = compiled.read_bytes()
    with atomic_writer(target) as handle:
        handle.write(with_tflite_metadata(result, metadata))


# --- the worker's side: runs in the process ``worker_command`` starts --------------------------


def serve_jobs() -> None:
    """The worker's loop: a job file's path per line of stdin, a JSON reply per line of stdout.

    Everything else the converters print goes to the job's ``convert.log``, so stdout carries
    replies only. It ends when stdin closes.
    """
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    cache: dict[str, _Conversion] = {}
    for line in sys.stdin:
        job_file = Path(line.strip())
        with _job_context(job_file.parent):
            reply = _run_job(job_file, cache)
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


@contextmanager
def _job_context(work: Path) -> Iterator[None]:
    """The job's folder as working folder (onnx2tf's sample file), its log as stdout/stderr."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    log_fd = os.open(work / "convert.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    previous = os.getcwd()
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.chdir(work)
    try:
        yield
    finally:
        os.chdir(previous)
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, log_fd):
            os.close(fd)


def _run_job(job_file: Path, cache: dict[str, _Conversion]) -> dict[str, Any]:
    try:
        job = json.loads(job_file.read_text(encoding="utf-8"))
        conversion = cache.get(job["key"])
        if conversion is None:
            cache.clear()  # one model at a time: they can be large
            conversion = _Conversion.of(job, job_file.parent / "model.onnx")
            cache[job["key"]] = conversion
        conversion.make(job, job_file.parent)
    except (Exception, SystemExit) as exc:  # onnx2tf leaves by sys.exit on some errors
        traceback.print_exc()
        message = str(exc) if not isinstance(exc, SystemExit) else "onnx2tf stopped (see log)"
        return {"ok": False, "type": type(exc).__name__, "message": message}
    return {"ok": True}


class _Conversion:
    """One model converted by onnx2tf, kept by the worker for the next product of it."""

    def __init__(self, keras_model: Any, pixel_scales: list[float] | None,
                 expected: list[tuple[int, ...]]) -> None:
        self.keras_model = keras_model
        self.serve = _serving_function(keras_model, expected, pixel_scales)
        raw = pixel_scales is not None  # TFLite keeps the divided coordinates
        self.serve_normalized = _serving_function(keras_model, expected, None) if raw else None
        self._folder = tempfile.TemporaryDirectory(prefix="yolo_studio_tf_model_")
        self._saved: dict[str, Path] = {}

    @classmethod
    def of(cls, job: Mapping[str, Any], onnx_file: Path) -> _Conversion:
        import onnx2tf

        keras_model = onnx2tf.convert(
            input_onnx_file_path=str(onnx_file),
            output_folder_path=str(onnx_file.parent / "onnx2tf"),
            not_use_onnxsim=True,  # simplified by onnxslim already
            verbosity="error",
            disable_model_save=True,  # the Keras model back, saved by us (module docstring)
        )
        expected = [tuple(shape) for shape in job["output_shapes"]]
        return cls(keras_model, job["pixel_scales"], expected)

    def make(self, job: Mapping[str, Any], work: Path) -> None:
        """Write ``job["product"]`` into ``work/out``."""
        out = work / "out"
        out.mkdir()
        product = job["product"]
        if product in ("saved_model", "tfjs"):
            shutil.copytree(self.saved_model("pixels"), out / "saved_model")
        if job["keras"]:
            self.keras_model.save(out / "model.h5", save_format="h5")
        if product == "pb":
            _write_frozen_graph(self.serve, out / "model.pb")
        elif product == "tflite":
            which = "pixels" if self.serve_normalized is None else "normalized"
            _write_tflite_flatbuffer(self.saved_model(which), out / "model.tflite",
                                     job["precision"], work / "calibration.npy",
                                     int(job["batch"]))
        elif product == "tfjs":
            from .tfjs import saved_model_to_tfjs

            saved_model_to_tfjs(out / "saved_model", out / "web_model")

    def saved_model(self, which: str) -> Path:
        """The SavedModel of ``self.serve`` (``pixels``) or ``self.serve_normalized``."""
        if which not in self._saved:
            folder = Path(self._folder.name) / which
            serve = self.serve if which == "pixels" else self.serve_normalized
            _save_signature_model(serve, self.keras_model, folder)
            self._saved[which] = folder
        return self._saved[which]


def _serving_function(
    keras_model: Any, expected: list[tuple[int, ...]], pixel_scales: list[float] | None
) -> Any:
    """``images`` NHWC -> ``{"output0": ..., ...}`` in the PyTorch model's layout; with
    ``pixel_scales``, output0's rows are multiplied by them (back to pixels)."""
    import tensorflow as tf

    layouts = getattr(keras_model, "onnx_output_layouts", {}) or {}
    names = output_names(len(keras_model.outputs))
    perms = [
        _torch_layout(tuple(output.shape), bool(layouts.get(name)), shape, name)
        for output, name, shape in zip(keras_model.outputs, names, expected, strict=True)
    ]
    spec = tf.TensorSpec(keras_model.inputs[0].shape, tf.float32, name=INPUT_NAME)
    rows = None if pixel_scales is None else tf.constant(pixel_scales, tf.float32)[None, :, None]

    @tf.function(input_signature=[spec])
    def serve(images):
        outputs = keras_model(images)
        outputs = list(outputs) if isinstance(outputs, list | tuple) else [outputs]
        outputs = [o if p is None else tf.transpose(o, p) for o, p in zip(outputs, perms,
                                                                          strict=True)]
        if rows is not None:
            outputs[0] = outputs[0] * rows
        return dict(zip(names, outputs, strict=True))

    return serve


def _torch_layout(
    shape: tuple[int, ...], channels_last: bool, expected: tuple[int, ...], name: str
) -> list[int] | None:
    """The transpose that gives ``expected`` from onnx2tf's ``shape`` (None: none needed).

    onnx2tf says which outputs it made channels-last; the shape check catches the rest.
    """
    to_first = [0, len(shape) - 1, *range(1, len(shape) - 1)]
    candidates = [to_first, None] if channels_last else [None, to_first]
    for perm in candidates:
        if tuple(shape if perm is None else (shape[p] for p in perm)) == tuple(expected):
            return perm
    raise ValueError(f"onnx2tf gave {name} the shape {list(shape)}; the model's is "
                     f"{list(expected)}")


def _save_signature_model(serve: Any, keras_model: Any, folder: Path) -> None:
    import tensorflow as tf

    module = tf.Module()
    module.serve = serve
    module.model_variables = list(keras_model.variables)  # tracked, should there be any
    tf.saved_model.save(module, str(folder),
                        signatures={"serving_default": serve.get_concrete_function()})


def _write_frozen_graph(serve: Any, path: Path) -> None:
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    path.write_bytes(frozen.graph.as_graph_def().SerializeToString())


def _write_tflite_flatbuffer(
    saved_model: Path, path: Path, precision: str, calibration: Path, batch: int
) -> None:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(
        str(saved_model), signature_keys=["serving_default"]
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if precision == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        images = np.load(calibration)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: _representative(images, batch)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    path.write_bytes(converter.convert())


def _representative(images: np.ndarray, batch: int) -> Iterator[dict[str, np.ndarray]]:
    """Calibration batches of the model's batch size (images repeated to fill the last)."""
    count = max(len(images), batch)
    for start in range(0, count, batch):
        indices = [(start + i) % len(images) for i in range(batch)]
        yield {INPUT_NAME: images[indices]}
