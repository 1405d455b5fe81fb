"""Register image files in a project: check them with the engine, read their size from the
header (no decoding), hash them, copy them into the project on request, and insert them with
their annotations in large batches.

An import hands :class:`ImageRegistrar` a stream of :class:`Candidate` images (a file, its split,
a function that reads its annotations); the registrar skips files already in the project
(``Image.path`` is unique), reports unreadable ones (never fatal, never modified) and commits
one transaction per batch, so a cancelled import keeps the batches written before it stopped.
An image a dataset lists with no labels is registered as background (a labelled negative, as
the dataset meant it); images from a plain folder start unlabelled.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from PIL import Image as PILImage
from sqlalchemy import insert, select

from engine.cancel import NEVER, CancelToken
from engine.data.check import Problem, check_image
from engine.errors import ImageReadError

from ..state.models import Annotation, Image
from .projects import Project

Progress = Callable[[int, int, str], None]
ProblemRecord = dict[str, Any]
"""``{"path": str, "line": int | None, "reason": str, "severity": "error" | "warning"}``."""
AnnotationRow = dict[str, Any]
"""Column values of one Annotation (kind, class_index, polygon, box, keypoints)."""
ReadAnnotations = Callable[[], tuple[list[AnnotationRow] | None, list[ProblemRecord]]]
"""Reads an image's annotations; None leaves the image out (its labels are unusable)."""

BATCH = 1000
"""Images per transaction: big enough for fast inserts, small enough to cancel promptly."""


def no_progress(done: int, total: int, text: str = "") -> None:
    """A progress callable that ignores its reports."""


def problem_record(path: str | Path, reason: str, line: int | None = None,
                   severity: str = "error") -> ProblemRecord:
    """One entry of ``ImportRecord.problems``."""
    return {"path": str(path), "line": line, "reason": reason, "severity": severity}


def from_engine(problem: Problem) -> ProblemRecord:
    """An engine ``Problem`` as an ``ImportRecord.problems`` entry."""
    return problem_record(problem.path, problem.reason, problem.line, problem.severity)


@dataclass(frozen=True)
class ImageFile:
    """What the studio stores about an image file: its size in pixels and its SHA-1."""

    path: Path
    width: int
    height: int
    sha1: str


def inspect_image(path: str | Path) -> ImageFile:
    """Check ``path`` with the engine, then read its size from the header and hash its bytes.

    Raises ``ImageReadError`` (with the engine's reason) for a file training could not use.
    """
    path = Path(path)
    reason = check_image(path)
    if reason is not None:
        raise ImageReadError(reason, path=path)
    try:
        data = path.read_bytes()
        with PILImage.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Exception as exc:  # noqa: BLE001 - OpenCV-only formats: fall back to decoding
        width, height, data = _decoded_size(path, exc)
    return ImageFile(path, int(width), int(height), hashlib.sha1(data).hexdigest())


def _decoded_size(path: Path, error: Exception) -> tuple[int, int, bytes]:
    """Size of a file Pillow cannot open but OpenCV can (the engine's check accepted it)."""
    from engine.data.images import read_image

    try:
        pixels = read_image(path)
    except ImageReadError:
        raise ImageReadError(f"not a readable image ({error})", path=path) from error
    return pixels.shape[1], pixels.shape[0], path.read_bytes()


def file_sha1(path: str | Path) -> str:
    """SHA-1 of a file's bytes (read in 1 MiB blocks)."""
    digest = hashlib.sha1()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def copy_into_project(project: Project, image: ImageFile, relative: PurePosixPath,
                      taken: set[str]) -> str:
    """Copy ``image`` to ``project.images_folder / relative``; return the stored path (relative
    to the project folder). When the same file (same SHA-1) is already there, that path is
    returned without copying (the caller sees it in ``taken`` when it is already registered);
    a different file there gets a new name (``name-1.jpg``). The copy is atomic."""
    base = PurePosixPath(project.images_folder.relative_to(project.folder).as_posix())
    candidate = base / relative
    stem, suffix = candidate.stem, candidate.suffix
    for attempt in range(1, 10_000):
        stored = str(candidate)
        target = project.folder / candidate
        if target.is_file() and file_sha1(target) == image.sha1:
            return stored
        if not target.exists() and stored not in taken:
            _atomic_copy(image.path, target)
            return stored
        candidate = candidate.with_name(f"{stem}-{attempt}{suffix}")
    raise ImageReadError("too many files with this name in the project", path=image.path)


def remove_copied_file(project: Project, stored: str) -> bool:
    """Delete the file of an image that was copied into the project (its trash was emptied).

    Only a file inside the project folder is removed (after links are followed): the user's
    own files, referenced where they are, are read-only to us. Returns False when there was
    nothing to remove; raises ``OSError`` when the file could not be deleted."""
    path = project.resolve(stored)
    if Path(stored).is_absolute() or not path.is_file():
        return False
    resolved, inside = path.resolve(), project.folder.resolve()
    if not resolved.is_relative_to(inside):
        return False  # a link out of the project: not ours to delete
    resolved.unlink()
    return True


def _atomic_copy(source: Path, target: Path) -> None:
    """Copy to a temp name beside ``target``, then rename it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(source, temp)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@dataclass
class Candidate:
    """An image an import offers: its file, where a copy goes (below the images folder), its
    split, and how to read its annotations (None: it has none, e.g. a plain image folder)."""

    source: Path
    relative: PurePosixPath
    split: str | None
    read_annotations: ReadAnnotations | None = None


@dataclass
class RegisterCounts:
    """What registering has done so far."""

    images: int = 0
    annotations: int = 0
    already_present: int = 0
    left_out: int = 0
    problems: list[ProblemRecord] = field(default_factory=list)


class ImageRegistrar:
    """Adds candidate images and their annotations to a project, one transaction per batch."""

    def __init__(self, project: Project, import_id: int, *, copy: bool = False) -> None:
        self.project = project
        self.import_id = import_id
        self.copy = copy
        self.counts = RegisterCounts()
        with project.database.session() as session:
            self._taken: set[str] = set(session.scalars(select(Image.path)))

    def register(self, candidates: Sequence[Candidate], *, progress: Progress = no_progress,
                 cancel: CancelToken = NEVER) -> bool:
        """Register every candidate; False when ``cancel`` stopped it between two batches."""
        total = len(candidates)
        progress(0, total, "importing images")
        for start in range(0, total, BATCH):
            if cancel.cancelled:
                return False
            self._register_batch(candidates[start:start + BATCH])
            done = min(start + BATCH, total)
            progress(done, total, f"{done} of {total} images")
        return True

    def _register_batch(self, batch: Iterable[Candidate]) -> None:
        images: list[dict[str, Any]] = []
        annotations: list[list[AnnotationRow]] = []
        for candidate in batch:
            prepared = self._prepare(candidate)
            if prepared is not None:
                images.append(prepared[0])
                annotations.append(prepared[1])
        if images:
            self._insert(images, annotations)

    def _prepare(self, candidate: Candidate) -> tuple[dict[str, Any], list[AnnotationRow]] | None:
        """The Image row and annotation rows of a candidate, or None when it is left out."""
        problems = self.counts.problems
        if not self.copy and str(candidate.source) in self._taken:
            self.counts.already_present += 1
            return None
        try:
            image = inspect_image(candidate.source)
        except ImageReadError as exc:
            problems.append(problem_record(candidate.source, f"{exc.message}; image skipped"))
            self.counts.left_out += 1
            return None
        rows: list[AnnotationRow] = []
        if candidate.read_annotations is not None:
            found, label_problems = candidate.read_annotations()
            problems.extend(label_problems)
            if found is None:
                self.counts.left_out += 1
                return None
            rows = found
        stored = self._stored_path(candidate, image)
        if stored is None:
            return None
        self._taken.add(stored)
        # a dataset's image with no labels (no or an empty label file, no COCO annotation) is a
        # negative in the dataset's own terms: it stays one (a plain folder's are unlabelled)
        background = candidate.read_annotations is not None and not rows
        return {
            "path": stored, "copied": self.copy, "width": image.width, "height": image.height,
            "file_hash": image.sha1, "split": candidate.split, "import_id": self.import_id,
            "background": background,
        }, rows

    def _stored_path(self, candidate: Candidate, image: ImageFile) -> str | None:
        if not self.copy:
            return str(candidate.source)
        try:
            stored = copy_into_project(self.project, image, candidate.relative, self._taken)
        except OSError as exc:
            reason = f"cannot be copied into the project ({exc.strerror or exc}); image skipped"
            self.counts.problems.append(problem_record(candidate.source, reason))
            self.counts.left_out += 1
            return None
        if stored in self._taken:  # the very same file was copied by an earlier import
            self.counts.already_present += 1
            return None
        return stored

    def _insert(self, images: list[dict[str, Any]], annotations: list[list[AnnotationRow]]) -> None:
        with self.project.database.session() as session:
            statement = insert(Image).returning(Image.id, sort_by_parameter_order=True)
            ids = session.scalars(statement, images).all()
            rows = [
                {**row, "image_id": image_id, "position": position}
                for image_id, image_rows in zip(ids, annotations, strict=True)
                for position, row in enumerate(image_rows)
            ]
            if rows:
                session.execute(insert(Annotation), rows)
        self.counts.images += len(images)
        self.counts.annotations += len(rows)


@dataclass
class SourcePlan:
    """What a format reader found before anything is written: the source's class names (in
    its own index order), problems so far, and ``build(class_map)`` giving the candidates once
    each source class index is mapped to a project class index."""

    names: list[str]
    build: Callable[[list[int]], list[Candidate]]
    problems: list[ProblemRecord] = field(default_factory=list)
