"""Where a run's files go: ``runs/<task>/<mode>``, then ``<mode>2``, ``<mode>3`` …"""

from __future__ import annotations

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
