"""CoreML export: ``coremltools.convert`` of the traced model to an ML program (``.mlpackage``).

fp32 compute unless ``half`` (fp16 compute and weights, CoreML's own default) or ``int8``:
8-bit weights (``linear_quantize_weights``) and 8-bit convolution inputs. CoreML calibrates
activations by running the model, which only macOS can, and coremltools' PyTorch quantizers
need torch.fx or PT2E tracing (fx fails on the C2f split, PT2E left torch in 2.10), so we
calibrate ourselves: the largest magnitude of each convolution's input over the dataset's
images sets a symmetric int8 scale, and a quantize/dequantize pair in the traced graph becomes
CoreML's own ``quantize``/``dequantize`` ops (iOS 17).

Prediction on CoreML runs on macOS only. Here the package is validated by loading its spec, and
the result says that its outputs were not compared.
"""

from __future__ import annotations

import logging
import platform
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ExportError
from ..events import Reporter
from ..utils.atomic import atomic_directory
from ..utils.native_stderr import COREMLTOOLS_NOISE, native_stderr_filtered
from .base import INPUT_NAME, ExportOptions, modules_available, output_names

log = logging.getLogger(__name__)

MACOS_ONLY = "CoreML models run on macOS only; the package's spec was loaded and checked here"


class CoreMlExporter:
    """``format='coreml'`` -> ``<stem>.mlpackage`` (iOS 16 / macOS 13 ML program)."""

    format = "coreml"
    name = "CoreML"
    suffix = ".mlpackage"
    arguments = frozenset({"imgsz", "batch", "half", "int8", "nms"})
    requirements = ("coremltools",)
    extra = "coreml"
    half_needs_cuda = False  # CoreML computes in fp16 itself

    def available(self) -> bool:
        return modules_available(*self.requirements)

    def runtime_missing(self) -> str:
        return "" if platform.system() == "Darwin" else MACOS_ONLY

    def notes(self, options: ExportOptions) -> list[str]:
        return [] if platform.system() == "Darwin" else [f"note: {MACOS_ONLY}"]

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
        if options.nms:
            raise ExportError(
                "nms=True adds CoreML's non-maximum-suppression model, which carries boxes and "
                "scores only; segment, pose and classify exports keep their raw outputs, which "
                "the predictor decodes. Export without nms",
                key="nms",
            )
        with native_stderr_filtered(COREMLTOOLS_NOISE):  # see engine/utils/native_stderr.py
            import coremltools as ct

            hooks = _quantize_conv_inputs(model, options) if options.int8 else []
            target_os = ct.target.iOS17 if options.int8 else ct.target.iOS16
            precision = ct.precision.FLOAT16 if options.half else ct.precision.FLOAT32
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                traced = torch.jit.trace(model, example, strict=False)
                converted = ct.convert(
                    traced,
                    inputs=[ct.TensorType(name=INPUT_NAME, shape=tuple(example.shape))],
                    outputs=[ct.TensorType(name=n) for n in output_names(len(output_shapes))],
                    convert_to="mlprogram",
                    minimum_deployment_target=target_os,
                    compute_precision=precision,
                )
        for hook in hooks:
            hook.remove()
        if options.int8:
            converted = _int8_weights(converted)
        _describe(converted, metadata)
        with atomic_directory(target) as folder:
            staging = folder / target.name  # coremltools wants a path ending in .mlpackage
            converted.save(str(staging))
            for item in staging.iterdir():
                item.rename(folder / item.name)
            staging.rmdir()
        validate_package(target)
        return target


def validate_package(path: Path) -> Any:
    """Load the package's spec (without compiling it, which needs macOS); return the spec."""
    with native_stderr_filtered(COREMLTOOLS_NOISE):
        import coremltools as ct

    try:
        return ct.models.MLModel(str(path), skip_model_load=True).get_spec()
    except Exception as exc:  # noqa: BLE001 - coremltools raises several unrelated types
        raise ExportError(
            f"the CoreML package does not load ({str(exc).splitlines()[0][:200]}); export again",
            path=path,
        ) from exc


def _describe(converted: Any, metadata: Mapping[str, Any]) -> None:
    from ..formats.export_metadata import metadata_to_strings

    converted.short_description = str(metadata.get("description", ""))
    converted.author = str(metadata.get("author", ""))
    converted.version = str(metadata.get("version", ""))
    converted.user_defined_metadata.update(metadata_to_strings(metadata))


def _quantize_conv_inputs(model: nn.Module, options: ExportOptions) -> list[Any]:
    """Hooks that quantize each convolution's input to int8 at the scale its calibration
    images needed (the fixed DFL convolution, whose inputs are probabilities, is left alone)."""
    from ..nn.blocks import DFL

    fixed = {id(m.conv) for m in model.modules() if isinstance(m, DFL)}
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d) and id(m) not in fixed]
    peaks = dict.fromkeys(convs, 0.0)

    def observe(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        peaks[module] = max(peaks[module], float(inputs[0].detach().abs().max()))

    observers = [conv.register_forward_pre_hook(observe) for conv in convs]
    batch = options.batch
    images = list(options.calibration)
    with torch.no_grad():
        for start in range(0, len(images) - batch + 1, batch):
            model(torch.stack(images[start : start + batch]))
    for observer in observers:
        observer.remove()

    def quantized(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor]:
        scale = max(peaks[module], 1e-8) / 127
        packed = torch.quantize_per_tensor(inputs[0], scale, 0, torch.qint8)
        return (torch.dequantize(packed),)

    return [conv.register_forward_pre_hook(quantized) for conv in convs]


def _int8_weights(converted: Any) -> Any:
    import coremltools.optimize.coreml as cto

    weights = cto.OpLinearQuantizerConfig(mode="linear_symmetric")
    config = cto.OptimizationConfig(global_config=weights)
    return cto.linear_quantize_weights(converted, config=config)
