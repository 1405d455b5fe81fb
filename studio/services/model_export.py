"""Export a model to the formats of the engine's table, one after another, and record each.

Qt-free; the Export page runs ``export_models`` in one Job. An int8 export is also scored on
the project's val split beside the PyTorch model (the task's key metric, as ``yolo benchmark``
reports it), so its row shows what the speed costs in accuracy; other exports say "not
measured" (fp32 and fp16 ones match PyTorch within their parity tolerance). Each format is
written by its own child process (studio/services/export_process.py), so a converter or runtime
that crashes (OpenVINO aborting, a broken install segfaulting) ends that child, not the app.
Each format's outcome is a value (``ExportOutcome``): passed, failed its parity check (files
kept, figures shown), not checked (no runtime here), unavailable (what to install), or an error
(the engine's message, or how the child crashed and what was kept). One format failing never
stops the others; cancelling stops the format being written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.cancel import NEVER, CancelToken
from engine.errors import Cancelled, EngineError, ExportCheckFailed
from engine.utils.atomic import remove_stale_temp_files

from .dataset_export import YAML_NAME, export_yolo
from .image_files import Progress, no_progress
from .projects import Project
from .runs import record_export
from .usage_snippets import Snippet, imgsz_of, snippets_text, usage_snippets
from .wording import plural

OPTION_NAMES = ("imgsz", "batch", "half", "int8", "dynamic", "simplify", "opset", "optimize",
                "nms", "keras", "workspace")
"""The export arguments the wizard offers, in the order it shows them."""
OPTION_HELP = {
    "imgsz": "Input size in pixels (the model is exported for this size)",
    "batch": "Images per call the exported model takes",
    "half": "Store weights as fp16 (smaller; ONNX/TorchScript fp16 needs a CUDA GPU)",
    "int8": "Quantise to int8, calibrated on the project's images (smallest, less exact)",
    "dynamic": "Accept any input size and batch",
    "simplify": "Simplify the ONNX graph",
    "opset": "ONNX opset version",
    "optimize": "Optimise TorchScript for mobile",
    "nms": "Include non-maximum suppression in the model",
    "keras": "Write a Keras model too",
    "workspace": "TensorRT workspace in GiB",
}
STATUS_TEXT = {"passed": "passed", "failed": "failed parity", "unchecked": "not checked",
               "unavailable": "unavailable", "error": "error"}


@dataclass(frozen=True)
class FormatInfo:
    """One export format as the wizard shows it."""

    format: str
    name: str
    suffix: str
    arguments: tuple[str, ...]
    available: bool
    reason: str = ""
    """Why it cannot be built here and what to install (empty when it can)."""
    runtime_note: str = ""
    """Why its parity cannot be checked here (empty when it can)."""
    half_needs_cuda: bool = True


def export_formats() -> list[FormatInfo]:
    """Every format of the engine's table, in its order, with what this machine can do."""
    from engine.export import EXPORT_FORMATS

    infos = []
    for key, exporter in EXPORT_FORMATS.items():
        available = bool(exporter.available())
        infos.append(FormatInfo(
            format=key, name=exporter.name, suffix=exporter.suffix,
            arguments=tuple(a for a in OPTION_NAMES if a in exporter.arguments),
            available=available, reason="" if available else unavailable_reason(exporter),
            runtime_note=exporter.runtime_missing() if available else "",
            half_needs_cuda=bool(getattr(exporter, "half_needs_cuda", True)),
        ))
    return infos


def unavailable_reason(exporter: Any) -> str:
    """The exporter's own reason, or the packages and the extra to install."""
    reason = getattr(exporter, "unavailable_reason", None)
    if reason is not None:
        return str(reason())
    packages = " ".join(exporter.requirements)
    extra = getattr(exporter, "extra", "")
    how = f"pip install 'yolo-studio[{extra}]'" if extra else f"pip install {packages}"
    return f"{exporter.name} export needs {packages}, which is not installed ({how})"


def output_for(checkpoint: str | Path, format: str) -> Path:  # noqa: A002
    """Where the export of ``checkpoint`` to ``format`` is written (beside the checkpoint)."""
    from engine.export import get_exporter
    from engine.export.base import output_path

    return output_path(Path(checkpoint), get_exporter(format))


def existing_outputs(checkpoint: str | Path, formats: Sequence[str]) -> list[Path]:
    """The exports of ``formats`` that already exist and would be replaced."""
    return [path for f in formats if (path := output_for(checkpoint, f)).exists()]


@dataclass(frozen=True)
class ExportRequest:
    """One format to export, with the options the wizard set for it."""

    format: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportOutcome:
    """The result of one format (see the module docstring for ``status``)."""

    format: str
    name: str
    status: str
    task: str = ""
    path: Path | None = None
    size_mb: float | None = None
    latency_ms: float | None = None
    max_error: float | None = None
    agreement: float | None = None
    parity: str = ""
    message: str = ""
    usage: tuple[str, ...] = ()
    record_id: int | None = None
    metric_label: str = ""
    metric: float | None = None
    """The export's key metric on the project's val split (int8 exports), else None."""
    metric_fp32: float | None = None
    """The PyTorch (fp32) model's, on the same images."""
    accuracy_note: str = ""
    """Why the accuracy was not measured, or how (shown as the cell's tooltip)."""

    @property
    def status_text(self) -> str:
        return STATUS_TEXT.get(self.status, self.status)

    @property
    def accuracy_text(self) -> str:
        """``mask mAP50-95 0.712 (fp32 0.718, -0.006)``, or ``not measured``."""
        if self.metric is None or self.metric_fp32 is None:
            return "not measured"
        change = self.metric - self.metric_fp32
        return (f"{self.metric_label} {self.metric:.3f} (fp32 {self.metric_fp32:.3f}, "
                f"{change:+.3f})")

    @property
    def figures(self) -> str:
        """``max error 2.1e-06, top-1 equal 12/12`` — the parity figures, or the reason."""
        return self.parity or self.message

    def snippets(self, image: Path | None = None) -> list[Snippet]:
        """The ``yolo`` commands, Python with the engine and, for the formats with a plain
        runtime, a script with that runtime alone (``usage_snippets``), run on ``image``."""
        if self.path is None:
            return []
        return usage_snippets(self.format, self.task, self.path, image=image,
                              imgsz=imgsz_of(self.usage))

    def snippet(self, image: Path | None = None) -> str:
        """All the snippets as one text (for the clipboard)."""
        return snippets_text(self.snippets(image)) if self.path is not None else ""


def export_models(project: Project | None, checkpoint: str | Path,
                  requests: Sequence[ExportRequest], *, run_id: int | None = None,
                  on_outcome: Callable[[ExportOutcome], None] | None = None,
                  on_started: Callable[[str], None] | None = None,
                  progress: Progress = no_progress,
                  cancel: CancelToken = NEVER) -> list[ExportOutcome]:
    """Export ``checkpoint`` to each requested format in turn (beside it); each outcome is
    recorded in the project (``record_export``) and handed to ``on_outcome`` as it comes."""
    from engine.api import YOLO

    total = len(requests)
    progress(0, total, "loading the model")
    model = YOLO(Path(checkpoint), progress=lambda _event: None)
    data = _calibration_data(project, model.task, progress, cancel)
    formats = {info.format: info for info in export_formats()}
    outcomes: list[ExportOutcome] = []
    for done, request in enumerate(requests):
        cancel.raise_if_cancelled()
        info = formats.get(request.format)
        name = info.name if info else request.format
        progress(done, total, f"{name} ({done + 1} of {total})")
        if on_started is not None:
            on_started(request.format)
        outcome = _export_in_child(Path(checkpoint), model.task, info, request, data, cancel)
        if project is not None and outcome.path is not None:
            outcome = _recorded(project, run_id, outcome)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    progress(total, total, f"{total} export{'s' if total != 1 else ''} done")
    return outcomes


def _export_in_child(checkpoint: Path, task: str, info: FormatInfo | None,
                     request: ExportRequest, data: str | None,
                     cancel: CancelToken) -> ExportOutcome:
    """``export_outcome`` in a child process; a crash there is this format's error row."""
    from .child_job import ChildCrashed, run_child

    name = info.name if info else request.format
    if info is None or not info.available:
        return ExportOutcome(request.format, name, "unavailable", task,
                             message=info.reason if info else "unknown format")
    job = {"checkpoint": str(checkpoint), "format": request.format,
           "options": dict(request.options), "data": data}
    try:
        answer = run_child("studio.services.export_process", job, cancel=cancel, runtime=name,
                           doing="exporting")
    except ChildCrashed as exc:
        folder = checkpoint.parent
        removed = remove_stale_temp_files(folder)
        cleaned = f" ({plural(len(removed), 'half-written file')} removed)" if removed else ""
        message = (f"{exc}; nothing of this export was kept as a result{cleaned}; "
                   f"the checkpoint and the other exports in {folder} are kept. "
                   f"Details: {exc.details}")
        return ExportOutcome(request.format, name, "error", task, message=message)
    except Cancelled:
        raise
    except EngineError as exc:
        return ExportOutcome(request.format, name, "error", task, message=str(exc))
    return outcome_from_json(answer)


def outcome_to_json(outcome: ExportOutcome) -> dict[str, Any]:
    """An outcome as plain JSON values (the export child's answer)."""
    values = dict(outcome.__dict__)
    values["path"] = None if outcome.path is None else str(outcome.path)
    values["usage"] = list(outcome.usage)
    return values


def outcome_from_json(values: Mapping[str, Any]) -> ExportOutcome:
    """The inverse of ``outcome_to_json``."""
    path = values.get("path")
    return ExportOutcome(**{**values, "path": None if path is None else Path(path),
                            "usage": tuple(values.get("usage") or ())})


def export_outcome(model: Any, info: FormatInfo | None, request: ExportRequest,
                   data: str | None, cancel: CancelToken) -> ExportOutcome:
    """Export ``model`` to one format in this process (the export child calls it)."""
    name = info.name if info else request.format
    if info is None or not info.available:
        return ExportOutcome(request.format, name, "unavailable", model.task,
                             message=info.reason if info else "unknown format")
    options = {k: v for k, v in request.options.items() if k in info.arguments}
    if data is not None:
        options["data"] = data
    try:
        result = model.export(format=request.format, progress=lambda _event: None,
                              cancel=cancel, **options)
    except ExportCheckFailed as exc:
        if exc.result is None:
            return ExportOutcome(request.format, name, "failed", model.task, message=str(exc))
        return _from_result(exc.result, "failed")
    except Cancelled:
        raise
    except EngineError as exc:
        return ExportOutcome(request.format, name, "error", model.task, message=str(exc))
    except Exception as exc:  # noqa: BLE001 - one format's crash must not end the others
        return ExportOutcome(request.format, name, "error", model.task,
                             message=f"{type(exc).__name__}: {exc}")
    outcome = _from_result(result, "passed" if result.parity.status == "passed" else "unchecked")
    if options.get("int8") and data is not None:
        outcome = _with_accuracy(outcome, model, data, max(result.imgsz), cancel)
    elif options.get("int8"):
        outcome = _replaced(outcome, accuracy_note="the project has no labelled images to "
                                                   "score it on")
    return outcome


def _with_accuracy(outcome: ExportOutcome, model: Any, data: str, imgsz: int,
                   cancel: CancelToken) -> ExportOutcome:
    """``outcome`` with the int8 export's key metric and the PyTorch model's, both scored on
    the val split of ``data`` (the dataset it was calibrated on): the accuracy its speed costs.
    A model that cannot be scored here (no runtime, no val images) says why instead."""
    from engine.api import YOLO
    from engine.tasks import get_task

    task = get_task(model.task)
    quiet = {"progress": lambda _event: None, "cancel": cancel}
    scores = []
    try:
        for scored in (model, YOLO(outcome.path, progress=lambda _event: None)):
            metrics = scored.val(data=data, imgsz=imgsz, split="val", plots=False, save=False,
                                 **quiet)
            scores.append(float(metrics.results_dict[task.key_metric]))
    except Cancelled:
        raise
    except (EngineError, KeyError) as exc:
        return _replaced(outcome, accuracy_note=f"not measured: {exc}")
    return _replaced(outcome, metric_label=task.metric_label, metric=scores[1],
                     metric_fp32=scores[0],
                     accuracy_note=f"{task.metric_label} on the project's val split, the int8 "
                                   "export against the PyTorch (fp32) model")


def _replaced(outcome: ExportOutcome, **values: Any) -> ExportOutcome:
    return ExportOutcome(**{**outcome.__dict__, **values})


def _from_result(result: Any, status: str) -> ExportOutcome:
    parity = result.parity
    return ExportOutcome(
        format=result.format, name=result.name, status=status, task=result.task,
        path=Path(result.path), size_mb=result.size_mb, latency_ms=result.latency_ms,
        max_error=parity.max_error, agreement=parity.agreement, parity=parity.summary(),
        message=parity.reason, usage=tuple(result.usage()),
    )


def _recorded(project: Project, run_id: int | None, outcome: ExportOutcome) -> ExportOutcome:
    details = {"name": outcome.name, "size_mb": outcome.size_mb,
               "latency_ms": outcome.latency_ms, "max_error": _finite(outcome.max_error),
               "agreement": outcome.agreement, "parity": outcome.parity,
               "message": outcome.message, "metric_label": outcome.metric_label,
               "metric": outcome.metric, "metric_fp32": outcome.metric_fp32,
               "accuracy_note": outcome.accuracy_note}
    record_id = record_export(project, run_id=run_id, format=outcome.format,
                              path=outcome.path or Path(), status=outcome.status,
                              details=details)
    return ExportOutcome(**{**outcome.__dict__, "record_id": record_id})


def _finite(value: float | None) -> float | None:
    return value if value is None or value == value and abs(value) != float("inf") else None


def _calibration_data(project: Project | None, task: str, progress: Progress,
                      cancel: CancelToken) -> str | None:
    """The project's dataset for int8 calibration and the parity check's images (written to
    ``.cache/export/dataset``), or None when the project has no usable val images."""
    if project is None or project.task != task:
        return None
    folder = project.cache_folder / "export" / "dataset"
    progress(0, 0, "writing the dataset for calibration and the check")
    try:
        summary = export_yolo(project, folder, cancel=cancel)
    except Cancelled:
        raise
    except EngineError:
        return None
    if summary.images == 0:
        return None
    return str(folder if task == "classify" else folder / YAML_NAME)
