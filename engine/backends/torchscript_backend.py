"""A ``.torchscript`` export as an inference backend; metadata from its ``config.txt``."""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

from ..checkpoints.loading import keypoint_layout
from ..errors import ExportError
from ..formats.export_layouts import TORCHSCRIPT_CONFIG_FILE
from ..formats.export_metadata import read_metadata
from .base import Backend

log = logging.getLogger(__name__)


class TorchScriptBackend(Backend):
    """Runs a traced module; a larger batch than the traced one runs in chunks of it."""

    kind = "torchscript"

    def __init__(self, path: Path, *, device: torch.device, fp16: bool = False) -> None:
        module, config = _load(path, device)
        metadata = read_metadata(config, path)
        half = fp16 and device.type == "cuda"
        if fp16 and not half:
            log.info("fp16 needs a CUDA device; running %s in float32 on %s", path, device)
        self.module = module.half() if half else module.float()
        super().__init__(
            source=path,
            task=metadata.task,
            names=metadata.names,
            stride=metadata.stride,
            device=device,
            imgsz=metadata.imgsz,
            batch=metadata.batch,
            dynamic=metadata.dynamic,
            fp16=half,
            channels=int(metadata.extras.get("channels", 3)),
            keypoint_shape=metadata.extras.get("kpt_shape"),
            keypoint_layout=keypoint_layout(metadata.extras.get("keypoint_layout")),
            author=str(metadata.extras.get("author") or ""),
        )
        self.metadata = metadata

    @classmethod
    def from_path(
        cls, path: Path, *, device: torch.device, fp16: bool = False
    ) -> TorchScriptBackend:
        return cls(path, device=device, fp16=fp16)

    def _run(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        dtype = torch.float16 if self.fp16 else torch.float32
        with torch.inference_mode():
            outputs = self.module(images.to(self.device, dtype))
        tensors = outputs if isinstance(outputs, tuple | list) else (outputs,)
        return tuple(t.float() for t in tensors)


@contextlib.contextmanager
def quiet_jit() -> Iterator[None]:
    """Silence torch's notices around TorchScript calls.

    torch marks ``torch.jit`` deprecated (TorchScript still loads wherever torch runs, which is
    why the format is offered), and TracerWarnings flag shape arithmetic that traces fine.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        yield


def _load(path: Path, device: torch.device) -> tuple[torch.jit.ScriptModule, dict]:
    extra_files = {TORCHSCRIPT_CONFIG_FILE: ""}
    try:
        with quiet_jit():
            module = torch.jit.load(str(path), map_location=device, _extra_files=extra_files)
    except (RuntimeError, ValueError, OSError) as exc:
        lines = str(exc).strip().splitlines()
        raise ExportError(
            f"cannot be loaded as TorchScript ({lines[0][:200] if lines else exc!r}); it may be "
            "truncated or another kind of file. Export the model again",
            path=path,
        ) from exc
    raw = extra_files[TORCHSCRIPT_CONFIG_FILE]
    if not raw:
        raise ExportError(
            f"has no {TORCHSCRIPT_CONFIG_FILE} with export metadata, so it was not exported by "
            "YOLO Studio. Export the model again with YOLO Studio",
            path=path,
            key=TORCHSCRIPT_CONFIG_FILE,
        )
    try:
        config = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExportError(
            f"its metadata is not JSON ({exc}); export the model again",
            path=path,
            key=TORCHSCRIPT_CONFIG_FILE,
        ) from exc
    if not isinstance(config, dict):
        raise ExportError("its metadata is not a mapping", path=path, key=TORCHSCRIPT_CONFIG_FILE)
    module.eval()
    return module, config
