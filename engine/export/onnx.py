"""ONNX export: the TorchScript-based ``torch.onnx.export``, optional onnxslim, metadata_props.

The legacy exporter (``dynamo=False``) is used on purpose: it needs no onnxscript, handles every
YOLOv8 op at opset 17, and its graphs convert further (TF, Paddle) after simplification.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ExportError
from ..events import Reporter, Warning
from ..formats.export_metadata import metadata_to_strings
from ..utils.atomic import atomic_writer
from .base import (
    DEFAULT_OPSET,
    INPUT_NAME,
    ExportOptions,
    modules_available,
    output_names,
)

log = logging.getLogger(__name__)


class OnnxExporter:
    """``format='onnx'`` -> ``<stem>.onnx``, checked with ``onnx.checker``."""

    format = "onnx"
    name = "ONNX"
    suffix = ".onnx"
    arguments = frozenset({"imgsz", "batch", "half", "dynamic", "simplify", "opset"})
    requirements = ("onnx",)

    extra = ""

    def available(self) -> bool:
        return modules_available(*self.requirements)

    def runtime_missing(self) -> str:
        return "" if modules_available("onnxruntime") else "onnxruntime is not installed"

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
        proto = build_onnx(model, example, output_shapes, options, progress)
        write_onnx(proto, target, metadata)
        return target


def build_onnx(
    model: nn.Module,
    example: torch.Tensor,
    output_shapes: tuple[tuple[int, ...], ...],
    options: ExportOptions,
    progress: Reporter,
) -> Any:
    """The ONNX ModelProto of ``model`` (at ``options.opset``, simplified when asked), checked.

    Other formats convert from it (TensorRT, TF via onnx2tf, Paddle via x2paddle); they pass
    options with their own opset and simplify settings (``dataclasses.replace``).
    """
    import onnx

    _check_opset(options.opset)
    names = output_names(len(output_shapes))
    proto = onnx.load_from_string(_trace_to_onnx(model, example, names, output_shapes, options))
    if options.simplify:
        proto = _simplify(proto, progress)
    onnx.checker.check_model(proto)
    return proto


def write_onnx(proto: Any, target: Path, metadata: Mapping[str, Any]) -> None:
    """Put ``metadata`` in the model's ``metadata_props`` and write it atomically."""
    import onnx

    onnx.helper.set_model_props(proto, metadata_to_strings(metadata))
    with atomic_writer(target) as handle:
        handle.write(proto.SerializeToString())


def _check_opset(opset: int) -> None:
    """Refuse an opset this torch cannot write before tracing (torch's own error is a page)."""
    from torch.onnx import _constants  # no public constant says it

    low = getattr(_constants, "ONNX_MIN_OPSET", 7)
    high = getattr(_constants, "ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET", None)
    if opset < low or (high is not None and opset > high):
        raise ExportError(
            f"opset {opset} cannot be written by this torch (it writes {low} to {high}); "
            f"use opset={DEFAULT_OPSET} or leave opset unset",
            key="opset",
        )


def _trace_to_onnx(
    model: nn.Module,
    example: torch.Tensor,
    names: list[str],
    output_shapes: tuple[tuple[int, ...], ...],
    options: ExportOptions,
) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # torch announces that the legacy exporter is deprecated, and traces emit
        # TracerWarnings for shape arithmetic the export keeps symbolic; neither is actionable.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            (example,),
            buffer,
            dynamo=False,
            opset_version=options.opset,
            input_names=[INPUT_NAME],
            output_names=names,
            dynamic_axes=dynamic_axes(names, output_shapes) if options.dynamic else None,
            do_constant_folding=True,
        )
    return buffer.getvalue()


def dynamic_axes(
    names: list[str], output_shapes: tuple[tuple[int, ...], ...]
) -> dict[str, dict[int, str]]:
    """Batch, height and width of the input free; outputs follow by their rank.

    ``[N, nc]`` probabilities vary in batch; ``[N, C, anchors]`` detections also in anchors;
    ``[N, masks, H, W]`` prototypes also in their height and width.
    """
    axes = {INPUT_NAME: {0: "batch", 2: "height", 3: "width"}}
    by_rank = {
        2: {0: "batch"},
        3: {0: "batch", 2: "anchors"},
        4: {0: "batch", 2: "mask_height", 3: "mask_width"},
    }
    for name, shape in zip(names, output_shapes, strict=True):
        axes[name] = dict(by_rank.get(len(shape), {0: "batch"}))
    return axes


def _simplify(proto: Any, progress: Reporter) -> Any:
    """onnxslim's simplified graph, or the original (with a warning) when that fails."""
    if not modules_available("onnxslim"):
        progress(Warning("simplify=True skipped: onnxslim is not installed (pip install onnxslim)"))
        return proto
    import onnxslim

    try:
        return onnxslim.slim(proto)
    except Exception as exc:  # noqa: BLE001 - a failed simplification must not fail the export
        message = f"onnxslim could not simplify the graph ({exc}); kept the unsimplified graph"
        log.warning(message)
        progress(Warning(message))
        return proto
