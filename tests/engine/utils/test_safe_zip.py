"""Safe zip extraction: a zip slip, a link, a device, a bomb, an encrypted or damaged member is
refused before anything is written, the archive is left as it was, and a good archive unpacks
whole."""

from __future__ import annotations

import hashlib
import stat
import zipfile
from pathlib import Path

import pytest

from engine.errors import DatasetError
from engine.utils.safe_zip import extract_zip, is_zip


def _zip(path: Path, members: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return path


def _special(path: Path, name: str, mode: int, data: bytes = b"target") -> Path:
    """A zip with one member whose Unix mode (file type and permissions) is ``mode``."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix: the high 16 bits of external_attr are st_mode
    info.external_attr = mode << 16
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("ok.txt", b"fine")
        bundle.writestr(info, data)
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refused(archive: Path, destination: Path, match: str, **limits) -> DatasetError:
    before = _digest(archive)
    listing = sorted(p.name for p in destination.parent.iterdir())
    with pytest.raises(DatasetError, match=match) as caught:
        extract_zip(archive, destination, **limits)
    # nothing left behind: no destination, no temp folder beside it; the archive unchanged
    assert not destination.exists()
    assert sorted(p.name for p in destination.parent.iterdir()) == listing
    assert _digest(archive) == before
    assert str(archive) in str(caught.value)
    return caught.value


ROBOFLOW = {
    "data.yaml": b"train: ../train/images\nval: ../valid/images\nnc: 1\nnames: ['cat']\n",
    "README.roboflow.txt": b"exported\n",
    "train/images/a_jpg.rf.0123.jpg": b"\xff\xd8 not really a jpeg",
    "train/labels/a_jpg.rf.0123.txt": b"0 0.5 0.5 0.2 0.2\n",
    "valid/images/": b"",
    "valid/labels/": b"",
}


def test_a_roboflow_style_zip_unpacks_whole_and_byte_for_byte(tmp_path):
    archive = _zip(tmp_path / "export.zip", ROBOFLOW)
    before = _digest(archive)
    out = extract_zip(archive, tmp_path / "out" / "dataset")
    assert out == tmp_path / "out" / "dataset"
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert files == ["README.roboflow.txt", "data.yaml", "train", "train/images",
                     "train/images/a_jpg.rf.0123.jpg", "train/labels",
                     "train/labels/a_jpg.rf.0123.txt", "valid", "valid/images", "valid/labels"]
    for name, data in ROBOFLOW.items():
        if data:
            assert (out / name).read_bytes() == data
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["dataset"]  # no temp left
    assert _digest(archive) == before and is_zip(archive)


@pytest.mark.parametrize("name", ["../evil.txt", "a/../../evil.txt", "..\\evil.txt"])
def test_a_member_climbing_out_is_refused_before_anything_is_written(tmp_path, name):
    # the good member comes first: it must not be written either
    archive = _zip(tmp_path / "slip.zip", {"good.txt": b"x", name: b"evil"})
    error = _refused(archive, tmp_path / "out", "zip slip")
    assert name in str(error) and "re-create the archive" in str(error)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path.parent / "evil.txt").exists()


@pytest.mark.parametrize("name", ["/etc/x", "C:\\Windows\\x.txt", "c:/x.txt", "\\\\server\\x"])
def test_an_absolute_member_is_refused(tmp_path, name):
    archive = _zip(tmp_path / "abs.zip", {"good.txt": b"x", name: b"evil"})
    error = _refused(archive, tmp_path / "out", "absolute path")
    assert f"member '{name}'" in str(error)


def test_a_name_that_climbs_and_comes_back_stays_inside(tmp_path):
    archive = _zip(tmp_path / "ok.zip", {"a/../b.txt": b"b", "./c/./d.txt": b"d"})
    out = extract_zip(archive, tmp_path / "out")
    assert (out / "b.txt").read_bytes() == b"b" and (out / "c" / "d.txt").read_bytes() == b"d"


def test_a_symlink_member_is_refused(tmp_path):
    archive = _special(tmp_path / "link.zip", "images/a.jpg", stat.S_IFLNK | 0o777, b"/etc/passwd")
    _refused(archive, tmp_path / "out", "'images/a.jpg' is a symbolic link")


@pytest.mark.parametrize("kind", [stat.S_IFIFO, stat.S_IFCHR, stat.S_IFBLK, stat.S_IFSOCK])
def test_a_device_or_fifo_member_is_refused(tmp_path, kind):
    archive = _special(tmp_path / "dev.zip", "dev/thing", kind | 0o644)
    _refused(archive, tmp_path / "out", "'dev/thing' is a device, FIFO or socket")


def test_unix_permissions_of_a_plain_member_are_not_applied(tmp_path):
    archive = _special(tmp_path / "mode.zip", "run.sh", stat.S_IFREG | 0o4777, b"#!/bin/sh\n")
    out = extract_zip(archive, tmp_path / "out")
    mode = (out / "run.sh").stat().st_mode
    assert not mode & (stat.S_ISUID | stat.S_IXUSR | stat.S_IWOTH)


def test_a_bomb_declared_too_large_is_refused_before_writing(tmp_path):
    # 50 MB of zeros compress to ~50 kB; the declared size is past the 1 MB limit
    archive = _zip(tmp_path / "bomb.zip", {"zeros.bin": bytes(50 * 1024 * 1024)})
    assert archive.stat().st_size < 1024 * 1024
    error = _refused(archive, tmp_path / "out", "would unpack to 50.0 MiB", max_bytes=1024 * 1024)
    assert "1.0 MiB" in str(error)


def test_a_bomb_lying_about_its_size_is_refused(tmp_path):
    """A member whose headers declare 1 kB but whose stream holds 50 MB. zipfile reads no more
    than the declared size, so the stream fails its CRC there (the running count of bytes
    written, which would stop it at max_bytes, is the second guard); nothing stays."""
    archive = _zip(tmp_path / "liar.zip", {"zeros.bin": bytes(50 * 1024 * 1024)})
    data = bytearray(archive.read_bytes())
    declared = (50 * 1024 * 1024).to_bytes(4, "little")
    assert data.count(declared) == 2  # the local header and the central directory
    archive.write_bytes(bytes(data).replace(declared, (1024).to_bytes(4, "little")))
    assert zipfile.ZipFile(archive).infolist()[0].file_size == 1024
    _refused(archive, tmp_path / "out", "member 'zeros.bin' is damaged", max_bytes=1024 * 1024)


def test_too_many_members_are_refused(tmp_path):
    archive = _zip(tmp_path / "many.zip", {f"f{i}.txt": b"" for i in range(11)})
    _refused(archive, tmp_path / "out", "holds 11 members, more than the limit of 10",
             max_members=10)
    assert len(list(extract_zip(archive, tmp_path / "out", max_members=11).iterdir())) == 11


def test_an_encrypted_member_is_refused(tmp_path):
    archive = _zip(tmp_path / "secret.zip", {"a.txt": b"x", "b.txt": b"y"},
                   compression=zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    # set bit 0 (encrypted) of b.txt's general-purpose flags, in its central directory entry
    entry = data.rindex(b"PK\x01\x02")
    data[entry + 8] |= 0x1
    archive.write_bytes(bytes(data))
    _refused(archive, tmp_path / "out", "'b.txt' is encrypted")


def test_a_damaged_member_is_refused_and_nothing_stays(tmp_path):
    archive = _zip(tmp_path / "crc.zip", {"a.txt": b"first", "b.txt": b"hello world"},
                   compression=zipfile.ZIP_STORED)
    data = archive.read_bytes()
    archive.write_bytes(data.replace(b"hello world", b"HELLO world"))  # CRC no longer matches
    _refused(archive, tmp_path / "out", "member 'b.txt' is damaged .*Bad CRC")


def test_a_damaged_compressed_stream_is_refused(tmp_path):
    archive = _zip(tmp_path / "z.zip", {"a.txt": bytes(range(256)) * 400})
    data = bytearray(archive.read_bytes())
    start = data.index(b"a.txt") + len("a.txt")
    data[start + 10:start + 60] = b"\xff" * 50  # garbage inside the deflate stream
    archive.write_bytes(bytes(data))
    _refused(archive, tmp_path / "out", "member 'a.txt' is damaged")


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04 truncated"])
def test_a_file_that_is_not_a_zip_is_refused(tmp_path, content):
    archive = tmp_path / "bad.zip"
    archive.write_bytes(content)
    _refused(archive, tmp_path / "out", "not a readable zip archive")
    assert not is_zip(archive)


def test_a_missing_archive_is_named(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        extract_zip(tmp_path / "absent.zip", tmp_path / "out")


def test_an_existing_destination_is_never_replaced(tmp_path):
    archive = _zip(tmp_path / "a.zip", {"a.txt": b"new"})
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("the user's")
    with pytest.raises(DatasetError, match="already exists"):
        extract_zip(archive, tmp_path / "out")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["mine.txt"]


def test_the_same_path_twice_is_refused(tmp_path):
    archive = tmp_path / "dup.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("a.txt", b"one")
        bundle.writestr("./a.txt", b"two")  # another name to zipfile, the same file on disk
    _refused(archive, tmp_path / "out", "'./a.txt' has the same path as member 'a.txt'")


def test_a_file_and_a_folder_of_one_name_are_refused(tmp_path):
    archive = _zip(tmp_path / "clash.zip", {"a": b"file", "a/b.txt": b"inside"})
    _refused(archive, tmp_path / "out", "'a/b.txt' is both a file and a folder")


def test_a_legacy_cp437_name_is_decoded_as_zipfile_does(tmp_path):
    """Without the UTF-8 flag, name bytes are cp437: 0x82 is 'é'."""
    archive = _zip(tmp_path / "dos.zip", {"cafX.txt": b"latte"})
    data = archive.read_bytes()
    assert data.count(b"cafX.txt") == 2
    archive.write_bytes(data.replace(b"cafX.txt", b"caf\x82.txt"))
    info = zipfile.ZipFile(archive).infolist()[0]
    assert not info.flag_bits & 0x800
    out = extract_zip(archive, tmp_path / "out")
    assert [p.name for p in out.iterdir()] == ["café.txt"]


def test_macos_resource_forks_are_skipped(tmp_path):
    archive = _zip(tmp_path / "mac.zip", {"data.yaml": b"names: [a]\n",
                                          "__MACOSX/._data.yaml": b"\x00\x05\x16\x07"})
    out = extract_zip(archive, tmp_path / "out")
    assert [p.name for p in out.iterdir()] == ["data.yaml"]
