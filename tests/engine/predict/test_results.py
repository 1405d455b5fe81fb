from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.data.images import read_image
from engine.predict.results import Probs, Results


def test_probs_top_classes_best_first():
    probs = Probs(torch.tensor([0.05, 0.5, 0.1, 0.2, 0.03, 0.12]))
    assert probs.top1 == 1 and probs.top5 == [1, 3, 5, 2, 0]
    assert float(probs.top1conf) == pytest.approx(0.5)
    assert probs.top5conf.tolist() == pytest.approx([0.5, 0.2, 0.12, 0.1, 0.05])
    assert Probs(torch.tensor([0.3, 0.7])).top5 == [1, 0]
    assert isinstance(probs.numpy(), np.ndarray) and len(probs) == 6


def test_plot_writes_the_top_classes_in_the_corner_only(tmp_path):
    image = np.full((300, 400, 3), 120, np.uint8)
    result = Results(image, "x.jpg", {0: "cat", 1: "dog"}, torch.tensor([0.9, 0.1]))
    plotted = result.plot()
    assert plotted.shape == image.shape and (image == 120).all()  # the original is untouched
    changed = (plotted != image).any(axis=2)
    rows, cols = np.nonzero(changed)
    assert changed.any() and rows.max() < 150 and cols.max() < 200
    assert result.verbose() == "cat 0.90, dog 0.10"
    saved = result.save(tmp_path / "out.png")
    assert read_image(saved).shape == (300, 400, 3)
    assert result.summary()[0] == {"class": 0, "name": "cat", "confidence": pytest.approx(0.9)}
