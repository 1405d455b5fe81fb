"""Training tests share one small real dataset: 160 handwritten digits at 32×32."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.data.samples import make_digits_folder


@pytest.fixture(scope="session")
def digits(tmp_path_factory) -> Path:
    """120 train / 40 val images in 10 classes (read-only: copy it before changing it)."""
    return make_digits_folder(tmp_path_factory.mktemp("digits") / "digits", limit=160)


def quick(**overrides):
    """Settings for a fast run: imgsz 32, batch 16, one loader thread, no plots."""
    values = dict(epochs=2, imgsz=32, batch=16, workers=1, plots=False, seed=0)
    values.update(overrides)
    return values


@pytest.fixture(scope="session")
def trained(digits, tmp_path_factory) -> Path:
    """best.pt of a one-epoch run on the digits."""
    from engine import YOLO
    from engine.events import ignore

    project = tmp_path_factory.mktemp("trained")
    result = YOLO("yolov8n-cls.yaml").train(progress=ignore, data=str(digits),
                                             project=str(project), **quick(epochs=1))
    return result.best
