"""Benchmark mode: export a model to every format that can be made here, check each one,
validate it on a dataset and time it; one row per format, as data and as a table.

``benchmark(YOLO("best.pt"), data="shapes.yaml", imgsz=320)`` returns the rows; ``yolo
benchmark model=best.pt data=shapes.yaml imgsz=320`` prints the table. A format that cannot be
made here has a row saying why, and a format that fails stops nothing: its row says what went
wrong. The benchmark drives the ``YOLO`` facade, so it sits above it (and above the tasks,
whose key metric it reports).

Each row has the task's key metric on ``data`` beside its speed, and its change against fp32:
the same format's fp32 row for an int8 (or fp16) export, the PyTorch row for an fp32 one. With
``int8=True`` a format that takes int8 gets a second row, its int8 export, so the accuracy the
speed costs is read in one table; an OpenVINO int8 row also says how many of the compiled
model's operations run in int8 (``engine.export.openvino.precision_census``).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from .api import YOLO, TrainableModel
from .cancel import NEVER, CancelToken
from .errors import Cancelled, EngineError, ModelConfigError
from .export.base import EXPORT_FORMATS
from .tasks import find_task, get_task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BenchmarkRow:
    """One format's outcome. ``status``: passed, failed (export, check or validation), or
    unavailable (``message`` says what is missing)."""

    format: str
    name: str
    status: str
    size_mb: float | None = None
    metric: float | None = None
    parity: str = ""
    ms_per_image: float | None = None
    export_seconds: float | None = None
    message: str = ""
    precision: str = "fp32"
    metric_change: float | None = None
    """``metric`` minus the fp32 one it is compared with (see the module docstring): the
    accuracy cost, negative when the export scores lower."""
    note: str = ""
    """What was measured of how the export runs (an int8 model's int8 and fp32 operations)."""

    @property
    def fps(self) -> float | None:
        """Images per second at batch 1 (from ``ms_per_image``)."""
        return None if not self.ms_per_image else 1000.0 / self.ms_per_image

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "fps": self.fps}


def benchmark(
    model: YOLO,
    *,
    cancel: CancelToken | None = None,
    on_row: Callable[[BenchmarkRow], None] | None = None,
    **kwargs: Any,
) -> list[BenchmarkRow]:
    """Export ``model`` (a ``YOLO`` holding a .pt model) to every format that can be made here
    (or ``format=`` alone), check, validate on ``data=`` and time each; keyword arguments are
    settings (``imgsz`` and ``data`` default to the model's training run's)."""
    settings = model.mode_settings("benchmark", kwargs, inherit=("imgsz", "data"))
    if not settings.data:
        raise ModelConfigError("benchmark validates every export: pass data=<dataset>",
                               key="data")
    return run_benchmark(
        model, data=settings.data, imgsz=settings.imgsz,
        formats=[settings.format] if "format" in kwargs else None,
        half=settings.half, int8=settings.int8, on_row=on_row,
        cancel=NEVER if cancel is None else cancel,
    )


def run_benchmark(
    model: YOLO,
    *,
    data: str | Path,
    imgsz: int | Sequence[int],
    formats: Sequence[str] | None = None,
    folder: str | Path | None = None,
    half: bool = False,
    int8: bool = False,
    on_row: Callable[[BenchmarkRow], None] | None = None,
    cancel: CancelToken = NEVER,
) -> list[BenchmarkRow]:
    """Benchmark ``model`` (a ``YOLO`` holding a .pt model) on ``data`` at ``imgsz``.

    Exports go to ``folder`` (a temp folder, removed afterwards, when None). ``formats``
    defaults to every registered format; ``on_row`` sees each row as it is made.
    """
    names = list(formats) if formats else list(EXPORT_FORMATS)
    rows: list[BenchmarkRow] = []
    with tempfile.TemporaryDirectory(prefix="yolo-benchmark-") as temp:
        where = Path(folder) if folder is not None else Path(temp)
        where.mkdir(parents=True, exist_ok=True)
        source = _copy_of_checkpoint(model, where)
        runs = [("pytorch", "fp16" if half else "fp32")]
        for name in names:
            runs.append((name, "fp16" if half and "half" in _arguments(name) else "fp32"))
            if int8 and "int8" in _arguments(name) and EXPORT_FORMATS[name].available():
                runs.append((name, "int8"))
        for name, precision in runs:
            cancel.raise_if_cancelled()
            # an int8 export is written apart, so it does not replace the fp32 one
            copy = source if precision != "int8" else _copy_of_checkpoint(model, where / "int8")
            row = _compared(_row(YOLO, copy, name, data, imgsz, precision, cancel), rows)
            rows.append(row)
            if on_row is not None:
                on_row(row)
    return rows


def _arguments(name: str) -> frozenset[str]:
    exporter = EXPORT_FORMATS.get(name)
    return exporter.arguments if exporter is not None else frozenset()


def _compared(row: BenchmarkRow, earlier: Sequence[BenchmarkRow]) -> BenchmarkRow:
    """``row`` with its metric's change against fp32: the same format's fp32 row for an
    int8 or fp16 export, the PyTorch row for an fp32 one."""
    if row.metric is None or row.format == "pytorch":
        return row
    wanted = "pytorch" if row.precision == "fp32" else row.format
    reference = next((r for r in earlier if r.format == wanted and r.precision == "fp32"
                      and r.metric is not None), None)
    if reference is None and row.precision != "fp32":
        reference = next((r for r in earlier if r.format == "pytorch" and r.metric is not None),
                         None)
    if reference is None:
        return row
    return replace(row, metric_change=row.metric - reference.metric)


def _copy_of_checkpoint(model: Any, folder: Path) -> Path:
    """The model's checkpoint copied into ``folder``, so exports land there, not beside it."""
    import shutil

    if not isinstance(model, TrainableModel) or model.checkpoint_path is None:
        raise EngineError("benchmark needs a trained .pt model (model=path/to/best.pt)",
                          key="model")
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / model.checkpoint_path.name
    if target.resolve() != model.checkpoint_path.resolve():
        shutil.copy2(model.checkpoint_path, target)
    return target


def _row(yolo: Any, source: Path, name: str, data: Any, imgsz: Any, precision: str,
         cancel: CancelToken) -> BenchmarkRow:
    quiet = dict(progress=lambda _event: None)
    if name == "pytorch":
        return _validated(yolo(source, **quiet), "pytorch", "PyTorch", data, imgsz, cancel,
                          size_mb=source.stat().st_size / 1e6, parity="reference",
                          precision="fp32")
    exporter = EXPORT_FORMATS[name]
    title = exporter.name if precision == "fp32" else f"{exporter.name} {precision}"
    if not exporter.available():
        reason = getattr(exporter, "unavailable_reason", None)
        message = reason() if reason else f"needs {' '.join(exporter.requirements)}"
        return BenchmarkRow(name, title, "unavailable", message=message, precision=precision)
    arguments: dict[str, Any] = {"format": name, "imgsz": imgsz, "data": data}
    if precision == "fp16":
        arguments["half"] = True
    if precision == "int8":
        arguments["int8"] = True
    started = time.perf_counter()
    try:
        result = yolo(source, **quiet).export(cancel=cancel, **arguments)
    except Cancelled:
        raise
    except EngineError as exc:
        figures = getattr(exc, "result", None)
        return BenchmarkRow(
            name, title, "failed",
            size_mb=getattr(figures, "size_mb", None),
            parity=figures.parity.summary() if figures is not None else "",
            export_seconds=time.perf_counter() - started, message=str(exc).splitlines()[0],
            precision=precision,
        )
    common = dict(size_mb=result.size_mb, parity=result.parity.summary(),
                  export_seconds=result.seconds, precision=precision)
    if result.parity.status == "unchecked":
        return BenchmarkRow(name, title, "passed", ms_per_image=None,
                            message=result.parity.reason, **common)
    return _validated(yolo(result.path, **quiet), name, title, data, imgsz, cancel, **common)


def _validated(model: Any, fmt: str, name: str, data: Any, imgsz: Any, cancel: CancelToken,
               **known: Any) -> BenchmarkRow:
    try:
        metrics = model.val(data=data, imgsz=imgsz, plots=False, cancel=cancel,
                            runtime="torch" if model.model is not None else "auto")  # a .pt row
    except Cancelled:
        raise
    except EngineError as exc:
        return BenchmarkRow(fmt, name, "failed", message=f"validation: {exc}", **known)
    value = float(metrics.results_dict[get_task(model.task).key_metric])
    backend = model.backend("cpu")
    note = _precision_note(backend) if known.get("precision") == "int8" else ""
    return BenchmarkRow(fmt, name, "passed", metric=value, note=note,
                        ms_per_image=batch_one_latency(backend, imgsz), **known)


def _precision_note(backend: Any) -> str:
    """Where the runtime can say so (OpenVINO's compiled graph), how much of an int8 export
    actually runs in int8: an int8 model that is not faster often runs partly in fp32."""
    compiled = getattr(backend, "compiled", None)
    if compiled is None or getattr(backend, "kind", "") != "openvino":
        return ""
    from .export.openvino import precision_census

    try:
        return precision_census(compiled).summary()
    except (RuntimeError, KeyError) as exc:  # an older OpenVINO without runtime info
        log.debug("no precision census: %s", exc)
        return ""


def batch_one_latency(backend: Any, imgsz: int | Sequence[int], runs: int = 10) -> float:
    """Median milliseconds of one forward pass on one image (after a warm-up pass)."""
    import statistics

    import torch

    size = backend.imgsz if backend.fixed_shape else imgsz
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    image = torch.rand(1, backend.channels, height, width,
                       generator=torch.Generator().manual_seed(0))
    backend.forward(image)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        backend.forward(image)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def format_table(rows: Sequence[BenchmarkRow], task: str) -> str:
    """The rows as a plain-text table (what ``yolo benchmark`` prints)."""
    known = find_task(task)
    metric = known.metric_label if known is not None else "metric"
    header = ("format", "status", "size MB", metric, "vs fp32", "ms/image", "FPS", "export s",
              "parity / note")
    lines = [header]
    for row in rows:
        said = row.message or row.parity
        lines.append((
            row.name,
            row.status,
            _number(row.size_mb, 1),
            _number(row.metric, 4),
            _signed(row.metric_change),
            _number(row.ms_per_image, 1),
            _number(row.fps, 1),
            _number(row.export_seconds, 1),
            f"{said}; {row.note}" if row.note else said,
        ))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header) - 1)]
    rendered = []
    for line in lines:
        cells = [str(cell).ljust(width) for cell, width in zip(line[:-1], widths, strict=True)]
        rendered.append("  ".join([*cells, str(line[-1])]).rstrip())
    return "\n".join(rendered)


def _number(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"
