"""One YOLO Studio at a time per project: an OS lock on ``project.lock`` held while it is open.

The operating system drops the lock when the process ends, however it ends (even ``kill -9``),
so a crash never leaves a project locked. The file also says who holds it (user, host, process,
since when) for the message a second instance shows.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

from ..errors import ProjectError, ProjectLocked

LOCK_FILE = "project.lock"

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class ProjectLock:
    """Acquired on construction; ``release`` (or closing the project) gives it back."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / LOCK_FILE
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ProjectError(
                f"cannot be opened for writing ({exc.strerror}). Check that the folder is "
                "writable, or copy the project to a folder you can write to",
                path=folder,
            ) from exc
        if not _try_lock(self._fd):
            holder = _read_holder(self._fd)
            os.close(self._fd)
            raise ProjectLocked(
                f"is open in another YOLO Studio ({holder}). Close it there first, or open a "
                "copy of the project",
                path=folder,
            )
        _write_holder(self._fd)

    def release(self) -> None:
        if self._fd < 0:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)  # closing the descriptor drops the lock
        self._fd = -1


def _try_lock(fd: int) -> bool:
    if fcntl is None:  # pragma: no cover - Windows: no advisory lock, one instance assumed
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _write_holder(fd: int) -> None:
    holder = {"user": getpass.getuser(), "host": socket.gethostname(), "pid": os.getpid(),
              "since": datetime.now(UTC).isoformat(timespec="seconds")}
    data = json.dumps(holder).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _read_holder(fd: int) -> str:
    try:
        holder = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return (f"{holder['user']}@{holder['host']}, process {holder['pid']}, since "
                f"{holder['since']}")
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
