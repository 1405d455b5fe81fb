"""``load_backend``: pick the backend for a model, a checkpoint or an export by its name.

Files are told by their suffix (``.onnx``, ``.tflite`` ...), export folders by the name the
exporter gives them (``best_openvino_model/``, ``best.mlpackage`` ...). Each runtime's module is
imported only when a file of its kind is loaded, so the heavy ones (TensorFlow, Paddle, OpenVINO)
cost nothing until used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import ExportError
from ..nn.model import TaskModel
from ..process.signal_stack import signal_stack_kept
from .base import Backend, resolve_device


@dataclass(frozen=True)
class BackendKind:
    """How to recognise one kind of model file and where its backend class lives."""

    name: str
    home: str  # "module:Class", relative to engine.backends
    suffixes: tuple[str, ...] = ()  # file (or .mlpackage folder) suffixes
    folder_endings: tuple[str, ...] = ()  # export folder names end so
    folder: bool = False  # True when the model is a folder

    def matches(self, path: Path) -> bool:
        name = path.name.lower().rstrip("/")
        if self.folder_endings and name.endswith(self.folder_endings):
            return True
        return bool(self.suffixes) and name.endswith(self.suffixes)

    def backend_class(self) -> type[Backend]:
        module, _, cls = self.home.partition(":")
        return getattr(importlib.import_module(module, __package__), cls)


KINDS: tuple[BackendKind, ...] = (
    BackendKind("PyTorch", ".torch_backend:TorchBackend", suffixes=(".pt",)),
    BackendKind("TorchScript", ".torchscript_backend:TorchScriptBackend",
                suffixes=(".torchscript",)),
    BackendKind("ONNX", ".onnx_backend:OnnxBackend", suffixes=(".onnx",)),
    BackendKind("OpenVINO", ".openvino_backend:OpenVinoBackend",
                folder_endings=("_openvino_model",), folder=True),
    BackendKind("TensorRT", ".tensorrt_backend:TensorRtBackend", suffixes=(".engine",)),
    BackendKind("CoreML", ".coreml_backend:CoreMlBackend", suffixes=(".mlpackage",),
                folder=True),
    BackendKind("TF SavedModel", ".tensorflow_backend:SavedModelBackend",
                folder_endings=("_saved_model",), folder=True),
    BackendKind("TF GraphDef", ".tensorflow_backend:GraphDefBackend", suffixes=(".pb",)),
    BackendKind("TF Lite", ".tensorflow_backend:TfLiteBackend", suffixes=(".tflite",)),
    BackendKind("TF.js", ".tfjs_backend:TfJsBackend", folder_endings=("_web_model",),
                folder=True),
    BackendKind("PaddlePaddle", ".paddle_backend:PaddleBackend",
                folder_endings=("_paddle_model",), folder=True),
    BackendKind("ncnn", ".ncnn_backend:NcnnBackend", folder_endings=("_ncnn_model",),
                folder=True),
)
"""Every kind of model file ``load_backend`` runs, in the order they are tried."""

IN_PROCESS_KINDS = ("PyTorch", "TorchScript", "PaddlePaddle", "TF.js")
"""Kinds ``isolated=True`` leaves as they are: torch's own, and those that already run their
runtime in a worker process (Paddle, TF.js)."""

BACKENDS: dict[str, Callable[..., Backend]] = {
    kind.suffixes[0]: (lambda path, _kind=kind, **kw: _kind.backend_class().from_path(path, **kw))
    for kind in KINDS
    if kind.suffixes and not kind.folder
}
"""File suffix -> the backend factory that runs it (the single-file kinds)."""


def backend_kind(path: str | Path) -> BackendKind | None:
    """The kind of model file ``path`` is by its name, or None."""
    path = Path(path)
    return next((kind for kind in KINDS if kind.matches(path)), None)


def is_export(path: str | Path) -> bool:
    """True for an exported model (a file or folder ``load_backend`` runs, not a ``.pt``)."""
    kind = backend_kind(path)
    return kind is not None and kind.name != "PyTorch"


def load_backend(
    weights: str | Path | TaskModel,
    *,
    device: str | int | torch.device = "cpu",
    fp16: bool = False,
    isolated: bool = False,
) -> Backend:
    """A ready backend for a model, a checkpoint or an export (chosen by the file's name).

    ``fp16`` runs half precision where it can (a CUDA device, or an export made with
    half=True); the backend's ``fp16`` says what it does. ``isolated`` runs a third-party
    runtime in a child process (engine/backends/isolated.py), so that its crash is an
    ExportError rather than the end of this process; PyTorch and TorchScript files, and the
    runtimes that already run in their own process, load as usual.
    """
    resolved = resolve_device(device)
    if isinstance(weights, TaskModel):
        from .torch_backend import TorchBackend

        return TorchBackend(weights, device=resolved, fp16=fp16)
    path = Path(weights)
    kind = backend_kind(path)
    if kind is None:
        raise ExportError(
            f"cannot run '{path.suffix or path.name}' files; give a model file ending in "
            f"{', '.join(s for k in KINDS for s in k.suffixes)} or an export folder "
            f"({', '.join('*' + e + '/' for k in KINDS for e in k.folder_endings)})",
            path=path,
        )
    exists = path.is_dir() if kind.folder else path.is_file()
    if not exists:
        what = "folder" if kind.folder else "file"
        raise ExportError(f"no such {what}; check the path, or export the model first", path=path)
    if isolated and kind.name not in IN_PROCESS_KINDS and resolved.type == "cpu":
        from .isolated import IsolatedBackend

        return IsolatedBackend(path, runtime=kind.name, fp16=fp16)
    with signal_stack_kept():  # runtimes that replace it break Ctrl+C (see signal_stack.py)
        return kind.backend_class().from_path(path, device=resolved, fp16=fp16)
