"""A TF.js export (``*_web_model/``) as an inference backend, run by Node.js.

One ``node`` process per loaded model (engine/backends/tfjs_runner/runner.js) keeps the graph
model in memory and answers one request per batch over its stdin/stdout: a JSON header line and
raw float32 values each way. It computes with TF.js's WebAssembly backend (7x faster than the
pure-JavaScript one on yolov8n-seg at 64 px, same results), falling back to the JavaScript one.
The runner's npm packages are installed by ``npm ci --prefix engine/backends/tfjs_runner``.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import tempfile
import threading
import weakref
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from ..errors import ExportError
from ..export.base import read_metadata_yaml
from .base import Backend, metadata_fields

log = logging.getLogger(__name__)

RUNNER_DIR = Path(__file__).resolve().parent / "tfjs_runner"
RUNNER = RUNNER_DIR / "runner.js"
NODE_PACKAGES = ("@tensorflow/tfjs-core", "@tensorflow/tfjs-converter",
                 "@tensorflow/tfjs-backend-cpu", "@tensorflow/tfjs-backend-wasm")
SETUP = f"npm ci --prefix {RUNNER_DIR}"


def runner_missing() -> str:
    """Why TF.js exports cannot be run here (empty when Node.js and the runner's packages are
    installed)."""
    if shutil.which("node") is None:
        return "running TF.js models needs Node.js 18 or newer (`node` on PATH)"
    missing = [p for p in NODE_PACKAGES if not (RUNNER_DIR / "node_modules" / p).is_dir()]
    if missing:
        return f"the TF.js runner's npm packages are not installed ({SETUP})"
    return ""


class TfJsBackend(Backend):
    """A graph model run by a persistent Node.js process; NCHW in, PyTorch's layout out."""

    kind = "tfjs"

    def __init__(self, path: Path, *, device: torch.device, fp16: bool = False) -> None:
        missing = runner_missing()
        if missing:
            raise ExportError(missing, path=path)
        metadata = read_metadata_yaml(path)
        if not (path / "model.json").is_file():
            raise ExportError("has no model.json; export the model again", path=path)
        if device.type != "cpu":
            log.warning("TF.js runs on the CPU here; %s is not used", device)
        self._process = _NodeProcess(path)
        shape = self._process.input_shape
        fields = metadata_fields(metadata)
        if len(shape) == 4 and all(shape):
            fields.update(batch=int(shape[0]), imgsz=(int(shape[1]), int(shape[2])),
                          channels=int(shape[3]), dynamic=False)
        super().__init__(source=path, device=torch.device("cpu"), fp16=False,
                         fixed_shape=not fields["dynamic"], **fields)
        self.metadata = metadata

    @classmethod
    def from_path(cls, path: Path, *, device: torch.device, fp16: bool = False) -> TfJsBackend:
        return cls(path, device=device, fp16=fp16)

    def _run(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        nhwc = images.detach().to("cpu", torch.float32).permute(0, 2, 3, 1).contiguous().numpy()
        return tuple(torch.from_numpy(output) for output in self._process.run(nhwc))

    def close(self) -> None:
        """Stop the Node.js process (also done when the backend is garbage-collected)."""
        self._process.close()


class _NodeProcess:
    """``node runner.js MODEL_DIR``: started here, stopped by ``close`` or collection."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        # stderr to a file, not a pipe: TF.js notices must never fill a pipe nobody reads
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _stop
        self._process = subprocess.Popen(
            ["node", str(RUNNER), str(folder), "wasm"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            cwd=RUNNER_DIR,
        )
        self._finalizer = weakref.finalize(self, _stop, self._process, self._stderr)
        ready = self._header()
        if not ready.get("ready"):
            self.close()
            raise ExportError(
                f"cannot be loaded by TF.js: {ready.get('error', 'no answer')}; export the "
                "model again",
                path=folder,
            )
        self.backend = ready.get("backend")
        self.input_shape = list((ready.get("input") or {}).get("shape") or [])
        self.outputs = list(ready.get("outputs") or [])

    def run(self, images: np.ndarray) -> list[np.ndarray]:
        """Outputs for one NHWC float32 batch, in the signature's order."""
        with self._lock:
            header = json.dumps({"shape": list(images.shape)}).encode() + b"\n"
            try:
                self._process.stdin.write(header + images.astype("<f4", copy=False).tobytes())
                self._process.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                raise self._died() from exc
            answer = self._header()
            if "error" in answer:
                raise ExportError(f"TF.js could not run the model: {answer['error']}",
                                  path=self.folder)
            return [self._array(output["shape"]) for output in answer["outputs"]]

    def close(self) -> None:
        self._finalizer()

    def _header(self) -> dict[str, Any]:
        line = self._process.stdout.readline()
        if not line:
            raise self._died()
        return json.loads(line)

    def _array(self, shape: list[int]) -> np.ndarray:
        count = int(np.prod(shape))
        data = _read_exactly(self._process.stdout, 4 * count)
        return np.frombuffer(data, dtype="<f4").astype(np.float32).reshape(shape)

    def _died(self) -> ExportError:
        self._process.poll()
        self._stderr.seek(0)
        lines = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        return ExportError(
            f"the Node.js TF.js runner stopped (exit code {self._process.returncode}): "
            f"{lines[-1][:300] if lines else 'no message'}",
            path=self.folder,
        )


def _read_exactly(stream: BinaryIO, count: int) -> bytes:
    data = stream.read(count)
    if len(data) != count:
        raise EOFError(f"the TF.js runner sent {len(data)} of {count} bytes")
    return data


def _stop(process: subprocess.Popen, stderr: Any) -> None:
    """Close the runner's stdin (it exits when its input ends), then make sure it did."""
    try:
        if process.stdin:
            process.stdin.close()
        process.wait(timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        process.kill()
        process.wait()
    finally:
        if process.stdout:
            process.stdout.close()
        stderr.close()
