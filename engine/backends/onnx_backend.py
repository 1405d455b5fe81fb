"""An ``.onnx`` export as an inference backend, through onnxruntime."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoints.loading import keypoint_layout
from ..errors import ExportError
from ..formats.export_metadata import ExportMetadata, read_metadata
from ..process.threads import session_options
from .base import Backend

log = logging.getLogger(__name__)


class OnnxBackend(Backend):
    """An onnxruntime session on the CPU (or CUDA where onnxruntime-gpu has it).

    Shapes come from the graph itself: a fixed batch runs larger batches in chunks, a fixed
    image size is checked. The input precision follows the graph (fp16 for a half export).
    """

    kind = "onnx"

    def __init__(self, path: Path, *, device: torch.device, fp16: bool = False) -> None:
        self.session = _session(path, device)
        metadata = read_metadata(self.session.get_modelmeta().custom_metadata_map, path)
        graph_input = self.session.get_inputs()[0]
        self.input_name = graph_input.name
        self.output_names = [output.name for output in self.session.get_outputs()]
        half = graph_input.type == "tensor(float16)"
        if fp16 and not half:
            log.info("%s is a float32 export; fp16 needs an export made with half=True", path)
        batch, height, width = (
            _fixed(dim) for dim in (graph_input.shape[0], *graph_input.shape[2:])
        )
        fixed_size = height is not None and width is not None
        super().__init__(
            source=path,
            task=metadata.task,
            names=metadata.names,
            stride=metadata.stride,
            device=device,
            imgsz=(height, width) if fixed_size else metadata.imgsz,
            batch=batch,
            dynamic=batch is None,
            fp16=half,
            fixed_shape=fixed_size,
            channels=int(graph_input.shape[1]) if _fixed(graph_input.shape[1]) else 3,
            keypoint_shape=metadata.extras.get("kpt_shape"),
            keypoint_layout=keypoint_layout(metadata.extras.get("keypoint_layout")),
            author=str(metadata.extras.get("author") or ""),
        )
        self.metadata: ExportMetadata = metadata

    @classmethod
    def from_path(cls, path: Path, *, device: torch.device, fp16: bool = False) -> OnnxBackend:
        return cls(path, device=device, fp16=fp16)

    def _run(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        dtype = np.float16 if self.fp16 else np.float32
        feed = images.detach().to("cpu", torch.float32).numpy().astype(dtype, copy=False)
        outputs = self.session.run(self.output_names, {self.input_name: feed})
        return tuple(
            torch.from_numpy(np.asarray(output, dtype=np.float32)).to(self.device)
            for output in outputs
        )


def _fixed(dim: Any) -> int | None:
    """A graph dimension's size, or None for a symbolic (dynamic) one."""
    return int(dim) if isinstance(dim, int) and dim > 0 else None


def _session(path: Path, device: torch.device) -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        missing = isinstance(exc, ModuleNotFoundError) and exc.name == "onnxruntime"
        raise ExportError(
            "running ONNX models needs onnxruntime, which is not installed "
            "(pip install onnxruntime)" if missing else
            f"onnxruntime is installed but fails to load ({exc}); reinstall it "
            "(pip install --force-reinstall onnxruntime)",
            path=path,
        ) from exc
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda":
        if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        else:
            log.warning("onnxruntime has no CUDA provider here; running %s on the CPU", path)
    try:
        return onnxruntime.InferenceSession(str(path), session_options(), providers=providers)
    except Exception as exc:  # onnxruntime raises its own (Fail, InvalidProtobuf, ...) classes
        lines = str(exc).strip().splitlines()
        raise ExportError(
            f"cannot be loaded by onnxruntime ({lines[0][:200] if lines else exc!r}); it may be "
            "truncated or not an ONNX model. Export the model again",
            path=path,
        ) from exc
