"""Inference backends: a .pt model, a .torchscript and a .onnx file behind one ``forward``.

``load_backend("best.onnx")`` picks the backend by the file's suffix; a TaskModel runs as it is.

The names below load on first use (PEP 562), so that ``engine.process.threads`` can be imported
and applied before anything imports torch (its OpenMP runtime reads the settings when it loads).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import Backend, Output
    from .loading import BACKENDS, load_backend
    from .onnx_backend import OnnxBackend
    from .torch_backend import TorchBackend
    from .torchscript_backend import TorchScriptBackend

_HOMES = {
    "BACKENDS": ".loading",
    "load_backend": ".loading",
    "Backend": ".base",
    "Output": ".base",
    "OnnxBackend": ".onnx_backend",
    "TorchBackend": ".torch_backend",
    "TorchScriptBackend": ".torchscript_backend",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name], __name__), name)


__all__ = [
    "BACKENDS",
    "Backend",
    "OnnxBackend",
    "Output",
    "TorchBackend",
    "TorchScriptBackend",
    "load_backend",
]
