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


PRECISION_KEY = "inference_precision"
"""metadata.yaml key: ``bf16`` where the fast CPU path found bfloat16 within its parity gate
(engine/api/runtime_cache.py); exports without it run in float32."""
PRECISIONS = ("f32", "bf16")


class OpenVinoBackend(Backend):
    """Runs the IR on OpenVINO's CPU plugin in float32, or bfloat16 when its metadata says so.

    On CPUs with bfloat16 support the plugin computes in bf16 by default, which moved box
    corners by ~0.4 px here; ``INFERENCE_PRECISION_HINT=f32`` keeps PyTorch's results for a
    user's export. The fast CPU path's cache entries ask for bf16 when it passes their gate:
    yolov8n-pose at 640 took 30 ms against 54 ms in f32 here.

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
        self.precision = _precision(metadata.extras.get(PRECISION_KEY), core)
        try:
            network = core.read_model(xml)
            hints = {"INFERENCE_PRECISION_HINT": self.precision, "PERFORMANCE_HINT": "LATENCY",
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


def cpu_supports_bf16() -> bool:
    """Whether OpenVINO's CPU plugin computes bfloat16 natively on this machine."""
    import openvino as ov

    return _native_bf16(ov.Core())


def _native_bf16(core) -> bool:
    try:
        return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except RuntimeError:
        return False


def _precision(asked: object, core) -> str:
    """``asked`` when it is one OpenVINO computes natively here, else f32."""
    if asked == "bf16" and _native_bf16(core):
        return "bf16"
    return "f32"


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
