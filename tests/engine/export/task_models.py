"""What the export tests of several formats share: one small model per task whose outputs
depend on the image (engine/export/decisive.py), and tiny datasets to check them on."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from engine.data.figure_samples import make_figures_dataset
from engine.data.shape_samples import SHAPE_NAMES, make_shapes_dataset
from engine.export.decisive import make_decisive
from engine.nn import build_model
from engine.nn.model import TaskModel

# task -> (model yaml, build_model overrides, class names, export size, export batch)
TASKS = {
    "classify": ("yolov8n-cls.yaml", {"num_classes": 3}, {0: "red", 1: "green", 2: "blue"}, 32,
                 2),
    "segment": ("yolov8n-seg.yaml", {"num_classes": 4}, dict(enumerate(SHAPE_NAMES)), 64, 1),
    "pose": ("yolov8n-pose.yaml", {"num_classes": 1, "keypoint_shape": (5, 3)}, {0: "figure"},
             64, 1),
}
def task_model(task: str) -> TaskModel:
    """yolov8n for ``task`` whose outputs depend on the image (engine/export/decisive.py)."""
    yaml_file, overrides, names, _, _ = TASKS[task]
    torch.manual_seed(0)  # the layers make_decisive leaves as built
    model = build_model(yaml_file, **overrides)
    model.names = dict(names)
    return make_decisive(model)


def make_datasets(root: Path) -> dict[str, Path]:
    """Tiny val sets: coloured squares (classify), shapes (segment), stick figures (pose)."""
    colours = root / "colours"
    for split in ("train", "val"):
        for index, name in enumerate(TASKS["classify"][2].values()):
            for shade in range(2):
                image = np.full((32, 32, 3), 30, np.uint8)
                image[..., 2 - index] = 200 + 40 * shade  # BGR on disk
                (colours / split / name).mkdir(parents=True, exist_ok=True)
                assert cv2.imwrite(str(colours / split / name / f"{shade}.png"), image)
    return {
        "classify": colours,
        "segment": make_shapes_dataset(root / "shapes", size=64, train=1, val=3),
        "pose": make_figures_dataset(root / "figures", size=64, train=1, val=3),
    }


def first_image(task: str, data: Path) -> Path:
    if task == "classify":
        return data / "val" / "red" / "0.png"
    return data.parent / "images" / "val" / "val_0000.jpg"


def as_tuple(outputs) -> tuple[torch.Tensor, ...]:
    return outputs if isinstance(outputs, tuple) else (outputs,)
