from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.data.images import read_image
from engine.predict.results import Probs, Results

NAMES = {0: "cat", 1: "dog", 2: "bird", 3: "fish", 4: "horse", 5: "cow"}
SCORES = [0.05, 0.5, 0.1, 0.2, 0.03, 0.12]


def softmax(logits) -> torch.Tensor:
    return torch.softmax(torch.as_tensor(logits, dtype=torch.float32), dim=0)


def grey_image(h=300, w=400, level=120) -> np.ndarray:
    return np.full((h, w, 3), level, np.uint8)


# --- Probs ------------------------------------------------------------------------------------


def test_top5_is_best_first_with_matching_scores():
    probs = Probs(torch.tensor(SCORES))
    assert probs.top1 == 1 and probs.top5 == [1, 3, 5, 2, 0]
    assert isinstance(probs.top1conf, torch.Tensor) and probs.top1conf.ndim == 0
    assert float(probs.top1conf) == pytest.approx(0.5)
    assert probs.top5conf.tolist() == pytest.approx([0.5, 0.2, 0.12, 0.1, 0.05])
    assert len(probs) == 6 and probs.shape == (6,)
    assert repr(probs) == "Probs(classes=6, top1=1, top1conf=0.5000)"


def test_top5_of_a_softmax_over_many_classes_matches_torch_topk():
    probs = Probs(softmax(torch.randn(1000, generator=torch.Generator().manual_seed(0))))
    expected = torch.topk(probs.data, 5)
    assert probs.top5 == expected.indices.tolist()
    assert torch.equal(probs.top5conf, expected.values)
    assert float(probs.data.sum()) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(("scores", "top5"), [([0.3, 0.7], [1, 0]), ([1.0], [0])])
def test_fewer_than_five_classes(scores, top5):
    probs = Probs(torch.tensor(scores))
    assert probs.top5 == top5 and probs.top1 == top5[0] and len(probs.top5conf) == len(scores)


def test_ties_rank_the_lower_class_first_for_tensors_and_arrays():
    scores = [0.2, 0.3, 0.2, 0.3, 0.0, 0.0]
    assert Probs(torch.tensor(scores)).top5 == [1, 3, 0, 2, 4]
    assert Probs(np.array(scores)).top5 == [1, 3, 0, 2, 4]


def test_numpy_cpu_and_to_return_new_probs():
    probs = Probs(torch.tensor(SCORES))
    as_numpy = probs.numpy()
    assert isinstance(as_numpy, Probs) and isinstance(as_numpy.data, np.ndarray)
    assert as_numpy.top5 == probs.top5 and float(as_numpy.top1conf) == pytest.approx(0.5)
    assert isinstance(probs.cpu().data, torch.Tensor)
    assert probs.to(torch.float64).data.dtype == torch.float64
    assert probs.data.dtype == torch.float32  # the original is unchanged
    stacked = np.stack([probs, as_numpy])  # numpy takes them as arrays
    assert stacked.shape == (2, 6) and stacked[1, 1] == pytest.approx(0.5)


def test_probs_must_be_one_vector():
    with pytest.raises(ValueError, match=r"1-D vector of class scores, got shape \(2, 3\)"):
        Probs(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="1-D vector"):
        Probs(torch.zeros(0))


# --- Results: values ----------------------------------------------------------------------------


def test_results_fields_and_text():
    image = grey_image()
    result = Results(image, "photos/x.jpg", NAMES, torch.tensor(SCORES), frame=3)
    assert result.orig_img is image and result.orig_shape == (300, 400)
    assert result.path == "photos/x.jpg" and result.names == NAMES and result.frame == 3
    assert isinstance(result.probs, Probs)
    assert (result.boxes, result.masks, result.keypoints, result.save_dir) == (None,) * 4
    assert set(result.speed) == {"preprocess", "inference", "postprocess"}
    assert len(result) == 6  # a classifier's output set is its class list
    assert result.verbose() == "dog 0.50, fish 0.20, cow 0.12, bird 0.10, cat 0.05"
    assert result.top(2) == [(1, "dog", 0.5), (3, "fish", pytest.approx(0.2))]
    assert "dog 0.50" in repr(result) and "probs" in repr(result)


def test_summary_and_json():
    result = Results(grey_image(), "x.jpg", {0: "cat", 1: "dog"}, softmax([2.0, 0.0]))
    summary = result.summary(decimals=3)
    assert summary == [
        {"class": 0, "name": "cat", "confidence": 0.881},
        {"class": 1, "name": "dog", "confidence": 0.119},
    ]
    assert json.loads(result.to_json(decimals=3)) == summary


def test_a_class_missing_from_names_shows_its_index():
    result = Results(grey_image(), "x.jpg", {0: "cat"}, torch.tensor([0.1, 0.9]))
    assert result.verbose() == "1 0.90, cat 0.10"


def test_results_without_outputs():
    result = Results(grey_image(), "x.jpg", NAMES)
    assert len(result) == 0 and result.verbose() == "" and result.summary() == []
    plotted = result.plot()
    assert plotted is not result.orig_img and np.array_equal(plotted, result.orig_img)


def test_new_update_and_device_copies():
    result = Results(grey_image(), "x.jpg", NAMES, torch.tensor(SCORES), speed={"inference": 2.0})
    empty = result.new()
    assert empty.probs is None and empty.orig_img is result.orig_img
    assert empty.speed == {"inference": 2.0} and empty.names == NAMES
    empty.update(probs=torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0, 0.0]))
    assert isinstance(empty.probs, Probs) and empty.verbose().startswith("bird 1.00")
    as_numpy = result.numpy()
    assert isinstance(as_numpy.probs.data, np.ndarray) and as_numpy.verbose() == result.verbose()
    assert isinstance(result.probs.data, torch.Tensor)  # the original keeps its tensor
    assert result.to(torch.float64).probs.data.dtype == torch.float64
    assert result.cpu().probs.data.device.type == "cpu"


# --- Results: drawing ---------------------------------------------------------------------------


def changed_box(before: np.ndarray, after: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.nonzero((before != after).any(axis=2))
    assert rows.size, "nothing was drawn"
    return int(cols.min()), int(rows.min()), int(cols.max()) + 1, int(rows.max()) + 1


def test_plot_draws_the_top_classes_in_the_top_left_corner_only():
    image = grey_image()
    original = image.copy()
    result = Results(image, "x.jpg", NAMES, torch.tensor(SCORES))
    plotted = result.plot()
    assert plotted.shape == image.shape and plotted.dtype == np.uint8
    assert np.array_equal(image, original)  # the original is untouched
    x1, y1, x2, y2 = changed_box(image, plotted)
    assert (x1, y1) == (0, 0) and x2 < 200 and y2 < 200
    assert np.array_equal(plotted[:, x2:], image[:, x2:])  # far away nothing changes
    assert np.array_equal(plotted[y2:], image[y2:])
    panel = plotted[y1:y2, x1:x2]
    assert (panel.max(axis=2) > 200).sum() > 100  # light text ...
    assert np.median(panel) < 60  # ... on a dark background
    five_lines = changed_box(image, Results(image, "x", NAMES, torch.tensor(SCORES)).plot())
    one_line = changed_box(image, Results(image, "x", {0: "cat"}, torch.tensor([1.0])).plot())
    assert one_line[3] < five_lines[3] / 3  # one text line per class


def test_text_scales_with_the_image_and_with_font_scale():
    probs = torch.tensor(SCORES)
    small = changed_box(
        grey_image(224, 224), Results(grey_image(224, 224), "x", NAMES, probs).plot()
    )
    big = changed_box(
        grey_image(1280, 1280), Results(grey_image(1280, 1280), "x", NAMES, probs).plot()
    )
    assert big[2] > 2.5 * small[2] and big[3] > 2.5 * small[3]
    result = Results(grey_image(224, 224), "x", NAMES, probs)
    larger = changed_box(result.orig_img, result.plot(font_scale=0.6, line_width=2))
    assert larger[2] > small[2]


def test_plot_on_a_tiny_image_and_without_probs():
    tiny = Results(grey_image(28, 28), "digit.png", {0: "zero", 1: "one"}, torch.tensor([0.2, 0.8]))
    plotted = tiny.plot()
    assert plotted.shape == (28, 28, 3) and not np.array_equal(plotted, tiny.orig_img)
    assert np.array_equal(tiny.plot(probs=False), tiny.orig_img)


@pytest.mark.parametrize("suffix", ["png", "jpg"])
def test_save_writes_the_plot_as_a_readable_image(tmp_path, suffix):
    result = Results(grey_image(), "x.jpg", NAMES, torch.tensor(SCORES))
    saved = result.save(tmp_path / "out" / f"x.{suffix}")
    assert saved == str(tmp_path / "out" / f"x.{suffix}")
    read = read_image(saved)
    assert read.shape == (300, 400, 3)
    if suffix == "png":
        assert np.array_equal(read, result.plot())
    else:
        assert np.abs(read.astype(int) - result.plot()).mean() < 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"x.{suffix}"]  # no temp left
