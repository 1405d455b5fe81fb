"""One streaming download for everything the engine fetches (weights, named datasets).

The body goes to a temp file next to ``destination`` with progress events, is checked
(Content-Length, a minimum size, the first bytes), and only then renamed into place, so an
interrupted, cancelled or wrong download leaves nothing behind. Offline, the error names the
URL and says where to put the file by hand.
"""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

from .cancel import NEVER, CancelToken
from .errors import EngineError
from .events import DownloadProgress, Reporter, ignore
from .utils.atomic import atomic_writer

CHUNK_BYTES = 1 << 16
ZIP_MAGIC = b"PK\x03\x04"
_NETWORK_ERRORS = (
    urllib.error.URLError,
    TimeoutError,
    ConnectionError,
    http.client.HTTPException,
    OSError,
)


def download_file(
    url: str,
    destination: str | Path,
    *,
    progress: Reporter = ignore,
    timeout: float = 30.0,
    min_bytes: int = 1,
    expect_magic: bytes | None = None,
    what: str = "the expected file",
    error: type[EngineError] = EngineError,
    manual: str | None = None,
    cancel: CancelToken = NEVER,
) -> Path:
    """Stream ``url`` to ``destination`` atomically and return ``destination``.

    ``what`` describes the file in messages ("a PyTorch checkpoint"); failures raise ``error``.
    ``manual`` replaces the default "download it by hand and put it at ..." advice given when
    the URL cannot be reached. ``cancel`` is checked between chunks (raises ``Cancelled``).
    """
    destination = Path(destination)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http(s)
            total = _content_length(response)
            with atomic_writer(destination) as handle:
                done, head = _stream(response, handle, url, total, progress, cancel)
                _check_length(url, destination, done, total, error)
                _check_content(url, destination, done, head, min_bytes, expect_magic, what, error)
    except EngineError:
        raise
    except _NETWORK_ERRORS as exc:
        reason = getattr(exc, "reason", None) or exc
        advice = manual or (
            f"On a machine with internet access, download {url} and put it at {destination}."
        )
        raise error(
            f"{destination.name} is not on this machine and could not be downloaded from "
            f"{url} ({reason}). {advice}"
        ) from exc
    progress(DownloadProgress(url, done, total, finished=True))
    return destination


def _content_length(response: http.client.HTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


def _stream(
    response: http.client.HTTPResponse,
    handle: BinaryIO,
    url: str,
    total: int | None,
    progress: Reporter,
    cancel: CancelToken,
) -> tuple[int, bytes]:
    """Copy the body to ``handle``; return its size and first bytes."""
    done, head = 0, b""
    progress(DownloadProgress(url, 0, total))
    while True:
        cancel.raise_if_cancelled()
        chunk = response.read(CHUNK_BYTES)
        if not chunk:
            return done, head
        if len(head) < 16:
            head += chunk[: 16 - len(head)]
        handle.write(chunk)
        done += len(chunk)
        progress(DownloadProgress(url, done, total))


def _check_length(
    url: str, destination: Path, done: int, total: int | None, error: type[EngineError]
) -> None:
    if total is not None and done != total:
        raise error(
            f"download of {url} stopped early ({done:,} of {total:,} bytes); try again",
            path=destination,
        )


def _check_content(
    url: str,
    destination: Path,
    done: int,
    head: bytes,
    min_bytes: int,
    expect_magic: bytes | None,
    what: str,
    error: type[EngineError],
) -> None:
    if done < min_bytes:
        raise error(f"{url} sent only {done:,} bytes, too small to be {what}", path=destination)
    if expect_magic is not None and not head.startswith(expect_magic):
        raise error(f"what {url} sent is not {what}", path=destination)
