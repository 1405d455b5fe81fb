"""Masks from prototypes and coefficients: cropping, upsampling, letterbox removal, outlines."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.predict.masks import (
    crop_masks,
    masks_to_polygons,
    process_mask,
    process_mask_native,
    process_mask_to_original,
    scale_masks,
)
from engine.utils.boxes import LetterboxInfo, scale_boxes


def halves_prototype(size: int = 16) -> torch.Tensor:
    """One prototype: +10 on the left half, -10 on the right half."""
    prototype = torch.full((1, size, size), 10.0)
    prototype[:, :, size // 2 :] = -10.0
    return prototype


def rectangle_without_corners(top: int, bottom: int, left: int, right: int) -> torch.Tensor:
    mask = torch.zeros(64, 64, dtype=torch.bool)
    mask[top:bottom, left:right] = True
    for row in (top, bottom - 1):
        mask[row, [left, right - 1]] = False
    return mask


def test_known_prototypes_give_the_cropped_rectangle():
    prototypes = halves_prototype()  # input 64x64 -> prototypes 16x16, stride 4
    coefficients = torch.tensor([[1.0], [-1.0]])
    boxes = torch.tensor([[16.0, 8.0, 48.0, 40.0], [4.0, 20.0, 60.0, 44.0]])
    masks = process_mask(prototypes, coefficients, boxes, (64, 64))
    assert masks.dtype == torch.bool and masks.shape == (2, 64, 64)
    # the box (left half only), less its corner pixels: upsampling the crop rounds corners
    assert torch.equal(masks[0], rectangle_without_corners(8, 40, 16, 32))
    assert torch.equal(masks[1], rectangle_without_corners(20, 44, 32, 60))
    small = process_mask(prototypes, coefficients, boxes, (64, 64), upsample=False)
    assert small.shape == (2, 16, 16) and small[0].sum() == 4 * 8


def test_no_instances():
    prototypes = halves_prototype()
    none = torch.zeros(0, 1)
    assert process_mask(prototypes, none, torch.zeros(0, 4), (64, 64)).shape == (0, 64, 64)
    native = process_mask_native(prototypes, none, torch.zeros(0, 4), (48, 64), (64, 64))
    assert native.shape == (0, 48, 64) and native.dtype == torch.bool
    assert masks_to_polygons(torch.zeros(0, 8, 8, dtype=torch.bool)) == []
    assert scale_masks(torch.zeros(0, 16, 16), (64, 64), (48, 64)).shape == (0, 48, 64)


def test_crop_masks_float_and_bool():
    masks = torch.ones(2, 6, 8)
    boxes = torch.tensor([[1.0, 2.0, 4.0, 5.0], [0.5, 0.0, 8.0, 1.0]])
    cropped = crop_masks(masks, boxes)
    assert cropped[0].nonzero().unique(dim=0).tolist() == [
        [r, c] for r in range(2, 5) for c in range(1, 4)
    ]
    assert cropped[1].sum() == 7  # columns 1..7 of row 0
    assert torch.equal(crop_masks(masks.bool(), boxes), cropped.bool())


@pytest.mark.parametrize("resolution", [64, 16])
def test_scale_masks_removes_letterbox_padding(resolution):
    # original 48x64 letterboxed into 64x64: scale 1, 8 rows of padding on top
    input_mask = torch.zeros(1, 64, 64)
    input_mask[0, 16:40, 8:32] = 1.0  # original rows 8..31, cols 8..31
    mask = F.interpolate(input_mask[None], (resolution, resolution), mode="area")[0]
    scaled = scale_masks(mask > 0.5, (64, 64), (48, 64))
    assert scaled.dtype == torch.bool and scaled.shape == (1, 48, 64)
    rows, cols = scaled[0].nonzero().T
    assert (rows.min().item(), rows.max().item()) == (8, 31)
    assert (cols.min().item(), cols.max().item()) == (8, 31)
    float_scaled = scale_masks(mask, (64, 64), (48, 64))
    assert float_scaled.dtype == torch.float32 and float_scaled.max() <= 1


def smooth_prototypes(count: int, size: int, seed: int = 0) -> torch.Tensor:
    coarse = torch.randn(count, 4, 4, generator=torch.Generator().manual_seed(seed)) * 4
    return F.interpolate(coarse[None], (size, size), mode="bicubic", align_corners=False)[0]


def mask_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a & b).sum((1, 2)) / (a | b).sum((1, 2)).clamp(min=1)


def test_retina_masks_agree_with_normal_masks_scaled_to_the_original():
    original_shape, input_shape = (150, 200), (128, 128)  # gain 0.64, 16 rows of padding
    prototypes = smooth_prototypes(8, 32)
    coefficients = torch.randn(5, 8, generator=torch.Generator().manual_seed(1))
    boxes = torch.tensor(
        [
            [10.0, 20.0, 110.0, 100.0],
            [0.0, 16.0, 128.0, 112.0],
            [40.0, 40.0, 90.0, 70.0],
            [64.0, 30.0, 127.0, 110.0],
            [5.0, 60.0, 60.0, 108.0],
        ]
    )
    normal = process_mask(prototypes, coefficients, boxes, input_shape)
    normal_at_original = scale_masks(normal, input_shape, original_shape)
    original_boxes = scale_boxes(boxes, input_shape, original_shape)
    retina = process_mask_native(
        prototypes, coefficients, original_boxes, original_shape, input_shape
    )
    assert retina.shape == (5, 150, 200) and retina.dtype == torch.bool
    assert retina.sum((1, 2)).min() > 0
    assert (mask_iou(retina, normal_at_original) > 0.9).all()


def test_polygons_of_drawn_shapes():
    masks = np.zeros((3, 100, 120), np.uint8)
    cv2.circle(masks[0], (60, 40), 20, 1, -1)
    cv2.rectangle(masks[1], (10, 20), (50, 70), 1, -1)
    circle, rectangle, empty = masks_to_polygons(torch.from_numpy(masks).bool())
    assert circle.dtype == np.float32 and circle.shape[1] == 2
    radii = np.hypot(circle[:, 0] - 60, circle[:, 1] - 40)
    assert np.all(np.abs(radii - 20) <= 1.5)
    assert rectangle.min(0).tolist() == [10, 20] and rectangle.max(0).tolist() == [50, 70]
    assert empty.shape == (0, 2) and empty.dtype == np.float32


def test_polygon_strategies_for_a_mask_in_pieces():
    mask = np.zeros((1, 60, 60), bool)
    mask[0, 5:10, 5:10] = True  # a square: 4 points
    disc = np.zeros((60, 60), np.uint8)
    cv2.circle(disc, (40, 40), 10, 1, -1)
    mask[0] |= disc.astype(bool)
    (largest,) = masks_to_polygons(mask)
    (joined,) = masks_to_polygons(mask, "concat")
    assert largest.min(0).tolist() == [30, 30]
    assert len(joined) == len(largest) + 4
    with pytest.raises(ValueError, match="strategy"):
        masks_to_polygons(mask, "biggest")  # type: ignore[arg-type]


def test_the_fast_path_to_the_original_size_agrees_with_the_two_step_one():
    original_shape, input_shape = (150, 200), (128, 128)  # gain 0.64, 16 rows of padding
    prototypes = smooth_prototypes(8, 32)
    coefficients = torch.randn(4, 8, generator=torch.Generator().manual_seed(2))
    boxes = torch.tensor(
        [
            [10.0, 20.0, 110.0, 100.0],
            [0.0, 16.0, 128.0, 112.0],
            [40.0, 40.0, 90.0, 70.0],
            [64.0, 30.0, 127.0, 110.0],
        ]
    )
    two_step = scale_masks(
        process_mask(prototypes, coefficients, boxes, input_shape), input_shape, original_shape
    )
    info = LetterboxInfo.from_shapes(input_shape, original_shape)
    fast = process_mask_to_original(
        prototypes, coefficients, boxes, input_shape, original_shape, info
    )
    assert fast.shape == (4, 150, 200) and fast.dtype == torch.bool
    assert (mask_iou(fast, two_step) > 0.9).all()  # both resample 1/4-size prototypes
    empty = process_mask_to_original(
        prototypes, coefficients[:0], boxes[:0], input_shape, original_shape, info
    )
    assert empty.shape == (0, 150, 200)
