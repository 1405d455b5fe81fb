"""Images of a model's dataset, prepared as the predictor prepares them, for int8 calibration
and the parity check of an export."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data.classify_augment import center_crop_resize
from ..data.detect_geometry import letterbox
from ..data.images import read_image
from ..data.loader import to_tensor
from ..errors import EngineError, ExportError

log = logging.getLogger(__name__)

DEFAULT_COUNT = 32
"""Images taken (spread evenly over the split): enough to calibrate int8 ranges."""


@dataclass(frozen=True)
class SampleRule:
    """How a task's validation images are found (``images(data)``) and prepared as its
    prediction prepares them (``prepare(image, (height, width))``); each task declares one
    (engine/tasks/)."""

    images: Callable[[str | Path], list[Path]]
    prepare: Callable[[np.ndarray, tuple[int, int]], np.ndarray]


def dataset_samples(
    data: str | Path, rule: SampleRule, imgsz: tuple[int, int], *, count: int = DEFAULT_COUNT
) -> list[torch.Tensor]:
    """Up to ``count`` validation images of ``data`` as ``[3, H, W]`` float tensors in 0..1,
    found and prepared by the task's ``rule``.

    Unreadable images are skipped (and logged); a dataset that cannot be read raises
    ExportError naming it.
    """
    try:
        paths = rule.images(data)
    except EngineError as exc:
        raise ExportError(
            f"its images are needed for int8 calibration and the export check, but the dataset "
            f"cannot be read: {exc}",
            key="data",
        ) from exc
    chosen = paths if len(paths) <= count else [paths[round(i * (len(paths) - 1) / (count - 1))]
                                                  for i in range(count)]
    samples = []
    for path in chosen:
        try:
            image = read_image(path)
        except EngineError as exc:
            log.warning("skipped for calibration: %s", exc)
            continue
        samples.append(to_tensor([rule.prepare(image, imgsz)])[0])
    return samples


def folder_images(data: str | Path) -> list[Path]:
    """The val (else train) images of a classification folder, or of a named dataset."""
    from ..data.classify_folder import load_classify_folder
    from ..data.named import resolve_dataset_dir

    report = load_classify_folder(resolve_dataset_dir(data), check=False)
    splits = report.splits
    return [sample.path for sample in (splits.val or splits.train)]


def yaml_images(task: str) -> Callable[[str | Path], list[Path]]:
    """The val (else train) images of a ``task`` dataset yaml."""

    def images(data: str | Path) -> list[Path]:
        from ..data.detect_dataset import load_detect_dataset

        dataset = load_detect_dataset(data, task)
        return list(dataset.splits.get("val") or dataset.splits.get("train") or ())

    return images


def center_cropped(image: np.ndarray, imgsz: tuple[int, int]) -> np.ndarray:
    """A classifier's input: the centre crop (a letterbox when the size is not square)."""
    if imgsz[0] == imgsz[1]:
        return center_crop_resize(image, imgsz[0])
    return letterboxed(image, imgsz)


def letterboxed(image: np.ndarray, imgsz: tuple[int, int]) -> np.ndarray:
    """The detection family's input: the image letterboxed to ``imgsz``."""
    placed, _, _ = letterbox(image, imgsz)
    return placed
