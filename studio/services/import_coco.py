"""Read a COCO annotation JSON for an import.

The JSON is read by the engine's COCO codec (``engine.formats.coco``). The engine's converter
(``convert_coco``) turns it into YOLO rows in a temp folder — polygons (several parts joined,
RLE masks traced) for segment projects, box + keypoints for pose — and reports what it skips
(annotations pointing at a missing image or category, bad boxes, degenerate polygons). The rows
are read back with the same parser as a YOLO import.
"""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from engine.data.coco_convert import convert_coco
from engine.errors import DatasetError
from engine.formats.coco import ImageInfo, read_classes, read_coco_json, read_images, split_name

from ..errors import ImportProblem
from ..state.models import KEYPOINTS, POLYGON, annotation_kind
from .image_files import Candidate, ProblemRecord, SourcePlan, from_engine, problem_record
from .import_yolo import Rows, check_keypoints, import_problem, label_rows
from .projects import Project

_SAMPLE = 20
"""Image entries tried when looking for the folder that holds the images."""


def find_coco_json(folder: Path) -> Path:
    """The one COCO JSON in ``folder`` or ``folder/annotations``."""
    found = sorted(folder.glob("*.json")) or sorted((folder / "annotations").glob("*.json"))
    if len(found) != 1:
        what = "no .json file" if not found else f"{len(found)} .json files"
        raise ImportProblem(f"holds {what} (also looked in annotations/); choose the COCO "
                            "JSON file itself", path=folder)
    return found[0]


def coco_split(json_path: Path) -> str | None:
    """The split a COCO file name says (``instances_val2017.json`` -> ``val``), else None."""
    name = split_name(json_path).lower()
    for split in ("val", "test", "train"):
        if split in name:
            return split
    return None


def plan_coco(project: Project, json_path: Path, images_dir: Path | None) -> SourcePlan:
    """The images of a COCO JSON (found below ``images_dir`` or a folder near the JSON) with
    the objects the engine's converter makes of their annotations."""
    task = project.task
    kind = annotation_kind(task)
    if kind not in (POLYGON, KEYPOINTS):  # COCO holds polygons (or RLE) and keypoints
        from .importers import wrong_task_message  # importers imports this module

        raise ImportProblem(wrong_task_message("coco", task, False), path=json_path)
    try:
        content = read_coco_json(json_path)
        classes = read_classes(content, json_path, task)
    except DatasetError as exc:
        raise import_problem(exc) from exc
    problems: list[ProblemRecord] = []
    if kind == KEYPOINTS:
        shape = (classes.kpt_count, 3) if classes.kpt_count else None
        problems += check_keypoints(project, shape, classes.kpt_names, json_path, "categories")
    images, _ = read_images(content)  # the converter reports unusable entries
    root = images_root(json_path, images, images_dir)
    labels, convert_problems = _converted_labels(json_path, task)
    problems += convert_problems
    names = [classes.names[i] for i in range(len(classes.names))]
    shape = (classes.kpt_count, 3) if kind == KEYPOINTS and classes.kpt_count else None
    split = coco_split(json_path)

    def build(class_map: list[int]) -> list[Candidate]:
        return [
            Candidate(root / info.file_name, PurePosixPath(root.name, info.file_name), split,
                      _reader(labels.get(_stem(info.file_name)), json_path, task, class_map,
                              shape))
            for info in images.values()
        ]

    return SourcePlan(names, build, problems)


def images_root(json_path: Path, images: dict[Any, ImageInfo], given: Path | None) -> Path:
    """The folder the JSON's ``file_name`` entries are relative to: ``given``, else the first
    of the usual places that holds some of them."""
    if given is not None:
        return Path(given).expanduser().resolve()
    split = split_name(json_path)
    here, up = json_path.parent, json_path.parent.parent
    places = [here, here / "images", here / "images" / split, here / split, up / split,
              up / "images" / split, up / "images", up]
    sample = [info.file_name for info in list(images.values())[:_SAMPLE]]
    if not sample:
        return here
    for place in places:
        if any((place / name).is_file() for name in sample):
            return place.resolve()
    raise ImportProblem(
        f"cannot find its images (e.g. {sample[0]}) in {', '.join(str(p) for p in places[:4])} "
        "or the folder above; give the images folder", path=json_path, key="images")


def _converted_labels(json_path: Path, task: str) -> tuple[dict[str, bytes], list[ProblemRecord]]:
    """The converter's label bytes of each image (by ``file_name`` without its suffix) and the
    problems it found in the JSON (not those about its own temp folder)."""
    with tempfile.TemporaryDirectory(prefix="studio-coco-") as temp:
        try:
            report = convert_coco(json_path, temp, task=task)
        except DatasetError as exc:
            raise import_problem(exc) from exc
        folder = Path(temp) / "labels" / report.split
        labels = {
            path.relative_to(folder).with_suffix("").as_posix(): path.read_bytes()
            for path in folder.rglob("*.txt")
        }
    problems = [from_engine(p) for p in report.problems if p.path == json_path]
    if report.crowd_skipped:
        problems.append(problem_record(json_path, f"{report.crowd_skipped} crowd objects "
                                       "(iscrowd: 1) skipped", severity="warning"))
    return labels, problems


def _stem(file_name: str) -> str:
    """``a/b.jpg`` -> ``a/b``: how the converter's label files are keyed."""
    return PurePosixPath(file_name).with_suffix("").as_posix()


def _reader(data: bytes | None, json_path: Path, task: str, class_map: list[int],
            kpt_shape: tuple[int, int] | None):
    def read() -> Rows:
        if data is None:
            return [], []
        return label_rows(data, json_path, task, class_map, kpt_shape)
    return read
