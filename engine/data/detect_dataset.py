"""Segment and pose dataset yamls: where the images of each split are, the class names and the
keypoint layout.

A yaml gives ``path`` (the dataset root; relative to the yaml's folder), ``train``, ``val``,
optional ``test`` (each a folder of images searched recursively, a ``.txt`` list of image
paths, or a list of those; relative to ``path``), ``names`` (``{0: name}`` or a list) and, for
pose, ``kpt_shape: [K, 3|2]``, ``flip_idx``, optional ``kpt_names`` and ``skeleton`` (pairs
of keypoint indices from 0).

Lines of a ``.txt`` list that are relative resolve against the list's own folder, with or
without a leading ``./``. (The reference resolves only ``./`` lines there and other relative
lines against the working directory, which makes a dataset depend on where training starts.)
Every split entry and listed image, as written, must stay inside the dataset root (``../``
climbing out is refused); links on disk are the user's own and are followed, each announced
once (``images/train -> /mnt/disk/images``), see ``links.py``.

``data=coco8-seg.yaml`` (or ``coco8-seg``) that is not a local file names a packaged yaml in
``engine/data/configs``; its ``path`` is a dataset name found or downloaded by ``named.py``.
"""

from __future__ import annotations

import os
import re
import reprlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..cancel import NEVER, CancelToken
from ..errors import DatasetError
from ..events import Reporter, ignore
from ..formats.dataset_yaml import LAYOUT, read_dataset_yaml
from ..formats.yolo_labels import KEYPOINTS, TASKS, label_rows
from .check import Problem
from .images import IMAGE_SUFFIXES
from .links import LinkNotes, inside_lexically, leaves
from .named import resolve_dataset_dir

__all__ = [
    "CONFIG_DIR",
    "TASKS",
    "DetectDataset",
    "derive_flip_idx",
    "load_detect_dataset",
    "packaged_configs",
    "require_flip_idx",
]

CONFIG_DIR = Path(__file__).parent / "configs"
SPLITS = ("train", "val", "test")
_SIDE_SWAP = {"left": "right", "right": "left", "l": "r", "r": "l"}
_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


@dataclass(frozen=True)
class DetectDataset:
    """A segment or pose dataset: its root, class names and the images of each split.

    ``splits`` maps ``train``, ``val`` and (when given) ``test`` to image paths in order.
    ``problems`` hold what loading noticed without failing: listed images that are missing,
    links followed out of the root, a derived ``flip_idx``.
    """

    root: Path
    yaml_path: Path
    task: str
    names: dict[int, str]
    splits: dict[str, tuple[Path, ...]]
    kpt_shape: tuple[int, int] | None = None
    flip_idx: tuple[int, ...] | None = None
    kpt_names: tuple[str, ...] | None = None
    skeleton: tuple[tuple[int, int], ...] | None = None
    problems: tuple[Problem, ...] = field(default=())

    @property
    def num_classes(self) -> int:
        return len(self.names)

    def keypoint_layout(self) -> dict[str, list]:
        """``kpt_names``, ``skeleton`` and ``flip_idx`` as plain lists (the ones given)."""
        layout: dict[str, list] = {}
        if self.kpt_names:
            layout["kpt_names"] = list(self.kpt_names)
        if self.skeleton:
            layout["skeleton"] = [list(pair) for pair in self.skeleton]
        if self.flip_idx:
            layout["flip_idx"] = list(self.flip_idx)
        return layout


def packaged_configs() -> tuple[str, ...]:
    """The names of the packaged dataset yamls (``coco8-seg.yaml``, ...)."""
    return tuple(sorted(path.name for path in CONFIG_DIR.glob("*.yaml")))


def load_detect_dataset(
    data: str | Path,
    task: str,
    *,
    progress: Reporter = ignore,
    cancel: CancelToken = NEVER,
) -> DetectDataset:
    """Read the dataset yaml ``data`` for ``task`` (``detect``, ``segment`` or ``pose``) and list
    its images.

    Raises ``DatasetError`` naming the yaml key at fault for a missing split, a path leaving
    the dataset root, bad names or a bad keypoint layout. A packaged dataset's folder is
    downloaded on first use (``progress`` sees the download, ``cancel`` stops it).
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, not {task!r}")
    yaml_path, packaged = _find_yaml(data)
    config = read_dataset_yaml(yaml_path)
    problems: list[Problem] = []
    root = _dataset_root(config, yaml_path, packaged, progress, cancel)
    names = _names(config, yaml_path)
    keypoints = _keypoint_layout(config, yaml_path, task, problems)
    links = LinkNotes(root)
    splits = {
        split: _split_images(config, split, root, yaml_path, problems, links)
        for split in _split_keys(config, yaml_path, problems)
    }
    problems += links.problems()
    return DetectDataset(
        root=root,
        yaml_path=yaml_path,
        task=task,
        names=names,
        splits=splits,
        problems=tuple(problems),
        **keypoints,
    )


def require_flip_idx(dataset: DetectDataset, fliplr: float) -> tuple[int, ...] | None:
    """The dataset's ``flip_idx``; raises ``DatasetError`` when pose training flips without one."""
    if dataset.kpt_shape is None or fliplr <= 0 or dataset.flip_idx is not None:
        return dataset.flip_idx
    raise DatasetError(
        f"fliplr={fliplr} mirrors images left-right, which swaps left and right keypoints, but "
        "the yaml has no flip_idx (and its kpt_names do not say which side each keypoint is "
        "on). Add flip_idx: for each keypoint the index of its mirror image (a keypoint on the "
        "middle line maps to itself, e.g. [0, 2, 1] for nose, left eye, right eye), or train "
        "with fliplr=0",
        path=dataset.yaml_path,
        key="flip_idx",
    )


def derive_flip_idx(kpt_names: Sequence[str]) -> tuple[int, ...] | None:
    """Mirror indices from left/right words in keypoint names, or None when they do not say.

    ``left_eye``/``right_eye``, ``l_hand``/``r_hand``, ``Left Hand``/``Right Hand`` and
    ``leftEye``/``rightEye`` pair up; names with no side map to themselves. None when no name
    has a side, a sided name has no partner, or two names read the same.
    """
    keys = [_name_words(name) for name in kpt_names]
    index = {key: i for i, key in enumerate(keys)}
    if len(index) != len(keys):
        return None
    flip = []
    for key in keys:
        mirrored = tuple(_SIDE_SWAP.get(word, word) for word in key)
        if mirrored not in index:
            return None
        flip.append(index[mirrored])
    if all(i == j for i, j in enumerate(flip)):
        return None
    return tuple(flip)


def _name_words(name: str) -> tuple[str, ...]:
    return tuple(word.lower() for word in _WORDS.findall(name))


# -- finding and reading the yaml ------------------------------------------------------------


def _find_yaml(data: str | Path) -> tuple[Path, bool]:
    """The yaml file ``data`` names, and whether it is a packaged one."""
    path = Path(data).expanduser()
    if path.is_file():
        return path.resolve(), False
    if path.is_dir():
        return _yaml_in_folder(path), False
    packaged = _packaged_yaml(data)
    if packaged is not None:
        return packaged, True
    raise DatasetError(
        f"no such file (looked in {Path.cwd()} for relative paths). Give the path of a dataset "
        f"yaml, or one of the packaged datasets: {', '.join(packaged_configs())}",
        path=data,
    )


def _yaml_in_folder(folder: Path) -> Path:
    found = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if len(found) == 1:
        return found[0].resolve()
    what = "no .yaml file" if not found else f"{len(found)} .yaml files"
    raise DatasetError(f"is a folder with {what}; give the dataset yaml itself", path=folder)


def _packaged_yaml(data: str | Path) -> Path | None:
    if not isinstance(data, str) or "/" in data or "\\" in data:
        return None
    stem = data[:-5] if data.endswith(".yaml") else data
    candidate = CONFIG_DIR / f"{stem}.yaml"
    return candidate if stem and candidate.is_file() else None


def _dataset_root(
    config: Mapping[str, Any],
    yaml_path: Path,
    packaged: bool,
    progress: Reporter,
    cancel: CancelToken,
) -> Path:
    value = config.get("path")
    if packaged:
        return resolve_dataset_dir(str(value), progress=progress, cancel=cancel).resolve()
    if value in (None, ""):
        return yaml_path.parent
    if not isinstance(value, str):
        raise DatasetError("must be a folder path", path=yaml_path, key="path")
    root = (yaml_path.parent / Path(value).expanduser()).resolve()
    if not root.is_dir():
        hint = f" (the yaml names a download, {config['download']})" if "download" in config else ""
        raise DatasetError(
            f"no dataset folder at {root}{hint}; fix path (relative paths start at the yaml's "
            "folder) or put the dataset there",
            path=yaml_path,
            key="path",
        )
    return root


# -- names and keypoints -------------------------------------------------------------------


def _names(config: Mapping[str, Any], yaml_path: Path) -> dict[int, str]:
    raw = config.get("names")
    if raw is None and isinstance(config.get("nc"), int) and config["nc"] > 0:
        return {i: f"class_{i}" for i in range(config["nc"])}
    if isinstance(raw, list):
        names = dict(enumerate(raw))
    elif isinstance(raw, dict):
        names = {_class_index(key, yaml_path): value for key, value in raw.items()}
    else:
        raise DatasetError(
            "missing or not a list/mapping; give names: {0: cat, 1: dog} or [cat, dog]",
            path=yaml_path,
            key="names",
        )
    if sorted(names) != list(range(len(names))) or not names:
        raise DatasetError(
            f"class indices are {sorted(names)}; they must be 0, 1, ... with none missing",
            path=yaml_path,
            key="names",
        )
    nc = config.get("nc")
    if nc is not None and nc != len(names):
        raise DatasetError(
            f"nc is {nc} but names has {len(names)} entries; make them agree (or drop nc)",
            path=yaml_path,
            key="nc",
        )
    return {i: _class_name(i, names[i], yaml_path) for i in range(len(names))}


def _class_name(index: int, value: Any, yaml_path: Path) -> str:
    """``value`` as a class name: text, or a number read as text (``0: 7`` names class "7")."""
    if isinstance(value, bool):
        problem = (
            f"class {index} is read as the boolean {value}: YAML reads unquoted yes / no / "
            "on / off / true / false that way; quote it (e.g. 'no')"
        )
    elif isinstance(value, int | float) or (isinstance(value, str) and value.strip()):
        return str(value)
    elif value is None or isinstance(value, str):
        problem = f"class {index} has no name; give every class one (e.g. {index}: person)"
    else:
        kind = {list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)
        problem = (
            f"class {index} is {kind} ({_short_repr(value)}), not a name; each class name "
            "must be text (e.g. names: {0: cat, 1: dog})"
        )
    raise DatasetError(problem, path=yaml_path, key="names")


def _short_repr(value: Any) -> str:
    """A bounded repr for messages: a value from a file may be arbitrarily large."""
    short = reprlib.Repr()
    short.maxlevel, short.maxlist, short.maxdict, short.maxstring = 3, 4, 4, 40
    return short.repr(value)


def _class_index(key: Any, yaml_path: Path) -> int:
    if isinstance(key, int) and not isinstance(key, bool):
        return key
    if isinstance(key, str) and key.isdigit():
        return int(key)
    raise DatasetError(f"'{key}' is not a class index (0, 1, ...)", path=yaml_path, key="names")


def _keypoint_layout(
    config: Mapping[str, Any], yaml_path: Path, task: str, problems: list[Problem]
) -> dict[str, Any]:
    if label_rows(task) != KEYPOINTS:
        if "kpt_shape" in config:
            problems.append(
                Problem(
                    yaml_path, f"has kpt_shape (a pose dataset) but the task is {task}", "warning"
                )
            )
        return {}
    shape = _kpt_shape(config.get("kpt_shape"), yaml_path)
    kpt_names = _kpt_names(config.get("kpt_names"), shape[0], yaml_path)
    flip = _flip_idx(config.get("flip_idx"), shape[0], yaml_path)
    if flip is None and kpt_names is not None:
        flip = derive_flip_idx(kpt_names)
        if flip is not None:
            problems.append(
                Problem(
                    yaml_path,
                    f"no flip_idx; derived {list(flip)} from the left/right words of kpt_names "
                    "(add it to the yaml to make it explicit)",
                    "warning",
                )
            )
    skeleton = _skeleton(config.get("skeleton"), shape[0], yaml_path)
    return {"kpt_shape": shape, "flip_idx": flip, "kpt_names": kpt_names, "skeleton": skeleton}


def _kpt_shape(value: Any, yaml_path: Path) -> tuple[int, int]:
    ok = (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        and value[0] >= 1
        and value[1] in (2, 3)
    )
    if not ok:
        got = "missing" if value is None else f"{value!r} is not [K, 3] or [K, 2]"
        raise DatasetError(
            f"{got}; pose datasets give kpt_shape: [K, 3] for K keypoints of (x, y, visibility) "
            "or [K, 2] for (x, y)",
            path=yaml_path,
            key="kpt_shape",
        )
    return int(value[0]), int(value[1])


def _flip_idx(value: Any, count: int, yaml_path: Path) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or sorted(value) != list(range(count)):
        raise DatasetError(
            f"must list each keypoint index 0..{count - 1} once (the index each keypoint takes "
            f"in a mirrored image); got {value!r}",
            path=yaml_path,
            key="flip_idx",
        )
    broken = [i for i, j in enumerate(value) if value[j] != i]
    if broken:
        i = broken[0]
        raise DatasetError(
            f"keypoint {i} flips to {value[i]} but {value[i]} flips to {value[value[i]]}; "
            "mirroring twice must give the original, so pairs must point at each other",
            path=yaml_path,
            key="flip_idx",
        )
    return tuple(value)


def _kpt_names(value: Any, count: int, yaml_path: Path) -> tuple[str, ...] | None:
    """A list of names, or the reference's ``{class: [names]}`` (the first class's list)."""
    if value is None:
        return None
    if isinstance(value, dict) and value:
        value = value[min(value, key=str)]
    if not isinstance(value, list) or len(value) != count:
        raise DatasetError(
            f"must be a list of {count} keypoint names (kpt_shape says {count} keypoints)",
            path=yaml_path,
            key="kpt_names",
        )
    return tuple(str(name) for name in value)


def _skeleton(value: Any, count: int, yaml_path: Path) -> tuple[tuple[int, int], ...] | None:
    if value is None:
        return None
    pairs = value if isinstance(value, list) else [value]
    for pair in pairs:
        valid = (
            isinstance(pair, list | tuple)
            and len(pair) == 2
            and all(isinstance(i, int) and 0 <= i < count for i in pair)
        )
        if not valid:
            raise DatasetError(
                f"{pair!r} is not a pair of keypoint indices 0..{count - 1} (indices start at 0)",
                path=yaml_path,
                key="skeleton",
            )
    return tuple((int(a), int(b)) for a, b in pairs)


# -- splits ----------------------------------------------------------------------------------


def _split_keys(config: dict[str, Any], yaml_path: Path, problems: list[Problem]) -> list[str]:
    if "val" not in config and "validation" in config:
        config["val"] = config["validation"]
        problems.append(Problem(yaml_path, "key 'validation' read as 'val'", "warning"))
    for split in ("train", "val"):
        if config.get(split) in (None, "", []):
            raise DatasetError(f"missing; {LAYOUT}", path=yaml_path, key=split)
    return [split for split in SPLITS if config.get(split) not in (None, "", [])]


def _split_images(
    config: Mapping[str, Any],
    split: str,
    root: Path,
    yaml_path: Path,
    problems: list[Problem],
    links: LinkNotes,
) -> tuple[Path, ...]:
    entries = config[split] if isinstance(config[split], list) else [config[split]]
    images: dict[Path, None] = {}
    for entry in entries:
        if not isinstance(entry, str):
            raise DatasetError(f"{entry!r} is not a path", path=yaml_path, key=split)
        source = _split_source(entry, split, root, yaml_path, links)
        found = (
            _listed_images(source, root, problems, links)
            if source.is_file()
            else _images_under(source, root, links)
        )
        images.update(dict.fromkeys(found))
    if not images:
        raise DatasetError(
            f"no images found in {', '.join(str(root / e) for e in entries)}; {LAYOUT}",
            path=yaml_path,
            key=split,
        )
    return tuple(images)


def _split_source(
    entry: str, split: str, root: Path, yaml_path: Path, links: LinkNotes
) -> Path:
    """The folder or list file a split entry names. As written it must stay inside ``root``
    (or really be there); a link on the way out of ``root`` is followed and noted."""
    looked = Path(os.path.normpath(root / Path(entry).expanduser()))
    real = leaves(root, looked)
    if real is not None and not inside_lexically(looked, root):
        raise DatasetError(
            f"'{entry}' resolves to {real}, outside the dataset folder {root}; refused. "
            "Write split paths inside the dataset folder (a link placed inside it may lead "
            "to another disk)",
            path=yaml_path,
            key=split,
        )
    if not looked.exists():
        raise DatasetError(
            f"no folder or file at {looked}; fix the path (it is relative to {root})",
            path=yaml_path,
            key=split,
        )
    if looked.is_file() and looked.suffix.lower() != ".txt":
        raise DatasetError(
            f"{looked} is a file but not a .txt list of images; give a folder or a .txt list",
            path=yaml_path,
            key=split,
        )
    if real is not None:
        links.followed(looked, real, is_folder=looked.is_dir())
    return looked


def _listed_images(
    listing: Path, root: Path, problems: list[Problem], links: LinkNotes
) -> list[Path]:
    """Images named by a ``.txt`` list, one per line; relative lines start at its folder."""
    try:
        text = listing.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(listing, f"cannot be read ({exc})", "error"))
        return []
    images = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            continue
        image = Path(os.path.normpath(listing.parent / Path(line).expanduser()))
        problem = _listed_image_problem(listing, number, image, root)
        if problem is None:
            images.append(image)
            real = leaves(root, image)
            if real is not None:
                links.followed(image, real, is_folder=False)
        else:
            problems.append(problem)
    return images


def _listed_image_problem(listing: Path, line: int, image: Path, root: Path) -> Problem | None:
    if image.suffix.lower() not in IMAGE_SUFFIXES:
        reason = f"'{image.name}' is not an image file name (by its suffix); line ignored"
        return Problem(listing, reason, "warning", line)
    if not inside_lexically(image, root) and leaves(root, image) is not None:
        reason = (
            f"{image} is outside the dataset folder {root}; left out (list images inside "
            "the dataset folder; a link placed inside it may lead to another disk)"
        )
        return Problem(listing, reason, "error", line)
    if not image.is_file():
        return Problem(listing, f"listed image {image} does not exist; left out", "error", line)
    return None


def _images_under(folder: Path, root: Path, links: LinkNotes) -> list[Path]:
    """Every image file below ``folder`` (sorted); links leaving ``root`` are followed and
    noted in ``links``."""
    images: list[Path] = []
    seen = {os.path.realpath(folder)}
    stack = [folder]
    while stack:
        for entry in _entries(stack.pop()):
            if entry.name.startswith("."):
                continue
            real = leaves(root, entry.path) if entry.is_symlink() else None
            if real is not None:
                links.followed(entry.path, real, is_folder=entry.is_dir())
            if entry.is_dir():
                resolved = os.path.realpath(entry.path)
                if resolved not in seen:  # a link back to a folder already walked is skipped
                    seen.add(resolved)
                    stack.append(Path(entry.path))
            elif os.path.splitext(entry.name)[1].lower() in IMAGE_SUFFIXES:
                images.append(Path(entry.path))
    return sorted(images)


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    with os.scandir(folder) as entries:
        return sorted(entries, key=lambda entry: entry.name)
