"""Named official weights: found on disk, in the weights cache, or downloaded once.

``yolov8n-seg.pt`` that is not a local file is fetched from the official release address
into the cache, streamed to a temp file with progress events, checked (size, format, and the
SHA-256 when :data:`KNOWN_SHA256` has it), then renamed into place atomically; a cancelled or
failed download leaves nothing in the cache. Offline, :class:`WeightsOfflineError` says which
file, from where, and into which folder to put it.
"""

from __future__ import annotations

import os
from pathlib import Path

from .cancel import NEVER, CancelToken
from .downloads import ZIP_MAGIC, download_file
from .errors import CheckpointError, WeightsDownloadError
from .events import Reporter, ignore
from .nn.zoo import VARIANTS, parse_zoo_name

RELEASE_URL = "https://github.com/ultralytics/assets/releases/download/v0.0.0"
# A real YOLOv8 checkpoint is megabytes; anything this small is an error page or a stub.
MIN_WEIGHTS_BYTES = 1024
KNOWN_SHA256: dict[str, str] = {}
"""SHA-256 (hex) of official files by name, checked after download. Only digests taken from the
published files belong here; a name without one is size- and format-checked and its download
reported as not verified (``DownloadProgress.verified`` False). A wrong entry would refuse every
download of that file, so none is guessed."""


class WeightsOfflineError(WeightsDownloadError):
    """Named weights that could not be fetched (no network, no DNS, an HTTP error).

    ``file_name``, ``url`` and ``folder`` say what to download by hand and where to put it.
    """

    file_name: str = ""
    url: str = ""
    folder: Path | None = None


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


def official_url(name: str, base_url: str | None = None) -> str:
    """The address ``name`` (``yolov8n-seg.pt``) is downloaded from."""
    return f"{(base_url or release_url()).rstrip('/')}/{name}"


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
    cancel: CancelToken = NEVER,
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
    url = official_url(path.name, base_url)
    return download_weights(url, cached, progress=progress, timeout=timeout, cancel=cancel)


def download_weights(
    url: str,
    destination: Path,
    *,
    progress: Reporter = ignore,
    timeout: float = 30.0,
    cancel: CancelToken = NEVER,
    sha256: str | None = None,
) -> Path:
    """Stream ``url`` to ``destination`` atomically; check its size, that it is a checkpoint,
    and its SHA-256 (``sha256``, else :data:`KNOWN_SHA256` by file name) when one is known."""
    destination = Path(destination)
    try:
        return download_file(
            url,
            destination,
            progress=progress,
            timeout=timeout,
            min_bytes=MIN_WEIGHTS_BYTES,
            expect_magic=ZIP_MAGIC,  # torch.save writes zip archives
            what="a PyTorch checkpoint",
            error=WeightsDownloadError,
            offline_error=WeightsOfflineError,
            manual=(
                f"On a machine with internet access, download {url} and put it in the folder "
                f"{destination.parent} (as {destination.name}), or pass the file's path "
                "instead of its name."
            ),
            cancel=cancel,
            sha256=sha256 or KNOWN_SHA256.get(destination.name),
        )
    except WeightsOfflineError as exc:
        exc.file_name, exc.url, exc.folder = destination.name, url, destination.parent
        raise
