"""engine.formats.image_names: the engine's one set of image suffixes, shared by the codecs and
engine.data.images."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from engine.data import images
from engine.formats.image_names import IMAGE_SUFFIXES, is_image_name
from engine.formats.masks import read_masks
from engine.formats.yolo_dataset import read_yolo_dataset


def test_engine_data_images_keeps_the_same_set_importable():
    assert images.IMAGE_SUFFIXES is IMAGE_SUFFIXES
    assert images.is_image_file("a/b.PFM") and not images.is_image_file("a/b.txt")


@pytest.mark.parametrize("name", ["a.jpg", "A.JPEG", "dir/x.Png", "x.tif", "x.webp", "x.pfm",
                                  "x.dng", "x.mpo", "x.jpe", "x.bmp", "x.tiff"])
def test_image_names_in_any_case_are_images(name):
    assert is_image_name(name)


@pytest.mark.parametrize("name", ["a.txt", "a.json", "jpg", "a.jpg.txt", "a.gif", ".png.xml",
                                  "a.mp4", ""])
def test_other_names_are_not(name):
    assert not is_image_name(name)


def _png(path: Path, width: int = 8, height: int = 6) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height)).save(path, format="PNG")


def test_yolo_and_masks_find_an_image_by_an_upper_case_suffix(tmp_path):
    root = tmp_path / "yolo"
    _png(root / "train" / "cat" / "a.PNG")
    found = read_yolo_dataset(root)
    assert [str(image.name) for image in found.images] == ["cat/a.PNG"]
    voc = tmp_path / "voc"
    _png(voc / "JPEGImages" / "b.TIF")
    (voc / "SegmentationClass").mkdir()
    Image.new("L", (8, 6)).save(voc / "SegmentationClass" / "b.png")
    read = read_masks(voc)
    assert [image.path.name for image in read.images] == ["b.TIF"]
