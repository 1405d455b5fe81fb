"""Image check results kept between runs, so an unchanged classify dataset is not decoded again.

Checking the 1,797 images of the digits set took 0.15-0.25 s of every ``yolo classify train``
(the reference keeps a cache beside the dataset for the same reason). An entry is reused only
while the file's size and modification time are what they were when it was checked. One JSON
file per dataset folder in ``$YOLO_STUDIO_CACHE_DIR/image-checks`` (else
``$XDG_CACHE_HOME/yolo-studio/image-checks``), never inside the dataset; written atomically; a
cache that cannot be read is ignored and one that cannot be written only costs speed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from ..utils.atomic import atomic_writer
from ..utils.cache_dirs import cache_folder

CACHE_FORMAT = 1
Check = Callable[[Sequence[Path]], dict[Path, str]]
"""Checks files; returns the unusable ones with the reason (engine/data/check.check_images)."""


def checked_with_cache(root: Path, paths: Sequence[Path], check: Check, *,
                       cache_dir: Path | None = None) -> dict[Path, str]:
    """``check(paths)``'s answer, checking only the files that changed since the last time
    ``root``'s images were checked."""
    stamps = {path: _stamp(path) for path in paths}
    cache_file = (cache_dir or cache_folder("image-checks")) / _name(root)
    known = _read(cache_file)
    fresh = [path for path in paths
             if stamps[path] is None or known.get(str(path), {}).get("stamp") != stamps[path]]
    found = check(fresh) if fresh else {}
    rechecked = set(fresh)
    bad = {path: reason for path in paths if path not in rechecked
           for reason in [known[str(path)].get("reason")] if reason}
    bad.update(found)
    if fresh:
        entries = {str(path): {"stamp": stamps[path], "reason": bad.get(path)}
                   for path in paths if stamps[path] is not None}
        _write(cache_file, entries)
    return bad


def _stamp(path: Path) -> list[int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


def _name(root: Path) -> str:
    return hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:24] + ".json"


def _read(path: Path) -> dict[str, dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("format") != CACHE_FORMAT:
        return {}
    entries = data.get("images")
    return entries if isinstance(entries, dict) else {}


def _write(path: Path, entries: dict[str, dict]) -> None:
    try:
        with atomic_writer(path) as handle:
            handle.write(json.dumps({"format": CACHE_FORMAT, "images": entries}).encode())
    except OSError:
        pass  # a full or read-only cache folder only costs speed
