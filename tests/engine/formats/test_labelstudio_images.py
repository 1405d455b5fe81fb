"""Where a Label Studio task's image is found: every kind of reference Label Studio writes
(uploads, local files, cloud URLs, relative names), and never a file above the images folder."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from engine.formats.labelstudio_images import find_image

from .test_labelstudio import blank_image


@pytest.mark.parametrize(("reference", "on_disk", "name"), [
    ("/data/upload/3/5f2a0b1c-photo.jpg", "photo.jpg", "photo.jpg"),
    ("/data/upload/3/5f2a0b1c-photo.jpg", "5f2a0b1c-photo.jpg", "5f2a0b1c-photo.jpg"),
    ("/data/upload/3/5f2a0b1c-photo.jpg", "images/photo.jpg", "photo.jpg"),
    ("/data/local-files/?d=folder/photo.jpg", "folder/photo.jpg", "photo.jpg"),
    ("/data/local-files/?d=folder%2Fmy%20photo.jpg", "folder/my photo.jpg", "my photo.jpg"),
    ("s3://bucket/set/photo.jpg", "photo.jpg", "photo.jpg"),
    ("http://host/a/photo.jpg?token=1", "photo.jpg", "photo.jpg"),
    ("sub/photo.jpg", "sub/photo.jpg", "photo.jpg"),
])
def test_every_kind_of_reference_finds_its_image(tmp_path, reference, on_disk, name):
    photo = blank_image(tmp_path / on_disk, 4, 3)
    path, found, tried = find_image(reference, tmp_path)
    assert (path, found) == (photo, PurePosixPath(name))
    assert tried[-1] in (on_disk, str(PurePosixPath(on_disk)))


@pytest.mark.parametrize(("reference", "name"), [
    ("../outside.jpg", "outside.jpg"), ("/data/local-files/?d=../outside.jpg", "outside.jpg"),
    ("..", "image"), ("http://[broken/outside.jpg", "outside.jpg"),
    ("C:\\data\\outside.jpg", "outside.jpg")])
def test_a_reference_never_looks_above_the_images_folder(tmp_path, reference, name):
    blank_image(tmp_path / "outside.jpg", 2, 2)
    (tmp_path / "images").mkdir()
    path, found, tried = find_image(reference, tmp_path / "images")
    assert (path, found) == (None, PurePosixPath(name))
    assert not any(".." in PurePosixPath(t).parts for t in tried)
