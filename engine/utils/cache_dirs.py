"""Where the engine keeps what it can make again (label, image and runtime caches), and the
user's data folder (the studio's demo projects, the TF.js runner's packages)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_folder(name: str) -> Path:
    """``$YOLO_STUDIO_CACHE_DIR/<name>``, else ``$XDG_CACHE_HOME/yolo-studio/<name>`` (by
    default ``~/.cache/yolo-studio/<name>``)."""
    explicit = os.environ.get("YOLO_STUDIO_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser() / name
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "yolo-studio" / name


def data_folder() -> Path:
    """The user's YOLO Studio data folder: ``$YOLO_STUDIO_DATA_DIR``, else
    ``$XDG_DATA_HOME/yolo-studio`` (by default ``~/.local/share/yolo-studio``)."""
    explicit = os.environ.get("YOLO_STUDIO_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "yolo-studio"
