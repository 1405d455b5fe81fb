"""Write a fitted set as a YOLO dataset: images linked (or copied) in, one label file per
image, and a dataset yaml.

Layout (what the trainer reads): ``images/<split>/<name>`` and ``labels/<split>/<stem>.txt``
for row tasks, ``<split>/<class>/<name>`` for classify, ``data.yaml`` at the top. Images are
named by their file name alone, whatever folders the source kept them in (a labelme2coco
``JPEGImages/a.jpg`` is ``images/train/a.jpg``); two images of the same name in different
source folders keep those folders in the name, joined by ``_``. An image with no split is
``train``; when no image is ``val``, ``val`` reads the train images (the yaml says so), and
when none is ``train`` (a COCO ``instances_val2017.json`` alone), ``train`` reads val's.
Converting into a folder that already holds a dataset of the same classes adds the new splits
to its yaml (a COCO ``train`` JSON, then its ``val`` JSON); one of other classes is refused
before anything is written.

Images are never moved or changed: a hard link where the file system allows, else a copy,
written under a temporary name and renamed. An image found only embedded in the labels (labelme
``imageData``) is written from those bytes; a missing one gets its label file anyway and a line
saying where to put it.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath

from ..errors import DatasetError
from ..formats.dataset_yaml import dataset_config, read_dataset_yaml, write_dataset_yaml
from ..formats.labelset import LabeledImage, Problem
from ..formats.yolo_labels import KEYPOINTS, format_line, label_rows, write_label_file
from ..utils.atomic import atomic_writer
from .detect_dataset import derive_flip_idx
from .labelset_fit import Fitted

__all__ = ["YoloWritten", "place_image", "write_yolo_dataset"]

_NO_FLIP = ("no flip_idx written: the joint names do not say left and right; add flip_idx to "
            "the yaml before training with fliplr > 0")
SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val",
               "validation": "val", "test": "test", "testing": "test"}


@dataclass
class YoloWritten:
    """What was written: the yaml, label files, images placed, and problems met.

    ``amended`` maps a reader's "image not found" line (by ``id``) to the same line saying
    where to put the image: a report shows that one in its place, not two lines.
    """

    yaml_path: Path
    label_files: int = 0
    images_placed: int = 0
    images_missing: int = 0
    problems: list[Problem] = field(default_factory=list)
    amended: dict[int, Problem] = field(default_factory=dict)

    def all_problems(self, read: list[Problem]) -> list[Problem]:
        """``read`` (the reader's and the fit's lines) with the amended ones swapped in, then
        the writer's own."""
        return [self.amended.get(id(p), p) for p in read] + self.problems


def write_yolo_dataset(fitted: Fitted, output: str | Path, *, copy: bool = False
                       ) -> YoloWritten:
    """Write ``fitted`` under ``output`` (made if missing) as a YOLO dataset."""
    root = Path(output)
    written = YoloWritten(root / "data.yaml")
    rows = label_rows(fitted.task)
    splits = {_split(item.image.split) for item in fitted.images}
    config = _merged(written.yaml_path, _config(fitted, splits), splits)
    root.mkdir(parents=True, exist_ok=True)
    names = _output_names([item.image for item in fitted.images])
    unfound = {(p.file, p.missing_image): p for p in fitted.problems if p.missing_image}
    for item, name in zip(fitted.images, names, strict=True):
        split = _split(item.image.split)
        if rows is None:
            if item.class_index is None:
                written.problems.append(Problem(item.image.file, f"image {item.image.name}",
                                                "no class: left out of the dataset"))
                continue
            target = root / split / _folder(fitted.classes[item.class_index]) / name
        else:
            target = root / "images" / split / name
            lines = [format_line(obj.class_index, obj.values()) for obj in item.objects]
            write_label_file((root / "labels" / split / name).with_suffix(".txt"), lines)
            written.label_files += 1
        _put_image(item.image, target, copy, written, unfound)
    if rows == KEYPOINTS and "flip_idx" not in config:
        written.problems.append(Problem(str(written.yaml_path), "flip_idx", _NO_FLIP, "warning"))
    write_dataset_yaml(written.yaml_path, config)
    return written


def _merged(yaml_path: Path, fresh: dict, splits: set[str]) -> dict:
    """``fresh``, or the yaml already at ``yaml_path`` with these splits added to it."""
    if not yaml_path.exists():
        return fresh
    try:
        existing = read_dataset_yaml(yaml_path)
    except DatasetError as exc:
        raise DatasetError(f"cannot be read to add to it ({exc.message}); remove it or choose "
                           "another output folder", path=yaml_path) from exc
    if (existing.get("names") != fresh["names"]
            or existing.get("kpt_shape") != fresh.get("kpt_shape")):
        raise DatasetError("already describes other classes (or keypoints) than these labels; "
                           "convert into another output folder, or remove the old one",
                           path=yaml_path)
    merged = dict(existing)
    for split in splits:
        merged[split] = fresh[split]
    if "val" not in splits and "val" not in existing:
        merged["val"] = fresh["val"]
    return merged


def place_image(origin: Path, target: Path, *, copy: bool = False) -> bool:
    """Link ``origin`` at ``target`` (a copy when ``copy`` or when linking fails), atomically;
    True when it is a link (the same file), False when a copy."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and os.path.samefile(origin, target):
        return True
    temporary = target.with_name(f".{target.name}.placing")
    if not copy:
        try:
            temporary.unlink(missing_ok=True)
            os.link(origin, temporary)
            os.replace(temporary, target)
            return True
        except OSError:
            temporary.unlink(missing_ok=True)
    with open(origin, "rb") as reader, atomic_writer(target) as writer:
        shutil.copyfileobj(reader, writer, 1 << 20)
    return False


def _put_image(image: LabeledImage, target: Path, copy: bool, written: YoloWritten,
               unfound: dict[tuple[str, str], Problem]) -> None:
    if image.path is not None and image.path.is_file():
        place_image(image.path, target, copy=copy)
        written.images_placed += 1
    elif image.image_data is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(target) as writer:
            writer.write(image.image_data)
        written.images_placed += 1
    else:
        written.images_missing += 1
        put = f"put the image at {target}"
        said = unfound.get((image.file, str(image.name)))
        if said is None:
            written.problems.append(Problem(image.file, f"image {image.name}", f"image not "
                                            f"found: its labels are written; {put}", "warning"))
        else:  # the reader said where it looked: say where to put it on the same line
            reason = f"{said.reason.rstrip('. ')}; {put}"
            written.amended[id(said)] = replace(said, reason=reason, severity="warning")


def _output_names(images: list[LabeledImage]) -> list[str]:
    """Each image's file name in the output: its own name, or its folders joined by ``_``
    in front when another image of the split has the same name."""
    counts = Counter((_split(image.split), PurePosixPath(image.name).name) for image in images)
    names = []
    for image in images:
        name = PurePosixPath(image.name)
        if counts[(_split(image.split), name.name)] > 1:
            names.append("_".join(part for part in name.parts if part not in ("/", "..", ".")))
        else:
            names.append(name.name)
    return names


def _split(split: str | None) -> str:
    """The output split of a source's (``val2017`` and ``Validation`` are ``val``)."""
    name = (split or "train").lower()
    return SPLIT_NAMES.get(name, SPLIT_NAMES.get(name.rstrip("0123456789"), "train"))


def _folder(class_name: str) -> str:
    """A class name as a folder name (separators and dots replaced)."""
    cleaned = "".join("_" if ch in '/\\:*?"<>|' else ch for ch in class_name).strip(". ")
    return cleaned or "_"


def _config(fitted: Fitted, splits: set[str]) -> dict:
    rows = label_rows(fitted.task)
    base = "images/" if rows is not None else ""
    folders = {split: f"{base}{split}" for split in sorted(splits) or ["train"]}
    # a val (or test) file alone: train reads its images, so the yaml names folders that exist
    folders.setdefault("train", folders.get("val", next(iter(folders.values()))))
    folders.setdefault("val", folders["train"])
    pose = rows == KEYPOINTS
    joints = list(fitted.keypoint_names)
    return dataset_config(
        folders, fitted.classes, path=".",
        kpt_shape=[len(joints), 3] if pose else None,
        flip_idx=derive_flip_idx(joints) if pose and joints else None,
        kpt_names=joints if pose and joints else None,
        skeleton=[list(edge) for edge in fitted.skeleton] if pose and fitted.skeleton else None,
    )
