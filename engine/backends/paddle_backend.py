"""A PaddlePaddle export folder (``*_paddle_model/``) as an inference backend.

The ``paddle.inference`` predictor runs in a worker process, one per loaded model: Paddle cannot
share a process with the rest of the studio.

- Loading Paddle's native library after TensorFlow's crashes the process (SIGSEGV in
  ``libphi_core.so``, ``protobuf::RepeatedPtrFieldBase::AddOutOfLineHelper``, while Paddle
  registers its operators: its protobuf symbols resolve to TensorFlow's). TensorFlow is loaded
  by the TF exporters and backends, and by ``import coremltools`` wherever TF is installed.
- Importing Paddle sets ``OMP_NUM_THREADS=1`` in the environment (inherited by every process
  started later), gives the root logger a stderr handler at INFO, and installs glog's C-level
  handlers for SIGTERM, SIGSEGV, SIGABRT, SIGFPE, SIGBUS and SIGILL over Python's and
  faulthandler's.

The worker answers one request per batch over its stdin/stdout: a JSON header line, then raw
little-endian float32 values each way. It costs about 1.5 s to start; a batch's tensors are
copied through a pipe (a 640x640 image is 4.9 MB).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import torch

from ..errors import ExportError
from ..formats.export_layouts import PADDLE_PARAMS_SUFFIX, PADDLE_PROGRAM_SUFFIXES
from ..formats.export_metadata import read_metadata_yaml
from ..process.array_process import ArrayProcess
from .base import Backend, metadata_fields, modules_available

log = logging.getLogger(__name__)

INSTALL = "pip install 'yolo-studio[paddle]'"

# Run as ``python -c`` with the program, the weights and a thread count. It imports numpy and
# Paddle only (not this package, whose torch import would cost seconds).
WORKER_SCRIPT = """
import json, os, sys
import numpy as np

# Answers go to a private copy of stdout; fd 1 becomes stderr, so that nothing Paddle prints
# (from Python or C++) can corrupt them.
answers = os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)
requests = sys.stdin.buffer


def send(header, arrays=()):
    answers.write(json.dumps(header).encode() + b"\\n")
    for array in arrays:
        answers.write(np.ascontiguousarray(array, dtype="<f4").tobytes())
    answers.flush()


def first_line(error):
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[0] if lines else type(error).__name__)[:300]


try:
    import paddle.inference as inference

    program, params, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    config = inference.Config(program, params)
    config.disable_gpu()
    # oneDNN fails on x2paddle's programs: "ConvertPirAttribute2RuntimeAttribute not support"
    config.disable_mkldnn()
    config.disable_glog_info()
    config.set_cpu_math_library_num_threads(threads)
    predictor = inference.create_predictor(config)
    (input_name,) = predictor.get_input_names()
    handle = predictor.get_input_handle(input_name)
    outputs = list(predictor.get_output_names())
except Exception as error:
    send({"error": first_line(error)})
    sys.exit(1)
send({"ready": True, "shape": [int(d) for d in handle.shape()], "outputs": outputs})

while True:
    line = requests.readline()
    if not line:  # the backend closed our stdin: it is done with us
        break
    shape = json.loads(line)["shape"]
    count = int(np.prod(shape))
    images = np.frombuffer(requests.read(4 * count), dtype="<f4").reshape(shape)
    try:
        handle.reshape(list(shape))
        handle.copy_from_cpu(np.ascontiguousarray(images, dtype=np.float32))
        predictor.run()
        results = [predictor.get_output_handle(name).copy_to_cpu() for name in outputs]
    except Exception as error:
        send({"error": first_line(error)})
        continue
    send({"outputs": [{"shape": list(r.shape)} for r in results]}, results)
"""


class PaddleBackend(Backend):
    """Runs the inference model with a ``paddle.inference`` predictor in a worker process, on
    the CPU in fp32 (oneDNN off). The shapes are the export's: a fixed batch runs larger
    batches in chunks, other image sizes are refused."""

    kind = "paddle"

    def __init__(self, path: Path, *, device: torch.device, fp16: bool = False) -> None:
        if not modules_available("paddle"):
            raise ExportError(f"running PaddlePaddle models needs paddlepaddle ({INSTALL})",
                              path=path)
        metadata = read_metadata_yaml(path)
        program, params = _model_files(path)
        if device.type != "cpu":
            log.warning("Paddle runs on the CPU here; %s is not used", device)
        self._worker = PaddleWorker(program, params, threads=max(1, torch.get_num_threads()))
        fields = metadata_fields(metadata)
        batch = self._worker.input_shape[0] if self._worker.input_shape else -1
        if batch > 0:
            fields["batch"] = int(batch)
        super().__init__(source=path, device=torch.device("cpu"), fp16=False,
                         fixed_shape=True, **fields)
        self.metadata = metadata

    @classmethod
    def from_path(cls, path: Path, *, device: torch.device, fp16: bool = False) -> PaddleBackend:
        return cls(path, device=device, fp16=fp16)

    def _run(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feed = images.detach().to("cpu", torch.float32).contiguous().numpy()
        return tuple(torch.from_numpy(output) for output in self._worker.run(feed))

    def close(self) -> None:
        """Stop the worker process (also done when the backend is garbage-collected)."""
        self._worker.close()


class PaddleWorker(ArrayProcess):
    """``python -c WORKER_SCRIPT program params threads``: started here, stopped by ``close``
    or when this object is collected (engine/process/array_process.py)."""

    def __init__(self, program: Path, params: Path, *, threads: int) -> None:
        program, params = program.resolve(), params.resolve()  # the child runs elsewhere
        super().__init__([sys.executable, "-c", WORKER_SCRIPT, str(program), str(params),
                          str(threads)], folder=program.parent, runtime="Paddle")
        self.input_shape = [int(d) for d in self.ready.get("shape") or []]
        self.outputs = list(self.ready.get("outputs") or [])


def _model_files(folder: Path) -> tuple[Path, Path]:
    programs = [folder / f"model{suffix}" for suffix in PADDLE_PROGRAM_SUFFIXES]
    program = next((p for p in programs if p.is_file()), None)
    if program is None:
        raise ExportError(
            f"is missing: a PaddlePaddle model folder holds the program ({programs[0].name}, or "
            f"{programs[1].name} from Paddle 2) and the weights (model{PADDLE_PARAMS_SUFFIX}). "
            "Export the model again",
            path=programs[0],
        )
    params = folder / f"model{PADDLE_PARAMS_SUFFIX}"
    if not params.is_file():
        raise ExportError(
            f"is missing: it holds the weights of {program.name}. Export the model again",
            path=params,
        )
    return program, params
