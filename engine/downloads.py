"""One streaming download for everything the engine fetches (weights, named datasets).

The body goes to a temp file next to ``destination`` with progress events, is checked
(Content-Length, a minimum size, the first bytes, and its SHA-256 when one is known), and only
then renamed into place, so an interrupted, cancelled or wrong download leaves nothing behind.
Offline (connection refused, no DNS, an HTTP error), the error names the file, the URL and the
folder to put it in by hand.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

from .cancel import NEVER, CancelToken
from .errors import EngineError
from .events import DownloadProgress, Reporter, ignore
from .utils.atomic import atomic_writer

log = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 16
ZIP_MAGIC = b"PK\x03\x04"
_NETWORK_ERRORS = (
    urllib.error.URLError,
    TimeoutError,
    ConnectionError,
    http.client.HTTPException,
    OSError,
)


class _Unreachable(Exception):  # noqa: N818 - internal signal, never leaves this module
    """The network failed (not the disk): carries the original error."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


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
    sha256: str | None = None,
    offline_error: type[EngineError] | None = None,
    shown_as: str | Path | None = None,
) -> Path:
    """Stream ``url`` to ``destination`` atomically and return ``destination``.

    ``what`` describes the file in messages ("a PyTorch checkpoint"); failures raise ``error``,
    and a network that cannot be reached raises ``offline_error`` (default ``error``).
    ``manual`` replaces the default "download it by hand and put it in ..." advice given then.
    ``cancel`` is checked between chunks (raises ``Cancelled``; the temp file is removed).
    ``sha256`` (hex) is checked when given; the last event's ``verified`` says whether it was.
    ``shown_as`` is the path messages name when ``destination`` is a hidden staging file that
    the caller renames afterwards.
    """
    destination = Path(destination)
    digest = hashlib.sha256()
    try:
        response = _open(url, timeout)
        with response, atomic_writer(destination) as handle:
            total = _content_length(response)
            done, head = _stream(response, handle, url, total, progress, cancel, digest)
            _check_length(url, destination, done, total, error)
            _check_content(url, destination, done, head, min_bytes, expect_magic, what, error)
            _check_digest(url, destination, digest.hexdigest(), sha256, error)
    except _Unreachable as exc:
        named = Path(shown_as) if shown_as is not None else destination
        raise _offline(url, named, exc.cause, manual, offline_error or error) from exc.cause
    except EngineError:
        raise
    except OSError as exc:  # the disk, not the network: the temp file is already gone
        raise error(
            f"cannot be written ({exc.strerror or exc}); free some space or make the folder "
            f"{destination.parent} writable, then try again",
            path=destination,
        ) from exc
    if sha256 is None:
        log.info("%s: no known SHA-256, so not verified (size and format checked)", url)
    progress(DownloadProgress(url, done, total, finished=True, verified=sha256 is not None))
    return destination


def _open(url: str, timeout: float) -> http.client.HTTPResponse:
    try:
        return urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 - http(s) only
    except _NETWORK_ERRORS as exc:
        raise _Unreachable(exc) from exc


def _offline(
    url: str,
    destination: Path,
    cause: BaseException,
    manual: str | None,
    error: type[EngineError],
) -> EngineError:
    """One message that says which file, from where, and into which folder."""
    reason = getattr(cause, "reason", None) or cause
    advice = manual or (
        f"On a machine with internet access, download {url} and put it in the folder "
        f"{destination.parent} (as {destination.name})."
    )
    return error(
        f"{destination.name} is not on this machine and could not be downloaded from "
        f"{url} ({reason}). {advice}"
    )


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
    digest: hashlib._Hash,
) -> tuple[int, bytes]:
    """Copy the body to ``handle`` (hashing it); return its size and first bytes."""
    done, head = 0, b""
    progress(DownloadProgress(url, 0, total))
    while True:
        cancel.raise_if_cancelled()
        try:
            chunk = response.read(CHUNK_BYTES)
        except _NETWORK_ERRORS as exc:
            raise _Unreachable(exc) from exc
        if not chunk:
            return done, head
        if len(head) < 16:
            head += chunk[: 16 - len(head)]
        handle.write(chunk)
        digest.update(chunk)
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


def _check_digest(
    url: str, destination: Path, got: str, expected: str | None, error: type[EngineError]
) -> None:
    if expected is not None and got != expected.lower():
        raise error(
            f"what {url} sent has SHA-256 {got}, not the expected {expected.lower()}; it was "
            "not kept. Try again; if it happens again, the file on the server is not the "
            "official one",
            path=destination,
        )
