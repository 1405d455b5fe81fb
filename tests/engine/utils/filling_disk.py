"""Test-only: a disk that fills up during chosen atomic writes, failing as a real one does.

The temp files of ``engine.utils.atomic`` in a chosen folder accept ``budget`` bytes, then
every write raises ``OSError(ENOSPC)``, as a full disk does partway through a file (torch.save
then fails with its own RuntimeError raised while handling that OSError, as it does for real).
"""

from __future__ import annotations

import errno
import fnmatch
import io
import os
from pathlib import Path


class _FillingFile(io.RawIOBase):
    def __init__(self, raw: io.FileIO, disk: FillingDisk) -> None:
        self._raw, self._disk = raw, disk

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        room = self._disk.room
        if len(data) > room:
            if room:
                self._raw.write(bytes(data[:room]))
                self._disk.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._disk.room -= len(data)
        return self._raw.write(data)

    def fileno(self) -> int:
        return self._raw.fileno()

    def close(self) -> None:
        self._raw.close()
        super().close()


class FillingDisk:
    """From the ``nth`` temp file (of a target name matching ``pattern``) in ``folder`` on, the
    disk holds ``budget`` more bytes. ``inside``: folders below ``folder`` count too."""

    def __init__(self, monkeypatch, folder: Path, *, budget: int = 0, pattern: str = "*",
                 nth: int = 1, inside: bool = False) -> None:
        self.folder, self.pattern, self.nth, self.inside = Path(folder), pattern, nth, inside
        self.room, self.seen = budget, 0
        real_fdopen = os.fdopen

        def fdopen(fd, mode="r", *args, **kwargs):
            if "w" not in mode or not self._full_for(fd):
                return real_fdopen(fd, mode, *args, **kwargs)
            return io.BufferedWriter(_FillingFile(io.FileIO(fd, "wb"), self))

        monkeypatch.setattr(os, "fdopen", fdopen)

    def _full_for(self, fd: int) -> bool:
        path = Path(os.readlink(f"/proc/self/fd/{fd}"))
        here = path.parent == self.folder or self.inside and self.folder in path.parents
        if not here or not fnmatch.fnmatch(path.name, f".{self.pattern}.*.tmp"):
            return False
        self.seen += 1
        return self.seen >= self.nth
