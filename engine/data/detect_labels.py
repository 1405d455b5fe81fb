"""Segment and pose label files: find, parse and verify them, row by row.

An image's label file is its path with the last ``images`` folder replaced by ``labels`` and
the suffix by ``.txt`` (``d/images/train/a.jpg`` -> ``d/labels/train/a.txt``; with no
``images`` folder, the ``.txt`` beside the image). No label file (or an empty one) makes the
image a background image.

Rows, all coordinates normalised to 0..1:
- segment: ``class x1 y1 x2 y2 ...`` (a polygon of 3 or more points). A plain box row
  ``class cx cy w h`` is accepted with a warning: it trains the box, its mask is empty.
- pose: ``class cx cy w h`` then K keypoints of ``x y v`` (``kpt_shape [K, 3]``) or ``x y``
  (``[K, 2]``; a negative coordinate marks a keypoint as not labelled).

Lines are read by the label codec (:mod:`engine.formats.yolo_labels`: numbers, class id, value
count); this module checks what the numbers mean. A bad row is reported (file, line, reason)
and skipped; the rest of the file is used. A file whose rows are all bad leaves its image out,
rather than teaching that nothing is there.
Coordinates up to :data:`COORD_TOLERANCE` outside 0..1 are clipped with a warning (the
reference's 1 % tolerance); further out is an error. Exact duplicate rows are dropped with a
warning. A labelled keypoint more than half the box's size outside its box is a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..cancel import NEVER, CancelToken
from ..errors import DatasetError
from ..formats.yolo_labels import (
    BOXES,
    KEYPOINTS,
    TASKS,
    LabelLineError,
    LabelRow,
    label_rows,
    parse_row,
    read_numbers,
)
from .check import CheckProgress, Problem, check_image, default_workers
from .instances import Instances, xywh_to_xyxy
from .label_cache import CachedLabels, LabelCache, read_stamp
from .polygons import polygon_area

__all__ = [
    "COORD_TOLERANCE",
    "PARSER_VERSION",
    "LabelledImage",
    "SplitReport",
    "label_path_for",
    "parse_labels",
    "read_labels",
    "require_labels",
    "verify_split",
]

log = logging.getLogger(__name__)

PARSER_VERSION = 2
"""Bump when parsing or verification changes what they return: label caches are rebuilt.
2: image checks catch JPEGs cut off without their end marker and damaged PNG chunks."""
COORD_TOLERANCE = 0.01
KEYPOINT_MARGIN = 0.5
"""A labelled keypoint further than this fraction of its box's size outside the box is flagged."""
_BATCH = 32
_SUMMARY_PROBLEMS = 20


class _RowError(LabelLineError):
    """A row that cannot be used; the message is the reason shown to the user."""


@dataclass(frozen=True)
class _Layout:
    task: str
    num_classes: int
    kpt_shape: tuple[int, int] | None

    @property
    def rows(self) -> str | None:
        """What the task's rows hold (the label codec's BOXES, POLYGONS or KEYPOINTS)."""
        return label_rows(self.task)


@dataclass
class _Row:
    cls: int
    box: np.ndarray
    polygon: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)


def label_path_for(image: str | Path) -> Path:
    """The label file of ``image``: last ``images`` folder -> ``labels``, suffix -> ``.txt``."""
    path = Path(image)
    parts = list(path.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def parse_labels(
    text: str,
    path: Path,
    task: str,
    num_classes: int,
    kpt_shape: tuple[int, int] | None = None,
) -> tuple[Instances, list[Problem]]:
    """Parse the rows of a label file; bad rows become problems (with their line) and are skipped.

    Returns normalised ``Instances`` (segment: one polygon per object, empty for box rows;
    pose: keypoints ``[n, K, 3|2]``) and the problems found.
    """
    layout = _Layout(task, num_classes, tuple(kpt_shape) if kpt_shape else None)
    if layout.rows == KEYPOINTS and layout.kpt_shape is None:
        raise ValueError(f"{task} labels need kpt_shape")
    rows: list[_Row] = []
    problems: list[Problem] = []
    seen: dict[tuple[float, ...], int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        try:
            values = read_numbers(line)
            if not values:
                continue
            row = _parse_row(values, layout)
        except LabelLineError as exc:
            problems.append(Problem(path, f"{exc}; row skipped", "error", number))
            continue
        first = seen.setdefault(values, number)
        if first != number:
            problems.append(Problem(path, f"same row as line {first}; dropped", "warning", number))
            continue
        problems += [Problem(path, warning, "warning", number) for warning in row.warnings]
        rows.append(row)
    return _instances(rows, layout), problems


def read_labels(
    label: Path,
    task: str,
    num_classes: int,
    kpt_shape: tuple[int, int] | None = None,
    data: bytes | None = None,
) -> tuple[Instances | None, list[Problem]]:
    """Read and parse ``label`` (or its already read bytes ``data``).

    No file gives empty Instances (a background image). None means the image must be left
    out: the file cannot be read, is not text, or has rows of which none is usable.
    """
    if data is None:
        try:
            data = label.read_bytes()
        except FileNotFoundError:
            return Instances.empty(kpt_shape if label_rows(task) == KEYPOINTS else None), []
        except OSError as exc:
            return None, [Problem(label, f"cannot be read ({exc.strerror or exc}); image left out")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        reason = f"not UTF-8 text (byte {exc.start}); image left out"
        return None, [Problem(label, reason)]
    instances, problems = parse_labels(text, label, task, num_classes, kpt_shape)
    if not len(instances) and any(p.severity == "error" for p in problems):
        problems.append(Problem(label, "no usable row; image left out, not used as a background"))
        return None, problems
    return instances, problems


# -- one row ---------------------------------------------------------------------------------


def _parse_row(values: tuple[float, ...], layout: _Layout) -> _Row:
    """The codec reads the row's shape (class id, value count); this checks what it means."""
    parsed = parse_row(values, layout.task, layout.kpt_shape, layout.num_classes)
    if layout.rows == KEYPOINTS:
        return _pose_row(parsed)
    if layout.rows == BOXES:  # box rows only (the codec refuses others): no mask to miss
        warnings: list[str] = []
        box = _within_unit(_box(parsed.box), "box", warnings)
        return _Row(parsed.class_id, box, np.zeros((0, 2), np.float32), None, warnings)
    return _segment_row(parsed)


def _segment_row(parsed: LabelRow) -> _Row:
    if parsed.polygon is None:
        row = _Row(parsed.class_id, _box(parsed.box), np.zeros((0, 2), np.float32))
        row.warnings.append(
            "a box row (class cx cy w h), no polygon: it trains the box, its mask is empty"
        )
        row.box = _within_unit(row.box, "box", row.warnings)
        return row
    warnings: list[str] = []
    polygon = _within_unit(parsed.polygon, "polygon", warnings)
    if polygon_area(polygon) <= 1e-12:
        raise _RowError("polygon has zero area (its points lie on one line)")
    box = np.concatenate((polygon.min(0), polygon.max(0)))
    return _Row(parsed.class_id, box, polygon.astype(np.float32), None, warnings)


def _pose_row(parsed: LabelRow) -> _Row:
    warnings: list[str] = []
    box = _within_unit(_box(parsed.box), "box", warnings)
    keypoints = parsed.keypoints.copy()
    labelled = _labelled_keypoints(keypoints)
    if labelled.any():
        keypoints[labelled, :2] = _within_unit(keypoints[labelled, :2], "keypoint", warnings)
    far = _far_from_box(keypoints[:, :2], labelled, box)
    if far:
        numbers = ", ".join(map(str, far))
        which = f"keypoints {numbers} lie" if len(far) > 1 else f"keypoint {numbers} lies"
        warnings.append(
            f"{which} far outside the box (more than half the box's size beyond it); check the row"
        )
    return _Row(parsed.class_id, box, None, keypoints.astype(np.float32), warnings)


def _box(xywh: np.ndarray) -> np.ndarray:
    if xywh[2] <= 0 or xywh[3] <= 0:
        raise _RowError(f"box width {xywh[2]:g} and height {xywh[3]:g} must be above 0")
    return xywh_to_xyxy(xywh).astype(np.float64)


def _labelled_keypoints(keypoints: np.ndarray) -> np.ndarray:
    if keypoints.shape[1] == 2:
        return (keypoints[:, 0] >= 0) & (keypoints[:, 1] >= 0)
    visibility = keypoints[:, 2]
    bad = np.flatnonzero(~np.isin(visibility, (0, 1, 2)))
    if len(bad):
        raise _RowError(
            f"keypoint {bad[0]} has visibility {visibility[bad[0]]:g}; it must be 0 (not "
            "labelled), 1 (hidden) or 2 (visible)"
        )
    return visibility > 0


def _far_from_box(points: np.ndarray, labelled: np.ndarray, box: np.ndarray) -> list[int]:
    size = np.tile(box[2:] - box[:2], 2) * KEYPOINT_MARGIN
    low, high = box[:2] - size[:2], box[2:] + size[2:]
    outside = ((points < low) | (points > high)).any(1) & labelled
    return np.flatnonzero(outside).tolist()


def _within_unit(coords: np.ndarray, what: str, warnings: list[str]) -> np.ndarray:
    """``coords`` clipped to 0..1 (warning) when within the tolerance; a row error beyond it."""
    low, high = float(coords.min()), float(coords.max())
    if low < -COORD_TOLERANCE or high > 1 + COORD_TOLERANCE:
        raise _RowError(
            f"{what} coordinates outside 0..1 (from {low:g} to {high:g}); coordinates are "
            "fractions of the image width and height"
        )
    if low < 0 or high > 1:
        warnings.append(
            f"{what} coordinates outside 0..1 by at most {COORD_TOLERANCE:g} (from {low:g} to "
            f"{high:g}); clipped"
        )
        return np.clip(coords, 0.0, 1.0)
    return coords


def _instances(rows: Sequence[_Row], layout: _Layout) -> Instances:
    pose = layout.rows == KEYPOINTS
    if not rows:
        return Instances.empty(layout.kpt_shape if pose else None)
    return Instances(
        np.array([row.cls for row in rows], np.int64),
        np.stack([row.box for row in rows]).astype(np.float32),
        [] if pose else [row.polygon for row in rows],
        np.stack([row.keypoints for row in rows]) if pose else None,
    )


# -- a whole split ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelledImage:
    """A usable image, its label file (which may not exist) and its objects."""

    image: Path
    label: Path
    instances: Instances


@dataclass(frozen=True)
class SplitReport:
    """What verifying a split found: its usable images with their labels, and the problems."""

    samples: tuple[LabelledImage, ...]
    problems: tuple[Problem, ...] = ()
    checked: int = 0
    from_cache: int = 0

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    @property
    def num_instances(self) -> int:
        return sum(len(sample.instances) for sample in self.samples)

    @property
    def backgrounds(self) -> int:
        """Usable images with no objects (no label file, or an empty one)."""
        return sum(1 for sample in self.samples if not len(sample.instances))

    def summary(self) -> str:
        """A few lines for the CLI: counts, then the first problems with file:line."""
        lines = [
            f"{len(self.samples)} of {self.checked} images usable, {self.num_instances} "
            f"objects, {self.backgrounds} backgrounds; {len(self.errors)} errors, "
            f"{len(self.warnings)} warnings"
        ]
        for problem in self.problems[:_SUMMARY_PROBLEMS]:
            where = problem.path if problem.line is None else f"{problem.path}:{problem.line}"
            lines.append(f"  {problem.severity:<7} {where}: {problem.reason}")
        if len(self.problems) > _SUMMARY_PROBLEMS:
            lines.append(f"  ... and {len(self.problems) - _SUMMARY_PROBLEMS} more")
        return "\n".join(lines)


def verify_split(
    images: Sequence[Path],
    task: str,
    names: Mapping[int, str] | Sequence[str],
    kpt_shape: tuple[int, int] | None = None,
    workers: int | None = None,
    cancel: CancelToken = NEVER,
    progress: CheckProgress | None = None,
    *,
    cache: bool = True,
) -> SplitReport:
    """Check every image of a split and parse its labels on a thread pool.

    Results of unchanged files come from the label cache (``cache=False`` skips it). Images
    that fail keep only their problems; ``cancel`` is honoured between batches (``Cancelled``).
    """
    rows = label_rows(task)
    if rows is None:
        raise ValueError(f"task must be {', '.join(TASKS[:-1])} or {TASKS[-1]}, not {task!r}")
    if rows == KEYPOINTS and not kpt_shape:
        raise ValueError(f"{task} labels need kpt_shape")
    images = [Path(image) for image in images]
    shape = tuple(kpt_shape) if kpt_shape and rows == KEYPOINTS else None
    layout = _Layout(task, len(names), shape)
    store = _open_cache(images, layout) if cache else None
    results = _run_batches(images, layout, store, workers, cancel, progress)
    samples, problems, hits = [], [], 0
    for image, (entry, hit) in zip(images, results, strict=True):
        hits += hit
        problems += entry.problems
        if entry.instances is not None:
            samples.append(LabelledImage(image, label_path_for(image), entry.instances))
        if store is not None and not hit:
            store.put(image, entry)
    if store is not None:
        store.save()
    return SplitReport(tuple(samples), tuple(problems), checked=len(images), from_cache=hits)


def require_labels(report: SplitReport, split: str = "train") -> None:
    """Raise ``DatasetError`` when no image of the split has a single usable object."""
    if report.num_instances:
        return
    example = report.samples[0] if report.samples else None
    where = f"; e.g. {example.image} reads {example.label}" if example else ""
    raise DatasetError(
        f"no labels: none of the {report.checked} {split} images has a usable label row, so "
        "there is nothing to learn. Label files go in labels/ beside images/, one .txt per "
        f"image{where}",
        key=split,
    )


def _open_cache(images: Sequence[Path], layout: _Layout) -> LabelCache:
    settings = {
        "parser": PARSER_VERSION,
        "task": layout.task,
        "num_classes": layout.num_classes,
        "kpt_shape": list(layout.kpt_shape) if layout.kpt_shape else None,
    }
    store = LabelCache.for_images(images, layout.task, settings)
    store.load()
    return store


def _run_batches(
    images: Sequence[Path],
    layout: _Layout,
    store: LabelCache | None,
    workers: int | None,
    cancel: CancelToken,
    progress: CheckProgress | None,
) -> list[tuple[CachedLabels, bool]]:
    total = len(images)
    results: dict[int, list[tuple[CachedLabels, bool]]] = {}
    if progress is not None:
        progress(0, total)
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        starts: dict[Future[list[tuple[CachedLabels, bool]]], int] = {
            pool.submit(_examine_batch, images[i : i + _BATCH], layout, store): i
            for i in range(0, total, _BATCH)
        }
        pending, done = set(starts), 0
        try:
            while pending:
                cancel.raise_if_cancelled()
                finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in finished:
                    results[starts[future]] = future.result()
                    done += len(results[starts[future]])
                if finished and progress is not None:
                    progress(done, total)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return [result for start in sorted(results) for result in results[start]]


def _examine_batch(
    images: Sequence[Path], layout: _Layout, store: LabelCache | None
) -> list[tuple[CachedLabels, bool]]:
    return [_examine(image, layout, store) for image in images]


def _examine(image: Path, layout: _Layout, store: LabelCache | None) -> tuple[CachedLabels, bool]:
    """One image's verified labels, and whether they came from the cache."""
    label = label_path_for(image)
    stamp, data = read_stamp(image, label)
    cached = store.get(image, stamp) if store is not None else None
    if cached is not None:
        return cached, True
    reason = check_image(image)
    if reason is not None:
        return CachedLabels(stamp, None, (Problem(image, f"{reason}; image left out"),)), False
    instances, problems = read_labels(
        label, layout.task, layout.num_classes, layout.kpt_shape, data
    )
    return CachedLabels(stamp, instances, tuple(problems)), False
