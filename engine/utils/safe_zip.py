"""Safe zip extraction: a dataset archive from anywhere unpacked without writing outside its
folder, following a link, or filling the disk.

:func:`extract_zip` checks every member before it writes anything, and refuses the whole
archive (``DatasetError`` naming the archive, the member and what to do) when one is:

- a path leaving the destination ("zip slip"): absolute (``/etc/x``), with a drive or a UNC
  share (``C:\\x``, ``//server/x``), or climbing out with ``..`` once normalised;
- a symbolic link, a device, a FIFO or a socket (the Unix file type in ``external_attr``);
- encrypted (nothing here asks for a password);
- one member too many (``max_members``), or more bytes than ``max_bytes`` uncompressed.

The byte limit is checked twice: on the sizes the archive declares, before writing, and on the
bytes actually written, while writing (a crafted archive can declare less than it holds).
A damaged archive (not a zip, a bad CRC, a broken compressed stream) is a ``DatasetError`` too.

Extraction is atomic (``engine.utils.atomic.atomic_directory``): members go into a temp folder
beside ``destination``, renamed to it at the end, so a refusal or a failure leaves nothing
behind. The archive itself is only read.

Names: backslashes are read as folder separators (Windows zippers write them so). A member
name without the UTF-8 flag (general-purpose bit 11) is decoded as cp437, the zip standard's
own code page, as Python's ``zipfile`` does: a name a Windows zipper wrote in another code
page (cp932, cp1251) comes out as the cp437 reading of its bytes, readable but not the
original characters. ``__MACOSX/`` members (macOS resource forks, not content) are skipped.
Written files get ordinary permissions (the umask's), never the archive's modes.
"""

from __future__ import annotations

import lzma
import posixpath
import re
import shutil
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import DatasetError
from .atomic import atomic_directory

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_MEMBERS",
    "SKIPPED_FOLDERS",
    "extract_zip",
    "is_zip",
]

DEFAULT_MAX_BYTES = 8 * 1024**3
"""The most bytes an archive may unpack to by default (8 GiB: a large labelled dataset, far
below what a zip bomb expands to)."""
DEFAULT_MAX_MEMBERS = 1_000_000
"""The most members by default (a dataset of half a million images with their labels)."""
SKIPPED_FOLDERS = ("__MACOSX",)
"""Top-level folders that are not content: macOS resource forks."""

_CHUNK = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
_ENCRYPTED = 0x1  # general-purpose flag bit 0
_DAMAGE = (zipfile.BadZipFile, EOFError, zlib.error, lzma.LZMAError, OSError)
"""What reading a damaged member raises (bz2 reports a bad stream as an OSError)."""


@dataclass(frozen=True)
class _Member:
    """A checked member: where it goes below the destination, or a folder to make."""

    info: zipfile.ZipInfo
    parts: tuple[str, ...]


def is_zip(path: str | Path) -> bool:
    """Whether ``path`` is a file that starts like a zip archive (by its bytes, not its name)."""
    path = Path(path)
    return path.is_file() and zipfile.is_zipfile(path)


def extract_zip(
    archive: str | Path,
    destination: str | Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> Path:
    """Unpack ``archive`` into the new folder ``destination`` and return it.

    ``destination`` must not exist yet (an existing folder is never replaced: it may be the
    user's). Raises ``DatasetError`` naming the archive and the member for anything refused
    (see the module's docstring); then nothing is left at ``destination`` or beside it.
    """
    source, target = Path(archive), Path(destination)
    if target.exists() or target.is_symlink():
        raise DatasetError(
            f"{target} already exists; a zip is unpacked only into a new folder (choose "
            "another destination or remove that one)",
            path=source,
        )
    with _open(source) as bundle:
        members = _checked_members(bundle, source, max_bytes, max_members)
        _check_free_space(source, members, target.parent)
        with atomic_directory(target) as staging:
            written = 0
            for member in members:
                written = _extract(bundle, member, staging, source, written, max_bytes)
    return target


def _open(archive: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(archive)
    except FileNotFoundError as exc:
        raise DatasetError("no such file; give the path of a .zip archive", path=archive) from exc
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DatasetError(
            f"not a readable zip archive ({exc}); download or export it again", path=archive
        ) from exc


# -- checking every member before writing ----------------------------------------------------


def _checked_members(
    bundle: zipfile.ZipFile, archive: Path, max_bytes: int, max_members: int
) -> list[_Member]:
    infos = bundle.infolist()
    if len(infos) > max_members:
        raise DatasetError(
            f"refused: the archive holds {len(infos)} members, more than the limit of "
            f"{max_members}; unpack it yourself if you trust it, or raise the limit",
            path=archive,
        )
    declared = sum(info.file_size for info in infos)
    if declared > max_bytes:
        raise DatasetError(
            f"refused: the archive would unpack to {_size(declared)}, more than the limit of "
            f"{_size(max_bytes)} (a zip bomb looks like this); unpack it yourself if you trust "
            "it, or raise the limit",
            path=archive,
        )
    members, seen = [], {}
    for info in infos:
        member = _checked(info, archive)
        if member is None:
            continue
        key = "/".join(member.parts)
        if key in seen and not (info.is_dir() and seen[key].is_dir()):
            raise DatasetError(
                f"refused: member '{info.filename}' has the same path as member "
                f"'{seen[key].filename}'; one would overwrite the other. Re-create the archive",
                path=archive,
            )
        seen[key] = info
        members.append(member)
    return members


def _checked(info: zipfile.ZipInfo, archive: Path) -> _Member | None:
    """``info`` as a member to write (None to skip it); raises ``DatasetError`` to refuse it."""
    name = info.filename
    unix = info.external_attr >> 16
    kind = stat.S_IFMT(unix)
    if stat.S_ISLNK(unix):
        _refuse(name, "is a symbolic link, which could point anywhere on this computer", archive)
    if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
        _refuse(name, "is a device, FIFO or socket, not a file", archive)
    if info.flag_bits & _ENCRYPTED:
        _refuse(name, "is encrypted; unpack the archive with its password yourself", archive)
    parts = _relative_parts(name, archive)
    if not parts or parts[0] in SKIPPED_FOLDERS:
        return None
    return _Member(info, parts)


def _relative_parts(name: str, archive: Path) -> tuple[str, ...]:
    """The folders and file name ``name`` stands for below the destination (normalised, so
    ``a/./b`` and ``a/x/../b`` are ``a/b``); raises ``DatasetError`` when it leaves it."""
    slashed = name.replace("\\", "/")
    if slashed.startswith("/") or _DRIVE.match(slashed):
        _refuse(name, "has an absolute path, which would be written outside the folder", archive)
    normal = posixpath.normpath(slashed)
    if normal == ".." or normal.startswith("../"):
        _refuse(name, "climbs out of the folder with '..' (a \"zip slip\")", archive)
    return () if normal == "." else tuple(normal.split("/"))


def _refuse(name: str, why: str, archive: Path) -> None:
    raise DatasetError(
        f"refused: member '{name}' {why}. Nothing was unpacked; re-create the archive without "
        "it, or unpack it yourself if you trust it",
        path=archive,
    )


def _check_free_space(archive: Path, members: list[_Member], folder: Path) -> None:
    needed = sum(member.info.file_size for member in members)
    probe = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if probe is None:
        return
    free = shutil.disk_usage(probe).free
    if needed > free:
        raise DatasetError(
            f"unpacking needs {_size(needed)} but only {_size(free)} are free in {probe}; "
            "free some space or unpack it on a larger disk",
            path=archive,
        )


# -- writing ---------------------------------------------------------------------------------


def _extract(
    bundle: zipfile.ZipFile,
    member: _Member,
    staging: Path,
    archive: Path,
    written: int,
    max_bytes: int,
) -> int:
    """Write one member below ``staging``; returns the bytes written so far in all."""
    path = staging.joinpath(*member.parts)
    if member.info.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        return written
    name = member.info.filename
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        sink = open(path, "xb")  # noqa: SIM115 - closed below, after the copy loop
    except (FileExistsError, NotADirectoryError) as exc:
        raise DatasetError(
            f"refused: member '{name}' is both a file and a folder in this archive; "
            "re-create the archive",
            path=archive,
        ) from exc
    with sink:
        source = _open_member(bundle, member.info, archive)
        with source:
            while chunk := _read(source, name, archive):
                written += len(chunk)
                if written > max_bytes:
                    raise DatasetError(
                        f"refused: member '{name}' unpacks to more than its archive declares, "
                        f"past the limit of {_size(max_bytes)} (a zip bomb). Nothing was "
                        "unpacked; do not use this archive",
                        path=archive,
                    )
                sink.write(chunk)
    return written


def _open_member(bundle: zipfile.ZipFile, info: zipfile.ZipInfo, archive: Path):
    try:
        return bundle.open(info)
    except NotImplementedError as exc:  # e.g. Deflate64, which zipfile cannot decompress
        raise DatasetError(
            f"member '{info.filename}' uses a compression this program cannot read ({exc}); "
            "re-create the archive with ordinary (deflate) compression",
            path=archive,
        ) from exc
    except RuntimeError as exc:  # encrypted without the flag zipfile checks first
        raise DatasetError(
            f"member '{info.filename}' cannot be opened ({exc})", path=archive
        ) from exc
    except _DAMAGE as exc:
        raise _damaged(info.filename, exc, archive) from exc


def _read(source, name: str, archive: Path) -> bytes:
    try:
        return source.read(_CHUNK)
    except _DAMAGE as exc:
        raise _damaged(name, exc, archive) from exc


def _damaged(name: str, exc: BaseException, archive: Path) -> DatasetError:
    return DatasetError(
        f"member '{name}' is damaged ({exc}); nothing was unpacked. Download or export the "
        "archive again",
        path=archive,
    )


def _size(count: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"
