"""YOLO datasets read into a LabelSet: Roboflow's and Ultralytics' layouts, folders and zips,
rows as pixels, the task given or guessed, and every bad line, image or path named while the
rest is read; the source files stay byte-identical."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from engine.errors import DatasetError
from engine.formats.labelset import ABSENT, OCCLUDED, VISIBLE, Keypoint
from engine.formats.yolo_dataset import (
    YoloLabelSet,
    open_yolo_source,
    read_yolo_dataset,
)
from engine.formats.yolo_labels import box_line, polygon_line

FIXTURES = Path(__file__).parents[2] / "fixtures" / "yolo"
ROBOFLOW = FIXTURES / "datumaro_roboflow_yolo"
ROBOFLOW_OBB = FIXTURES / "datumaro_roboflow_yolo_obb"


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _image(path: Path, size: tuple[int, int] = (64, 48), **save) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 120, 30)).save(path, **save)
    return path


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _zip_folder(folder: Path, archive: Path, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                bundle.write(path, prefix + path.relative_to(folder).as_posix())
    return archive


def _boxes(labelset) -> dict[str, list[tuple[str, str, tuple[float, ...]]]]:
    return {image.name.as_posix(): [(o.label, o.kind, tuple(round(v, 9) for v in o.box))
                                    for o in image.objects] for image in labelset.images}


def _lines(labelset) -> list[str]:
    return [p.line() for p in labelset.problems]


# -- the real Roboflow-style samples ----------------------------------------------------------


ROBOFLOW_BOXES = {  # 10×5 images; rows cx cy w h -> x1 y1 x2 y2 in pixels
    "train_001.jpg": [("label_0", "rectangle", (2.0, 1.0, 5.0, 2.0))],
    "train_002.jpg": [("label_1", "rectangle", (0.0, 0.0, 2.0, 4.0))],
    "val_001.jpg": [("label_0", "rectangle", (0.0, 0.0, 1.0, 2.0)),
                    ("label_1", "rectangle", (0.0, 0.0, 9.0, 1.0))],
}


def test_the_roboflow_sample_reads_every_box_in_pixels():
    before = _digests(ROBOFLOW)
    labelset = read_yolo_dataset(ROBOFLOW)
    assert isinstance(labelset, YoloLabelSet) and labelset.format == "yolo"
    assert labelset.source == ROBOFLOW and labelset.yaml_path == ROBOFLOW / "data.yaml"
    assert labelset.labels == ["label_0", "label_1"]
    assert _boxes(labelset) == ROBOFLOW_BOXES
    assert [(i.split, i.width, i.height, i.file) for i in labelset.images] == [
        ("train", 10, 5, "train/labels/train_001.txt"),
        ("train", 10, 5, "train/labels/train_002.txt"),
        ("val", 10, 5, "val/labels/val_001.txt")]
    assert labelset.images[0].path == ROBOFLOW / "train" / "images" / "train_001.jpg"
    assert [o.where for o in labelset.images[2].objects] == ["line 1", "line 2"]
    assert (labelset.task, labelset.task_reason) == (
        "detect", "no label row has more than 5 numbers (class and box)")
    # Roboflow's paths, one folder too high, and its valid/ that is val/ here: said, not fatal
    assert _lines(labelset) == [
        "data.yaml, key 'val': '../valid/images': no folder or .txt list in the dataset "
        "folder; read from val/images, found there",
        "data.yaml: train: ../train/images read without the leading '../' (Roboflow writes "
        "split paths one folder too high)",
    ]
    assert all(p.severity == "warning" for p in labelset.problems)
    assert _digests(ROBOFLOW) == before


def test_the_roboflow_sample_reads_the_same_from_its_yaml_and_from_a_zip(tmp_path):
    from_yaml = read_yolo_dataset(ROBOFLOW / "data.yaml")
    assert _boxes(from_yaml) == ROBOFLOW_BOXES
    archive = _zip_folder(ROBOFLOW, tmp_path / "roboflow.zip")
    before = hashlib.sha256(archive.read_bytes()).hexdigest()
    work = tmp_path / "work"
    work.mkdir()
    with open_yolo_source(archive, workdir=work) as folder:
        assert folder != ROBOFLOW and _inside(folder, work)
        labelset = read_yolo_dataset(folder)
        assert _boxes(labelset) == ROBOFLOW_BOXES
        assert all(image.path.is_file() and _inside(image.path, folder)
                   for image in labelset.images)
        assert [i.file for i in labelset.images][0] == "train/labels/train_001.txt"
    assert list(work.iterdir()) == []  # the unpacked folder is gone with the block
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == before


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def test_a_zip_holding_one_top_folder_is_read_from_that_folder(tmp_path):
    archive = _zip_folder(ROBOFLOW, tmp_path / "wrapped.zip", prefix="my-dataset-3/")
    with open_yolo_source(archive, workdir=tmp_path) as folder:
        assert folder.name == "my-dataset-3"
        assert _boxes(read_yolo_dataset(folder)) == ROBOFLOW_BOXES


def test_a_zip_slip_zip_is_refused_and_nothing_is_unpacked(tmp_path):
    archive = _zip_folder(ROBOFLOW, tmp_path / "slip.zip")
    with zipfile.ZipFile(archive, "a") as bundle:
        bundle.writestr("../../evil.txt", b"owned")
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(DatasetError, match=r"member '\.\./\.\./evil\.txt' climbs out"), \
            open_yolo_source(archive, workdir=work):
        pytest.fail("the block must not run")
    assert list(work.iterdir()) == [] and not (tmp_path.parent / "evil.txt").exists()


def test_a_zip_is_not_read_outside_open_yolo_source(tmp_path):
    archive = _zip_folder(ROBOFLOW, tmp_path / "roboflow.zip")
    with pytest.raises(DatasetError, match="unpack it with open_yolo_source"):
        read_yolo_dataset(archive)
    with open_yolo_source(ROBOFLOW) as same:  # a folder is passed through as it is
        assert same == ROBOFLOW


def test_roboflow_obb_labels_are_read_as_four_point_polygons_in_pixels():
    # Roboflow's 'YOLOv5 OBB': labelTxt/<stem>.txt, DOTA lines "x1 y1 ... y4 class difficult"
    labelset = read_yolo_dataset(ROBOFLOW_OBB)
    assert [i.name.as_posix() for i in labelset.images] == [
        "train_001.jpg", "train_002.jpg", "val_001.jpg"]
    assert [p.line() for p in labelset.problems if p.severity == "error"] == []
    objects = [(i.name.name, o.label, o.kind, o.where, o.polygons[0].tolist())
               for i in labelset.images for o in i.objects]
    assert objects == [
        ("train_001.jpg", "label_0", "polygon", "line 1", [[0, 0], [0, 2], [2, 2], [2, 0]]),
        ("train_002.jpg", "label_1", "polygon", "line 1", [[1, 1], [1, 5], [5, 5], [5, 1]]),
        ("val_001.jpg", "label_0", "polygon", "line 1", [[0, 0], [0, 1], [1, 1], [1, 0]]),
        ("val_001.jpg", "label_1", "polygon", "line 2", [[1, 2], [1, 5], [10, 5], [10, 2]])]
    assert labelset.labels == ["label_0", "label_1"]
    assert {i.path.parent.parent.name for i in labelset.images} == {"train", "val"}


def test_dota_lines_that_are_not_four_points_and_a_class_are_named(tmp_path):
    root = tmp_path / "obb"
    _image(root / "train" / "images" / "a.jpg", (20, 10))
    (root / "train" / "labelTxt").mkdir(parents=True)
    (root / "train" / "labelTxt" / "a.txt").write_text(
        "imagesource:GoogleEarth\ngsd:0.1\n1 1 5 1 5 5 1 5 car 0\n1 1 5 1 5 5 car 0\n"
        "1 1 5 1 5 5 1 x car 0\n1 1 5 1 5 5 1 5 boat 1\n")
    (root / "data.yaml").write_text("train: ../train/images\nnames: [car]\n")
    labelset = read_yolo_dataset(root)
    assert [(o.label, o.where) for o in labelset.images[0].objects] == [
        ("car", "line 3"), ("boat", "line 6")]
    assert [(p.where, p.severity) for p in labelset.problems
            if p.file == "train/labelTxt/a.txt"] == [("line 4", "error"), ("line 5", "error")]
    assert labelset.labels == ["car", "boat"]


# -- generated Ultralytics datasets -----------------------------------------------------------


def _ultralytics(root: Path, yaml: str, labels: dict[str, str], *, size=(64, 48)) -> Path:
    """A dataset with data.yaml, images/<split>/<stem>.jpg and labels/<split>/<stem>.txt."""
    _write(root / "data.yaml", yaml)
    for name, text in labels.items():
        split, stem = name.split("/")
        _image(root / "images" / split / f"{stem}.jpg", size)
        if text is not None:
            _write(root / "labels" / split / f"{stem}.txt", text)
    return root


def test_an_ultralytics_segment_dataset_reads_polygons_and_boxes_in_pixels(tmp_path):
    root = _ultralytics(tmp_path / "seg", "path: .\ntrain: images/train\nval: images/val\n"
                        "names:\n  0: person\n  1: car\n", {
                            "train/a": "0 0.25 0.5 0.5 0.25 0.75 0.5\n1 0.5 0.5 0.25 0.5\n",
                            "train/b": "",
                            "val/c": "1 0 0 1 0 1 1 0 1\n"})
    before = _digests(root)
    labelset = read_yolo_dataset(root / "data.yaml")
    assert (labelset.task, labelset.task_reason) == (
        "segment", "labels/train/a.txt line 1 has 7 numbers (a polygon)")
    assert labelset.labels == ["person", "car"] and labelset.problems == []
    a, b, c = labelset.images
    assert (a.name, a.split, a.width, a.height) == (PurePosixPath("a.jpg"), "train", 64, 48)
    polygon, box = a.objects
    assert (polygon.label, polygon.kind, box.label, box.kind) == (
        "person", "polygon", "car", "rectangle")
    np.testing.assert_allclose(polygon.polygons[0], [[16, 24], [32, 12], [48, 24]])
    assert box.box == pytest.approx((24, 12, 40, 36))
    assert b.objects == () and b.file == "labels/train/b.txt"
    np.testing.assert_allclose(c.objects[0].polygons[0], [[0, 0], [64, 0], [64, 48], [0, 48]])
    assert _digests(root) == before


POSE_YAML = ("train: images/train\nval: images/train\nnames: [person, dog]\n"
             "kpt_shape: [3, 3]\nkpt_names: [nose, left_eye, right_eye]\n"
             "skeleton: [[0, 1], [0, 2]]\nflip_idx: [0, 2, 1]\n")


def test_a_pose_dataset_reads_named_keypoints_with_their_visibility(tmp_path):
    root = _ultralytics(tmp_path / "pose", POSE_YAML, {
        "train/a": "0 0.5 0.5 0.5 0.5 0.5 0.25 2 0.25 0.5 1 0.9 0.9 0\n"})
    labelset = read_yolo_dataset(root)
    assert (labelset.task, labelset.task_reason) == ("pose", "the yaml has kpt_shape")
    assert labelset.keypoint_names == ("nose", "left_eye", "right_eye")
    assert labelset.skeleton == ((0, 1), (0, 2)) and labelset.flip_idx == (0, 2, 1)
    assert labelset.kpt_shape == (3, 3)
    (image,) = labelset.images  # val names the train images again: read once
    (person,) = image.objects
    assert (person.label, person.kind) == ("person", "points")
    assert person.box == pytest.approx((16, 12, 48, 36))
    assert person.keypoints == (Keypoint("nose", 32, 12, VISIBLE),
                                Keypoint("left_eye", 16, 24, OCCLUDED),
                                Keypoint("right_eye", 0, 0, ABSENT))
    assert labelset.problems == []  # val repeats train whole: the usual "no val set"


def test_pose_rows_of_two_values_are_visible_and_numbered_without_kpt_names(tmp_path):
    root = _ultralytics(tmp_path / "pose2", "train: images/train\nnames: [hand]\n"
                        "kpt_shape: [2, 2]\n", {"train/a": "0 0.5 0.5 1 1 0 0 1 1\n"})
    labelset = read_yolo_dataset(root)
    (hand,) = labelset.images[0].objects
    assert labelset.keypoint_names == ("1", "2")
    assert hand.keypoints == (Keypoint("1", 0, 0, VISIBLE), Keypoint("2", 64, 48, VISIBLE))


def test_a_pose_row_with_another_visibility_is_named(tmp_path):
    root = _ultralytics(tmp_path / "p", POSE_YAML, {
        "train/a": "0 0.5 0.5 0.5 0.5 0.5 0.25 2 0.25 0.5 0.5 0.9 0.9 0\n"
                   "1 0.5 0.5 0.5 0.5 0.5 0.25 2 0.25 0.5 1 0.9 0.9 0\n"})
    labelset = read_yolo_dataset(root)
    assert [o.label for o in labelset.images[0].objects] == ["dog"]
    assert _lines(labelset)[-1] == (
        "labels/train/a.txt, line 1: keypoint 'left_eye' has visibility 0.5; it must be 0 "
        "(not labelled), 1 (hidden) or 2 (visible); line left out")


def test_a_given_task_is_reported_and_rows_are_kept_as_drawn(tmp_path):
    root = _ultralytics(tmp_path / "seg", "train: images/train\nnames: [a]\n",
                        {"train/a": "0 0.1 0.1 0.9 0.1 0.5 0.9\n"})
    labelset = read_yolo_dataset(root, task="detect")
    assert (labelset.task, labelset.task_reason) == ("detect", "given")
    assert [o.kind for o in labelset.images[0].objects] == ["polygon"]  # fitting decides later
    with pytest.raises(DatasetError, match="key 'kpt_shape': missing; pose rows need"):
        read_yolo_dataset(root, task="pose")
    with pytest.raises(ValueError, match="task must be one of classify, detect, segment, pose"):
        read_yolo_dataset(root, task="obb")


def test_bad_lines_images_and_label_files_are_named_and_the_rest_is_read(tmp_path):
    root = _ultralytics(tmp_path / "bad", "train: images/train\nnames: {0: cat, 1: dog}\n", {
        "train/good": "0 0.5 0.5 0.5 0.5\n",
        "train/lines": ("0 0.5 0.5 0.5 0.5\n"
                        "one 0.5 0.5 0.1 0.1\n"
                        "7 0.5 0.5 0.1 0.1\n"
                        "1 0.1 0.1 0.2 0.2 0.3\n"
                        "1 0.1 0.1 0.2 0.2\n"
                        "\n"
                        "0 0.5 nan 0.1 0.1\n"
                        "1 0.1 0.1 0.5 0.5 0.9 0.1 0.2\n"
                        "-1 0.5 0.5 0.1 0.1\n")})
    _write(root / "labels" / "train" / "orphan.txt", "0 0.5 0.5 0.1 0.1\n")
    _write(root / "images" / "train" / "broken.jpg", b"\xff\xd8 not an image")
    _write(root / "labels" / "train" / "broken.txt", "1 0.5 0.5 0.1 0.1\n")
    _image(root / "images" / "train" / "latin1.jpg")
    _write(root / "labels" / "train" / "latin1.txt", b"0 0.5 0.5 0.1 0.1 \xe9\n")
    before = _digests(root)
    labelset = read_yolo_dataset(root)
    assert {i.name.as_posix(): len(i.objects) for i in labelset.images} == {
        "good.jpg": 1, "lines.jpg": 2}
    assert [o.where for o in labelset.images[1].objects] == ["line 1", "line 5"]
    lines = _lines(labelset)
    assert lines == [
        "labels/train/orphan.txt: no image for it in images/train; its rows are left out (put "
        "the image there)",
        "images/train/broken.jpg: cannot be read as an image (cannot identify image file "
        f"'{root / 'images' / 'train' / 'broken.jpg'}'); left out with its 1 label row(s)",
        "labels/train/latin1.txt: cannot be read ('utf-8' codec can't decode byte 0xe9 in "
        "position 18: invalid continuation byte); its image is left out",
        "labels/train/lines.txt, line 2: 'one' is not a number; line left out",
        "labels/train/lines.txt, line 3: class id 7 is not in the yaml's names (ids 0..1); add "
        "the class to names or fix the id; line left out",
        "labels/train/lines.txt, line 4: 5 coordinates after the class; a polygon needs x y "
        "pairs; line left out",
        "labels/train/lines.txt, line 7: holds NaN or infinity; line left out",
        "labels/train/lines.txt, line 8: 7 coordinates after the class; a polygon needs x y "
        "pairs; line left out",
        "labels/train/lines.txt, line 9: class id -1 is negative; line left out",
    ]
    assert all(p.severity == "error" for p in labelset.problems)
    assert _digests(root) == before


def test_a_path_written_on_another_machine_falls_back_to_the_yaml_folder(tmp_path):
    root = _ultralytics(tmp_path / "moved", "path: /content/datasets/gone\n"
                        "train: images/train\nval: images/val\nnames: [a]\n",
                        {"train/a": "0 0.5 0.5 0.5 0.5\n", "val/b": ""})
    labelset = read_yolo_dataset(root)
    assert [i.split for i in labelset.images] == ["train", "val"]
    assert _lines(labelset) == ["data.yaml, key 'path': no folder '/content/datasets/gone' here "
                                "(written on another computer?); read from the yaml's folder "
                                "instead"]


def test_a_yaml_without_names_names_classes_by_id(tmp_path):
    root = _ultralytics(tmp_path / "nonames", "train: images/train\n",
                        {"train/a": "2 0.5 0.5 0.5 0.5\n0 0.5 0.5 0.1 0.1\n"})
    labelset = read_yolo_dataset(root)
    assert labelset.labels == ["0", "1", "2"]
    assert [o.label for o in labelset.images[0].objects] == ["2", "0"]
    assert "key 'names': missing; classes are named by their ids" in _lines(labelset)[0]


def test_the_image_size_follows_the_exif_orientation(tmp_path):
    root = tmp_path / "exif"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°: decoders that apply it give a 48×64 picture
    _image(root / "images" / "train" / "turned.jpg", (64, 48), exif=exif.tobytes())
    _image(root / "images" / "train" / "plain.png", (64, 48))
    _write(root / "labels" / "train" / "turned.txt", "0 0.5 0.5 1 1\n")
    _write(root / "data.yaml", "train: images/train\nnames: [a]\n")
    labelset = read_yolo_dataset(root)
    sizes = {i.name.as_posix(): (i.width, i.height) for i in labelset.images}
    assert sizes == {"plain.png": (64, 48), "turned.jpg": (48, 64)}
    assert labelset.images[1].objects[0].box == pytest.approx((0, 0, 48, 64))


def test_a_file_name_that_is_not_utf8_is_read(tmp_path):
    root = tmp_path / "names"
    raw = os.fsdecode(b"caf\xe9")  # Latin-1 bytes on a UTF-8 system: not a valid name
    _image(root / "images" / "train" / f"{raw}.jpg")
    _write(root / "labels" / "train" / f"{raw}.txt", "0 0.5 0.5 0.5 0.5\n")
    _write(root / "data.yaml", "train: images/train\nnames: [a]\n")
    labelset = read_yolo_dataset(root)
    (image,) = labelset.images
    assert image.path.is_file() and len(image.objects) == 1
    assert _lines(labelset) == [f"images/train/{raw}.jpg: the file name is not valid UTF-8 "
                                "(read as 'caf\\udce9.jpg'); rename it if another program "
                                "cannot open it"]


# -- classification folders and what is not a dataset ----------------------------------------


def test_class_folders_read_as_tagged_images(tmp_path):
    root = tmp_path / "cls"
    _image(root / "train" / "dog" / "d1.jpg", (32, 20))
    _image(root / "train" / "cat" / "c1.png")
    _image(root / "valid" / "cat" / "c2.jpg")
    _image(root / "train" / "stray.jpg")
    _write(root / "train" / "cat" / "notes.txt", "not an image")
    labelset = read_yolo_dataset(root)
    assert (labelset.task, labelset.task_reason) == ("classify",
                                                     "split folders hold class folders")
    assert labelset.labels == ["cat", "dog"]
    assert [(i.name.as_posix(), i.split, i.tags, i.width) for i in labelset.images] == [
        ("cat/c1.png", "train", ("cat",), 64), ("dog/d1.jpg", "train", ("dog",), 32),
        ("cat/c2.jpg", "val", ("cat",), 64)]
    assert _lines(labelset) == ["train/stray.jpg: image not in a class folder; left out (put "
                                "it in train/<class>/)"]


@pytest.mark.parametrize("files, match", [
    ({}, "holds no data.yaml"),
    ({"a.yaml": "names: [a]\n", "b.yml": "names: [b]\n"}, r"holds 2 yaml files \(a.yaml, b.yml\)"),
    ({"data.yaml": "train: images/train\nnames: [a]\n"}, "no images in any split"),
    ({"data.yaml": "- a list\n"}, "holds no mapping of keys"),
    ({"data.yaml": "names: [yes, no]\ntrain: images\n"}, "key 'names': class 0 reads as the "
                                                        "boolean True"),
    ({"data.yaml": "names: [a]\nkpt_shape: [17]\n"}, r"key 'kpt_shape': \[17\] is not"),
])
def test_what_is_not_a_dataset_is_refused_by_name(tmp_path, files, match):
    root = tmp_path / "ds"
    root.mkdir()
    for name, text in files.items():
        _write(root / name, text)
    with pytest.raises(DatasetError, match=match):
        read_yolo_dataset(root)
    with pytest.raises(DatasetError, match="no such file or folder"):
        read_yolo_dataset(root / "absent.yaml")


# -- the numbers: pixels are the rows times the image's size ---------------------------------


unit = st.floats(0, 1, allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=25, deadline=None)
@given(size=st.tuples(st.integers(1, 4000), st.integers(1, 4000)),
       box=st.tuples(unit, unit, unit, unit),
       polygon=st.lists(st.tuples(unit, unit), min_size=3, max_size=8))
def test_rows_read_as_the_written_numbers_times_the_image_size(tmp_path_factory, size, box,
                                                               polygon):
    root = tmp_path_factory.mktemp("numbers")
    width, height = size
    _image(root / "images" / "train" / "a.png", size)
    _write(root / "labels" / "train" / "a.txt",
           f"{box_line(0, box)}\n{polygon_line(0, np.array(polygon))}\n")
    _write(root / "data.yaml", "train: images/train\nnames: [a]\n")
    rectangle, outline = read_yolo_dataset(root).images[0].objects
    cx, cy, w, h = box
    expected = ((cx - w / 2) * width, (cy - h / 2) * height, (cx + w / 2) * width,
                (cy + h / 2) * height)
    assert rectangle.box == pytest.approx(expected, abs=1e-9)
    np.testing.assert_allclose(outline.polygons[0] / (width, height), polygon, atol=1e-12)


def test_zipped_class_folders_read_from_the_zip_top(tmp_path):
    root = tmp_path / "cls"
    _image(root / "train" / "cat" / "a.jpg")
    _image(root / "train" / "dog" / "b.jpg")
    archive = _zip_folder(root, tmp_path / "cls.zip")
    with open_yolo_source(archive, workdir=tmp_path) as folder:
        labelset = read_yolo_dataset(folder)
        assert [(i.name.as_posix(), i.tags) for i in labelset.images] == [
            ("cat/a.jpg", ("cat",)), ("dog/b.jpg", ("dog",))]


# -- round trips through the project's fit and YOLO writer ------------------------------------


def _round_trip(labelset, task: str, output: Path):
    from engine.data.labelset_fit import FitOptions, fit_labelset
    from engine.data.labelset_yolo import write_yolo_dataset

    fitted = fit_labelset(labelset, FitOptions(task))
    assert fitted.skipped == 0 and all(p.severity == "warning" for p in fitted.problems)
    write_yolo_dataset(fitted, output)
    return read_yolo_dataset(output)


def _same_objects(first, second, task: str) -> None:
    assert [i.name for i in first.images] == [i.name for i in second.images]
    assert first.labels == second.labels and second.problems == []
    for a, b in zip(first.images, second.images, strict=True):
        scale = max(a.width, a.height)
        assert (a.width, a.height, a.split, a.tags) == (b.width, b.height, b.split, b.tags)
        assert [(o.label, o.kind) for o in a.objects] == [(o.label, o.kind) for o in b.objects]
        for x, y in zip(a.objects, b.objects, strict=True):
            if x.box is not None:
                assert np.allclose(x.box, y.box, atol=1e-6 * scale)
            for p, q in zip(x.polygons, y.polygons, strict=True):
                assert np.allclose(p, q, atol=1e-6 * scale)
            assert [(k.name, k.visibility) for k in x.keypoints] == [
                (k.name, k.visibility) for k in y.keypoints]
            assert np.allclose([(k.x, k.y) for k in x.keypoints],
                               [(k.x, k.y) for k in y.keypoints], atol=1e-6 * scale)


def test_the_roboflow_sample_round_trips_through_a_written_yolo_dataset(tmp_path):
    first = read_yolo_dataset(ROBOFLOW)
    second = _round_trip(first, "detect", tmp_path / "out")
    _same_objects(first, second, "detect")
    assert (second.task, second.labels) == ("detect", ["label_0", "label_1"])


def test_segment_pose_and_classify_sets_round_trip(tmp_path):
    seg = _ultralytics(tmp_path / "seg", "train: images/train\nval: images/val\n"
                       "names: [person, car]\n", {
                           "train/a": "0 0.125 0.5 0.5 0.25 0.875 0.5\n1 0.1 0.2 0.3 0.1 0.3 0.4\n",
                           "val/b": "1 0 0 1 0 1 1 0 1\n"}, size=(333, 97))
    pose = _ultralytics(tmp_path / "pose", POSE_YAML.replace("val: images/train\n", ""), {
        "train/a": "0 0.5 0.5 0.5 0.5 0.5 0.25 2 0.25 0.5 1 0 0 0\n"}, size=(101, 57))
    classes = tmp_path / "cls"
    _image(classes / "train" / "zebra" / "z.jpg", (30, 20))
    _image(classes / "train" / "ant" / "a.jpg", (20, 30))
    for source, task in ((seg, "segment"), (pose, "pose"), (classes, "classify")):
        first = read_yolo_dataset(source)
        assert first.task == task
        second = _round_trip(first, task, tmp_path / f"{task}-out")
        assert second.task == task
        _same_objects(first, second, task)
