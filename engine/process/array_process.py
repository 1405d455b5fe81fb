"""A model run in a child process that speaks one small protocol over its stdin/stdout.

Used for runtimes that must not share this process (Paddle, whose oneDNN clashes with torch's;
TF.js, which runs in Node.js). The child keeps the model loaded and answers one request per
batch:

- ready:    one JSON line, ``{"ready": true, ...}`` or ``{"error": "..."}`` (then it exits);
- request:  one JSON line ``{"shape": [...]}`` on its stdin, then the float32 values
            (little-endian);
- response: one JSON line ``{"outputs": [{"shape": [...]}, ...]}``, then each output's float32
            values in order; or ``{"error": "..."}`` alone.

The child exits when its stdin closes. Its stderr goes to a file, never a pipe nobody reads.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import tempfile
import threading
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import ExportError
from ..utils.child_process import describe_exit, stop_child


class ArrayProcess:
    """``command`` started in ``cwd``; ``ready`` holds its first answer. ``runtime`` names it
    in messages ("Paddle", "TF.js")."""

    def __init__(self, command: Sequence[str], *, folder: Path, runtime: str,
                 cwd: Path | None = None, env: Mapping[str, str] | None = None) -> None:
        self.folder = folder
        self.runtime = runtime
        self._lock = threading.Lock()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop_child
        self._process = subprocess.Popen(
            list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            cwd=cwd or folder, env=None if env is None else dict(env),
        )
        self._finalizer = weakref.finalize(self, stop_child, self._process, self._stderr)
        self._doing = "loading the model"
        self.ready = self._header()
        self._doing = "running the model"
        if not self.ready.get("ready"):
            self.close()
            if self.ready.get("message"):  # the child's own full engine message
                raise ExportError(self.ready["message"])
            raise ExportError(
                f"cannot be loaded by {runtime} ({self.ready.get('error', 'no answer')}); it "
                "may be truncated or come from another export. Export the model again",
                path=folder,
            )

    def run(self, values: np.ndarray) -> list[np.ndarray]:
        """The outputs for one float32 batch, in the model's order."""
        with self._lock:
            header = json.dumps({"shape": list(values.shape)}).encode() + b"\n"
            try:
                self._process.stdin.write(header + values.astype("<f4", copy=False).tobytes())
                self._process.stdin.flush()
            except (BrokenPipeError, OSError) as exc:
                raise self._died() from exc
            answer = self._header()
            if "error" in answer:
                raise ExportError(f"{self.runtime} could not run the model: {answer['error']}",
                                  path=self.folder)
            return [self._array(output["shape"]) for output in answer["outputs"]]

    def close(self) -> None:
        """Stop the child (also done when this object is collected)."""
        self._finalizer()

    def _header(self) -> dict[str, Any]:
        line = self._process.stdout.readline()
        if not line:
            with contextlib.suppress(subprocess.TimeoutExpired):  # its exit status says why
                self._process.wait(timeout=5)
            raise self._died()
        return json.loads(line)

    def _array(self, shape: list[int]) -> np.ndarray:
        count = int(np.prod(shape))
        data = _read_exactly(self._process.stdout, 4 * count, self.runtime)
        return np.frombuffer(data, dtype="<f4").astype(np.float32).reshape(shape)

    def _died(self) -> ExportError:
        self._process.poll()
        self._stderr.seek(0)
        lines = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        return ExportError(
            describe_exit(self.runtime, self._process.returncode, self._doing)
            + (f": {lines[-1][:300]}" if lines else " (it printed nothing)"),
            path=self.folder,
        )


def _read_exactly(stream: BinaryIO, count: int, runtime: str) -> bytes:
    data = stream.read(count)
    if len(data) != count:
        raise EOFError(f"the {runtime} worker sent {len(data)} of {count} bytes")
    return data
