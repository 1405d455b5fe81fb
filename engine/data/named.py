"""Named datasets: ``data=mnist160`` finds a folder, or downloads and unpacks it once.

An existing folder is used as it is. A bare name (``mnist160``, ``imagenette160``) is looked
up in the datasets folder, else unpacked from a ``{name}.zip`` put there by hand, else fetched
as ``{url}/{name}.zip`` into it (and that download removed once unpacked). The archive is
unpacked into a temp folder next to the target and renamed into place, so a half-unpacked
dataset never appears; members that are absolute, climb out with ``..``, or are links are
refused.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import stat
import uuid
import zipfile
from pathlib import Path, PurePosixPath

from ..cancel import NEVER, CancelToken
from ..downloads import ZIP_MAGIC, download_file
from ..errors import DatasetError
from ..events import Reporter, ignore

log = logging.getLogger(__name__)

DATASETS_URL = "https://github.com/ultralytics/assets/releases/download/v0.0.0"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
# Folders a dataset's own top level holds; a lone top-level folder of another name wraps it.
_DATASET_TOP_LEVEL = frozenset({"train", "val", "valid", "validation", "test", "images", "labels"})
_EMPTY_ZIP_BYTES = 22  # an end-of-central-directory record and nothing else
_COPY_CHUNK = 1 << 20


def datasets_dir() -> Path:
    """``$YOLO_STUDIO_DATASETS_DIR``, else ``$XDG_DATA_HOME/yolo-studio/datasets``."""
    explicit = os.environ.get("YOLO_STUDIO_DATASETS_DIR")
    if explicit:
        return Path(explicit).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home) / "yolo-studio" / "datasets"


def datasets_url() -> str:
    """Where named datasets come from (``$YOLO_STUDIO_DATASETS_URL`` overrides, for mirrors)."""
    return os.environ.get("YOLO_STUDIO_DATASETS_URL", DATASETS_URL).rstrip("/")


def is_dataset_name(data: str | Path) -> bool:
    """True for a bare word such as ``mnist160``: no folders, no suffix."""
    return isinstance(data, str) and _NAME.fullmatch(data) is not None


def resolve_dataset_dir(
    data: str | Path,
    *,
    progress: Reporter = ignore,
    cancel: CancelToken = NEVER,
    timeout: float = 30.0,
) -> Path:
    """A local folder for ``data``: the folder itself, a named dataset on disk, or a download.

    Raises ``DatasetError`` (saying where it looked and what to do) when none of these works,
    and ``Cancelled`` (leaving no partial files) when ``cancel`` is set during a download.
    """
    path = Path(data).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise DatasetError("is a file; a dataset here is a folder (or a dataset name)", path=path)
    if not is_dataset_name(data):
        raise DatasetError(
            f"no such folder (looked in {Path.cwd()} for relative paths). Check the path, or "
            f"give a dataset name such as mnist160 to use {datasets_dir()}/<name>",
            path=data,
        )
    name = str(data)
    target = datasets_dir() / name
    if target.is_dir():
        return target
    if target.exists():
        raise DatasetError("is a file where a dataset folder should be; remove it", path=target)
    return _download_dataset(name, target, progress=progress, cancel=cancel, timeout=timeout)


def _download_dataset(
    name: str, target: Path, *, progress: Reporter, cancel: CancelToken, timeout: float
) -> Path:
    url = f"{datasets_url()}/{name}.zip"
    archive = target.parent / f"{name}.zip"
    if archive.is_file():  # put there by hand: unpack it, and leave it where it is
        log.info("unpacking %s", archive)
        return extract_dataset(archive, target, cancel=cancel)
    manual = (
        f"Check the name, or on a machine with internet access download {url} and put it at "
        f"{archive}, or unzip it to {target} (for classify: {target}/train/<class>/ and "
        f"{target}/val/<class>/ image folders), or pass the path of a dataset folder."
    )
    log.info("dataset %s not found in %s; downloading %s", name, target.parent, url)
    download_file(
        url,
        archive,
        progress=progress,
        timeout=timeout,
        min_bytes=_EMPTY_ZIP_BYTES,
        expect_magic=ZIP_MAGIC,
        what="a zip archive",
        error=DatasetError,
        manual=manual,
        cancel=cancel,
    )
    try:
        extract_dataset(archive, target, cancel=cancel)
    finally:
        archive.unlink(missing_ok=True)
    return target


def extract_dataset(archive: Path, target: Path, *, cancel: CancelToken = NEVER) -> Path:
    """Unpack ``archive`` safely so that its dataset ends up exactly at ``target``.

    Members may sit under a top-level folder (``{name}/train/...``) or at the root
    (``train/...``). Nothing appears at ``target`` until everything is unpacked.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    # Not mkdtemp: its 0o700 mode would stick to a dataset unpacked straight into it.
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex[:12]}.unpacking"
    staging.mkdir()
    try:
        with _open_zip(archive) as bundle:
            _check_free_space(archive, bundle, target.parent)
            for member in bundle.infolist():
                cancel.raise_if_cancelled()
                _extract_member(bundle, member, staging, archive)
        _move_into_place(_dataset_top(staging, target.name), target, archive)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


@contextlib.contextmanager
def _open_zip(archive: Path):
    try:
        bundle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"not a readable zip archive ({exc})", path=archive) from exc
    with bundle:
        yield bundle


def _check_free_space(archive: Path, bundle: zipfile.ZipFile, folder: Path) -> None:
    needed = sum(member.file_size for member in bundle.infolist())
    free = shutil.disk_usage(folder).free
    if needed > free:
        raise DatasetError(
            f"unpacking needs {needed / 1e9:.2f} GB but only {free / 1e9:.2f} GB are free in "
            f"{folder}; free some space or set YOLO_STUDIO_DATASETS_DIR to a larger disk",
            path=archive,
        )


def _member_path(member: zipfile.ZipInfo, staging: Path, archive: Path) -> Path | None:
    """Where ``member`` goes under ``staging``; None to skip it; raises if it is unsafe."""
    name = member.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or re.match(r"[A-Za-z]:", name) or ".." in parts:
        raise DatasetError(
            f"refused: member '{member.filename}' would be written outside the dataset folder",
            path=archive,
        )
    if stat.S_ISLNK(member.external_attr >> 16):
        raise DatasetError(f"refused: member '{member.filename}' is a symbolic link", path=archive)
    if not parts or parts[0] == "__MACOSX":
        return None  # macOS resource forks are not part of any dataset
    destination = staging.joinpath(*parts)
    if not destination.resolve().is_relative_to(staging.resolve()):
        raise DatasetError(
            f"refused: member '{member.filename}' resolves outside the dataset folder",
            path=archive,
        )
    return destination


def _extract_member(
    bundle: zipfile.ZipFile, member: zipfile.ZipInfo, staging: Path, archive: Path
) -> None:
    destination = _member_path(member, staging, archive)
    if destination is None:
        return
    if member.is_dir():
        destination.mkdir(parents=True, exist_ok=True)
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        with bundle.open(member) as source, open(destination, "xb") as sink:
            shutil.copyfileobj(source, sink, _COPY_CHUNK)
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as exc:
        raise DatasetError(
            f"member '{member.filename}' is damaged ({exc}); delete the archive and try again",
            path=archive,
        ) from exc
    except FileExistsError as exc:
        raise DatasetError(
            f"member '{member.filename}' appears twice in the archive; refused", path=archive
        ) from exc


def _dataset_top(staging: Path, name: str) -> Path:
    """The folder in ``staging`` that is the dataset: a lone wrapping folder, else staging."""
    entries = [entry for entry in staging.iterdir() if not entry.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        lone = entries[0]
        if lone.name == name or lone.name not in _DATASET_TOP_LEVEL:
            return lone
    return staging


def _move_into_place(source: Path, target: Path, archive: Path) -> None:
    """Rename the unpacked folder to ``target`` in one step (a copy unpacked meanwhile wins)."""
    if not any(source.iterdir()):
        raise DatasetError("the archive holds no files", path=archive)
    try:
        source.rename(target)
    except OSError as exc:
        if target.is_dir():
            log.info("%s appeared while unpacking; keeping it", target)
            return
        raise DatasetError(
            f"cannot move the unpacked dataset into place ({exc})", path=target
        ) from exc
