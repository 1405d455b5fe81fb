"""Pictures a run saves: confusion matrices, the results.csv curves and training-batch mosaics.

Matplotlib is used through ``Figure`` and ``FigureCanvasAgg`` only, never ``pyplot``: no global
figure registry or backend switch, so plotting works from any thread (the studio's worker) and
leaves the caller's matplotlib state alone. Matplotlib's font cache is shared and matplotlib
promises no thread safety, so figures are drawn one at a time under a module lock. Matplotlib
is imported inside the functions so ``import engine`` stays fast. Every file is written
atomically.

Inside :func:`drawn_elsewhere` the figure functions hand their calls to another drawer (the
training run's plot worker, engine/plot_worker.py) and return the file it will write.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import inspect
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec

import numpy as np

from .errors import EngineError
from .utils.atomic import atomic_writer

if TYPE_CHECKING:
    import torch
    from matplotlib.figure import Figure

ANNOTATE_MAX_CLASSES = 30
TICK_LABELS_MAX_CLASSES = 50
_DPI = 150
_FIGURE_FORMATS = frozenset({"png", "jpg", "jpeg", "pdf", "svg"})
_MOSAIC_MAX_SIDE = 1920
_TILE_MIN_SIDE = 160
_MATPLOTLIB_LOCK = threading.Lock()

_P = ParamSpec("_P")


Delegate = Callable[[str, tuple[Any, ...], dict[str, Any]], None]
"""Takes one figure call (the function's name, its arguments) to draw it elsewhere."""

_DELEGATE: ContextVar[Delegate | None] = ContextVar("engine_plots_delegate", default=None)
FIGURE_FUNCTIONS: dict[str, Callable[..., Path]] = {}
"""The figure functions by name: the calls a delegate may be handed, and all it may run."""


@contextlib.contextmanager
def drawn_elsewhere(delegate: Delegate) -> Iterator[None]:
    """Inside (this thread or task), each figure function hands its call to ``delegate`` and
    returns the path of the file that will be written, without drawing."""
    token = _DELEGATE.set(delegate)
    try:
        yield
    finally:
        _DELEGATE.reset(token)


def _one_figure_at_a_time(function: Callable[_P, Path]) -> Callable[_P, Path]:
    @functools.wraps(function)
    def locked(*args: _P.args, **kwargs: _P.kwargs) -> Path:
        delegate = _DELEGATE.get()
        if delegate is not None:
            delegate(function.__name__, args, kwargs)
            return _target(function, args, kwargs)
        with _MATPLOTLIB_LOCK:
            return function(*args, **kwargs)

    FIGURE_FUNCTIONS[function.__name__] = locked
    return locked


def _target(function: Callable[..., Path], args: tuple, kwargs: dict) -> Path:
    """The file a figure call writes: its ``path``, else results.png beside the CSV."""
    bound = inspect.signature(function).bind(*args, **kwargs).arguments
    path = bound.get("path")
    return Path(path) if path is not None else results_png_path(bound["csv_path"])


# -- confusion matrix ------------------------------------------------------------------------


@_one_figure_at_a_time
def plot_confusion_matrix(
    matrix: np.ndarray,
    names: Sequence[str],
    path: str | Path,
    *,
    normalize: bool = True,
    title: str | None = None,
) -> Path:
    """Draw a [C, C] confusion matrix (rows = true, columns = predicted) to ``path``.

    With ``normalize`` each row is divided by its total (a row with no samples stays 0). Cells
    carry their values up to 30 classes and the axes carry class names up to 50.
    """
    counts = np.asarray(matrix)
    classes = len(names)
    if counts.shape != (classes, classes):
        raise ValueError(
            f"matrix must be [{classes}, {classes}] for {classes} names, got {counts.shape}"
        )
    values = _row_normalised(counts) if normalize else counts.astype(np.float64)
    figure = _new_figure(_matrix_figure_size(classes))
    axes = figure.add_subplot()
    image = axes.imshow(
        values,
        cmap="Blues",
        interpolation="nearest",
        aspect="auto",
        vmin=0.0,
        vmax=1.0 if normalize else max(float(values.max()), 1.0),
    )
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    if classes <= ANNOTATE_MAX_CLASSES:
        _annotate_cells(axes, values, integers=not normalize)
    _set_class_ticks(axes, names)
    axes.set_xlabel("Predicted")
    axes.set_ylabel("True")
    axes.set_title(title or ("Confusion Matrix Normalized" if normalize else "Confusion Matrix"))
    return _save_figure(figure, path)


def _row_normalised(counts: np.ndarray) -> np.ndarray:
    totals = counts.sum(axis=1, keepdims=True).astype(np.float64)
    return np.divide(counts, totals, out=np.zeros(counts.shape, np.float64), where=totals > 0)


def _matrix_figure_size(classes: int) -> tuple[float, float]:
    side = min(max(6.0, 0.32 * classes + 3.0), 16.0)
    return side * 1.2, side


def _annotate_cells(axes, values: np.ndarray, *, integers: bool) -> None:
    classes = len(values)
    font_size = max(4.0, min(10.0, 240.0 / classes))
    threshold = 0.5 * (float(values.max()) or 1.0)
    for row in range(classes):
        for column in range(classes):
            value = values[row, column]
            text = f"{int(value)}" if integers else f"{value:.2f}"
            if not integers and value == 0:
                text = "0"
            colour = "white" if value > threshold else "black"
            axes.text(column, row, text, ha="center", va="center", fontsize=font_size, color=colour)


def _set_class_ticks(axes, names: Sequence[str]) -> None:
    classes = len(names)
    if classes > TICK_LABELS_MAX_CLASSES:
        axes.set_xticks([])
        axes.set_yticks([])
        return
    font_size = max(5.0, min(10.0, 300.0 / classes))
    positions = np.arange(classes)
    axes.set_xticks(positions, [str(name) for name in names], rotation=90, fontsize=font_size)
    axes.set_yticks(positions, [str(name) for name in names], fontsize=font_size)


# -- results.csv curves ----------------------------------------------------------------------


@_one_figure_at_a_time
def plot_results(csv_path: str | Path, path: str | Path | None = None) -> Path:
    """Plot every column of a results.csv against epoch; writes results.png beside it by default.

    Any columns are accepted (one small subplot each); a file with only a header gives empty
    plots. A missing or malformed file raises ``EngineError`` naming the file and line.
    """
    source = Path(csv_path)
    columns, rows = read_results_csv(source)
    epoch_index = columns.index("epoch") if "epoch" in columns else None
    data = np.array(rows, np.float64).reshape(len(rows), len(columns))
    epochs = data[:, epoch_index] if epoch_index is not None else np.arange(1, len(rows) + 1.0)
    series = [(name, data[:, i]) for i, name in enumerate(columns) if i != epoch_index]
    count = max(len(series), 1)
    grid_columns = min(5, count)
    grid_rows = math.ceil(count / grid_columns)
    figure = _new_figure((3.0 * grid_columns, 2.6 * grid_rows))
    for index, (name, values) in enumerate(series, start=1):
        axes = figure.add_subplot(grid_rows, grid_columns, index)
        _plot_series(axes, epochs, values, name)
    if not series:
        figure.add_subplot().text(0.5, 0.5, "no metrics yet", ha="center", va="center")
    _grid_margins(figure, grid_rows, grid_columns)
    return _save_figure(figure, Path(path) if path is not None else results_png_path(source),
                        tight_bbox=False)


def _grid_margins(figure: Figure, rows: int, columns: int) -> None:
    """Room for each small plot's title and 8 pt tick labels, set in inches.

    Fixed margins, not ``tight_layout``: its measuring pass drew every tick label once more,
    0.14 s of results.png's 0.37 s at the end of each run (10 epochs of digits, 2 cores).
    The y labels have room for 7 characters ("0.00075"; longer values get an offset above).
    """
    width, height = figure.get_size_inches()
    left, right, bottom, top = 0.55, 0.12, 0.3, 0.3  # inches
    gap_x, gap_y = 0.62, 0.55
    axes_width = (width - left - right - gap_x * (columns - 1)) / columns
    axes_height = (height - bottom - top - gap_y * (rows - 1)) / rows
    figure.subplots_adjust(left=left / width, right=1 - right / width,
                           bottom=bottom / height, top=1 - top / height,
                           wspace=gap_x / axes_width, hspace=gap_y / axes_height)


def results_png_path(csv_path: str | Path) -> Path:
    """Where :func:`plot_results` draws a results.csv by default: results.png beside it."""
    return Path(csv_path).with_name("results.png")


def read_results_csv(path: Path) -> tuple[list[str], list[list[float]]]:
    """(column names, rows of floats) from a results.csv; EngineError names the bad line."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise EngineError(
            f"cannot read the results file ({exc.strerror or exc}); check the run folder",
            path=path,
        ) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise EngineError(
            "is not a UTF-8 text file; expected a results.csv written by training",
            path=path,
            line=raw[: exc.start].count(b"\n") + 1,
        ) from exc
    records = list(csv.reader(text.splitlines()))
    if not records or not any(field.strip() for field in records[0]):
        raise EngineError("has no header row; expected columns such as 'epoch'", path=path, line=1)
    columns = [field.strip() for field in records[0]]
    rows = [
        _parse_row(record, len(columns), path, line)
        for line, record in enumerate(records[1:], start=2)
        if any(field.strip() for field in record)
    ]
    return columns, rows


def _parse_row(record: list[str], width: int, path: Path, line: int) -> list[float]:
    if len(record) != width:
        raise EngineError(
            f"has {len(record)} values where the header names {width} columns; "
            "fix or delete this line",
            path=path,
            line=line,
        )
    try:
        return [float(field) if field.strip() else math.nan for field in record]
    except ValueError as exc:
        raise EngineError(
            f"holds a value that is not a number ({exc}); fix or delete this line",
            path=path,
            line=line,
        ) from exc


def _plot_series(axes, epochs: np.ndarray, values: np.ndarray, name: str) -> None:
    axes.plot(epochs, values, marker=".", linewidth=1.5, markersize=5, label="results")
    if len(values) >= 5 and np.isfinite(values).all():
        axes.plot(epochs, _smooth(values), ":", linewidth=1.5, label="smooth")
    axes.set_title(name, fontsize=10)
    axes.tick_params(labelsize=8)
    axes.grid(alpha=0.3)


def _smooth(values: np.ndarray) -> np.ndarray:
    """A centred moving average over about a tenth of the points, edges padded."""
    width = max(3, (len(values) // 10) | 1)
    padded = np.pad(values, width // 2, mode="edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid")


# -- training-batch mosaic -------------------------------------------------------------------


def plot_image_grid(
    images: np.ndarray | torch.Tensor,
    labels: Sequence[str],
    path: str | Path,
    *,
    max_images: int = 16,
) -> Path:
    """Tile up to ``max_images`` images with their labels into one picture (JPEG, PNG, ...).

    ``images`` is [N, 3, H, W] float RGB in 0..1 (a training batch) or [N, H, W, 3] uint8 BGR.
    Labels are drawn with OpenCV's built-in font, which has ASCII glyphs only: other characters
    show as '?'.
    """
    from .data.images import write_image

    target = Path(path)
    if target.suffix.lower() not in (".jpg", ".jpeg", ".png", ".bmp", ".webp"):
        raise ValueError(f"{target}: use a .jpg, .png, .bmp or .webp name for an image grid")
    tiles = _as_bgr_uint8(images)[:max_images]
    if len(tiles) == 0:
        raise ValueError("plot_image_grid needs at least one image")
    if len(labels) < len(tiles):
        raise ValueError(f"{len(labels)} labels for {len(tiles)} images; give one label per image")
    write_image(target, _mosaic(tiles, [str(label) for label in labels[: len(tiles)]]))
    return target


def _as_bgr_uint8(images: np.ndarray | torch.Tensor) -> np.ndarray:
    """[N, H, W, 3] uint8 BGR from either accepted layout."""
    array = images.detach().cpu().numpy() if hasattr(images, "detach") else np.asarray(images)
    if array.ndim == 4 and array.dtype == np.uint8 and array.shape[3] == 3:
        return array
    if array.ndim == 4 and np.issubdtype(array.dtype, np.floating) and array.shape[1] == 3:
        rgb = np.clip(np.nan_to_num(array.astype(np.float32)), 0.0, 1.0)
        bgr = (rgb[:, ::-1] * 255.0 + 0.5).astype(np.uint8)
        return np.ascontiguousarray(bgr.transpose(0, 2, 3, 1))
    raise ValueError(
        "images must be [N, 3, H, W] float RGB in 0..1 or [N, H, W, 3] uint8 BGR, "
        f"got {list(array.shape)} {array.dtype}"
    )


def _mosaic(tiles: np.ndarray, labels: list[str]) -> np.ndarray:
    import cv2

    count, height, width = tiles.shape[:3]
    columns = math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    scale = max(1.0, _TILE_MIN_SIDE / max(height, width))  # small images: labels stay legible
    scale = min(scale, _MOSAIC_MAX_SIDE / max(columns * width, rows * height))
    tile_h, tile_w = max(1, round(height * scale)), max(1, round(width * scale))
    canvas = np.full((rows * tile_h, columns * tile_w, 3), 114, np.uint8)
    interpolation = cv2.INTER_NEAREST if scale >= 1 else cv2.INTER_AREA
    for index, (tile, label) in enumerate(zip(tiles, labels, strict=True)):
        top, left = (index // columns) * tile_h, (index % columns) * tile_w
        resized = cv2.resize(tile, (tile_w, tile_h), interpolation=interpolation)
        canvas[top : top + tile_h, left : left + tile_w] = resized
        cv2.rectangle(
            canvas, (left, top), (left + tile_w - 1, top + tile_h - 1), (255, 255, 255), 1
        )
        _draw_label(canvas, label, left, top, tile_w)
    return canvas


def _draw_label(canvas: np.ndarray, label: str, left: int, top: int, tile_width: int) -> None:
    import cv2

    font, scale, thickness = cv2.FONT_HERSHEY_SIMPLEX, max(0.35, tile_width / 400), 1
    text = label.encode("ascii", "replace").decode("ascii")
    while len(text) > 1 and cv2.getTextSize(text, font, scale, thickness)[0][0] > tile_width - 6:
        text = text[:-2] + "~"
    (text_w, text_h), baseline = cv2.getTextSize(text, font, scale, thickness)
    corner = (left + 2 + text_w + 4, top + 2 + text_h + baseline + 4)
    cv2.rectangle(canvas, (left + 2, top + 2), corner, (0, 0, 0), -1)
    origin = (left + 4, top + 4 + text_h)
    cv2.putText(canvas, text, origin, font, scale, (255, 255, 255), thickness, cv2.LINE_AA)


# -- shared ----------------------------------------------------------------------------------


def _new_figure(size: tuple[float, float]) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, dpi=_DPI)
    FigureCanvasAgg(figure)
    return figure


def _save_figure(figure: Figure, path: str | Path, *, tight_bbox: bool = True) -> Path:
    """Write ``figure``; ``tight_bbox`` crops it to its contents (an extra draw to measure)."""
    target = Path(path)
    file_format = target.suffix.lower().lstrip(".") or "png"
    if file_format not in _FIGURE_FORMATS:
        raise ValueError(f"{target}: use a .png, .jpg, .pdf or .svg name for a plot")
    with atomic_writer(target) as handle:
        figure.savefig(handle, format=file_format, dpi=_DPI,
                       bbox_inches="tight" if tight_bbox else None)
    return target


# -- detection curves ------------------------------------------------------------------------

CURVE_LEGEND_MAX_CLASSES = 20


@_one_figure_at_a_time
def plot_pr_curve(
    recall: np.ndarray,
    precision: np.ndarray,
    names: Sequence[str],
    path: str | Path,
    *,
    ap50: np.ndarray | None = None,
    title: str = "Precision-Recall Curve",
) -> Path:
    """Draw precision [C, K] over recall [K] per class, with the class mean drawn thick.

    Up to 20 classes get a labelled line each (with their AP at IoU 0.5 when ``ap50`` is given);
    more are drawn thin and grey. The mean line carries the mean of ``ap50``.
    """
    x, curves = _curve_data(recall, precision, names)
    figure = _new_figure((9.0, 6.0))
    axes = figure.add_subplot()
    labelled = len(names) <= CURVE_LEGEND_MAX_CLASSES
    for index, (name, curve) in enumerate(zip(names, curves, strict=True)):
        label = f"{name} {float(ap50[index]):.3f}" if ap50 is not None else str(name)
        if labelled:
            axes.plot(x, curve, linewidth=1, label=label)
        else:
            axes.plot(x, curve, linewidth=1, color="grey")
    if len(curves):
        summary = f" {float(np.mean(ap50)):.3f} mAP@0.5" if ap50 is not None and len(ap50) else ""
        axes.plot(x, curves.mean(0), linewidth=3, color="blue", label=f"all classes{summary}")
    _finish_curve_axes(axes, "Recall", "Precision", title)
    return _save_figure(figure, path)


@_one_figure_at_a_time
def plot_confidence_curve(
    confidence: np.ndarray,
    values: np.ndarray,
    names: Sequence[str],
    path: str | Path,
    *,
    ylabel: str,
    title: str | None = None,
) -> Path:
    """Draw a metric (F1, precision, recall) [C, K] over confidence [K] per class.

    The class mean is smoothed, drawn thick and labelled with its maximum and the confidence
    where it is reached.
    """
    x, curves = _curve_data(confidence, values, names)
    figure = _new_figure((9.0, 6.0))
    axes = figure.add_subplot()
    labelled = len(names) <= CURVE_LEGEND_MAX_CLASSES
    for name, curve in zip(names, curves, strict=True):
        if labelled:
            axes.plot(x, curve, linewidth=1, label=str(name))
        else:
            axes.plot(x, curve, linewidth=1, color="grey")
    if len(curves):
        mean = _box_smooth(curves.mean(0), 0.05)
        best = int(mean.argmax())
        label = f"all classes {mean[best]:.2f} at {x[best]:.3f}"
        axes.plot(x, mean, linewidth=3, color="blue", label=label)
    _finish_curve_axes(axes, "Confidence", ylabel, title or f"{ylabel}-Confidence Curve")
    return _save_figure(figure, path)


def _curve_data(
    x: np.ndarray, y: np.ndarray, names: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    axis = np.asarray(x, np.float64).reshape(-1)
    curves = np.asarray(y, np.float64).reshape(-1, len(axis)) if len(names) else np.zeros((0, 0))
    if len(curves) != len(names):
        raise ValueError(f"{len(curves)} curves for {len(names)} names; give one name per curve")
    return axis, curves


def _finish_curve_axes(axes, xlabel: str, ylabel: str, title: str) -> None:
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.01)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(bbox_to_anchor=(1.02, 1), loc="upper left", fontsize=8)


def _box_smooth(values: np.ndarray, fraction: float) -> np.ndarray:
    """Moving average over an odd window of about ``2 * fraction`` of the points, edges held."""
    width = round(len(values) * fraction * 2) // 2 + 1
    padded = np.pad(values, width // 2, mode="edge")
    return np.convolve(padded, np.ones(width) / width, mode="valid")
