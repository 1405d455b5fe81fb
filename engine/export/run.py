"""``export_model``: check the arguments, prepare a copy of the model, hand it to a format.

The model given is never changed: a deep copy is put in eval mode, fused, frozen and its head
switched to export mode (one tensor out for classify/detect/pose, two for segment).
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from ..cancel import NEVER, CancelToken
from ..errors import Cancelled, EngineError, ExportError
from ..events import Reporter, RunFinished, RunStarted, Warning, ignore
from ..nn.heads import Classify, Detect
from ..nn.model import TaskModel
from ..version import __version__
from .base import (
    AUTHOR,
    DEFAULT_OPSET,
    Exporter,
    ExportOptions,
    get_exporter,
    output_path,
)

log = logging.getLogger(__name__)

# Defaults of the optional arguments: a format that ignores one only warns when it was changed.
_DEFAULTS = {"half": False, "dynamic": False, "simplify": True, "opset": None, "optimize": False}
# Keys that describe the exported file itself; a caller's metadata cannot override them.
_FILE_FACTS = ("task", "stride", "imgsz", "batch", "args")


def export_model(
    model: TaskModel,
    format: str,  # noqa: A002 - the reference's argument name
    *,
    output: str | Path,
    imgsz: int | Sequence[int] = 224,
    batch: int = 1,
    half: bool = False,
    dynamic: bool = False,
    simplify: bool = True,
    opset: int | None = None,
    optimize: bool = False,
    metadata: Mapping[str, Any] | None = None,
    progress: Reporter = ignore,
    cancel: CancelToken = NEVER,
) -> Path:
    """Export ``model`` to ``format`` beside ``output`` (``best.pt`` -> ``best.onnx``).

    ``metadata`` adds to (or replaces) the descriptive keys written into the file (names,
    description, author, ...); the keys that describe the file itself (task, stride, imgsz,
    batch, args) always come from the export. ``half=True`` needs the model on a CUDA device
    and raises ExportError on the CPU. Returns the path written (atomically).
    """
    exporter = get_exporter(format)
    _check_available(exporter)
    stride = max(int(s) for s in model.strides)
    size, rounding = check_imgsz(imgsz, stride=stride, task=model.task)
    options = _check_options(exporter, size, batch, half, dynamic, simplify, opset, optimize)
    device = _model_device(model)
    if options.half and device.type != "cuda":
        raise ExportError(
            f"half=True (fp16) {exporter.name} export needs the model on a CUDA GPU, but it is "
            f"on {device.type}. Use device=0 on a machine with a GPU, or export with half=False",
            key="half",
        )
    target = output_path(Path(output), exporter)
    progress(
        RunStarted(
            mode="export",
            task=model.task,
            save_dir=str(target.parent),
            total=1,
            description=f"{exporter.name} export",
        )
    )
    given = {"half": half, "dynamic": dynamic, "simplify": simplify, "opset": opset}
    ignored = _ignored(exporter, {**given, "optimize": optimize})
    for message in [*([rounding] if rounding else []), *ignored]:
        log.warning(message)
        progress(Warning(message, path=str(target)))
    return _run(model, exporter, options, target, device, metadata, progress, cancel)


def _run(
    model: TaskModel,
    exporter: Exporter,
    options: ExportOptions,
    target: Path,
    device: torch.device,
    metadata: Mapping[str, Any] | None,
    progress: Reporter,
    cancel: CancelToken,
) -> Path:
    start = time.perf_counter()
    finished = {"mode": "export", "save_dir": str(target.parent)}
    try:
        cancel.raise_if_cancelled()
        prepared = prepare_model(model, half=options.half)
        dtype = torch.float16 if options.half else torch.float32
        example = torch.zeros(options.batch, model.in_channels, *options.imgsz, device=device)
        example = example.to(dtype)
        shapes = output_shapes(prepared, example)
        facts = build_metadata(model, options, exporter, extra=metadata)
        cancel.raise_if_cancelled()
        path = exporter.export(
            prepared,
            example,
            target,
            options=options,
            metadata=facts,
            output_shapes=shapes,
            progress=progress,
        )
    except (Cancelled, KeyboardInterrupt):
        progress(RunFinished(**finished, status="cancelled", seconds=time.perf_counter() - start))
        raise
    except EngineError as exc:
        progress(RunFinished(**finished, status="failed", message=str(exc)))
        raise
    except Exception as exc:
        error = _export_failed(exporter, model, target, exc)
        progress(RunFinished(**finished, status="failed", message=str(error)))
        raise error from exc
    size_mb = path.stat().st_size / 1e6 if path.is_file() else 0.0
    seconds = time.perf_counter() - start
    log.info("%s export done in %.1f s: %s (%.1f MB)", exporter.name, seconds, path, size_mb)
    progress(
        RunFinished(
            **finished,
            status="completed",
            results={"size_mb": size_mb},
            message=f"exported {path}",
            seconds=seconds,
        )
    )
    return path


def check_imgsz(
    imgsz: int | Sequence[int], *, stride: int, task: str
) -> tuple[tuple[int, int], str | None]:
    """``(height, width)`` and a warning when a size was rounded up to a multiple of ``stride``.

    Classifiers pool globally and take any size; the detection family (detect, segment, pose)
    needs multiples of its largest stride.
    """
    values = [imgsz] if isinstance(imgsz, int) else list(imgsz)
    if len(values) == 1:
        values *= 2
    if len(values) != 2 or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values
    ):
        raise ExportError(
            f"imgsz must be a whole number >= 1 or [height, width], not {imgsz!r}", key="imgsz"
        )
    if task == "classify":
        return (values[0], values[1]), None
    rounded = [max(stride, math.ceil(v / stride) * stride) for v in values]
    if rounded == values:
        return (values[0], values[1]), None
    message = (
        f"imgsz={imgsz!r} is not a multiple of the model's largest stride {stride}; "
        f"exporting at {rounded[0]}x{rounded[1]} instead"
    )
    return (rounded[0], rounded[1]), message


def prepare_model(model: TaskModel, *, half: bool = False) -> TaskModel:
    """A deep copy for inference and export: eval, fused, no gradients, heads in export mode."""
    prepared = copy.deepcopy(model).eval()
    prepared.fuse()
    prepared.requires_grad_(False)
    set_export_mode(prepared, True)
    return prepared.half() if half else prepared


def set_export_mode(model: torch.nn.Module, enabled: bool = True) -> None:
    """Make every head return only what an export outputs (probabilities, or detections)."""
    for module in model.modules():
        if isinstance(module, Classify | Detect):
            module.export = enabled


def output_shapes(model: torch.nn.Module, example: torch.Tensor) -> tuple[tuple[int, ...], ...]:
    """Run ``example`` through ``model`` once; the shape of each output, in order."""
    with torch.inference_mode():
        outputs = model(example)
    tensors = outputs if isinstance(outputs, tuple | list) else (outputs,)
    return tuple(tuple(t.shape) for t in tensors)


def build_metadata(
    model: TaskModel,
    options: ExportOptions,
    exporter: Exporter,
    *,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What the export says about itself; ``extra`` adds descriptive keys (see export_model)."""
    name = model_name(model)
    described = {
        "description": f"YOLO Studio {model.task} model {name}".strip(),
        "author": AUTHOR,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "version": __version__,
        "names": dict(model.names),
        "channels": model.in_channels,
    }
    if model.keypoint_shape is not None:
        described["kpt_shape"] = list(model.keypoint_shape)
    if model.keypoint_layout:
        described["keypoint_layout"] = dict(model.keypoint_layout)
    facts = {
        "task": model.task,
        "stride": max(int(s) for s in model.strides),
        "imgsz": list(options.imgsz),
        "batch": options.batch,
        "args": options.honoured(exporter.arguments),
    }
    extra = {k: v for k, v in (extra or {}).items() if k not in _FILE_FACTS}
    return {**described, **extra, **facts}


def model_name(model: TaskModel) -> str:
    """``yolov8n-cls`` for a model built from ``yolov8n-cls.yaml``; empty when unknown."""
    yaml_file = model.yaml.get("yaml_file") if isinstance(model.yaml, dict) else None
    return Path(str(yaml_file)).stem if yaml_file else ""


def _check_available(exporter: Exporter) -> None:
    if exporter.available():
        return
    packages = " ".join(exporter.requirements)
    raise ExportError(
        f"{exporter.name} export needs the Python package(s) {packages}, which are not "
        f"installed. Install them (pip install {packages}) and export again",
        key="format",
    )


def _check_options(
    exporter: Exporter,
    size: tuple[int, int],
    batch: int,
    half: bool,
    dynamic: bool,
    simplify: bool,
    opset: int | None,
    optimize: bool,
) -> ExportOptions:
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ExportError(f"batch must be a whole number >= 1, not {batch!r}", key="batch")
    if opset is not None and (isinstance(opset, bool) or not isinstance(opset, int) or opset < 7):
        raise ExportError(
            f"opset must be an ONNX opset number (7 or more, {DEFAULT_OPSET} by default), "
            f"not {opset!r}",
            key="opset",
        )
    honoured = exporter.arguments  # the others keep their defaults (and get a warning)
    return ExportOptions(
        imgsz=size,
        batch=batch,
        half=bool(half) and "half" in honoured,
        dynamic=bool(dynamic) and "dynamic" in honoured,
        simplify=bool(simplify) or "simplify" not in honoured,
        opset=DEFAULT_OPSET if opset is None else opset,
        optimize=bool(optimize) and "optimize" in honoured,
    )


def _ignored(exporter: Exporter, given: Mapping[str, Any]) -> list[str]:
    """Warnings for arguments changed from their default that this format does not use."""
    return [
        f"{key}={given[key]!r} has no effect on {exporter.name} export (it uses "
        f"{', '.join(sorted(exporter.arguments))})"
        for key, default in _DEFAULTS.items()
        if key not in exporter.arguments and given[key] != default
    ]


def _model_device(model: TaskModel) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _export_failed(
    exporter: Exporter, model: TaskModel, target: Path, exc: BaseException
) -> ExportError:
    name = model_name(model) or f"{model.task} model"
    if isinstance(exc, OSError):
        return ExportError(
            f"{exporter.name} export of {name} could not be written "
            f"({exc.strerror or exc}). Nothing was changed there: check that the folder is "
            "writable and the disk has space",
            path=target,
        )
    lines = str(exc).strip().splitlines()
    reason = lines[0][:300] if lines else type(exc).__name__
    return ExportError(
        f"{exporter.name} export of {name} failed ({type(exc).__name__}: {reason}). Nothing "
        f"was written. Try the default arguments (e.g. simplify=False, opset={DEFAULT_OPSET}), "
        "or another format; report the problem if it persists",
        path=target,
    )
