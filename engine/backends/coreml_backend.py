"""A CoreML package (``*.mlpackage``) as an inference backend: macOS only."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import torch

from ..errors import ExportError
from ..formats.export_metadata import read_metadata
from ..utils.native_stderr import COREMLTOOLS_NOISE, native_stderr_filtered
from .base import Backend, metadata_fields


class CoreMlBackend(Backend):
    """Runs the package with CoreML (``MLModel.predict``), which exists on macOS only; on
    other systems loading says so and what can be run instead."""

    kind = "coreml"

    def __init__(self, path: Path, *, device: torch.device, fp16: bool = False) -> None:
        if platform.system() != "Darwin":
            raise ExportError(
                "CoreML models run on macOS only (Apple's CoreML runtime). On this system, run "
                "an ONNX, OpenVINO or TorchScript export of the same model instead",
                path=path,
            )
        try:
            with native_stderr_filtered(COREMLTOOLS_NOISE):
                import coremltools as ct
        except ImportError as exc:
            raise ExportError(
                "running CoreML models needs coremltools (pip install 'yolo-studio[coreml]')",
                path=path,
            ) from exc
        self.model = ct.models.MLModel(str(path))
        spec = self.model.get_spec()
        metadata = read_metadata(dict(spec.description.metadata.userDefined), path)
        self.input_name = spec.description.input[0].name
        self.output_names = [output.name for output in spec.description.output]
        super().__init__(source=path, device=torch.device("cpu"), fp16=False, fixed_shape=True,
                         **metadata_fields(metadata))
        self.metadata = metadata

    @classmethod
    def from_path(cls, path: Path, *, device: torch.device, fp16: bool = False) -> CoreMlBackend:
        return cls(path, device=device, fp16=fp16)

    def _run(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feed = images.detach().to("cpu", torch.float32).numpy()
        outputs = self.model.predict({self.input_name: feed})
        return tuple(
            torch.from_numpy(np.asarray(outputs[name], dtype=np.float32))
            for name in self.output_names
        )
