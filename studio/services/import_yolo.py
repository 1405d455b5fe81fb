"""Read YOLO datasets for an import: classify folders and segment/pose datasets given by yaml.

The engine finds the images (``load_classify_folder``, ``load_detect_dataset``) and checks the
label rows (``read_labels``); this module turns the rows the engine accepts, read by the label
codec (``engine.formats.yolo_labels``), into annotation rows, keeping the numbers exactly as the
label file writes them (so an export gives them back) except for coordinates the engine clips
into 0..1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from engine.data.classify_folder import Sample, load_classify_folder
from engine.data.detect_dataset import DetectDataset, load_detect_dataset
from engine.data.detect_labels import label_path_for, read_labels
from engine.errors import DatasetError
from engine.formats.yolo_labels import LabelRow, parse_row, read_numbers

from ..errors import ImportProblem
from ..state.models import KEYPOINTS, annotation_kind
from .image_files import (
    AnnotationRow,
    Candidate,
    ProblemRecord,
    SourcePlan,
    from_engine,
    problem_record,
)
from .projects import Project
from .wording import plural

Rows = tuple[list[AnnotationRow] | None, list[ProblemRecord]]


def import_problem(exc: DatasetError) -> ImportProblem:
    """The engine's dataset error as the studio's import error (same file, line and key)."""
    return ImportProblem(exc.message, path=exc.path, line=exc.line, key=exc.key)


# -- classify ----------------------------------------------------------------------------------


def plan_classify(root: Path) -> SourcePlan:
    """Images of ``root/{train,val,test}/<class>/`` with their class and split."""
    try:
        report = load_classify_folder(root, check=False)
    except DatasetError as exc:
        raise import_problem(exc) from exc
    splits = report.splits
    parts: list[tuple[str, Sequence[Sample]]] = [("train", splits.train), ("test", splits.test)]
    if splits.val_split_name != "test":  # without val/, ``val`` holds the test/ images again
        parts.insert(1, ("val", splits.val))

    def build(class_map: list[int]) -> list[Candidate]:
        return [
            Candidate(sample.path, _relative(splits.root, sample.path), split,
                      _class_reader(class_map[sample.label]))
            for split, samples in parts for sample in samples
        ]

    return SourcePlan(list(splits.names), build, [from_engine(p) for p in report.problems])


def _class_reader(class_index: int):
    def read() -> Rows:
        return [{"kind": "class", "class_index": class_index}], []
    return read


def _relative(root: Path, path: Path) -> PurePosixPath:
    """Where a copy goes below the project's images folder: ``<dataset>/<path in dataset>``."""
    try:
        inside = path.relative_to(root)
    except ValueError:
        inside = Path(path.name)
    return PurePosixPath(root.name or "dataset", *inside.parts)


# -- segment and pose --------------------------------------------------------------------------


def plan_detect(project: Project, yaml_path: Path, task: str) -> SourcePlan:
    """Images of each split of a segment or pose dataset yaml, with their label rows."""
    try:
        dataset = load_detect_dataset(yaml_path, task)
    except DatasetError as exc:
        raise import_problem(exc) from exc
    problems = [from_engine(p) for p in dataset.problems]
    if annotation_kind(task) == KEYPOINTS:
        problems += check_keypoints(project, dataset.kpt_shape, dataset.kpt_names,
                                    dataset.yaml_path, "kpt_shape")
    names = [dataset.names[i] for i in range(dataset.num_classes)]

    def build(class_map: list[int]) -> list[Candidate]:
        return _detect_candidates(dataset, class_map, problems)

    return SourcePlan(names, build, problems)


def _detect_candidates(dataset: DetectDataset, class_map: list[int],
                       problems: list[ProblemRecord]) -> list[Candidate]:
    seen: dict[Path, str] = {}
    candidates = []
    for split, images in dataset.splits.items():
        for image in images:
            if image in seen:
                reason = (f"listed in both {seen[image]} and {split}; imported into "
                          f"{seen[image]} only")
                problems.append(problem_record(image, reason, severity="warning"))
                continue
            seen[image] = split
            reader = _label_reader(label_path_for(image), dataset, class_map)
            candidates.append(Candidate(image, _relative(dataset.root, image), split, reader))
    return candidates


def _label_reader(label: Path, dataset: DetectDataset, class_map: list[int]):
    def read() -> Rows:
        try:
            data = label.read_bytes()
        except FileNotFoundError:
            return [], []  # no label file: a background image
        except OSError as exc:
            reason = f"cannot be read ({exc.strerror or exc}); image skipped"
            return None, [problem_record(label, reason)]
        return label_rows(data, label, dataset.task, class_map, dataset.kpt_shape)
    return read


def check_keypoints(project: Project, kpt_shape: tuple[int, int] | None,
                    kpt_names: Sequence[str] | None, source: Path, key: str) -> list[ProblemRecord]:
    """Refuse a pose source whose keypoint count or values per point differ from the project's
    schema; a warning when only the names differ (keypoints are matched by position)."""
    settings = project.settings()
    count, dims = len(settings.keypoint_names), settings.keypoint_dims
    if kpt_shape is None or kpt_shape[0] != count:
        got = "no keypoint layout" if kpt_shape is None else plural(kpt_shape[0], "keypoint")
        raise ImportProblem(
            f"the dataset has {got} but this project's keypoint schema has {count} "
            f"({', '.join(settings.keypoint_names)}). Import it into a pose project whose "
            "schema has the same keypoints, in the same order",
            path=source, key=key)
    if kpt_shape[1] != dims:
        raise ImportProblem(
            f"the dataset has {kpt_shape[1]} values per keypoint but the project has {dims} "
            "(x, y[, visibility]); use a project with the same kpt_shape",
            path=source, key=key)
    if kpt_names and list(kpt_names) != list(settings.keypoint_names):
        reason = (f"keypoint names {list(kpt_names)} differ from the project's "
                  f"{list(settings.keypoint_names)}; keypoints are matched by position")
        return [problem_record(source, reason, severity="warning")]
    return []


# -- label rows --------------------------------------------------------------------------------


def label_rows(data: bytes, label: Path, task: str, class_map: list[int],
               kpt_shape: tuple[int, int] | None = None) -> Rows:
    """Annotation rows of a label file's bytes, validated by the engine's parser.

    Rows the engine skips (bad numbers, unknown class, too few points, exact duplicates) are
    reported with their line and left out; None when the engine leaves the whole image out.
    """
    instances, problems = read_labels(label, task, len(class_map), kpt_shape, data)
    records = [from_engine(p) for p in problems]
    if instances is None:
        records.append(problem_record(label, "image skipped: its label file is unusable"))
        return None, records
    rejected = {p.line for p in problems if p.severity == "error" and p.line is not None}
    rows: list[AnnotationRow] = []
    seen: set[tuple[float, ...]] = set()
    for number, line in enumerate(data.decode("utf-8-sig").splitlines(), 1):
        if number in rejected:
            continue
        values = read_numbers(line)
        if not values or values in seen:  # the engine drops an exact duplicate row too
            continue
        seen.add(values)
        parsed = parse_row(values, task, kpt_shape)
        row = _pose_row(parsed, class_map) if parsed.keypoints is not None else \
            _polygon_row(parsed, class_map, label, number, records)
        rows.append(row)
    return rows, records


def _unit(value: float) -> float:
    """A coordinate clipped into 0..1, as the engine clips values within its tolerance."""
    return 0.0 if value < 0.0 else 1.0 if value > 1.0 else value


def _polygon_row(parsed: LabelRow, class_map: list[int], label: Path, line: int,
                 records: list[ProblemRecord]) -> AnnotationRow:
    if parsed.polygon is None:  # a box row: kept as its rectangle, so the object is not lost
        cx, cy, w, h = parsed.box.tolist()
        x1, y1, x2, y2 = (_unit(v) for v in (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
        coords = [x1, y1, x2, y1, x2, y2, x1, y2]
        records.append(problem_record(label, "box row stored as a rectangle polygon; draw its "
                                      "outline to train its mask", line, "warning"))
    else:
        coords = parsed.polygon.reshape(-1).tolist()
    return {"kind": "polygon", "class_index": class_map[parsed.class_id],
            "polygon": [_unit(v) for v in coords]}


def _pose_row(parsed: LabelRow, class_map: list[int]) -> AnnotationRow:
    keypoints: list[float] = []
    for point in parsed.keypoints.tolist():
        dims = len(point)
        labelled = point[2] > 0 if dims == 3 else point[0] >= 0 and point[1] >= 0
        x, y = (_unit(point[0]), _unit(point[1])) if labelled else (point[0], point[1])
        keypoints += [x, y, int(point[2])] if dims == 3 else [x, y]
    return {"kind": KEYPOINTS, "class_index": class_map[parsed.class_id],
            "box": [_unit(v) for v in parsed.box.tolist()], "keypoints": keypoints}
