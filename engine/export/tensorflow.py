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
from ..formats.export_metadata import METADATA_FILE, metadata_to_json, write_metadata_yaml
from ..utils.atomic import atomic_directory, atomic_writer
from . import base
from .base import DEFAULT_OPSET, ExportOptions
from .tf_coordinates import normalize_coordinates

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
    return [sys.executable, "-c", "from engine.export.tf_worker import serve_jobs; serve_jobs()"]


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
