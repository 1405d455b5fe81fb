"""A small classify model with spread-out outputs, and its exports (made once per module)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.checkpoints import checkpoint_dict, save_checkpoint
from engine.export import export_model
from engine.export.decisive import make_decisive
from engine.nn import build_model

IMGSZ = 32
NAMES = {0: "cat", 1: "dog", 2: "bird"}


def spread_classifier() -> torch.nn.Module:
    """yolov8n-cls with 3 classes whose probabilities differ clearly between images.

    A fresh model gives ~1/3 for every class whatever the image, which would let a backend
    that mixes up rows pass; He-initialised convolutions and a much larger classifier make the
    probabilities depend on the image's colour.
    """
    torch.manual_seed(0)  # the layers make_decisive leaves as built
    model = build_model("yolov8n-cls.yaml", num_classes=3)
    model.names = dict(NAMES)
    return make_decisive(model)


def coloured_images(count: int, size: int = IMGSZ) -> torch.Tensor:
    """Reddish, greenish, bluish ... noisy images: each gives the classifier other outputs."""
    colours = torch.full((count, 3), 0.1)
    colours[torch.arange(count), torch.arange(count) % 3] = 0.9
    colours[3:] *= 0.5
    noise = torch.rand(count, 3, size, size, generator=torch.Generator().manual_seed(1))
    return (colours.view(count, 3, 1, 1) + 0.1 * noise).clamp(0, 1)


@pytest.fixture(scope="module")
def classifier() -> torch.nn.Module:
    return spread_classifier()


@pytest.fixture(scope="module")
def model_files(classifier, tmp_path_factory) -> dict[str, Path]:
    """A checkpoint, a dynamic ONNX, a batch-2 ONNX and a batch-2 TorchScript of ``classifier``."""
    folder = tmp_path_factory.mktemp("exports")
    checkpoint = save_checkpoint(folder / "model.pt", checkpoint_dict(classifier))
    return {
        "pt": checkpoint,
        "onnx_dynamic": export_model(
            classifier, "onnx", output=folder / "dynamic.pt", imgsz=IMGSZ, dynamic=True
        ).path,
        "onnx_batch2": export_model(
            classifier, "onnx", output=folder / "batch2.pt", imgsz=IMGSZ, batch=2
        ).path,
        "torchscript_batch2": export_model(
            classifier, "torchscript", output=folder / "batch2.pt", imgsz=IMGSZ, batch=2
        ).path,
    }


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return coloured_images(3)


@pytest.fixture(scope="module")
def eager_probs(classifier, images) -> torch.Tensor:
    with torch.inference_mode():
        probs, _logits = classifier(images)
    spread = (probs[:, None] - probs[None]).abs().amax(-1)
    assert spread[~torch.eye(3, dtype=torch.bool)].min() > 0.05, "rows must differ"
    return probs
