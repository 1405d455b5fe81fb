"""YOLO Studio's engine: YOLOv8 models for classification, segmentation and pose.

Importing it has no side effects: no network, no settings file, nothing patched. ``YOLO`` and
``TransferReport`` load on first use (PEP 562), so ``import engine`` does not import torch: a
program (the ``yolo`` command, the studio) can first choose torch's OpenMP settings with
:func:`engine.process.threads.configure_threads`, which only count before torch loads.
"""

from typing import TYPE_CHECKING, Any

from .errors import (
    CheckpointError,
    EngineError,
    ModelConfigError,
    SettingsError,
    WeightsDownloadError,
)
from .version import __version__

if TYPE_CHECKING:
    from .api import YOLO, TransferReport

_LAZY = {"YOLO", "TransferReport"}

__all__ = [
    "YOLO",
    "CheckpointError",
    "EngineError",
    "ModelConfigError",
    "SettingsError",
    "TransferReport",
    "WeightsDownloadError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
