"""Where file dialogs open: the project's folder when one is open, else the user's home,
never the folder the app happened to be started from."""

from __future__ import annotations

from pathlib import Path


def start_folder(project_folder: str | Path | None = None, preferred: str | Path | None = None
                 ) -> str:
    """The folder a dialog starts in: ``preferred`` if it is an existing folder (or a file's
    existing parent), else ``project_folder``, else the home folder."""
    for candidate in (preferred, project_folder):
        if not candidate:
            continue
        path = Path(candidate).expanduser()
        if path.is_dir():
            return str(path)
        if path.parent != path and path.parent.is_dir() and str(path.parent) not in ("", "."):
            return str(path.parent)
    return str(Path.home())
