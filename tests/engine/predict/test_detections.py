"""Boxes and Masks on Results: coordinates, outlines, records and drawing."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from engine.predict.detections import Boxes, Masks
from engine.predict.draw_detections import class_colour, fit_masks
from engine.predict.results import Results

NAMES = {0: "circle", 1: "rectangle"}


def scene():
    image = np.full((300, 400, 3), 90, np.uint8)
    masks = np.zeros((2, 300, 400), np.uint8)
    cv2.circle(masks[0], (120, 150), 60, 1, -1)
    cv2.rectangle(masks[1], (220, 80), (349, 249), 1, -1)
    boxes = Boxes(
        torch.tensor([[60, 90, 180, 210, 0.91, 0], [220, 80, 350, 250, 0.77, 1]]), (300, 400)
    )
    return Results(
        image, "x.png", NAMES, boxes=boxes, masks=Masks(torch.from_numpy(masks), (300, 400))
    )


def test_boxes_give_every_coordinate_form():
    boxes = scene().boxes
    assert boxes.xyxy.tolist()[1] == [220, 80, 350, 250]
    assert boxes.xywh.tolist()[1] == [285, 165, 130, 170]
    assert boxes.xyxyn[1].tolist() == pytest.approx([0.55, 80 / 300, 0.875, 250 / 300])
    assert boxes.xywhn[0].tolist() == pytest.approx([0.3, 0.5, 0.3, 0.4])
    assert boxes.conf.tolist() == pytest.approx([0.91, 0.77]) and boxes.cls.tolist() == [0, 1]
    numpy_boxes = boxes.numpy()
    assert isinstance(numpy_boxes.xywhn, np.ndarray)
    assert numpy_boxes.xywhn[0].tolist() == pytest.approx([0.3, 0.5, 0.3, 0.4])
    with pytest.raises(ValueError, match=r"\[n, 6\]"):
        Boxes(torch.zeros(2, 4), (10, 10))


def test_mask_outlines_follow_the_shapes_in_original_pixels():
    result = scene()
    circle, rectangle = result.masks.xy
    assert circle[:, 0].min() == pytest.approx(60, abs=1) and circle[:, 0].max() == pytest.approx(
        180, abs=1
    )
    assert rectangle.min(0).tolist() == [220, 80] and rectangle.max(0).tolist() == [349, 249]
    assert result.masks.xyn[1].max(0).tolist() == pytest.approx([349 / 400, 249 / 300])
    half = Masks(torch.from_numpy(np.asarray(result.masks.data)[:, ::2, ::2].copy()), (300, 400))
    assert half.xy[1].min(0).tolist() == [220, 80]  # a half-size mask still maps to pixels


def test_verbose_and_records_describe_each_object():
    result = scene()
    assert result.verbose() == "1 circle, 1 rectangle"
    first = result.summary()[0]
    assert first["name"] == "circle" and first["confidence"] == pytest.approx(0.91)
    assert first["box"] == {"x1": 60.0, "y1": 90.0, "x2": 180.0, "y2": 210.0}
    assert len(first["segments"]["x"]) == len(first["segments"]["y"]) > 20
    empty = Results(
        np.zeros((5, 5, 3), np.uint8), "e.png", NAMES, boxes=Boxes(torch.zeros(0, 6), (5, 5))
    )
    assert empty.verbose() == "(no detections)" and empty.summary() == [] and len(empty) == 0


def test_plot_draws_translucent_masks_and_boxes_and_keeps_the_original():
    result = scene()
    before = result.orig_img.copy()
    drawn = result.plot()
    assert np.array_equal(result.orig_img, before)
    inside_circle = drawn[150, 120].astype(int)
    colour = np.array(class_colour(0))
    assert np.abs(inside_circle - colour).sum() < np.abs(before[150, 120] - colour).sum()
    assert not np.array_equal(inside_circle, colour)  # blended, not painted over
    assert np.array_equal(drawn[295, 5], before[295, 5])  # far from every object: unchanged
    bare = result.plot(masks=False, boxes=False)
    assert np.array_equal(bare, before)


def test_fit_masks_resizes_to_the_canvas():
    masks = np.zeros((3, 10, 20), np.uint8)
    masks[1, 2:5, 4:8] = 1
    fitted = fit_masks(masks, (20, 40))
    assert fitted.shape == (3, 20, 40) and fitted.dtype == bool
    assert fitted[1].sum() == 4 * masks[1].sum()
