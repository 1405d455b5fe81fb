"""The generated stick-figure pose dataset: parseable labels, its keypoint layout, determinism."""

from __future__ import annotations

import numpy as np

from engine.data.detect_dataset import load_detect_dataset
from engine.data.detect_labels import verify_split
from engine.data.figure_samples import FLIP_IDX, SKELETON, make_figures_dataset


def test_labels_parse_without_problems(tmp_path):
    yaml_path = make_figures_dataset(tmp_path, size=96, train=8, val=3, seed=1)
    assert yaml_path == tmp_path / "figures.yaml"
    dataset = load_detect_dataset(yaml_path, "pose")
    assert dataset.kpt_shape == (5, 3) and dataset.flip_idx == FLIP_IDX
    assert dataset.names == {0: "figure"} and dataset.skeleton == SKELETON
    assert dataset.kpt_names[1:3] == ("left_hand", "right_hand")
    assert len(dataset.splits["train"]) == 8 and len(dataset.splits["val"]) == 3
    for split in ("train", "val"):
        report = verify_split(
            dataset.splits[split], "pose", dataset.names, dataset.kpt_shape, workers=1, cache=False
        )
        assert report.problems == (), report.summary()
        assert len(report.samples) == len(dataset.splits[split])
        for sample in report.samples:
            instances = sample.instances
            assert 1 <= len(instances) <= 3
            keypoints = instances.keypoints
            assert keypoints.shape[1:] == (5, 3)
            assert set(np.unique(keypoints[..., 2])) <= {1.0, 2.0}


def test_boxes_enclose_keypoints_and_do_not_overlap(tmp_path):
    make_figures_dataset(tmp_path, size=128, train=12, val=0, seed=2)
    hidden = 0
    for label in sorted((tmp_path / "labels" / "train").glob("*.txt")):
        rows = np.loadtxt(label, ndmin=2)
        cx, cy, w, h = rows[:, 1:5].T
        boxes = np.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), 1)
        points = rows[:, 5:].reshape(-1, 5, 3)
        hidden += int((points[..., 2] == 1).sum())
        assert np.all(points[..., 0] >= boxes[:, None, 0] - 1e-6)
        assert np.all(points[..., 0] <= boxes[:, None, 2] + 1e-6)
        assert np.all(points[..., 1] >= boxes[:, None, 1] - 1e-6)
        assert np.all(points[..., 1] <= boxes[:, None, 3] + 1e-6)
        for i in range(len(boxes)):
            for j in range(i):
                a, b = boxes[i], boxes[j]
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
    assert hidden > 0  # a few hands are occluded (visibility 1) with this seed


def test_same_seed_same_dataset(tmp_path):
    first = make_figures_dataset(tmp_path / "a", size=64, train=3, val=1, seed=5).parent
    second = make_figures_dataset(tmp_path / "b", size=64, train=3, val=1, seed=5).parent
    other = make_figures_dataset(tmp_path / "c", size=64, train=3, val=1, seed=6).parent
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert len(files) == 1 + 4 + 4
    for name in files:
        assert (first / name).read_bytes() == (second / name).read_bytes()
    labels = "labels/train/train_0000.txt"
    assert (first / labels).read_text() != (other / labels).read_text()
