"""A cache of label verification results, so a second load of an unchanged dataset is fast.

An entry is reused only when its stamp matches: the image file's size and modification time,
and the SHA-256 of the label file's bytes (or its absence). The whole file is dropped when the
settings it was made under differ (cache format, parser version, task, class count, keypoint
shape) or when it cannot be read back. Files are JSON (no pickle), one per image folder and
task, in ``$YOLO_STUDIO_CACHE_DIR/labels`` (else ``$XDG_CACHE_HOME/yolo-studio/labels``):
never inside the dataset. Writes are atomic; a cache that cannot be written only costs speed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..utils.atomic import atomic_writer
from ..utils.cache_dirs import cache_folder
from .check import Problem
from .instances import Instances

__all__ = [
    "CACHE_FORMAT",
    "CachedLabels",
    "LabelCache",
    "Stamp",
    "image_stamp",
    "label_cache_dir",
    "read_stamp",
]

log = logging.getLogger(__name__)

CACHE_FORMAT = 1


def label_cache_dir() -> Path:
    """``$YOLO_STUDIO_CACHE_DIR/labels``, else ``$XDG_CACHE_HOME/yolo-studio/labels``."""
    return cache_folder("labels")


@dataclass(frozen=True)
class Stamp:
    """What an entry depends on: the image's size and mtime, the label file's content hash."""

    image_size: int
    image_mtime_ns: int
    label_sha256: str | None  # None: no label file


def read_stamp(image: Path, label: Path) -> tuple[Stamp | None, bytes | None]:
    """The stamp of (image, label) and the label's bytes (None when there is no label file).

    The stamp is None when either file cannot be read: such a pair is verified, never cached.
    """
    stamp = image_stamp(image)
    if stamp is None:
        return None, _label_bytes(label)
    try:
        data = label.read_bytes()
    except FileNotFoundError:
        return stamp, None
    except OSError:
        return None, None
    return dataclasses.replace(stamp, label_sha256=hashlib.sha256(data).hexdigest()), data


def image_stamp(image: Path) -> Stamp | None:
    """The stamp of an image alone (no label file); None when it cannot be read."""
    try:
        stat = os.stat(image)
    except OSError:
        return None
    return Stamp(stat.st_size, stat.st_mtime_ns, None)


def _label_bytes(label: Path) -> bytes | None:
    try:
        return label.read_bytes()
    except OSError:
        return None


@dataclass(frozen=True)
class CachedLabels:
    """The verification of one image: its labels (None: left out) and the problems found."""

    stamp: Stamp | None
    instances: Instances | None
    problems: tuple[Problem, ...] = ()


class LabelCache:
    """The cached results for one image folder and task (see the module docstring)."""

    def __init__(self, path: Path, settings: Mapping[str, Any]) -> None:
        self.path = path
        self.settings = dict(settings)
        self.stale_reason: str | None = None
        self._raw: dict[str, Any] = {}
        self._fresh: dict[str, tuple[Stamp, CachedLabels]] = {}

    @classmethod
    def for_images(
        cls,
        images: Sequence[Path],
        task: str,
        settings: Mapping[str, Any],
        directory: Path | None = None,
    ) -> LabelCache:
        """The cache file of the folder holding ``images`` (their common parent) for ``task``."""
        folder = os.path.commonpath([os.path.abspath(p) for p in images]) if images else ""
        key = hashlib.sha1(f"{folder}|{task}".encode()).hexdigest()[:20]
        return cls((directory or label_cache_dir()) / f"{task}-{key}.json", settings)

    def load(self) -> None:
        """Read the file; a missing, corrupt or outdated one leaves the cache empty."""
        self._raw = {}
        try:
            content = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            self.stale_reason = "no cache file yet"
            return
        except (OSError, ValueError) as exc:
            self.stale_reason = f"unreadable cache file ({exc})"
            log.info("rebuilding label cache %s: %s", self.path, self.stale_reason)
            return
        if not isinstance(content, dict) or not isinstance(content.get("entries"), dict):
            self.stale_reason = "corrupt cache file"
        elif content.get("settings") != self.settings:
            self.stale_reason = "made with other settings or another parser version"
        else:
            self.stale_reason = None
            self._raw = content["entries"]
        if self.stale_reason:
            log.info("rebuilding label cache %s: %s", self.path, self.stale_reason)

    def get(self, image: Path, stamp: Stamp | None) -> CachedLabels | None:
        """The cached result for ``image`` when its stamp still matches, else None."""
        raw = self._raw.get(str(image))
        if stamp is None or raw is None:
            return None
        try:
            entry = _decode_entry(raw)
        except (KeyError, TypeError, ValueError, IndexError):
            return None  # one damaged entry is just a miss
        return entry if entry.stamp == stamp else None

    def put(self, image: Path, entry: CachedLabels) -> None:
        """Remember ``entry`` for the next :meth:`save` (unstamped entries are not kept)."""
        if entry.stamp is not None:
            self._fresh[str(image)] = (entry.stamp, entry)

    def save(self) -> bool:
        """Write the file atomically with the new entries; False (logged) when it cannot."""
        if not self._fresh:
            return True
        entries = {key: raw for key, raw in self._raw.items() if os.path.exists(key)}
        entries.update({key: _encode_entry(*fresh) for key, fresh in self._fresh.items()})
        content = {"settings": self.settings, "entries": entries}
        try:
            with atomic_writer(self.path) as handle:
                handle.write(json.dumps(content, separators=(",", ":")).encode())
        except OSError as exc:
            log.warning(
                "cannot write the label cache %s (%s); the next load re-checks", self.path, exc
            )
            return False
        self._raw, self._fresh = entries, {}
        return True


def _encode_entry(stamp: Stamp, entry: CachedLabels) -> dict[str, Any]:
    return {
        "stamp": [stamp.image_size, stamp.image_mtime_ns, stamp.label_sha256],
        "instances": None if entry.instances is None else _encode_instances(entry.instances),
        "problems": [[str(p.path), p.reason, p.severity, p.line] for p in entry.problems],
    }


def _decode_entry(raw: Mapping[str, Any]) -> CachedLabels:
    size, mtime, sha = raw["stamp"]
    problems = tuple(
        Problem(Path(path), str(reason), severity, line)
        for path, reason, severity, line in raw["problems"]
    )
    instances = raw["instances"]
    return CachedLabels(
        Stamp(int(size), int(mtime), sha),
        None if instances is None else _decode_instances(instances),
        problems,
    )


def _encode_instances(instances: Instances) -> dict[str, Any]:
    keypoints = instances.keypoints
    return {
        "cls": instances.cls.tolist(),
        "boxes": instances.boxes.reshape(-1).tolist(),
        "segments": [s.reshape(-1).tolist() for s in instances.segments],
        "keypoints": None if keypoints is None else keypoints.reshape(-1).tolist(),
        "kpt_shape": None if keypoints is None else list(keypoints.shape[1:]),
    }


def _decode_instances(raw: Mapping[str, Any]) -> Instances:
    keypoints = None
    if raw["kpt_shape"] is not None:
        shape = (-1, *raw["kpt_shape"])
        keypoints = np.asarray(raw["keypoints"], np.float32).reshape(shape)
    return Instances(
        np.asarray(raw["cls"], np.int64),
        np.asarray(raw["boxes"], np.float32),
        [np.asarray(s, np.float32) for s in raw["segments"]],
        keypoints,
    )
