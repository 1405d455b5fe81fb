"""A SAM pair published as one zip (MobileSAM's layout on Hugging Face): downloaded from a
server on 127.0.0.1, checked against the zip's SHA-256 and each member's, unpacked with the safe
extractor, and nothing kept when any step fails."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from engine.assist.sam_models import (
    SAM_DOWNLOADS,
    DownloadFile,
    SamDownload,
    SamModelError,
    download_sam,
    find_models,
)
from engine.events import DownloadProgress
from tests.engine.assist import sam_models as tiny
from tests.file_server import FileServer, by_file_name

ENCODER, DECODER = "mobile_sam.encoder.onnx", "sam_vit_h_4b8939.decoder.onnx"


@pytest.fixture(scope="module")
def halves(tmp_path_factory) -> dict[str, bytes]:
    encoder, decoder = tiny.build_pair(tmp_path_factory.mktemp("sam"), "sam1")
    return {ENCODER: encoder.read_bytes(), DECODER: decoder.read_bytes()}


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def _published(halves: dict[str, bytes]) -> bytes:
    """The published zip's shape: one folder with both halves and a config beside them."""
    members = {f"mobile_sam_20230629/{name}": data for name, data in halves.items()}
    members["mobile_sam_20230629/config.yaml"] = b"type: segment_anything\n"
    return _zip(members)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _catalogue(url: str, archive: bytes, halves: dict[str, bytes], **sha) -> dict:
    files = {
        name: DownloadFile("", name, sha.get(name, _sha(data))) for name, data in halves.items()
    }
    zipped = DownloadFile(f"{url}/m.zip", "m.zip", sha.get("zip", _sha(archive)), min_bytes=100)
    return {
        "m": SamDownload("Tiny", "sam1", files[ENCODER], files[DECODER], 1, archive=zipped)
    }


def _download(tmp_path: Path, archive: bytes, halves: dict[str, bytes], events=None, **sha):
    with FileServer({"m.zip": archive}, key=by_file_name) as server:
        catalogue = _catalogue(server.url, archive, halves, **sha)
        report = events.append if events is not None else (lambda _event: None)
        return download_sam("m", tmp_path, report, downloads=catalogue), server.url


def test_a_zipped_pair_is_verified_unpacked_and_found(tmp_path, halves):
    events: list[DownloadProgress] = []
    model, _url = _download(tmp_path, _published(halves), halves, events)
    assert model.ready and model.layout == "sam1"
    # only the two halves stay: no zip, no unpacked folder, no config, no hidden file
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([ENCODER, DECODER])
    assert model.encoder.read_bytes() == halves[ENCODER]
    finished = [event for event in events if event.finished]
    assert len(finished) == 1 and finished[0].verified and finished[0].url.endswith("/m.zip")
    # the published names pair up although the halves' names differ
    assert [(m.name, m.ready) for m in find_models(tmp_path)] == [("mobile_sam", True)]


def test_a_zip_with_another_digest_keeps_nothing(tmp_path, halves):
    with pytest.raises(SamModelError, match="not the expected 1111") as error:
        _download(tmp_path, _published(halves), halves, zip="1" * 64)
    assert list(tmp_path.iterdir()) == []
    assert error.value.path == str(tmp_path / "m.zip")
    assert "(downloaded from http://127.0.0.1" in error.value.message
    assert error.value.message.endswith("/m.zip; nothing was kept)")


def test_a_member_with_another_digest_keeps_nothing(tmp_path, halves):
    with pytest.raises(SamModelError, match="the zip holds another file") as error:
        _download(tmp_path, _published(halves), halves, **{DECODER: "2" * 64})
    assert list(tmp_path.iterdir()) == []
    assert error.value.path == str(tmp_path / DECODER)


def test_a_zip_without_a_half_says_which(tmp_path, halves):
    archive = _zip({f"x/{ENCODER}": halves[ENCODER]})
    with pytest.raises(SamModelError, match=f"holds no {DECODER}"):
        _download(tmp_path, archive, halves)
    assert list(tmp_path.iterdir()) == []


def test_a_zip_that_climbs_out_is_refused_before_anything_is_written(tmp_path, halves):
    archive = _zip({**{f"x/{n}": d for n, d in halves.items()}, "../escaped.txt": b"x"})
    target = tmp_path / "models"
    target.mkdir()
    with pytest.raises(SamModelError, match="escaped.txt"):
        _download(target, archive, halves)
    assert list(target.iterdir()) == [] and not (tmp_path / "escaped.txt").exists()


def test_a_page_instead_of_the_zip_is_named(tmp_path, halves):
    page = b"<html>" + b"x" * 200 + b"</html>"
    with pytest.raises(SamModelError, match="zip of SAM ONNX files"):
        _download(tmp_path, page, halves)
    assert list(tmp_path.iterdir()) == []


def test_the_published_mobilesam_zip_is_pinned_by_digest():
    mobile = SAM_DOWNLOADS["mobile_sam"]
    assert mobile.verified and mobile.urls == (mobile.archive.url,)
    assert mobile.archive.url.endswith("/mobile_sam_20230629.zip")
    digests = (mobile.archive.sha256, mobile.encoder.sha256, mobile.decoder.sha256)
    assert all(len(d) == 64 and int(d, 16) >= 0 for d in digests)
    assert (mobile.encoder.file_name, mobile.decoder.file_name) == (ENCODER, DECODER)


def test_offline_the_message_names_the_zip_and_says_to_unzip_it(tmp_path, halves):
    with FileServer({}) as server:
        url = server.url  # closed below: nothing answers there any more
    archive = _published(halves)
    catalogue = _catalogue(url, archive, halves)
    with pytest.raises(SamModelError) as error:
        download_sam("m", tmp_path, downloads=catalogue)
    message = error.value.message
    assert message.startswith("m.zip is not on this machine") and ".download" not in message
    assert f"download {url}/m.zip, unzip it, and put {ENCODER} and {DECODER}" in message
    assert list(tmp_path.iterdir()) == []
