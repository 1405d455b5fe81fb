"""A TensorRT engine (``.engine``) as an inference backend: NVIDIA GPUs with CUDA only."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ExportError
from ..formats.export_metadata import read_engine_file, read_metadata
from .base import Backend, metadata_fields, modules_available

_TORCH_DTYPES = {"FLOAT": torch.float32, "HALF": torch.float16, "INT32": torch.int32}


def gpu_missing() -> str:
    """Why no engine can be built or run here (empty when it can)."""
    if not modules_available("tensorrt"):
        return ("TensorRT is not installed (pip install tensorrt, on a machine with an NVIDIA "
                "GPU and CUDA)")
    if not torch.cuda.is_available():
        return "TensorRT needs an NVIDIA GPU with CUDA, and this machine has none"
    return ""


class TensorRtBackend(Backend):
    """Runs the engine on the GPU with torch tensors as its buffers (TensorRT 10 API)."""

    kind = "engine"

    def __init__(self, path: Path, *, device: torch.device, fp16: bool = False) -> None:
        missing = gpu_missing()
        if missing:
            raise ExportError(f"cannot run a TensorRT engine here: {missing}", path=path)
        import tensorrt as trt

        raw, engine_bytes = read_engine_file(path)
        metadata = read_metadata(raw, path)
        if device.type != "cuda":
            device = torch.device("cuda:0")
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self.engine = runtime.deserialize_cuda_engine(engine_bytes)
        if self.engine is None:
            raise ExportError(
                "TensorRT could not load this engine (built for another GPU or TensorRT "
                "version?); export it again on this machine",
                path=path,
            )
        self.context = self.engine.create_execution_context()
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        mode = trt.TensorIOMode.INPUT
        self.input_name = next(n for n in names if self.engine.get_tensor_mode(n) == mode)
        self.output_names = [n for n in names if n != self.input_name]
        dtype = self.engine.get_tensor_dtype(self.input_name)
        fields = metadata_fields(metadata)
        super().__init__(source=path, device=device, fp16=dtype == trt.DataType.HALF,
                         fixed_shape=not metadata.dynamic, **fields)
        self.metadata = metadata

    @classmethod
    def from_path(cls, path: Path, *, device: torch.device, fp16: bool = False) -> TensorRtBackend:
        return cls(path, device=device, fp16=fp16)

    def _run(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        dtype = torch.float16 if self.fp16 else torch.float32
        feed = images.to(self.device, dtype).contiguous()
        self.context.set_input_shape(self.input_name, tuple(feed.shape))
        self.context.set_tensor_address(self.input_name, feed.data_ptr())
        outputs = []
        for name in self.output_names:
            shape = tuple(self.context.get_tensor_shape(name))
            kind = _TORCH_DTYPES.get(self.engine.get_tensor_dtype(name).name, torch.float32)
            buffer = torch.empty(shape, dtype=kind, device=self.device)
            self.context.set_tensor_address(name, buffer.data_ptr())
            outputs.append(buffer)
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise ExportError("TensorRT failed to run the engine", path=self.source)
        stream.synchronize()
        return tuple(output.float() for output in outputs)
