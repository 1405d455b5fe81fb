"""Where a YOLO dataset's images are (engine.formats.yolo_splits): each image read once across
splits, .txt list splits with their bad lines named, split paths kept inside the dataset."""

from __future__ import annotations

from engine.formats.yolo_dataset import read_yolo_dataset

from .test_yolo_dataset import _image, _lines, _ultralytics, _write


def test_an_image_in_two_splits_is_read_once_and_counted(tmp_path):
    root = _ultralytics(tmp_path / "twice", "train: images/train\n"
                        "val: [images/train, images/val]\nnames: [a]\n",
                        {"train/a": "0 0.5 0.5 0.5 0.5\n", "val/b": ""})
    labelset = read_yolo_dataset(root)
    assert [(i.name.as_posix(), i.split) for i in labelset.images] == [("a.jpg", "train"),
                                                                        ("b.jpg", "val")]
    assert _lines(labelset) == ["data.yaml, key 'val': 1 image(s) read already (listed twice, "
                                "or in an earlier split); each read once"]


def test_a_txt_list_split_reads_its_images_and_names_bad_lines(tmp_path):
    root = tmp_path / "listed"
    _image(root / "images" / "a.jpg")
    _write(root / "labels" / "a.txt", "0 0.5 0.5 0.5 0.5\n")
    _image(tmp_path / "outside.jpg")
    _write(root / "train.txt", "./images/a.jpg\n\nimages/missing.jpg\n../outside.jpg\n"
           "C:\\data\\images\\a.jpg\n.\\images\\a.jpg\n")
    _write(root / "data.yaml", "train: train.txt\nnames: [x]\n")
    labelset = read_yolo_dataset(root)
    assert [(i.name.as_posix(), len(i.objects)) for i in labelset.images] == [
        ("images/a.jpg", 1)]
    assert _lines(labelset) == ["train.txt, line 3: images/missing.jpg: no such image; left out",
                                "train.txt, line 4: ../outside.jpg: outside the dataset "
                                "folder; left out",
                                "train.txt, line 5: C:/data/images/a.jpg: an absolute Windows "
                                "path; left out (list images relative to the list)",
                                "data.yaml, key 'train': 1 image(s) read already (listed twice, "
                                "or in an earlier split); each read once"]


def test_a_split_path_leaving_the_dataset_is_not_read(tmp_path):
    elsewhere = tmp_path / "elsewhere" / "images"
    _image(elsewhere / "secret.jpg")
    root = _ultralytics(tmp_path / "ds" / "inner", "train: ../../elsewhere/images\nval: /etc\n"
                        "names: [a]\n", {"train/a": "0 0.5 0.5 0.5 0.5\n"})
    labelset = read_yolo_dataset(root)
    assert [i.name.as_posix() for i in labelset.images] == ["a.jpg"]  # its usual folder
    assert _lines(labelset) == [
        "data.yaml, key 'train': '../../elsewhere/images': no folder or .txt list in the "
        "dataset folder; read from images/train, found there",
        "data.yaml, key 'val': '/etc': no folder or .txt list in the dataset folder; split not "
        "read"]
