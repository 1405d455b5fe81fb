"""ImageNet-style classify datasets: ``root/train/<class>/*.jpg``, ``root/val/<class>/*.jpg``.

``val/`` may also be called ``valid/`` or ``validation/``; ``test/`` is optional and, when
there is no val split, is used for validation (with a warning). Class names are the sorted
names of the folders in ``train/``; images may sit in sub-folders of a class folder.

Loading scans the folders, then (``check=True``) verifies every image on a thread pool.
Problems come back as records in a ``DatasetReport``: bad images are left out of the samples,
never rewritten or deleted; only a dataset training cannot use at all raises ``DatasetError``.
Links (a split folder, a class folder or images kept on another disk) are the user's own: they
are followed, each announced once as a warning (``train -> /mnt/disk/train``), see links.py.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..cancel import NEVER, CancelToken
from ..errors import DatasetError
from .check import CheckProgress, Problem, check_images
from .check_cache import checked_with_cache
from .images import IMAGE_SUFFIXES
from .links import LinkNotes, leaves

__all__ = [
    "ClassifySplits",
    "DatasetReport",
    "Problem",
    "Sample",
    "load_classify_folder",
]

log = logging.getLogger(__name__)

SPLIT_FOLDERS: Mapping[str, tuple[str, ...]] = {
    "train": ("train",),
    "val": ("val", "valid", "validation"),
    "test": ("test",),
}
LAYOUT = (
    "a classify dataset is a folder holding train/<class name>/<images> and "
    "val/<class name>/<images> (val/ may be valid/ or test/)"
)
_SUMMARY_PROBLEMS = 20


@dataclass(frozen=True)
class Sample:
    """One image and the index of its class in ``ClassifySplits.names``."""

    path: Path
    label: int


@dataclass(frozen=True)
class ClassifySplits:
    """The usable images of a classify dataset, split by split.

    ``val_split_name`` is the folder validation reads (``val``, ``valid``, ``validation`` or
    ``test``); ``test`` holds ``test/`` whether or not it also serves as ``val``.
    """

    root: Path
    names: tuple[str, ...]
    train: tuple[Sample, ...]
    val: tuple[Sample, ...]
    test: tuple[Sample, ...] = ()
    val_split_name: str = "val"


@dataclass(frozen=True)
class DatasetReport:
    """What loading found: the usable splits, the problems, and how many files were ignored."""

    splits: ClassifySplits
    problems: tuple[Problem, ...] = ()
    ignored_files: int = 0
    checked: bool = True

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity == "warning")

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        """Usable images per split and class name: ``{"train": {"cat": 40, ...}, ...}``."""
        splits = self.splits
        result: dict[str, dict[str, int]] = {}
        for split, samples in (("train", splits.train), ("val", splits.val), ("test", splits.test)):
            per_class = dict.fromkeys(splits.names, 0)
            for sample in samples:
                per_class[splits.names[sample.label]] += 1
            result[split] = per_class
        return result

    def summary(self) -> str:
        """A few lines for the CLI: classes, images per split, then the problems."""
        splits = self.splits
        val_from = "" if splits.val_split_name == "val" else f" (from {splits.val_split_name}/)"
        lines = [
            f"{splits.root}: {len(splits.names)} classes, {len(splits.train)} train images, "
            f"{len(splits.val)} val images{val_from}, {len(splits.test)} test images"
        ]
        if self.problems:
            lines.append(
                f"{len(self.errors)} errors (left out), {len(self.warnings)} warnings"
                + ("" if self.checked else "; images were not checked")
            )
        for problem in self.problems[:_SUMMARY_PROBLEMS]:
            where = self._relative(problem.path)
            lines.append(f"  {problem.severity:<7} {where}: {problem.reason}")
        if len(self.problems) > _SUMMARY_PROBLEMS:
            lines.append(f"  ... and {len(self.problems) - _SUMMARY_PROBLEMS} more")
        return "\n".join(lines)

    def _relative(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.splits.root))
        except ValueError:
            return str(path)


@dataclass
class _Scan:
    """What scanning one split found, before images are checked."""

    classes: dict[str, list[Path]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    ignored: int = 0


def load_classify_folder(
    root: str | Path,
    *,
    check: bool = True,
    workers: int | None = None,
    cancel: CancelToken = NEVER,
    progress: CheckProgress | None = None,
) -> DatasetReport:
    """Scan (and with ``check`` verify) the classify dataset at ``root``.

    ``workers`` threads check images (default: a few per core); ``progress`` is called with
    (checked, total); ``cancel`` is honoured between batches. Raises ``DatasetError`` when the
    folder is missing, has no ``train/`` or no validation split, or has no readable images.
    """
    root = _dataset_root(root)
    links = LinkNotes(root)
    folders = _split_folders(root, links)
    scans = {split: _scan_split(root, folder, links) for split, folder in folders.items()}
    names = tuple(sorted(scans["train"].classes))
    if not names:
        raise DatasetError(f"train/ has no class folders; {LAYOUT}", path=folders["train"])
    problems = links.problems() + [p for scan in scans.values() for p in scan.problems]
    val_split = "val" if "val" in folders else "test"
    if val_split == "test":
        problems.append(_test_as_val_warning(folders["test"]))
    problems += _class_mismatches(names, scans, folders)
    bad = _check_all(root, scans, check, workers, cancel, progress)
    problems += [Problem(path, reason, "error") for path, reason in sorted(bad.items())]
    samples = {split: _samples(names, scan, bad) for split, scan in scans.items()}
    problems += _classes_without_images(
        names, scans["train"], samples["train"], folders["train"],
        "keeps its index but will not be learned", " or remove the folder",
    )
    problems += _classes_without_images(
        names, scans[val_split], samples[val_split], folders[val_split], "is not validated", ""
    )
    _require_images(samples, folders, val_split)
    splits = ClassifySplits(
        root=root,
        names=names,
        train=samples["train"],
        val=samples[val_split],
        test=samples.get("test", ()),
        val_split_name=folders[val_split].name,
    )
    ignored = sum(scan.ignored for scan in scans.values())
    return DatasetReport(splits, tuple(problems), ignored_files=ignored, checked=check)


def _dataset_root(root: str | Path) -> Path:
    path = Path(root).expanduser()
    if not path.exists():
        raise DatasetError(f"no such folder; {LAYOUT}", path=path)
    if not path.is_dir():
        raise DatasetError(f"is a file, not a folder; {LAYOUT}", path=path)
    return path.resolve()


def _split_folders(root: Path, links: LinkNotes) -> dict[str, Path]:
    """The folder of each split present: ``{"train": root/train, "val": root/valid, ...}``.
    A split folder that is a link elsewhere is followed and noted in ``links``."""
    found: dict[str, Path] = {}
    for split, candidates in SPLIT_FOLDERS.items():
        for name in candidates:
            folder = root / name
            if folder.is_dir():
                real = leaves(root, folder)
                if real is not None:
                    links.followed(folder, real, is_folder=True)
                found[split] = folder
                break
    if "train" not in found:
        raise DatasetError(f"no train/ folder in this dataset; {LAYOUT}", path=root)
    if "val" not in found and "test" not in found:
        raise DatasetError(
            f"no val/ (or valid/, test/) folder in this dataset; {LAYOUT}. "
            "Move some images of each class to val/<class name>/",
            path=root,
        )
    return found


def _follow(root: Path, entry: os.DirEntry[str], links: LinkNotes) -> None:
    """Note ``entry`` in ``links`` when it is a link that leads out of ``root``."""
    real = leaves(root, entry.path) if entry.is_symlink() else None
    if real is not None:
        links.followed(entry.path, real, is_folder=entry.is_dir())


def _scan_split(root: Path, folder: Path, links: LinkNotes) -> _Scan:
    """Class folders of one split and their images; images at the split's top are misplaced."""
    scan = _Scan()
    for entry in _entries(folder):
        if entry.name.startswith("."):
            scan.ignored += 1
            continue
        _follow(root, entry, links)
        if entry.is_dir():
            scan.classes[entry.name] = _images_under(root, Path(entry.path), scan, links)
        elif _is_image_name(entry.name):
            scan.problems.append(
                Problem(
                    Path(entry.path),
                    f"image directly in {folder.name}/, not in a class folder; left out "
                    f"(move it to {folder.name}/<class name>/)",
                    "warning",
                )
            )
        else:
            scan.ignored += 1
    return scan


def _images_under(root: Path, class_folder: Path, scan: _Scan, links: LinkNotes) -> list[Path]:
    """Every image file below ``class_folder`` (sorted); links leaving ``root`` are followed
    and noted in ``links``."""
    images: list[Path] = []
    seen = {os.path.realpath(class_folder)}
    stack = [class_folder]
    while stack:
        for entry in _entries(stack.pop()):
            if entry.name.startswith("."):
                scan.ignored += 1
                continue
            _follow(root, entry, links)
            if entry.is_dir():
                real = os.path.realpath(entry.path)
                if real not in seen:  # a link back to a folder already walked is skipped
                    seen.add(real)
                    stack.append(Path(entry.path))
            elif _is_image_name(entry.name):
                images.append(Path(entry.path))
            else:
                scan.ignored += 1
    return sorted(images)


def _is_image_name(name: str) -> bool:
    """``is_image_file`` without building a Path: this runs once per file of the dataset."""
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        return sorted(entries, key=lambda entry: entry.name)


def _test_as_val_warning(test_folder: Path) -> Problem:
    message = "no val/ folder: the test/ split is used for validation"
    log.warning("%s: %s", test_folder.parent, message)
    return Problem(test_folder, message, "warning")


def _class_mismatches(
    names: tuple[str, ...], scans: Mapping[str, _Scan], folders: Mapping[str, Path]
) -> list[Problem]:
    """Classes of val/test that train lacks (errors) and train classes val lacks (warnings)."""
    problems = []
    known = set(names)
    for split in ("val", "test"):
        if split not in scans:
            continue
        folder = folders[split]
        for name in sorted(set(scans[split].classes) - known):
            problems.append(
                Problem(
                    folder / name,
                    f"class '{name}' is in {folder.name}/ but not in train/, so its labels "
                    f"cannot line up; its images are left out (add train/{name}/ or remove "
                    f"{folder.name}/{name}/)",
                    "error",
                )
            )
    val_split = "val" if "val" in scans else "test"
    for name in names:
        if name not in scans[val_split].classes:
            folder = folders[val_split]
            problems.append(
                Problem(
                    folder / name,
                    f"class '{name}' has no {folder.name}/{name}/ folder; it is not validated",
                    "warning",
                )
            )
    return problems


def _check_all(
    root: Path,
    scans: Mapping[str, _Scan],
    check: bool,
    workers: int | None,
    cancel: CancelToken,
    progress: CheckProgress | None,
) -> dict[Path, str]:
    """The unusable images; those unchanged since the last check keep its answer."""
    if not check:
        return {}
    paths = [path for scan in scans.values() for images in scan.classes.values() for path in images]
    bad = checked_with_cache(root, paths, lambda fresh: check_images(
        fresh, workers=workers, cancel=cancel, progress=progress))
    if progress is not None:
        progress(len(paths), len(paths))
    return bad


def _samples(names: tuple[str, ...], scan: _Scan, bad: Mapping[Path, str]) -> tuple[Sample, ...]:
    labels = {name: index for index, name in enumerate(names)}
    return tuple(
        Sample(path, labels[name])
        for name in sorted(scan.classes)
        if name in labels
        for path in scan.classes[name]
        if path not in bad
    )


def _classes_without_images(
    names: tuple[str, ...],
    scan: _Scan,
    samples: tuple[Sample, ...],
    folder: Path,
    consequence: str,
    fix: str,
) -> list[Problem]:
    """Class folders of one split with no usable image (a missing folder is reported apart).

    In train/ the model gets an output it never learns; in val/ the class goes unscored.
    """
    used = {sample.label for sample in samples}
    problems = []
    for label, name in enumerate(names):
        if label in used or name not in scan.classes:
            continue
        what = "empty class folder" if not scan.classes[name] else "no readable images"
        problems.append(
            Problem(
                folder / name,
                f"{what}; class '{name}' {consequence} (add images to {folder.name}/{name}/"
                f"{fix})",
                "warning",
            )
        )
    return problems


def _require_images(
    samples: Mapping[str, tuple[Sample, ...]], folders: Mapping[str, Path], val_split: str
) -> None:
    for split in ("train", val_split):
        if not samples[split]:
            raise DatasetError(
                f"no readable images in {folders[split].name}/<class name>/ folders; {LAYOUT}",
                path=folders[split],
            )
