"""Every common image file reads as upright H×W×3 uint8 BGR."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.data.images import decode_image, read_image, write_image
from engine.errors import ImageReadError


def red_left_half(height=20, width=40) -> np.ndarray:
    rgb = np.zeros((height, width, 3), np.uint8)
    rgb[:, : width // 2, 0] = 255
    return rgb


@pytest.mark.parametrize("suffix", ["png", "bmp", "tiff", "webp", "jpg"])
def test_formats_read_as_bgr(tmp_path, suffix):
    path = tmp_path / f"x.{suffix}"
    Image.fromarray(red_left_half()).save(path, **({"quality": 95} if suffix == "jpg" else {}))
    image = read_image(path)
    assert image.shape == (20, 40, 3) and image.dtype == np.uint8
    assert image[10, 5, 2] > 200 and image[10, 5, 0] < 60  # red lands in channel 2 (BGR)
    assert image[10, 35].max() < 60


def test_exif_orientation_is_honoured(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    Image.fromarray(red_left_half()).save(tmp_path / "r.jpg", exif=exif, quality=95)
    image = read_image(tmp_path / "r.jpg")
    assert image.shape == (40, 20, 3)
    assert image[5, 10, 2] > 200 and image[35, 10, 2] < 60  # the red half is now on top


def test_grey_rgba_and_16_bit(tmp_path):
    Image.fromarray(np.full((6, 7), 128, np.uint8)).save(tmp_path / "g.png")
    Image.fromarray(np.zeros((6, 7, 4), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.full((6, 7), 40000, np.uint16)).save(tmp_path / "d.png")
    grey, rgba, deep = (read_image(tmp_path / n) for n in ("g.png", "a.png", "d.png"))
    assert grey.shape == rgba.shape == deep.shape == (6, 7, 3)
    assert (grey == 128).all() and deep.dtype == np.uint8 and int(deep[0, 0, 0]) == 40000 >> 8


def test_unreadable_files_name_themselves(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    for name, reason in (("empty.jpg", "empty"), ("text.png", "not a readable image"),
                         ("missing.jpg", "cannot be read")):
        with pytest.raises(ImageReadError, match=reason) as info:
            read_image(tmp_path / name)
        assert name in str(info.value)
    with pytest.raises(ImageReadError):
        decode_image(b"\x00\x01")


def test_write_image_round_trips(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    write_image(tmp_path / "x.png", image)
    assert np.array_equal(read_image(tmp_path / "x.png"), image)
