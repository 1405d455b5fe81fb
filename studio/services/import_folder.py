"""Read a folder of unlabelled images (or one image file) for an import."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from engine.data.images import IMAGE_SUFFIXES

from ..errors import ImportProblem
from .image_files import Candidate, SourcePlan


def image_files_under(folder: Path) -> list[Path]:
    """Every image file below ``folder`` (by suffix), sorted; hidden files and folders skipped."""
    found: list[Path] = []
    for directory, folders, files in os.walk(folder, followlinks=False):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        found += [Path(directory, name) for name in sorted(files)
                  if not name.startswith(".") and _is_image_name(name)]
    return found


def plan_images(source: Path) -> SourcePlan:
    """The images of a folder (searched recursively) or a single image file, without labels
    and without a split."""
    if source.is_file():
        root, images = source.parent, [source]
    else:
        root, images = source, image_files_under(source)
    if not images:
        raise ImportProblem(f"holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))}); "
                            "choose a folder of images", path=source)

    def build(_class_map: list[int]) -> list[Candidate]:
        return [Candidate(path, PurePosixPath(root.name or "images",
                                              *path.relative_to(root).parts), None)
                for path in images]

    return SourcePlan([], build)


def _is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_SUFFIXES
