"""The TensorFlow conversion worker's side (engine/export/tensorflow.py starts it): it reads
job files from its stdin, converts the ONNX graph with onnx2tf, writes the product the job asks
for (SavedModel, GraphDef, TFLite, TF.js) and answers one JSON line per job. Runs only in that
child process: onnx2tf changes the process it runs in.
"""


from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .base import (
    INPUT_NAME,
    output_names,
)

log = logging.getLogger(__name__)


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
