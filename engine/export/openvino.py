"""OpenVINO export: ``openvino.convert_model`` to IR files in ``<stem>_openvino_model/``.

fp32 unless ``half`` (weights stored as fp16: ``save_model`` compresses by default, so it is
asked not to) or ``int8`` (post-training quantisation with NNCF, calibrated on the dataset's
images). The detection head's decoding (anchor offsets, DFL, sigmoid, concatenation) stays in
floating point: quantising box arithmetic in pixels would cost whole pixels of accuracy.
"""

from __future__ import annotations

import logging
import re
import shutil
import warnings
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..events import Reporter
from ..formats.export_metadata import write_metadata_yaml
from ..utils.atomic import DiskFullError, atomic_directory, disk_full_cause
from .base import ExportOptions, modules_available, output_names

log = logging.getLogger(__name__)


class OpenVinoExporter:
    """``format='openvino'`` -> ``<stem>_openvino_model/`` (``<stem>.xml``, ``.bin``,
    ``metadata.yaml``)."""

    format = "openvino"
    name = "OpenVINO"
    suffix = "_openvino_model"
    arguments = frozenset({"imgsz", "batch", "half", "int8", "dynamic"})
    requirements = ("openvino",)
    extra = "openvino"
    half_needs_cuda = False  # the converter stores fp16 weights itself

    def available(self) -> bool:
        return modules_available(*self.requirements)

    def runtime_missing(self) -> str:
        return "" if modules_available("openvino") else "openvino is not installed"

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
        import openvino as ov

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notices, as for TorchScript
            converted = ov.convert_model(model, example_input=example)
        # convert_model leaves every input dimension free; a fixed shape lets the plugin plan
        # its memory once (and is what dynamic=False promises)
        shape = [-1, example.shape[1], -1, -1] if options.dynamic else list(example.shape)
        converted.reshape({converted.inputs[0]: ov.PartialShape(shape)})
        converted.inputs[0].get_tensor().set_names({"images"})
        for output, name in zip(converted.outputs, output_names(len(output_shapes)), strict=True):
            output.get_tensor().set_names({name})
        if options.int8:
            converted = _quantize(converted, options, metadata, model)
        for key, value in metadata.items():
            converted.set_rt_info(str(value), ["model_info", str(key)])
        stem = target.name[: -len(self.suffix)] or "model"
        try:
            with atomic_directory(target) as folder:
                ov.save_model(converted, folder / f"{stem}.xml", compress_to_fp16=options.half)
                write_metadata_yaml(folder, metadata)
        except Exception as exc:
            _raise_if_no_room(exc, target, _weights_bytes(model, options.half))
            raise
        return target


def _weights_bytes(model: nn.Module, half: bool) -> int:
    """About the size of the IR's .bin: every weight, in fp16 when ``half``."""
    count = sum(t.numel() for t in (*model.parameters(), *model.buffers()))
    return count * (2 if half else 4)


def _raise_if_no_room(exc: Exception, target: Path, needed: int) -> None:
    """A full disk, said as one: OpenVINO reports it as a bare stream error ("basic_ios::clear:
    iostream error", no errno), so a folder with less room than the model needs counts too."""
    try:
        free: int | None = shutil.disk_usage(target.parent).free
    except OSError:
        free = None
    if disk_full_cause(exc) is None and (free is None or free >= needed):
        return
    room = f", {free / 1e6:.1f} MB are free there" if free is not None else ""
    raise DiskFullError(
        f"the disk is full: the OpenVINO model (about {needed / 1e6:.1f} MB) could not be "
        f"written{room}; nothing was written. Free some space and export again",
        path=target.parent,
        target=target,
    ) from exc


def _quantize(converted: Any, options: ExportOptions, metadata: Mapping[str, Any],
              model: nn.Module) -> Any:
    """NNCF post-training int8, calibrated on the given images, with what must stay in floating
    point left out (``kept_in_float``)."""
    from ..errors import ExportError

    if not modules_available("nncf"):
        raise ExportError(
            "int8 OpenVINO export quantises with NNCF, which is not installed "
            "(pip install 'yolo-studio[openvino]')",
            key="int8",
        )
    import nncf

    nncf.set_log_level(logging.WARNING)  # its INFO lines list every node it leaves alone
    batch = options.batch
    images = list(options.calibration)
    batches = [torch.stack(images[i : i + batch]).numpy() for i in range(0, len(images), batch)
               if len(images[i : i + batch]) == batch]
    types, patterns = kept_in_float(model, str(metadata.get("task", "")))
    ignored = nncf.IgnoredScope(types=types, patterns=patterns, validate=False) \
        if types or patterns else None
    # MIXED: symmetric int8 weights, asymmetric activations (SiLU outputs dip below zero, so a
    # symmetric range would waste half its codes); fast bias correction is NNCF's default
    return nncf.quantize(
        converted,
        nncf.Dataset(batches),
        preset=nncf.QuantizationPreset.MIXED,
        subset_size=len(batches),
        ignored_scope=ignored,
    )


def kept_in_float(model: nn.Module, task: str) -> tuple[list[str], list[str]]:
    """What an int8 export leaves in fp32, as NNCF ignored-scope op types and name patterns.

    A classifier: nothing. The detection family: the head's decoding, which turns the last
    convolutions' outputs into pixels and probabilities, namely the anchor arithmetic
    (Multiply, Subtract) and the class sigmoid, and the DFL (the softmax over 16 distance bins
    and its fixed 1x1 convolution with weights 0..15, which int8 cannot hold exactly: 1 is
    stored as 0.94, and an expected distance moves by up to 0.06 of a stride, 2 px at stride
    32). They are a handful of elementwise operations, not the convolutions that take the
    time, so keeping them costs no measurable speed (benchmarks/int8_openvino.py). The DFL is
    found by its module's name, which ``openvino.convert_model`` puts in each op's name
    (``__module.model.22.dfl.conv/...``).

    The head's output convolutions, the last 1x1 of each branch (box distributions, class
    logits, mask coefficients or keypoints), stay in fp32 too: they write the outputs
    directly. On a 30-epoch yolov8n-seg of the shapes set, quantising them cost box / mask
    mAP50-95 0.014 / 0.013; kept, 0.004 / +0.002, at the same speed (int8 2.40x fp32 at 640
    against 2.43x: they are 9 small convolutions of 77).
    """
    from ..nn.blocks import DFL
    from ..nn.heads import Detect

    if task == "classify":
        return [], []
    names = [name for name, module in model.named_modules() if isinstance(module, DFL)]
    for name, module in model.named_modules():
        if isinstance(module, Detect):
            names += [f"{name}.{attr}.{index}.{len(branch) - 1}"
                      for attr in ("cv2", "cv3", "cv4") for index, branch
                      in enumerate(getattr(module, attr, ()))]
    patterns = [rf"__module\.{re.escape(name)}[./].*" for name in names]
    return ["Multiply", "Subtract", "Sigmoid"], patterns


INT8_PRECISIONS = frozenset({"u8", "i8"})
FLOAT_PRECISIONS = frozenset({"f32", "bf16", "f16"})
_NOT_COMPUTED = frozenset({"Const", "Input", "Parameter", "Output", "Result"})


@dataclass(frozen=True)
class PrecisionCensus:
    """How a compiled OpenVINO model runs: its executed operations (constants, inputs and
    outputs left out) by the precision the CPU plugin chose for each (``runtimePrecision``),
    and its convolutions, which carry almost all of a YOLO model's arithmetic."""

    int8_ops: int
    float_ops: int
    int8_convolutions: int
    convolutions: int
    float_kinds: tuple[tuple[str, int], ...] = ()
    """The layer types that run in floating point, with their counts, most first."""
    float_convolutions: tuple[str, ...] = ()
    """The names of the convolutions that run in floating point."""

    def summary(self) -> str:
        """``112 ops in int8, 58 in fp32 (76 of 77 convolutions in int8; fp32: 18 Reshape…)``."""
        kinds = ", ".join(f"{count} {kind}" for kind, count in self.float_kinds[:5])
        return (f"{self.int8_ops} ops in int8, {self.float_ops} in fp32 "
                f"({self.int8_convolutions} of {self.convolutions} convolutions in int8"
                f"{'; fp32: ' + kinds if kinds else ''})")


def precision_census(compiled: Any) -> PrecisionCensus:
    """The census of an ``openvino.CompiledModel`` (its runtime graph, after the plugin fused
    and placed the quantisation): what actually runs in int8, not what the IR asks for."""
    int8 = floats = int8_convolutions = convolutions = 0
    float_kinds: Counter[str] = Counter()
    float_convolutions: list[str] = []
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        kind = info["layerType"].astype(str) if "layerType" in info else op.get_type_name()
        precision = info["runtimePrecision"].astype(str) if "runtimePrecision" in info else ""
        if kind in _NOT_COMPUTED:
            continue
        is_int8 = precision in INT8_PRECISIONS
        int8 += is_int8
        if precision in FLOAT_PRECISIONS:
            floats += 1
            float_kinds[kind] += 1
        if kind in ("Convolution", "Deconvolution"):
            convolutions += 1
            int8_convolutions += is_int8
            if not is_int8:
                float_convolutions.append(op.get_friendly_name())
    return PrecisionCensus(int8, floats, int8_convolutions, convolutions,
                           tuple(float_kinds.most_common()), tuple(float_convolutions))
