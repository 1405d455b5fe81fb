"""Dataset images for int8 calibration and the export check, and what happens without them."""

import pytest
import torch

from engine import YOLO
from engine.data.samples import make_digits_folder
from engine.data.shape_samples import make_shapes_dataset
from engine.errors import ExportError
from engine.events import ignore
from engine.export import dataset_samples
from engine.tasks import get_task


def test_classify_and_segment_samples_are_prepared_as_prediction_prepares_images(tmp_path):
    digits = make_digits_folder(tmp_path / "digits", limit=40)
    images = dataset_samples(digits, get_task("classify").samples(), (32, 32), count=5)
    assert len(images) == 5 and all(i.shape == (3, 32, 32) for i in images)
    assert all(float(i.min()) >= 0 and float(i.max()) <= 1 for i in images)
    yaml_path = make_shapes_dataset(tmp_path / "shapes", size=96, train=4, val=3)
    letterboxed = dataset_samples(yaml_path, get_task("segment").samples(), (64, 64))
    assert len(letterboxed) == 3 and letterboxed[0].shape == (3, 64, 64)
    assert not torch.equal(letterboxed[0], letterboxed[1])  # the val images, not filler


def test_an_unreadable_dataset_names_the_key_and_the_problem(tmp_path):
    with pytest.raises(ExportError, match=r"key 'data': its images are needed for int8"):
        dataset_samples(tmp_path / "nowhere.yaml", get_task("segment").samples(), (64, 64))


def test_int8_without_a_dataset_says_how_to_give_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = YOLO("yolov8n-cls.yaml", progress=ignore)
    with pytest.raises(ExportError, match=r"int8 OpenVINO export calibrates on images of the "
                       r"model's dataset, and none were given\. Pass data="):
        model.export(format="openvino", int8=True, imgsz=32)
    assert list(tmp_path.iterdir()) == []
