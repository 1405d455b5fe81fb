"""Images of a model's dataset, prepared as the predictor prepares them, for int8 calibration
and the parity check of an export."""

from __future__ import annotations

import logging
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


def dataset_samples(
    data: str | Path, task: str, imgsz: tuple[int, int], *, count: int = DEFAULT_COUNT
) -> list[torch.Tensor]:
    """Up to ``count`` validation images of ``data`` as ``[3, H, W]`` float tensors in 0..1.

    Classify data (a folder, or a named dataset) is centre-cropped; segment and pose data (a
    yaml) is letterboxed, as prediction does. Unreadable images are skipped (and logged); a
    dataset that cannot be read raises ExportError naming it.
    """
    try:
        paths = _validation_images(data, task)
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
        samples.append(_prepared(image, task, imgsz))
    return samples


def _validation_images(data: str | Path, task: str) -> list[Path]:
    if task == "classify":
        from ..data.classify_folder import load_classify_folder
        from ..data.named import resolve_dataset_dir

        report = load_classify_folder(resolve_dataset_dir(data), check=False)
        splits = report.splits
        return [sample.path for sample in (splits.val or splits.train)]
    from ..data.detect_dataset import load_detect_dataset

    dataset = load_detect_dataset(data, task)
    return list(dataset.splits.get("val") or dataset.splits.get("train") or ())


def _prepared(image: np.ndarray, task: str, imgsz: tuple[int, int]) -> torch.Tensor:
    if task == "classify" and imgsz[0] == imgsz[1]:
        placed = center_crop_resize(image, imgsz[0])
    else:
        placed, _, _ = letterbox(image, imgsz)
    return to_tensor([placed])[0]
