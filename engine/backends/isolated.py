"""An export run by its runtime in a child process, so that a native crash becomes a message.

Third-party runtimes are native code this project does not control: OpenVINO aborted the whole
process beside a preloaded allocator, a broken install can segfault at import, and a TensorFlow
SavedModel is a program that may run file-writing ops. ``IsolatedBackend`` loads the export
with its ordinary backend in ``python -m engine.backends.isolated PATH`` and exchanges float32
arrays with it over the ``ArrayProcess`` protocol (engine/process/array_process.py). Pre- and
post-processing stay in this process; only the network's forward pass crosses the pipe.

The child runs on the system's malloc (``without_allocator``) and inherits torch's thread
settings from this process's environment (``configure_threads``); its fd 1 is stderr, so
nothing a runtime prints can corrupt the answers.
A crash reads as ``the OpenVINO runtime crashed (signal 6, SIGABRT) while running the model``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import EngineError
from ..process.allocator import without_allocator
from ..process.array_process import ArrayProcess
from .base import Backend

_FIELDS = ("task", "names", "stride", "imgsz", "batch", "dynamic", "fp16", "channels",
           "keypoint_shape", "keypoint_layout", "author")


class IsolatedBackend(Backend):
    """The backend of ``runtime`` (a ``BackendKind`` name) for ``path``, run in a child."""

    kind = "isolated"

    def __init__(self, path: Path, *, runtime: str, fp16: bool = False) -> None:
        path = Path(path).resolve()
        command = [sys.executable, "-m", "engine.backends.isolated", str(path)]
        if fp16:
            command.append("fp16")
        self.runtime = runtime
        self._worker = ArrayProcess(command, folder=path, runtime=runtime, cwd=path.parent,
                                    env=without_allocator())
        fields = self._worker.ready["fields"]
        fixed = bool(fields.pop("fixed_shape", False))
        self.precision = str(fields.pop("precision", "") or "")
        fields["names"] = {int(k): v for k, v in fields["names"].items()}
        fields["imgsz"] = tuple(fields["imgsz"]) if fields.get("imgsz") else None
        super().__init__(source=path, device=torch.device("cpu"), fixed_shape=fixed,
                         **{k: fields.get(k) for k in _FIELDS if k in fields})

    def _run(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        values = images.detach().to("cpu", torch.float32).contiguous().numpy()
        return tuple(torch.from_numpy(output.copy()) for output in self._worker.run(values))

    def close(self) -> None:
        """Stop the child process (also done when this object is collected)."""
        self._worker.close()


# -- the child -------------------------------------------------------------------------------


def _fields(backend: Backend) -> dict[str, Any]:
    return {
        "task": backend.task, "names": {str(k): v for k, v in backend.names.items()},
        "stride": backend.stride, "imgsz": list(backend.imgsz) if backend.imgsz else None,
        "batch": backend.batch, "dynamic": backend.dynamic, "fp16": backend.fp16,
        "channels": backend.channels,
        "keypoint_shape": list(backend.keypoint_shape) if backend.keypoint_shape else None,
        "keypoint_layout": backend.keypoint_layout, "author": backend.author,
        "fixed_shape": backend.fixed_shape,
        "precision": getattr(backend, "precision", ""),
    }


def _serve(path: str, fp16: bool) -> int:
    answers = os.fdopen(os.dup(1), "wb")  # the protocol's own copy of stdout
    os.dup2(2, 1)  # whatever a runtime prints (Python or C++) goes to stderr
    requests = sys.stdin.buffer

    def send(header: dict[str, Any], arrays: tuple[np.ndarray, ...] = ()) -> None:
        answers.write(json.dumps(header).encode() + b"\n")
        for array in arrays:
            answers.write(np.ascontiguousarray(array, dtype="<f4").tobytes())
        answers.flush()

    from .loading import load_backend

    try:
        backend = load_backend(path, device="cpu", fp16=fp16)
    except EngineError as error:  # already a message for the user, naming the file
        send({"error": str(error)[:500], "message": str(error)})
        return 1
    except Exception as error:  # noqa: BLE001 - the parent shows it as the load's failure
        send({"error": f"{type(error).__name__}: {error}"[:500]})
        return 1
    send({"ready": True, "fields": _fields(backend)})
    while line := requests.readline():
        shape = json.loads(line)["shape"]
        data = requests.read(4 * int(np.prod(shape)))
        images = torch.from_numpy(np.frombuffer(data, dtype="<f4").reshape(shape).copy())
        try:
            outputs = backend.forward(images)
        except Exception as error:  # noqa: BLE001 - one bad batch is the caller's error
            send({"error": str(error)[:500] or type(error).__name__})
            continue
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        arrays = tuple(o.detach().to("cpu", torch.float32).numpy() for o in outputs)
        send({"outputs": [{"shape": list(a.shape)} for a in arrays]}, arrays)
    return 0


if __name__ == "__main__":  # torch's thread settings come with the parent's environment
    sys.exit(_serve(sys.argv[1], fp16="fp16" in sys.argv[2:]))
