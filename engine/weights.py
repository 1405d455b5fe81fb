"""Named official weights: found on disk, in the weights cache, or downloaded once.

``yolov8n-seg.pt`` that is not a local file is fetched from the official release address
into the cache, streamed to a temp file with progress events, size-checked, then renamed
into place atomically. Offline, the error says what to fetch, from where, and where to put it.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

from .errors import CheckpointError, WeightsDownloadError
from .events import DownloadProgress, Reporter, ignore
from .nn.zoo import VARIANTS, parse_zoo_name
from .utils.atomic import atomic_writer

RELEASE_URL = "https://github.com/ultralytics/assets/releases/download/v0.0.0"
# A real YOLOv8 checkpoint is megabytes; anything this small is an error page or a stub.
MIN_WEIGHTS_BYTES = 1024
_CHUNK = 1 << 16
ZIP_MAGIC = b"PK\x03\x04"  # torch.save writes zip archives


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
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http(s) only
            total = _content_length(response)
            with atomic_writer(destination) as handle:
                done, head = _stream(response, handle, url, total, progress)
                _check_size(url, destination, done, total)
                if not head.startswith(ZIP_MAGIC):
                    raise WeightsDownloadError(
                        f"what {url} sent is not a PyTorch checkpoint", path=destination
                    )
    except WeightsDownloadError:
        raise
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise WeightsDownloadError(
            f"{destination.name} is not on this machine and could not be downloaded from "
            f"{url} ({reason}). On a machine with internet access, download {url} and put it "
            f"at {destination}, or pass the file's path instead of its name."
        ) from exc
    progress(DownloadProgress(url, done, total, finished=True))
    return destination


def _content_length(response) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


def _stream(response, handle, url: str, total: int | None, progress: Reporter) -> tuple[int, bytes]:
    """Copy the body to ``handle``; return its size and first bytes."""
    done, head = 0, b""
    progress(DownloadProgress(url, 0, total))
    while chunk := response.read(_CHUNK):
        if not head:
            head = chunk[:8]
        handle.write(chunk)
        done += len(chunk)
        progress(DownloadProgress(url, done, total))
    return done, head


def _check_size(url: str, destination: Path, done: int, total: int | None) -> None:
    if total is not None and done != total:
        raise WeightsDownloadError(
            f"download of {url} stopped early ({done:,} of {total:,} bytes); try again",
            path=destination,
        )
    if done < MIN_WEIGHTS_BYTES:
        raise WeightsDownloadError(
            f"{url} sent only {done:,} bytes, too small to be model weights", path=destination
        )
