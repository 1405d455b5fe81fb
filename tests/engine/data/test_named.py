"""Named datasets: found on disk, or downloaded from a local server and unpacked safely."""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
from pathlib import Path

import pytest

from engine.cancel import CancelToken
from engine.data.classify_folder import load_classify_folder
from engine.data.named import (
    DATASETS_URL,
    datasets_dir,
    datasets_url,
    extract_dataset,
    resolve_dataset_dir,
)
from engine.downloads import download_file
from engine.errors import Cancelled, DatasetError
from engine.events import DownloadProgress

from .conftest import CLOSED_URL, make_classify_folder


def _zip_folder(folder: Path, prefix: str = "", extra: dict[str, bytes] | None = None) -> bytes:
    """A zip of ``folder``'s files (with folder entries), each member under ``prefix``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for path in sorted(folder.rglob("*")):
            bundle.write(path, prefix + path.relative_to(folder).as_posix())
        for name, data in (extra or {}).items():
            bundle.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def dataset_zip(tmp_path_factory) -> dict[str, bytes]:
    """The same tiny classify dataset zipped in both layouts found in the wild."""
    source = make_classify_folder(tmp_path_factory.mktemp("src") / "tiny", classes=("3", "7"))
    return {"wrapped": _zip_folder(source, "tiny/"), "flat": _zip_folder(source)}


def _leftovers() -> list[str]:
    return sorted(entry.name for entry in datasets_dir().iterdir())


def test_datasets_dir_and_url_follow_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("YOLO_STUDIO_DATASETS_DIR")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert datasets_dir() == tmp_path / "yolo-studio" / "datasets"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert datasets_dir() == tmp_path / "home" / ".local/share/yolo-studio/datasets"
    monkeypatch.setenv("YOLO_STUDIO_DATASETS_URL", "http://mirror.example/sets/")
    assert datasets_url() == "http://mirror.example/sets"
    monkeypatch.delenv("YOLO_STUDIO_DATASETS_URL")
    assert datasets_url() == DATASETS_URL


def test_existing_folders_are_used_as_they_are(tmp_path, monkeypatch, serve):
    server = serve({})
    folder = make_classify_folder(tmp_path / "mine")
    assert resolve_dataset_dir(folder) == folder
    monkeypatch.chdir(tmp_path)
    assert resolve_dataset_dir("mine") == Path("mine")  # a local folder beats a named one
    named = make_classify_folder(datasets_dir() / "mnist160")
    assert resolve_dataset_dir("mnist160") == named
    assert server.requests == []


@pytest.mark.parametrize("layout", ["wrapped", "flat"])
def test_a_named_dataset_downloads_once_and_unpacks(dataset_zip, serve, layout):
    server = serve({"tiny.zip": dataset_zip[layout]})
    events: list[DownloadProgress] = []
    folder = resolve_dataset_dir("tiny", progress=events.append)
    assert folder == datasets_dir() / "tiny"
    assert sorted(p.name for p in folder.iterdir()) == ["train", "val"]
    report = load_classify_folder(folder)
    assert report.splits.names == ("3", "7") and len(report.splits.train) == 4
    assert folder.stat().st_mode & 0o777 != 0o700  # not the mode of a private temp folder
    assert _leftovers() == ["tiny"]  # the zip and the staging folder are gone
    assert events[-1].finished and events[-1].done == len(dataset_zip[layout])
    assert resolve_dataset_dir("tiny") == folder
    assert server.requests == ["/releases/tiny.zip"]


def test_a_lone_wrapping_folder_of_another_name_is_unwrapped(tmp_path):
    source = make_classify_folder(tmp_path / "imagenette2-160")
    archive = tmp_path / "imagenette160.zip"
    archive.write_bytes(_zip_folder(source, "imagenette2-160/"))
    target = extract_dataset(archive, tmp_path / "sets" / "imagenette160")
    assert sorted(p.name for p in target.iterdir()) == ["train", "val"]
    assert archive.is_file()  # extracting never removes the archive itself


def test_a_zip_put_there_by_hand_is_unpacked_and_kept(dataset_zip):
    archive = datasets_dir() / "tiny.zip"
    archive.write_bytes(dataset_zip["wrapped"])
    folder = resolve_dataset_dir("tiny")  # the download address is a closed port
    assert (folder / "train" / "3" / "0.jpg").is_file() and archive.is_file()


@pytest.mark.parametrize(
    ("member", "why"),
    [
        ("../evil.jpg", "would be written outside"),
        ("tiny/train/../../../evil.jpg", "would be written outside"),
        ("/tmp/evil.jpg", "would be written outside"),
        ("C:\\evil.jpg", "would be written outside"),
    ],
)
def test_members_that_climb_out_are_refused(dataset_zip, tmp_path, serve, member, why):
    source = make_classify_folder(tmp_path / "tiny")
    serve({"tiny.zip": _zip_folder(source, "tiny/", extra={member: b"gotcha"})})
    with pytest.raises(DatasetError, match=f"refused: member '{re.escape(member)}' {why}"):
        resolve_dataset_dir("tiny")
    assert _leftovers() == []
    assert not (datasets_dir().parent / "evil.jpg").exists()


def test_symlink_members_are_refused(tmp_path, serve):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("tiny/train/a/0.jpg", b"\xff\xd8")
        link = zipfile.ZipInfo("tiny/train/a/passwd.jpg")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        bundle.writestr(link, "/etc/passwd")
    serve({"tiny.zip": buffer.getvalue()})
    with pytest.raises(DatasetError, match="member 'tiny/train/a/passwd.jpg' is a symbolic link"):
        resolve_dataset_dir("tiny")
    assert _leftovers() == []


def test_offline_says_where_it_looked_and_what_to_do():
    with pytest.raises(DatasetError) as caught:
        resolve_dataset_dir("mnist160", timeout=2)
    message = str(caught.value)
    assert f"could not be downloaded from {CLOSED_URL}/mnist160.zip" in message
    assert f"put it at {datasets_dir() / 'mnist160.zip'}" in message
    assert f"unzip it to {datasets_dir() / 'mnist160'}" in message
    assert "Check the name" in message
    assert _leftovers() == []


def test_an_unknown_name_reports_the_404(serve):
    server = serve({})
    with pytest.raises(DatasetError, match=rf"{server.url}/mnist161\.zip \(Not Found\)"):
        resolve_dataset_dir("mnist161")


def test_an_error_page_is_not_unpacked(serve):
    serve({"tiny.zip": b"<html>rate limited</html>" * 10})
    with pytest.raises(DatasetError, match=r"tiny\.zip sent is not a zip archive"):
        resolve_dataset_dir("tiny")
    assert _leftovers() == []


@pytest.mark.parametrize("data", ["no/such/folder", "./missing", "cifar10.zip"])
def test_paths_that_do_not_exist_are_not_downloaded(tmp_path, monkeypatch, serve, data):
    server = serve({})
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match=rf"{data}: no such folder \(looked in {tmp_path}"):
        resolve_dataset_dir(data)
    assert server.requests == []


def test_a_file_is_not_a_dataset(tmp_path):
    (tmp_path / "data.txt").write_text("x")
    with pytest.raises(DatasetError, match=r"data\.txt: is a file; a dataset here is a folder"):
        resolve_dataset_dir(tmp_path / "data.txt")


def test_cancel_during_download_leaves_nothing(tmp_path, serve):
    source = tmp_path / "big"
    (source / "train" / "a").mkdir(parents=True)
    (source / "train" / "a" / "noise.bin").write_bytes(os.urandom(400_000))
    serve({"big.zip": _zip_folder(source, "big/")})
    token = CancelToken()

    def press_stop(event: DownloadProgress) -> None:
        if event.done > 0:
            token.cancel()

    with pytest.raises(Cancelled):
        resolve_dataset_dir("big", progress=press_stop, cancel=token)
    assert _leftovers() == []


def test_download_file_raises_the_callers_error_kind(tmp_path, serve):
    server = serve({"x.bin": b"abc"})
    with pytest.raises(DatasetError, match=r"sent only 3 bytes, too small to be a blob"):
        download_file(
            f"{server.url}/x.bin",
            tmp_path / "x.bin",
            min_bytes=10,
            what="a blob",
            error=DatasetError,
        )
    path = download_file(f"{server.url}/x.bin", tmp_path / "x.bin", expect_magic=b"ab")
    assert path.read_bytes() == b"abc"
