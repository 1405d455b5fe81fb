"""Image checks on real tiny files of every common format, good and broken."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from engine.cancel import CancelToken
from engine.data.check import check_image, check_images
from engine.errors import Cancelled

from .conftest import noise, write_jpeg, write_pil


@pytest.fixture
def good_images(tmp_path):
    """One readable image per format and pixel layout the check must accept."""
    paths = [
        write_jpeg(tmp_path / "colour.jpg"),
        write_pil(tmp_path / "grey.png", Image.fromarray(noise(channels=1))),
        write_pil(tmp_path / "rgba.png", Image.fromarray(noise(channels=4), "RGBA")),
        write_pil(tmp_path / "rgb.bmp", Image.fromarray(noise())),
        write_pil(tmp_path / "rgb.tiff", Image.fromarray(noise())),
        write_pil(tmp_path / "rgb.webp", Image.fromarray(noise()), quality=80),
        write_pil(tmp_path / "cmyk.jpg", Image.fromarray(noise()).convert("CMYK")),
        write_pil(tmp_path / "progressive.jpg", Image.fromarray(noise()), progressive=True),
    ]
    deep = (np.arange(16 * 16, dtype=np.uint16).reshape(16, 16) * 250).astype(np.uint16)
    assert cv2.imwrite(str(tmp_path / "deep16.png"), deep)
    paths.append(tmp_path / "deep16.png")
    assert cv2.imread(str(paths[-1]), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    return paths


def test_every_good_format_passes(good_images):
    assert {path.name: check_image(path) for path in good_images} == dict.fromkeys(
        (path.name for path in good_images), None
    )


def test_jpeg_with_bytes_after_its_end_marker_passes(tmp_path):
    path = write_jpeg(tmp_path / "trailer.jpg")
    path.write_bytes(path.read_bytes() + b"camera maker notes")
    assert check_image(path) is None


def test_truncated_jpeg_is_caught_by_its_missing_end_marker(tmp_path):
    path = write_jpeg(tmp_path / "cut.jpg", size=64)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    assert cv2.imread(str(path)) is not None  # OpenCV would silently train on a grey half
    assert check_image(path).startswith("truncated JPEG: no end-of-image marker")


def test_jpeg_missing_only_the_end_marker_is_truncated(tmp_path):
    path = write_jpeg(tmp_path / "cut.jpg")
    path.write_bytes(path.read_bytes()[:-2])
    assert "truncated JPEG" in check_image(path)


def test_truncated_png_is_caught(tmp_path):
    path = write_pil(tmp_path / "cut.png", Image.fromarray(noise(64, 64)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert check_image(path).startswith("not a readable image")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.jpg", b"", "empty file (0 bytes)"),
        ("notes.jpg", b"these are my notes, not a photo\n" * 4, "unknown format"),
        ("half-header.png", b"\x89PNG\r\n\x1a\n\x00\x00", "not a readable image"),
    ],
)
def test_files_that_are_not_images(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    assert expected in check_image(path)


def test_a_one_pixel_image_is_too_small(tmp_path):
    path = write_pil(tmp_path / "dot.png", Image.new("RGB", (1, 5)))
    assert check_image(path) == "image is 1×5 px; each side must be at least 2 px"


def test_an_unreadable_path_is_reported_not_raised(tmp_path):
    assert check_image(tmp_path / "gone.jpg").startswith("cannot be read")


def test_a_format_only_opencv_knows_passes(tmp_path):
    path = tmp_path / "depth.pfm"
    assert cv2.imwrite(str(path), np.random.default_rng(0).random((8, 8, 3), dtype=np.float32))
    assert check_image(path) is None


def test_check_images_maps_failures_and_reports_progress(tmp_path):
    good = [write_jpeg(tmp_path / f"{i}.jpg", seed=i) for i in range(150)]
    empty = tmp_path / "empty.jpg"
    empty.touch()
    seen = []
    failures = check_images([*good, empty], workers=3, progress=lambda *a: seen.append(a))
    assert failures == {empty: "empty file (0 bytes)"}
    assert seen[0] == (0, 151) and seen[-1] == (151, 151)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_check_images_stops_on_cancel(tmp_path):
    paths = [write_jpeg(tmp_path / f"{i}.jpg", seed=i) for i in range(200)]
    token = CancelToken()
    calls = []

    def progress(done, total):  # the Stop button, pressed as soon as the check starts
        calls.append(done)
        token.cancel()

    with pytest.raises(Cancelled):
        check_images(paths, workers=1, cancel=token, progress=progress)
    assert calls == [0]  # no batch was reported after the stop
