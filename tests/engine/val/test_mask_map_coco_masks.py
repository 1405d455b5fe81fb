"""Issue 21, item 4: the pieces that make segment validation score masks as pycocotools does
(polygon fill, RLE, mask IoU, original-size mask windows), each against pycocotools or the
function it stands in for."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from pycocotools import mask as coco_mask

from engine.predict.masks import native_mask_windows, process_mask_native
from engine.utils import rle
from engine.utils.boxes import LetterboxInfo
from engine.val.coco_masks import polygon_window, window_iou, window_rle

HEIGHT, WIDTH = 90, 150
IMGSZ = 160
PROTO = IMGSZ // 4


def _polygon(rng: np.random.Generator, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(6, 14))))
    radius = rng.uniform(0.75, 1.0, len(angles))
    return np.stack([cx + rx * radius * np.cos(angles), cy + ry * radius * np.sin(angles)], 1)


# pycocotools' own frPyObjects trips numpy 2's copy keyword; that is its business, not ours
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_polygons_fill_as_pycocotools_fills_them() -> None:
    rng = np.random.default_rng(3)
    for trial in range(300):
        height, width = (int(v) for v in rng.integers(5, 90, 2))
        points = rng.uniform(-8, [width + 8, height + 8], (int(rng.integers(3, 10)), 2))
        if trial % 3 == 0:
            points = np.round(points)  # whole-pixel vertices and a repeated one
            points[1] = points[0]
        polygons = [points] + ([rng.uniform(0, [width, height], (4, 2))] if trial % 5 else [])
        coco = coco_mask.merge(
            coco_mask.frPyObjects([p.reshape(-1).tolist() for p in polygons], height, width)
        )
        window = polygon_window(polygons, height, width)
        np.testing.assert_array_equal(window.paste((height, width)), coco_mask.decode(coco) > 0)
        assert window_rle(window, height, width) == rle.encode(window.paste((height, width)))


def test_window_iou_is_pycocotools_iou() -> None:
    rng = np.random.default_rng(4)
    truth = [polygon_window([_polygon(rng, *rng.uniform(20, 60, 2), 15, 12)], HEIGHT, WIDTH)
             for _ in range(5)]
    found = [polygon_window([_polygon(rng, *rng.uniform(20, 60, 2), 14, 13)], HEIGHT, WIDTH)
             for _ in range(7)]
    ours = window_iou(truth, found)
    encoded = [[window_rle(w, HEIGHT, WIDTH) for w in group] for group in (truth, found)]
    for group in encoded:
        for record in group:
            record["counts"] = record["counts"].encode("ascii")
    theirs = coco_mask.iou(encoded[1], encoded[0], [0] * len(truth)).T
    np.testing.assert_allclose(ours, theirs, atol=1e-12)
    assert (ours > 0).sum() >= 5


def test_mask_windows_are_the_native_masks() -> None:
    """The windows validation scores and writes are ``retina_masks``' masks, built in pieces."""
    generator = torch.Generator().manual_seed(5)
    prototypes = torch.randn(32, PROTO, PROTO, generator=generator)
    coefficients = torch.randn(20, 32, generator=generator) * 0.4
    corner = torch.rand(20, 2, generator=generator) * torch.tensor([WIDTH, HEIGHT])
    boxes = torch.cat([corner, corner + torch.tensor([50.0, 30.0])], 1)
    boxes[:, 2:] = torch.minimum(boxes[:, 2:], torch.tensor([WIDTH, HEIGHT]))
    info = LetterboxInfo.from_shapes((IMGSZ, IMGSZ), (HEIGHT, WIDTH))
    native = process_mask_native(
        prototypes, coefficients, boxes, (HEIGHT, WIDTH), (IMGSZ, IMGSZ), ratio_pad=info
    ).numpy()
    windows = native_mask_windows(prototypes, coefficients, boxes, (IMGSZ, IMGSZ),
                                  (HEIGHT, WIDTH), info)
    pasted = np.stack([w.paste((HEIGHT, WIDTH)) for w in windows])
    # the same sums in another order: only a pixel within float rounding of 0.5 may differ
    assert (pasted != native).sum() <= 2
    assert native.sum() > 5000


def test_mask_windows_of_huge_logits_are_empty_or_full_without_a_warning() -> None:
    """An untrained model's logits can be far beyond exp's range: no overflow warning."""
    prototypes = torch.ones(32, PROTO, PROTO)
    coefficients = torch.full((2, 32), 40.0)
    coefficients[0] *= -1  # logit -1280: probability 0
    boxes = torch.tensor([[10.0, 10.0, 60.0, 50.0], [10.0, 10.0, 60.0, 50.0]])
    info = LetterboxInfo.from_shapes((IMGSZ, IMGSZ), (HEIGHT, WIDTH))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        empty, full = native_mask_windows(prototypes, coefficients, boxes, (IMGSZ, IMGSZ),
                                          (HEIGHT, WIDTH), info)
    assert empty.mask.size > 0 and not empty.mask.any()
    assert full.mask.all()
