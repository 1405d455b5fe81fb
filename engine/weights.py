"""Named official weights: found on disk, in the weights cache, or downloaded once.

``yolov8n-seg.pt`` that is not a local file is fetched from the official release address
into the cache, streamed to a temp file with progress events, size-checked, then renamed
into place atomically. Offline, the error says what to fetch, from where, and where to put it.
"""

from __future__ import annotations

import os
from pathlib import Path

from .downloads import ZIP_MAGIC, download_file
from .errors import CheckpointError, WeightsDownloadError
from .events import Reporter, ignore
from .nn.zoo import VARIANTS, parse_zoo_name

RELEASE_URL = "https://github.com/ultralytics/assets/releases/download/v0.0.0"
# A real YOLOv8 checkpoint is megabytes; anything this small is an error page or a stub.
MIN_WEIGHTS_BYTES = 1024


def weights_cache_dir() -> Path:
    """``$YOLO_STUDIO_WEIGHTS_DIR``, else ``$XDG_CACHE_HOME/yolo-studio/weights``."""
    explicit = os.environ.get("YOLO_STUDIO_WEIGHTS_DIR")
    if explicit:
        return Path(explicit)
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "yolo-studio" / "weights"


def release_url() -> str:
    """Where official weights come from (``$YOLO_STUDIO_WEIGHTS_URL`` overrides, for mirrors)."""
    return os.environ.get("YOLO_STUDIO_WEIGHTS_URL", RELEASE_URL).rstrip("/")


def is_official_name(name: str) -> bool:
    """True for ``yolov8{n,s,m,l,x}[-cls|-seg|-pose|-pose-p6].pt``."""
    parsed = parse_zoo_name(name)
    return (
        parsed is not None
        and name.endswith(".pt")
        and Path(name).name == name
        and parsed[0] in ("n", "s", "m", "l", "x")
        and parsed[1] in VARIANTS
    )


def resolve_weights(
    name: str | Path,
    *,
    cache_dir: Path | None = None,
    base_url: str | None = None,
    progress: Reporter = ignore,
    timeout: float = 30.0,
) -> Path:
    """A local path to ``name``: the file itself, the cached copy, or a fresh download."""
    path = Path(name)
    if path.is_file():
        return path
    if not is_official_name(str(name)):
        raise CheckpointError("no such file", path=path)
    cached = (cache_dir or weights_cache_dir()) / path.name
    if cached.is_file():
        return cached
    url = f"{(base_url or release_url()).rstrip('/')}/{path.name}"
    return download_weights(url, cached, progress=progress, timeout=timeout)


def download_weights(
    url: str, destination: Path, *, progress: Reporter = ignore, timeout: float = 30.0
) -> Path:
    """Stream ``url`` to ``destination`` atomically; check its size and that it is a checkpoint."""
    return download_file(
        url,
        destination,
        progress=progress,
        timeout=timeout,
        min_bytes=MIN_WEIGHTS_BYTES,
        expect_magic=ZIP_MAGIC,  # torch.save writes zip archives
        what="a PyTorch checkpoint",
        error=WeightsDownloadError,
        manual=(
            f"On a machine with internet access, download {url} and put it at {destination}, "
            "or pass the file's path instead of its name."
        ),
    )
