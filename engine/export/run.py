"""``export_model``: check the arguments, prepare a copy of the model, hand it to a format.

The model given is never changed: a deep copy is put in eval mode, fused, frozen and its head
switched to export mode (one tensor out for classify/detect/pose, two for segment).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from ..backends.torch_backend import prepare_model
from ..cancel import NEVER, CancelToken
from ..errors import EngineError, ExportError
from ..events import Reporter, RunStarted, Warning, ignore, reported_run
from ..formats.export_metadata import AUTHOR
from ..nn.heads import Classify
from ..nn.model import TaskModel
from ..process.signal_stack import signal_stack_kept
from ..version import __version__
from .base import (
    DEFAULT_OPSET,
    EXPORT_FORMATS,
    EXPORT_OPTIONS,
    Exporter,
    ExportOptions,
    check_options,
    get_exporter,
    given_options,
    output_path,
)
from .parity import ParityCheck, ParityRule, compare, head_rule, parity_inputs, unchecked
from .result import ExportResult

log = logging.getLogger(__name__)

# Keys that describe the exported file itself; a caller's metadata cannot override them.
_FILE_FACTS = ("task", "stride", "imgsz", "batch", "args")


def export_model(
    model: TaskModel,
    format: str,  # noqa: A002 - the reference's argument name
    *,
    output: str | Path,
    imgsz: int | Sequence[int] = 224,
    batch: int = 1,
    samples: Sequence[torch.Tensor] = (),
    verify: bool = True,
    metadata: Mapping[str, Any] | None = None,
    parity: ParityRule | None = None,
    imgsz_multiple: int | None = None,
    progress: Reporter = ignore,
    cancel: CancelToken = NEVER,
    **format_options: Any,
) -> ExportResult:
    """Export ``model`` to ``format`` beside ``output`` (``best.pt`` -> ``best.onnx``), then run
    the export with its own runtime beside the model (the parity gate, engine/export/parity.py).

    ``format_options`` are the format options by name (``half=True``, ``opset=12`` ...: the
    names and defaults of ``EXPORT_OPTIONS``, declared once by ExportOptions); one changed from
    its default that the format does not take is refused before the run starts.

    ``samples`` are images (``[C, H, W]`` float in 0..1 at the export size, e.g. from the
    model's dataset) that int8 calibration and the parity check use; ``verify=False`` skips the
    check. ``metadata`` adds to (or replaces) the descriptive keys written into the file
    (names, description, author, ...); the keys that describe the file itself (task, stride,
    imgsz, batch, args) always come from the export. Formats whose ``half=True`` is done by
    torch need the model on a CUDA device. ``parity`` is the task's rule for comparing
    decisions (engine/tasks/; by default the one of the model's head). ``imgsz_multiple`` is
    what the image sides are rounded up to a multiple of: the task's (1 for a task whose models
    take any size), by default ``default_imgsz_multiple(model)``. Returns an ExportResult
    (path-like); one whose parity check failed has ``passed == False`` and keeps its files.
    """
    given = given_options(format_options)
    exporter = get_exporter(format)
    _check_available(exporter)
    multiple = default_imgsz_multiple(model) if imgsz_multiple is None else imgsz_multiple
    size, rounding = check_imgsz(imgsz, multiple=multiple)
    checked = check_options(given, imgsz=size, batch=batch, honoured=exporter.arguments)
    _refuse_unused(exporter, given)  # before RunStarted: a refused export never starts a run
    calibrates = checked.int8 or getattr(exporter, "calibrates", False)
    options = replace(checked, calibration=tuple(samples) if calibrates else ())
    if options.int8 and not options.calibration:
        raise ExportError(
            f"int8 {exporter.name} export calibrates on images of the model's dataset, and none "
            "were given. Pass data=<dataset yaml or folder> (the dataset the model was trained "
            "on, or images like the ones it will see), or export without int8",
            key="int8",
        )
    device = _model_device(model)
    if options.half and device.type != "cuda" and getattr(exporter, "half_needs_cuda", True):
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
    with reported_run("export", progress) as record:
        record.save_dir = str(target.parent)
        for message in [rounding] if rounding else []:
            log.warning(message)
            progress(Warning(message, path=str(target)))
        result = _run(model, exporter, options, target, device, metadata, progress, cancel,
                      samples=tuple(samples) if verify else None, parity=parity)
        record.results = {"size_mb": result.size_mb}
        record.details = {"export": result.as_dict()}
        record.status = "completed" if result.passed else "failed"
        record.message = f"exported {result.path}" if result.passed else result.parity.summary()
    return result


def _run(
    model: TaskModel,
    exporter: Exporter,
    options: ExportOptions,
    target: Path,
    device: torch.device,
    metadata: Mapping[str, Any] | None,
    progress: Reporter,
    cancel: CancelToken,
    *,
    samples: tuple[torch.Tensor, ...] | None,
    parity: ParityRule | None = None,
) -> ExportResult:
    """Write the export, then check it; the caller's ``reported_run`` closes the run."""
    start = time.perf_counter()
    try:
        cancel.raise_if_cancelled()
        half_in_torch = options.half and getattr(exporter, "half_needs_cuda", True)
        prepared = prepare_model(model, half=half_in_torch)
        dtype = torch.float16 if half_in_torch else torch.float32
        example = torch.zeros(options.batch, model.in_channels, *options.imgsz, device=device)
        example = example.to(dtype)
        shapes = output_shapes(prepared, example)
        facts = build_metadata(model, options, exporter, extra=metadata)
        cancel.raise_if_cancelled()
        with signal_stack_kept():  # converters that compile (NNCF, OpenVINO) replace it
            path = exporter.export(
                prepared,
                example,
                target,
                options=options,
                metadata=facts,
                output_shapes=shapes,
                progress=progress,
            )
    except EngineError as exc:
        error = _placed(exc, target)
        if error is exc:
            raise
        raise error from exc
    except Exception as exc:
        raise _export_failed(exporter, model, target, exc) from exc
    seconds = time.perf_counter() - start
    check = (
        unchecked("verify=False", options.precision) if samples is None
        else verify_export(model, exporter, path, options, samples, cancel, parity=parity)
    )
    result = ExportResult.of(
        path, format=exporter.format, name=exporter.name, task=model.task,
        imgsz=options.imgsz, seconds=seconds, parity=check,
        notes=tuple(getattr(exporter, "notes", lambda _o: ())(options)),
    )
    log.info("%s", result.report())
    return result


def verify_export(
    model: TaskModel,
    exporter: Exporter,
    path: Path,
    options: ExportOptions,
    samples: Sequence[torch.Tensor],
    cancel: CancelToken = NEVER,
    *,
    parity: ParityRule | None = None,
) -> ParityCheck:
    """Load the export with its runtime and compare it with ``model`` on fixed inputs, the
    decisions by ``parity`` (by default the rule of the model's head)."""
    missing = exporter.runtime_missing()
    if missing:
        return unchecked(missing, options.precision)
    from ..backends import load_backend

    cancel.raise_if_cancelled()
    reference = prepare_model(model).cpu().float()
    try:
        backend = load_backend(path, device="cpu")
    except EngineError as exc:
        return ParityCheck(status="failed", precision=options.precision,
                           reason=f"the export does not load: {exc}")
    inputs = parity_inputs(backend.batch or options.batch, model.in_channels, options.imgsz,
                           samples)

    def run_reference(images: torch.Tensor):
        with torch.inference_mode():
            return reference(images)

    return compare(parity or head_rule(model), run_reference, backend.forward, inputs,
                   num_classes=len(model.names), precision=options.precision)


def check_imgsz(
    imgsz: int | Sequence[int], *, multiple: int
) -> tuple[tuple[int, int], str | None]:
    """``(height, width)`` and a warning when a side was rounded up to a multiple of
    ``multiple``: the model's largest stride for a task whose models need it (the detection
    family), 1 for one whose models take any size (a classifier pools globally). The caller
    has it from the task's declaration (engine/tasks: ``Task.any_imgsz``).
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
    rounded = [max(multiple, math.ceil(v / multiple) * multiple) for v in values]
    if rounded == values:
        return (values[0], values[1]), None
    message = (
        f"imgsz={imgsz!r} is not a multiple of the model's largest stride {multiple}; "
        f"exporting at {rounded[0]}x{rounded[1]} instead"
    )
    return (rounded[0], rounded[1]), message


def default_imgsz_multiple(model: TaskModel) -> int:
    """The sides' multiple for an export made without its task's (scripts and tests calling
    ``export_model`` directly), from the model's head as ``head_rule`` does: a classifier pools
    globally and takes any size, the detection family needs multiples of its largest stride."""
    return 1 if isinstance(model.head, Classify) else max(int(s) for s in model.strides)


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
    reason = getattr(exporter, "unavailable_reason", None)
    if reason is not None:
        raise ExportError(reason(), key="format")
    packages = " ".join(exporter.requirements)
    extra = getattr(exporter, "extra", "")
    how = f"pip install 'yolo-studio[{extra}]'" if extra else f"pip install {packages}"
    raise ExportError(
        f"{exporter.name} export needs the Python package(s) {packages}, which are not "
        f"installed. Install them ({how}) and export again",
        key="format",
    )


def _refuse_unused(exporter: Exporter, given: Mapping[str, Any]) -> None:
    """An argument changed from its default that this format does not take is an error: the
    export would silently not be what was asked for. The message says which formats take it."""
    for key, default in EXPORT_OPTIONS.items():
        if key in exporter.arguments or given[key] == default:
            continue
        takers = sorted(f for f, e in EXPORT_FORMATS.items() if key in e.arguments)
        raise ExportError(
            f"{exporter.format} export does not take {key}={given[key]!r}; it takes "
            f"{', '.join(sorted(exporter.arguments))}. {key} is taken by: "
            f"{', '.join(takers) or 'no format here'}",
            key=key,
        )


def _model_device(model: TaskModel) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _placed(error: EngineError, target: Path) -> EngineError:
    """An export error that names no file is about the export being written: name it."""
    if error.path is not None or error.key is not None or not isinstance(error, ExportError):
        return error
    return ExportError(error.message, path=target)


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
    if isinstance(exc, ImportError):  # installed (available() found it) but it does not load
        packages = " ".join(getattr(exporter, "requirements", ()))
        return ExportError(
            f"{exporter.name} export of {name} failed: its converter is installed but does not "
            f"load ({type(exc).__name__}: {reason}). Nothing was written. Reinstall it "
            f"(pip install --force-reinstall {packages or 'the exporter'})",
            path=target,
        )
    return ExportError(
        f"{exporter.name} export of {name} failed ({type(exc).__name__}: {reason}). Nothing "
        f"was written. Try the default arguments (e.g. simplify=False, opset={DEFAULT_OPSET}), "
        "or another format; report the problem if it persists",
        path=target,
    )
