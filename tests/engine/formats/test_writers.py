"""The engine's label writers go through the codec: predictions saved with ``save_txt`` read
back as the model's own float32 numbers, a classifier's lines as its scores, and converted
COCO coordinates as the exact fractions (each wrote its own rounded format before)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from engine.data.dataset_convert import convert_dataset
from engine.data.shape_samples import make_shapes_dataset
from engine.formats.yolo_labels import parse_classify_line, parse_line, read_numbers
from engine.predict.detections import Boxes, Keypoints
from engine.predict.results import Results

SHAPE = (123, 457)  # odd sizes: normalised coordinates need all their digits
coordinate = st.floats(0, 1, width=32)


@st.composite
def pose_results(draw):
    x1, x2 = sorted(draw(st.lists(coordinate, min_size=2, max_size=2)))
    y1, y2 = sorted(draw(st.lists(coordinate, min_size=2, max_size=2)))
    height, width = SHAPE
    box = [x1 * width, y1 * height, x2 * width, y2 * height, draw(coordinate), 3.0]
    points = np.array(draw(st.lists(coordinate, min_size=9, max_size=9)), np.float32)
    points = points.reshape(3, 3) * np.array([width, height, 1], np.float32)
    image = np.zeros((*SHAPE, 3), np.uint8)
    return Results(image, "a.jpg", {3: "person"}, boxes=Boxes(torch.tensor([box]), SHAPE),
                   keypoints=Keypoints(points[None], SHAPE))


@given(pose_results())
def test_save_txt_lines_read_back_as_the_models_float32_numbers(tmp_path_factory, result):
    path = result.save_txt(tmp_path_factory.mktemp("p") / "a.txt", save_conf=True)
    (line,) = Path(path).read_text().splitlines()
    values = np.array(read_numbers(line)[1:], np.float64)
    assert all(len(token.lstrip("0.")) <= 9 for token in line.split())  # float32: 9 digits
    expected = np.concatenate((
        np.asarray(result.boxes.xywhn).reshape(-1),
        np.concatenate((np.asarray(result.keypoints.xyn), np.asarray(result.keypoints.conf)[
            ..., None]), -1).reshape(-1),
        np.asarray(result.boxes.conf).reshape(-1),
    ))
    assert np.array_equal(values.astype(np.float32), expected)
    assert parse_line(" ".join(line.split()[:-1]), "pose", (3, 3)).class_id == 3


def test_a_classifiers_lines_read_back_as_its_scores(tmp_path):
    scores = torch.softmax(torch.tensor([0.3, 2.0, -1.0, 0.7]), 0)
    result = Results(np.zeros((8, 8, 3), np.uint8), "a.jpg", {0: "cat", 1: "golden retriever",
                                                               2: "dog", 3: "fox"}, probs=scores)
    path = result.save_txt(tmp_path / "a.txt")
    lines = [parse_classify_line(line) for line in Path(path).read_text().splitlines()]
    assert [name for _, name in lines] == ["golden retriever", "fox", "cat", "dog"]
    assert [np.float32(score) for score, _ in lines] == sorted(scores.tolist(), reverse=True)


def test_converted_coco_coordinates_are_the_exact_fractions(tmp_path):
    source = tmp_path / "instances_val.json"
    source.write_text(json.dumps({
        "images": [{"id": 1, "file_name": "a.jpg", "width": 457, "height": 123}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20, 100, 50],
                         "segmentation": [[10, 20, 110, 20, 110, 70, 10, 70]]}],
        "categories": [{"id": 1, "name": "thing"}],
    }))
    convert_dataset(source, tmp_path / "out")
    (line,) = (tmp_path / "out" / "labels" / "val" / "a.txt").read_text().splitlines()
    row = parse_line(line, "segment")
    assert row.polygon.reshape(-1).tolist() == [10 / 457, 20 / 123, 110 / 457, 20 / 123,
                                                110 / 457, 70 / 123, 10 / 457, 70 / 123]


def test_generated_samples_keep_their_six_decimals(tmp_path):
    make_shapes_dataset(tmp_path, size=64, train=2, val=0, seed=3)
    for label in (tmp_path / "labels" / "train").glob("*.txt"):
        for line in label.read_text().splitlines():
            values = read_numbers(line)[1:]
            assert values and all(round(v, 6) == v for v in values)
            assert all(len(token.partition(".")[2]) <= 6 for token in line.split())
