"""Atomic file writes: a temp file in the same folder, flushed, fsynced, then ``os.replace``.

A crash or a full disk leaves either the old file or the new one, never half of one. A full
disk raises ``OSError(ENOSPC)`` naming the file that was not written (even where the writer
reported it otherwise); a run turns that into a :class:`DiskFullError` saying what it kept.
The temp file of a write killed midway (``.<name>.<pid>.<random>.tmp``) is removed by
:func:`remove_stale_temp_files`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import EngineError

DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# Our temp files: ".<target name>.<writer pid>.<8 random chars>.tmp" (the pid was added later;
# files without one come from earlier versions).
_TEMP_NAME = re.compile(r"^\.(?P<target>.+?)\.(?:(?P<pid>\d+)\.)?[a-z0-9_]{8}\.tmp$")
_IMPORTED_AT = time.time()


class DiskFullError(EngineError, OSError):
    """A run stopped by a full disk (or quota), saying what it kept and what to do.

    Also an ``OSError`` (errno ``ENOSPC``), so code that already handles write errors still does.
    ``target`` is the file that could not be written.
    """

    def __init__(
        self, message: str, *, path: str | Path | None = None, target: str | Path | None = None
    ) -> None:
        super().__init__(message, path=path)
        self.errno = errno.ENOSPC
        self.target = Path(target) if target is not None else None


def disk_full_cause(exc: BaseException | None) -> OSError | None:
    """The "no space left" ``OSError`` behind ``exc``, else None. torch.save reports a full
    disk as a RuntimeError raised while handling the OSError, so the chain is searched."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def disk_full_target(exc: BaseException | None) -> Path | None:
    """The file a full disk kept from being written, when ``exc`` is one and names it."""
    if isinstance(exc, DiskFullError) and exc.target is not None:
        return exc.target
    cause = disk_full_cause(exc)
    name = getattr(cause, "target", None) or getattr(cause, "filename", None)
    return Path(name) if name else None


@contextlib.contextmanager
def atomic_writer(path: str | Path) -> Iterator[BinaryIO]:
    """Yield a binary file; on success it replaces ``path`` atomically, on error it vanishes."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, temp_name = tempfile.mkstemp(
            prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent
        )
    except OSError as exc:
        _raise_if_disk_full(exc, target)
        raise
    try:
        # mkstemp makes 0600 files; give ours the mode an ordinary write would have.
        os.chmod(temp_name, _mode_for(target))
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, target)
        _fsync_directory(target.parent)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        _raise_if_disk_full(exc, target)
        raise


def _raise_if_disk_full(exc: BaseException, target: Path) -> None:
    """A full disk, however the writer reported it, as ``OSError(ENOSPC)`` naming ``target``
    (the file or folder that was not written)."""
    cause = disk_full_cause(exc)
    if cause is None or isinstance(exc, DiskFullError) or cause.filename == str(target):
        return
    code = cause.errno or errno.ENOSPC
    raise OSError(code, os.strerror(code), str(target)) from exc


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def _mode_for(target: Path) -> int:
    """The existing file's mode, else ``0o666`` less the process umask."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_UMASK


def atomic_write_with(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Let ``write`` fill a file handle, then put the result at ``path`` atomically."""
    with atomic_writer(path) as handle:
        write(handle)


def _fsync_directory(directory: Path) -> None:
    """Persist the rename itself (POSIX); a no-op where directories cannot be opened."""
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield an empty temp folder beside ``path``; on success it becomes ``path``, else vanishes.

    An existing ``path`` is kept until the new folder is complete, then swapped out (renamed
    aside, the new one renamed in, the old one deleted): a failure at any point leaves the old
    folder or the new one at ``path``, never a half-written one.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        os.chmod(temp, 0o777 & ~_UMASK)
        yield temp
        _replace_directory(temp, target)
    except BaseException as exc:
        shutil.rmtree(temp, ignore_errors=True)
        _raise_if_disk_full(exc, target)
        raise


def _replace_directory(new: Path, target: Path) -> None:
    old = None
    if target.is_dir() and not target.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.rmdir(old)
        os.replace(target, old)
    elif target.exists() or target.is_symlink():
        raise FileExistsError(f"{target} exists and is not a folder; move it away first")
    try:
        os.replace(new, target)
    except BaseException:
        if old is not None:
            os.replace(old, target)
        raise
    _fsync_directory(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class RemovedTempFile:
    """A temp file of an interrupted atomic write that :func:`remove_stale_temp_files` deleted."""

    path: Path
    size: int


def remove_stale_temp_files(folder: str | Path) -> list[RemovedTempFile]:
    """Delete the temp files that killed atomic writes left in ``folder`` (not below it).

    Only files named as :func:`atomic_writer` names them, and only when their writer is gone:
    its pid (in the name) is not a live process, or, for names without a pid (earlier
    versions), the file is older than this process. A write in progress is never touched.
    """
    removed: list[RemovedTempFile] = []
    directory = Path(folder)
    if not directory.is_dir():
        return removed
    with os.scandir(directory) as entries:
        for entry in entries:
            match = _TEMP_NAME.match(entry.name)
            if match is None or not entry.is_file(follow_symlinks=False):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
                if not _writer_gone(match["pid"], info.st_mtime):
                    continue
                os.unlink(entry.path)
            except OSError:  # renamed by its writer meanwhile, or not ours to delete
                continue
            removed.append(RemovedTempFile(Path(entry.path), info.st_size))
    return removed


def _writer_gone(pid_text: str | None, modified: float) -> bool:
    if pid_text is None:
        return modified < _IMPORTED_AT
    pid = int(pid_text)
    return pid != os.getpid() and not _process_alive(pid)


def _process_alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a reused pid only keeps a file longer)."""
    if os.name != "posix":  # os.kill(pid, 0) would end the process on Windows
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # no such process (or no such pid at all)
        return False
    except OSError:  # PermissionError: alive, another user's
        return True
    return True
