"""What the studio remembers between sessions (QSettings): recent projects, window geometry and
dock layout, the last page, the theme. ``YOLO_STUDIO_SETTINGS_DIR`` moves the file (tests)."""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

MAX_RECENT = 10


def app_settings() -> QSettings:
    """The studio's settings store (an INI file in the user's configuration folder)."""
    folder = os.environ.get("YOLO_STUDIO_SETTINGS_DIR")
    if folder:
        return QSettings(str(Path(folder) / "yolo-studio.ini"), QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "YOLO Studio",
                     "yolo-studio")


def int_setting(key: str, default: int) -> int:
    """The integer stored under ``key``, or ``default`` when the file holds none this version
    can read: every installed version of the studio shares the file, and another may store
    the key differently (its other keys are left as they are)."""
    try:
        return int(app_settings().value(key, default))
    except (TypeError, ValueError):
        return default


def recent_projects() -> list[str]:
    """Recently opened project folders, newest first, those that still exist."""
    value = app_settings().value("recent_projects", [])
    items = [value] if isinstance(value, str) else list(value or [])
    return [item for item in items if (Path(item) / "project.db").is_file()]


def remember_project(folder: Path | str) -> None:
    folder = str(Path(folder).resolve())
    items = [folder] + [item for item in recent_projects() if item != folder]
    app_settings().setValue("recent_projects", items[:MAX_RECENT])


def chosen_sam_model() -> str | None:
    """The Segment Anything pair the user chose for the AI tool (a name ``find_models``
    gives), or None: then the first ready pair is used."""
    value = app_settings().value("sam_model", "")
    return str(value) or None


def choose_sam_model(name: str) -> None:
    app_settings().setValue("sam_model", name)
