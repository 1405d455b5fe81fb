"""Drawing boxes, labels, translucent masks and keypoints on a copy of an image (OpenCV, BGR).

One colour per class from a fixed palette, so a class looks the same in every image, in the
studio's overlays and in saved predictions.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import cv2
import numpy as np

from ..formats.yolo_labels import classify_line, format_line
from .draw_keypoints import draw_keypoints, skeleton_for
from .drawing import FONT, font_scale_for, line_width_for


def _palette(count: int = 20) -> list[tuple[int, int, int]]:
    """Well-separated saturated colours (BGR): hues stepped by the golden ratio."""
    colours = []
    for i in range(count):
        hue = (i * 0.618033988749895) % 1.0
        red, green, blue = colorsys.hsv_to_rgb(hue, 0.85, 0.95)
        colours.append((int(blue * 255), int(green * 255), int(red * 255)))
    return colours


PALETTE = _palette()


def class_colour(index: int) -> tuple[int, int, int]:
    """The BGR colour of class ``index``."""
    return PALETTE[int(index) % len(PALETTE)]


def draw_masks(
    canvas: np.ndarray, masks: np.ndarray, classes: Sequence[int], alpha: float = 0.45
) -> None:
    """Blend each 0/1 mask ``[n, H, W]`` (canvas-sized) over ``canvas`` in its class colour,
    in place; later masks are drawn over earlier ones."""
    if len(masks) == 0:
        return
    overlay = canvas.copy()
    for mask, index in zip(masks, classes, strict=True):
        overlay[mask.astype(bool)] = class_colour(index)
    cv2.addWeighted(overlay, alpha, canvas, 1 - alpha, 0, dst=canvas)


def draw_boxes(
    canvas: np.ndarray,
    boxes: np.ndarray,
    classes: Sequence[int],
    labels: Sequence[str],
    *,
    line_width: int | None = None,
    font_scale: float | None = None,
) -> None:
    """Rectangles ``[n, 4]`` (xyxy pixels) with a filled label tab each, in place."""
    width = line_width or line_width_for(canvas.shape)
    scale = font_scale or font_scale_for(canvas.shape) * 0.8
    thickness = max(width // 2, 1)
    for box, index, label in zip(boxes, classes, labels, strict=True):
        colour = class_colour(index)
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, width, cv2.LINE_AA)
        if label:
            _label_tab(canvas, label, (x1, y1), colour, scale, thickness)


def _label_tab(canvas, text, corner, colour, scale, thickness) -> None:
    (text_w, text_h), baseline = cv2.getTextSize(text, FONT, scale, thickness)
    x, y = corner
    pad = max(thickness, 2)
    top = y - text_h - baseline - 2 * pad
    if top < 0:  # no room above the box: put the tab inside it
        top = y
    bottom = top + text_h + baseline + 2 * pad
    cv2.rectangle(canvas, (x, top), (x + text_w + 2 * pad, bottom), colour, -1, cv2.LINE_AA)
    ink = (0, 0, 0) if sum(colour) > 3 * 160 else (255, 255, 255)
    cv2.putText(
        canvas, text, (x + pad, bottom - baseline - pad), FONT, scale, ink, thickness, cv2.LINE_AA
    )


def fit_masks(masks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """0/1 masks ``[n, h, w]`` resized (nearest) to ``shape`` (H, W) when they differ."""
    masks = np.asarray(masks)
    if masks.shape[1:] == tuple(shape) or len(masks) == 0:
        return masks.astype(bool)
    out = np.empty((len(masks), *shape), dtype=bool)
    for start in range(0, len(masks), 512):  # cv2.resize takes at most 512 channels
        chunk = masks[start : start + 512].astype(np.uint8).transpose(1, 2, 0)
        resized = cv2.resize(chunk, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
        out[start : start + 512] = resized.reshape(*shape, -1).transpose(2, 0, 1) > 0
    return out


def draw_detections(
    result,
    canvas: np.ndarray,
    *,
    masks: bool,
    boxes: bool,
    labels: bool,
    conf: bool,
    line_width: int | None,
    font_scale: float | None,
) -> None:
    """Draw ``result``'s masks, boxes and keypoints on ``canvas`` in place (nothing for a
    classifier). Limbs follow ``result.skeleton`` when the result has one (see ``skeleton_for``).
    """
    if result.boxes is None or len(result.boxes) == 0:
        return
    data = np.asarray(result.boxes.data, dtype=np.float32)
    classes = data[:, 5].astype(int).tolist()
    if masks and result.masks is not None and len(result.masks):
        draw_masks(canvas, fit_masks(np.asarray(result.masks.data), canvas.shape[:2]), classes)
    if boxes:
        texts = [
            (f"{result.names.get(c, str(c))} {score:.2f}" if conf else result.names.get(c, str(c)))
            if labels
            else ""
            for c, score in zip(classes, data[:, 4], strict=True)
        ]
        draw_boxes(
            canvas, data[:, :4], classes, texts, line_width=line_width, font_scale=font_scale
        )
    if result.keypoints is not None and len(result.keypoints):
        points = np.asarray(result.keypoints.data, dtype=np.float32)
        skeleton = skeleton_for(points.shape[1], getattr(result, "skeleton", None))
        draw_keypoints(canvas, points, skeleton=skeleton, line_width=line_width)


def detection_records(result, decimals: int = 5) -> list[dict]:
    """One JSON-ready record per object: name, class, confidence, box (and outline, and
    keypoints as ``{"x", "y", "visible"}`` lists, ``visible`` holding their confidences)."""
    data = np.asarray(result.boxes.data, dtype=np.float64)
    outlines = result.masks.xy if result.masks is not None else None
    keypoints = _keypoint_array(result)
    records = []
    for i, row in enumerate(data):
        x1, y1, x2, y2, score, cls = (float(v) for v in row)
        record = {
            "name": result.names.get(int(cls), str(int(cls))),
            "class": int(cls),
            "confidence": round(score, decimals),
            "box": {
                k: round(v, decimals)
                for k, v in zip(("x1", "y1", "x2", "y2"), (x1, y1, x2, y2), strict=True)
            },
        }
        if outlines is not None:
            polygon = outlines[i]
            record["segments"] = {
                "x": np.round(polygon[:, 0], decimals).tolist(),
                "y": np.round(polygon[:, 1], decimals).tolist(),
            }
        if keypoints is not None:
            record["keypoints"] = _keypoint_record(keypoints[i], decimals)
        records.append(record)
    return records


def _keypoint_array(result) -> np.ndarray | None:
    if getattr(result, "keypoints", None) is None:
        return None
    return np.asarray(result.keypoints.data, dtype=np.float64)


def _keypoint_record(points: np.ndarray, decimals: int) -> dict[str, list[float]]:
    record = {axis: np.round(points[:, i], decimals).tolist() for i, axis in enumerate("xy")}
    if points.shape[1] == 3:
        record["visible"] = np.round(points[:, 2], decimals).tolist()
    return record


def label_lines(result, save_conf: bool = False) -> list[str]:
    """The lines of a YOLO label file for ``result`` (see ``Results.save_txt``), written by
    :mod:`engine.formats.yolo_labels` at the model's own precision (float32: up to 9 digits).

    Pose rows add ``x y [conf]`` per keypoint (normalised) after the box: the keypoint
    confidence is written whenever the keypoints carry one; ``save_conf`` appends the object's
    confidence at the end of every row. A classifier's rows are ``conf name``, best first.
    """
    if result.boxes is None:
        return [classify_line(np.float32(conf), name) for _, name, conf in result.top()]
    data = np.asarray(result.boxes.data)
    outlines = result.masks.xyn if result.masks is not None else None
    boxes = np.asarray(result.boxes.xywhn)
    keypoints = _normalised_keypoints(result)
    lines = []
    for i, row in enumerate(data):
        coords = outlines[i].reshape(-1) if outlines is not None else boxes[i]
        if keypoints is not None:
            coords = np.concatenate((coords, keypoints[i].reshape(-1)))
        if save_conf:
            coords = np.append(coords, row[4])
        lines.append(format_line(int(row[5]), coords))
    return lines


def _normalised_keypoints(result) -> np.ndarray | None:
    """``[n, K, 2|3]``: normalised x, y and, when present, the confidence."""
    if getattr(result, "keypoints", None) is None:
        return None
    xyn = np.asarray(result.keypoints.xyn)
    conf = result.keypoints.conf
    if conf is None:
        return xyn
    return np.concatenate((xyn, np.asarray(conf)[..., None]), -1)
