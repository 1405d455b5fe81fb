"""Where a run's files go: ``runs/<task>/<mode>``, then ``<mode>2``, ``<mode>3`` …"""

from __future__ import annotations

import shutil
from pathlib import Path


def run_dir(
    task: str,
    mode: str,
    *,
    project: str | Path | None = None,
    name: str | None = None,
    exist_ok: bool = False,
) -> Path:
    """A new folder for this run (``exist_ok`` reuses ``name`` as it is). Created on return."""
    base = Path(project) if project else Path("runs") / task
    stem = name or mode
    path = base / stem
    if not exist_ok and path.exists():
        number = 2
        while (base / f"{stem}{number}").exists():
            number += 1
        path = base / f"{stem}{number}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def remove_if_no_files(folder: Path) -> bool:
    """Delete ``folder`` when it holds only (empty) folders; True when it did."""
    if not folder.is_dir() or any(p.is_file() or p.is_symlink() for p in folder.rglob("*")):
        return False
    shutil.rmtree(folder)
    return True


def latest_checkpoint(root: str | Path = "runs", name: str = "last.pt") -> Path | None:
    """The most recently written ``name`` under ``root`` (``runs/*/*/weights/last.pt``)."""
    found = [p for p in Path(root).rglob(name) if p.is_file()] if Path(root).is_dir() else []
    return max(found, key=lambda p: p.stat().st_mtime, default=None)
