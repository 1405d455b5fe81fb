"""An OpenVINO export folder (``*_openvino_model/``) as an inference backend."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..errors import ExportError
from ..formats.export_metadata import read_metadata_yaml
from .base import Backend, metadata_fields

log = logging.getLogger(__name__)


class OpenVinoBackend(Backend):
    """Runs the IR on OpenVINO's CPU plugin in float32.

    On CPUs with bfloat16 support the plugin computes in bf16 by default, which moved box
    corners by ~0.4 px here; ``INFERENCE_PRECISION_HINT=f32`` keeps PyTorch's results.

    Its threads are not pinned to cores (``ENABLE_CPU_PINNING``, on by default for latency):
    a pinned thread waits for its own core when another process uses it. On this 2-core machine
    beside other work, yolov8n-seg at 640x480 took a median 266 ms unpinned against 343 ms
    pinned (40 alternating runs in one process).
    """

    kind = "openvino"

    def __init__(self, path: Path, *, device: torch.device, fp16: bool = False) -> None:
        try:
            import openvino as ov
        except ImportError as exc:
            raise ExportError(
                "running OpenVINO models needs openvino (pip install 'yolo-studio[openvino]')",
                path=path,
            ) from exc
        metadata = read_metadata_yaml(path)
        xml = _ir_file(path)
        if device.type != "cpu":
            log.warning("OpenVINO runs on the CPU here; %s is not used", device)
        core = ov.Core()
        try:
            network = core.read_model(xml)
            hints = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY",
                     "ENABLE_CPU_PINNING": False}
            compiled = core.compile_model(network, "CPU", hints)
        except RuntimeError as exc:
            raise ExportError(
                f"cannot be loaded by OpenVINO ({str(exc).splitlines()[0][:200]}); export the "
                "model again",
                path=xml,
            ) from exc
        self.compiled = compiled
        self.request = compiled.create_infer_request()
        shape = network.inputs[0].get_partial_shape()
        fixed = not shape.is_dynamic
        fields = metadata_fields(metadata)
        if fixed:
            fields["batch"] = int(shape[0].get_length())
        super().__init__(source=path, device=torch.device("cpu"), fp16=False,
                         fixed_shape=fixed, **fields)
        self.metadata = metadata

    @classmethod
    def from_path(cls, path: Path, *, device: torch.device, fp16: bool = False) -> OpenVinoBackend:
        return cls(path, device=device, fp16=fp16)

    def _run(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feed = images.detach().to("cpu", torch.float32).contiguous().numpy()
        results = self.request.infer({0: feed})
        return tuple(
            torch.from_numpy(np.array(results[output], dtype=np.float32))
            for output in self.compiled.outputs
        )


def _ir_file(folder: Path) -> Path:
    files = sorted(folder.glob("*.xml"))
    if len(files) != 1:
        found = ", ".join(f.name for f in files) or "none"
        raise ExportError(
            f"an OpenVINO model folder holds one .xml (with its .bin); found {found}. Export "
            "the model again",
            path=folder,
        )
    return files[0]
