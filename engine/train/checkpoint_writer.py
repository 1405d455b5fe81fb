"""Checkpoints written to disk on a background thread, in the order they were handed over.

Why: writing last.pt (and best.pt) at each epoch's end was ~5% of a small job. On the digits
benchmark (yolov8n-cls, 32 px, 10 epochs, 2 cores) the 18 saves took 0.7-1.9 s, most of it the
file writes and fsyncs: a 6 MB write into a new file took from 6 ms to 300 ms, depending on
the disk's state. Serialising stays on the run's thread (~20 ms: the checkpoint is captured
as it is at the epoch's end, while the next epoch changes the weights); the write, fsync and
rename, which release the interpreter lock, go to one background thread while the next epoch
trains. :meth:`finished` gives each file once it is on disk, so the run reports a checkpoint
as saved only when it is, and an error of the write (a full disk) is raised on the run's
thread, at its next epoch end at the latest.
"""

from __future__ import annotations

import io
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..utils.atomic import atomic_writer


class CheckpointNotWritten(RuntimeError):
    """A write skipped because an earlier one failed (that one's error is raised first)."""


@dataclass(frozen=True)
class Written:
    """A checkpoint file now on disk: which file, the epoch (0-based) it holds, whether it
    is the best, whether to report it."""

    path: Path
    epoch: int
    is_best: bool
    report: bool


class CheckpointWriter:
    """One thread writing serialised checkpoints atomically, in order."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[tuple[Written, Future[None]]] = deque()
        self._failed: BaseException | None = None

    def write(self, path: Path, checkpoint: dict[str, Any], *, epoch: int,
              is_best: bool = False, report: bool = True) -> None:
        """Serialise ``checkpoint`` now; write it to ``path`` in the background."""
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="yolo-checkpoints")
        future = self._pool.submit(self._write, path, buffer)
        self._pending.append((Written(path, epoch, is_best, report), future))

    def _write(self, path: Path, buffer: io.BytesIO) -> None:
        # After a failed write nothing more is written: last.pt is written before best.pt so
        # that a resume can always rebuild best.pt from it (entry.py), which a best.pt newer
        # than last.pt would break.
        if self._failed is not None:
            raise CheckpointNotWritten(f"not written after an earlier failed write ({path})")
        try:
            with atomic_writer(path) as handle:
                handle.write(buffer.getbuffer())
        except BaseException as exc:
            self._failed = exc
            raise

    def finished(self, *, wait: bool) -> list[Written]:
        """The files written since last asked, in order (all of them with ``wait``, else those
        already done); the first failed write raises its error."""
        done: list[Written] = []
        while self._pending and (wait or self._pending[0][1].done()):
            written, future = self._pending.popleft()
            future.result()
            done.append(written)
        return done

    def settled(self) -> list[Written]:
        """Wait for every write; the files that were written, in order (failed ones left out:
        the run is ending, and its message says what it kept)."""
        written = [item for item, future in self._pending if future.exception() is None]
        self._pending.clear()
        return written

    def close(self) -> None:
        """Wait for every write handed over, and stop the thread."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
