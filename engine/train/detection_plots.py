"""Training-batch pictures for the detection family: each augmented image with its boxes and
masks drawn, tiled into ``train_batch*.jpg`` so people can check their labels survived the
augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..plots import _as_bgr_uint8, _mosaic
from ..predict.draw_detections import draw_boxes, draw_masks, fit_masks


def plot_detection_batch(
    batch: dict,
    names: dict[int, str],
    path: str | Path,
    *,
    overlap: bool = True,
    max_images: int = 16,
) -> Path:
    """Tile up to ``max_images`` images of a collated batch with their targets drawn."""
    from ..data.images import write_image

    tiles = _as_bgr_uint8(batch["img"])[:max_images].copy()
    owners = _numpy(batch["batch_idx"]).astype(int).reshape(-1)
    classes = _numpy(batch["cls"]).astype(int).reshape(-1)
    boxes = _numpy(batch["bboxes"]).reshape(-1, 4)
    masks = _numpy(batch["masks"]) if "masks" in batch else None
    for i, tile in enumerate(tiles):
        mine = np.flatnonzero(owners == i)
        height, width = tile.shape[:2]
        centre, size = boxes[mine, :2], boxes[mine, 2:]
        xyxy = np.concatenate((centre - size / 2, centre + size / 2), 1) * [
            width,
            height,
            width,
            height,
        ]
        if masks is not None and len(mine):
            object_masks = (
                masks[i][None] == np.arange(1, len(mine) + 1)[:, None, None]
                if overlap
                else masks[mine]
            )
            draw_masks(tile, fit_masks(object_masks, (height, width)), classes[mine])
        draw_boxes(tile, xyxy, classes[mine], [names.get(c, str(c)) for c in classes[mine]])
    labels = [Path(p).name for p in batch.get("paths", [])][: len(tiles)]
    labels += [""] * (len(tiles) - len(labels))
    target = Path(path)
    write_image(target, _mosaic(tiles, labels))
    return target


def _numpy(values) -> np.ndarray:
    return values.detach().cpu().numpy() if hasattr(values, "detach") else np.asarray(values)
