"""YOLO Studio's engine: YOLOv8 models for classification, segmentation and pose.

Importing it has no side effects: no network, no settings file, nothing patched.
"""

from .api import YOLO, TransferReport
from .errors import (
    CheckpointError,
    EngineError,
    ModelConfigError,
    SettingsError,
    WeightsDownloadError,
)
from .version import __version__

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
