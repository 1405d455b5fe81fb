"""``load_backend``: pick the backend for a model, a checkpoint or an export by its suffix."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch

from ..errors import ExportError
from ..nn.model import TaskModel
from .base import Backend, resolve_device
from .onnx_backend import OnnxBackend
from .torch_backend import TorchBackend
from .torchscript_backend import TorchScriptBackend


class _FromPath(Protocol):
    def __call__(self, path: Path, *, device: torch.device, fp16: bool = False) -> Backend: ...


BACKENDS: dict[str, _FromPath] = {
    ".pt": TorchBackend.from_path,
    ".torchscript": TorchScriptBackend.from_path,
    ".onnx": OnnxBackend.from_path,
}
"""File suffix -> the backend that runs it."""


def load_backend(
    weights: str | Path | TaskModel,
    *,
    device: str | int | torch.device = "cpu",
    fp16: bool = False,
) -> Backend:
    """A ready backend for a model, a checkpoint or an export (chosen by the file's suffix).

    ``fp16`` runs half precision where it can (a CUDA device, or an ONNX file exported with
    half=True); the backend's ``fp16`` says what it does.
    """
    resolved = resolve_device(device)
    if isinstance(weights, TaskModel):
        return TorchBackend(weights, device=resolved, fp16=fp16)
    path = Path(weights)
    factory = BACKENDS.get(path.suffix.lower())
    if factory is None:
        known = ", ".join(BACKENDS)
        raise ExportError(
            f"cannot run '{path.suffix or path.name}' files; give a model file ending in {known}",
            path=path,
        )
    if not path.is_file():
        raise ExportError("no such file; check the path, or export the model first", path=path)
    return factory(path, device=resolved, fp16=fp16)
