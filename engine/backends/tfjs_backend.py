"""A TF.js export (``*_web_model/``) as an inference backend, run by Node.js.

One ``node`` process per loaded model (engine/backends/tfjs_runner/runner.js) keeps the graph
model in memory and answers one request per batch over its stdin/stdout: a JSON header line and
raw float32 values each way. It computes with TF.js's WebAssembly backend (7x faster than the
pure-JavaScript one on yolov8n-seg at 64 px, same results), falling back to the JavaScript one.
The runner's npm packages live in its own folder (``npm ci --prefix engine/backends/tfjs_runner``,
as ``make`` does in a checkout) or, for an install that folder cannot be written to, in the user's
data folder (``yolo setup tfjs``; see engine/backends/tfjs_setup.py); Node.js is pointed at the
one that holds them.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import torch

from ..errors import ExportError
from ..formats.export_metadata import read_metadata_yaml
from ..process.array_process import ArrayProcess
from . import tfjs_setup
from .base import Backend, metadata_fields

log = logging.getLogger(__name__)

RUNNER_DIR = tfjs_setup.RUNNER_DIR  # read when used: tests point it at an install's copy
NODE_PACKAGES = tfjs_setup.NODE_PACKAGES


def runner_missing() -> str:
    """Why TF.js exports cannot be run here (empty when Node.js and the runner's packages are
    installed, in the runner's folder or the user's); names the command that installs them."""
    if shutil.which("node") is None:
        return "running TF.js models needs Node.js 18 or newer (`node` on PATH)"
    if tfjs_setup.packages_folder(RUNNER_DIR) is None:
        return tfjs_setup.missing_packages_message(RUNNER_DIR)
    return ""


def runner_environment() -> dict[str, str] | None:
    """The Node.js process's environment: this one, plus ``NODE_PATH`` to the user's packages
    when the runner's folder has none (require() looks there after the script's own folders;
    the packages then find each other, and the wasm backend its .wasm files, beside
    themselves). None: this environment as it is."""
    packages = tfjs_setup.packages_folder(RUNNER_DIR)
    if packages is None or packages == RUNNER_DIR / "node_modules":
        return None
    earlier = os.environ.get("NODE_PATH")
    return {**os.environ,
            "NODE_PATH": os.pathsep.join([str(packages), *([earlier] if earlier else [])])}


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


class _NodeProcess(ArrayProcess):
    """``node runner.js MODEL_DIR wasm``: started here, stopped by ``close`` or collection
    (engine/process/array_process.py; the runner's protocol is in its header)."""

    def __init__(self, folder: Path) -> None:
        folder = folder.resolve()  # the runner runs in its own folder
        super().__init__(["node", str(RUNNER_DIR / "runner.js"), str(folder), "wasm"],
                         folder=folder, runtime="TF.js", cwd=RUNNER_DIR,
                         env=runner_environment())
        self.backend = self.ready.get("backend")
        self.input_shape = list((self.ready.get("input") or {}).get("shape") or [])
        self.outputs = list(self.ready.get("outputs") or [])
