"""Links on disk that lead out of a dataset folder: followed, and each announced once.

A link in a dataset folder was made by the user (images kept on another disk, a shared
folder of photos), so the engine follows it and says where it leads, rather than refusing
it. What stays refused is a path *written* in a dataset yaml or image list that climbs out
of the dataset folder (``../``, an absolute path elsewhere): that is checked on the text of
the path (see ``inside_lexically``), before any link is followed.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from pathlib import Path

from .check import Problem

log = logging.getLogger(__name__)


def inside_lexically(path: Path, root: Path) -> bool:
    """Whether ``path`` as written (``..`` collapsed, links not followed) is under ``root``."""
    return Path(os.path.normpath(path)).is_relative_to(root)


def leaves(root: Path, path: str | Path) -> str | None:
    """Where ``path`` really is when, through a link, that is outside ``root``; else None."""
    real = os.path.realpath(path)
    return None if Path(real).is_relative_to(root) else real


class LinkNotes:
    """Collects the links followed out of ``root`` and turns them into one note each.

    A folder link is one note (``images/train -> /mnt/disk/images``); linked files are
    grouped by the folder they sit in and the folder they lead to, so a folder of 10,000
    linked photos is one note, not 10,000.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._folders: dict[Path, str] = {}
        self._files: dict[tuple[Path, str], list[tuple[Path, str]]] = defaultdict(list)

    def followed(self, link: str | Path, target: str, *, is_folder: bool) -> None:
        """Record that ``link`` (a path under the root) was followed to ``target``."""
        link = Path(link)
        if is_folder:
            self._folders.setdefault(link, target)
        else:
            self._files[(link.parent, os.path.dirname(target))].append((link, target))

    def problems(self) -> list[Problem]:
        """One warning per followed folder link and per group of linked files (also logged)."""
        notes = [
            Problem(link, f"link followed: {self._show(link)} -> {target}", "warning")
            for link, target in self._folders.items()
        ]
        for (folder, target_folder), files in self._files.items():
            if len(files) == 1:
                link, target = files[0]
                reason = f"link followed: {self._show(link)} -> {target}"
                notes.append(Problem(link, reason, "warning"))
            else:
                reason = (
                    f"links followed: {len(files)} files in {self._show(folder)} lead to "
                    f"{target_folder}"
                )
                notes.append(Problem(folder, reason, "warning"))
        for note in notes:
            log.info("%s", note.reason)
        return notes

    def _show(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)
