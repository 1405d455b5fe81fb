"""The projects of the Recent list: each folder with the project's own name, and whether it is
still there. Names are read from the project's database, read-only and without its lock, so a
project open in another window is listed too."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ..state.database import DATABASE_FILE


@dataclass(frozen=True)
class RecentProject:
    """One entry: ``folder`` as remembered, ``name`` (the folder's name when it cannot be
    read) and ``exists`` (False when the folder or its project file is gone)."""

    folder: str
    name: str
    exists: bool

    def text(self) -> str:
        """``name — folder`` for a menu, with "(folder not found)" for a missing one."""
        missing = "  (folder not found)" if not self.exists else ""
        return f"{self.name} — {self.folder}{missing}"


def recent_projects_of(folders: Sequence[str]) -> list[RecentProject]:
    """An entry per remembered folder, in the same order."""
    entries = []
    for folder in folders:
        database = Path(folder) / DATABASE_FILE
        exists = database.is_file()
        name = (project_name(database) if exists else None) or Path(folder).name or folder
        entries.append(RecentProject(str(folder), name, exists))
    return entries


def project_name(database: Path) -> str | None:
    """The name stored in a project's database, or None when it cannot be read now."""
    uri = f"file:{quote(str(database))}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=0.5)
        try:
            row = connection.execute("SELECT name FROM project LIMIT 1").fetchone()
        finally:
            connection.close()
    except sqlite3.Error:
        return None
    return str(row[0]) if row and row[0] else None
