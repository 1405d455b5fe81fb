"""TensorRT export (``format='engine'``): ONNX, then TensorRT's builder on an NVIDIA GPU.

A TensorRT engine is built for the GPU it is built on, so this needs the ``tensorrt`` package
and a CUDA device; where either is missing the export stops before doing anything and says
which. The file holds a 4-byte little-endian length, our metadata as JSON, then the serialized
engine (the layout the reference's engines use, so each side can read the other's metadata).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..backends.tensorrt_backend import gpu_missing
from ..errors import ExportError
from ..events import Reporter
from ..formats.export_metadata import engine_header
from ..utils.atomic import atomic_writer
from .base import INPUT_NAME, ExportOptions
from .onnx import build_onnx

log = logging.getLogger(__name__)

DEFAULT_WORKSPACE_GIB = 4.0
MIN_SIDE = 32
"""The smallest image side a dynamic engine's optimisation profile accepts."""


class TensorRtExporter:
    """``format='engine'`` -> ``<stem>.engine``."""

    format = "engine"
    name = "TensorRT"
    suffix = ".engine"
    arguments = frozenset({"imgsz", "batch", "half", "dynamic", "simplify", "workspace"})
    requirements = ("tensorrt",)
    extra = "tensorrt"
    half_needs_cuda = False  # the builder makes the fp16 kernels

    def available(self) -> bool:
        return not gpu_missing()

    def unavailable_reason(self) -> str:
        missing = gpu_missing()
        return (f"TensorRT export cannot run here: {missing}. Export to onnx or openvino for "
                "this machine, or export on the machine that will run the engine")

    def runtime_missing(self) -> str:
        return gpu_missing()

    def export(
        self,
        model: nn.Module,
        example: torch.Tensor,
        target: Path,
        *,
        options: ExportOptions,
        metadata: Mapping[str, Any],
        output_shapes: tuple[tuple[int, ...], ...],
        progress: Reporter,
    ) -> Path:
        onnx_options = dataclasses.replace(options, half=False, int8=False)
        proto = build_onnx(model.float(), example.float(), output_shapes, onnx_options, progress)
        engine = build_engine(proto.SerializeToString(), options)
        with atomic_writer(target) as handle:
            handle.write(engine_header(metadata))
            handle.write(engine)
        return target


def build_engine(onnx_bytes: bytes, options: ExportOptions) -> bytes:
    """A serialized engine for ``onnx_bytes`` with the workspace, precision and shapes asked."""
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_bytes):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ExportError(f"TensorRT could not parse the ONNX graph: {errors}", key="format")
    config = builder.create_builder_config()
    workspace = options.workspace or DEFAULT_WORKSPACE_GIB
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace * (1 << 30)))
    if options.half:
        config.set_flag(trt.BuilderFlag.FP16)
    if options.dynamic:
        profile = builder.create_optimization_profile()
        height, width = options.imgsz
        channels = network.get_input(0).shape[1]
        smallest = (1, channels, MIN_SIDE, MIN_SIDE)
        typical = (max(1, options.batch // 2), channels, height, width)
        largest = (options.batch, channels, height, width)
        profile.set_shape(INPUT_NAME, smallest, typical, largest)
        config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError("TensorRT's builder failed; its log above says why", key="format")
    return bytes(serialized)

