"""What prediction returns: one ``Results`` per image or video frame.

Classification fills ``probs``. ``boxes``, ``masks`` and ``keypoints`` are the slots the
detection-family tasks will fill; until then they stay None and ``plot`` draws only ``probs``.
Per-image outputs derive from :class:`TensorView`, so ``Results.cpu()`` / ``numpy()`` / ``to()``
move every output the same way, whatever the task.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data.images import write_image
from ..formats.yolo_labels import write_label_file
from .draw_detections import detection_records, draw_detections, label_lines
from .drawing import draw_text_panel, fit_font_scale, font_scale_for, line_width_for
from .tensor_view import Array, TensorView

OUTPUT_SLOTS = ("boxes", "masks", "probs", "keypoints")
"""The per-task output attributes of ``Results``, in the order ``len()`` looks at them."""


class Probs(TensorView):
    """Class probabilities of one image: ``top1``, ``top5`` (best first) and their scores.

    Ties rank the lower class index first, for tensors and arrays alike.
    """

    def __init__(self, data: Array | Any) -> None:
        super().__init__(data)
        if self.data.ndim != 1 or len(self.data) == 0:
            raise ValueError(f"Probs needs a 1-D vector of class scores, got shape {self.shape}")

    @property
    def top1(self) -> int:
        """Index of the most likely class."""
        return self.top5[0]

    @property
    def top5(self) -> list[int]:
        """Indices of the (up to) five most likely classes, best first."""
        k = min(5, len(self.data))
        if isinstance(self.data, torch.Tensor):
            order = torch.argsort(self.data, descending=True, stable=True)
        else:
            order = np.argsort(-self.data, kind="stable")
        return [int(i) for i in order[:k]]

    @property
    def top1conf(self) -> Array:
        """Score of ``top1`` (a 0-d tensor, or a numpy scalar for numpy data)."""
        return self.data[self.top1]

    @property
    def top5conf(self) -> Array:
        """Scores of ``top5``, in the same order."""
        return self.data[self.top5]

    def __repr__(self) -> str:
        return f"Probs(classes={len(self)}, top1={self.top1}, top1conf={float(self.top1conf):.4f})"


class Results:
    """The prediction for one image: the original image, where it came from, class names and
    the task's outputs, with the time each stage took (``speed``, ms per image)."""

    def __init__(
        self,
        orig_img: np.ndarray,
        path: str,
        names: dict[int, str],
        probs: Probs | Array | None = None,
        *,
        boxes: TensorView | None = None,
        masks: TensorView | None = None,
        keypoints: TensorView | None = None,
        speed: dict[str, float] | None = None,
        frame: int | None = None,
        save_dir: str | None = None,
        skeleton: list | tuple | None = None,
    ) -> None:
        self.orig_img = orig_img
        self.orig_shape: tuple[int, int] = (int(orig_img.shape[0]), int(orig_img.shape[1]))
        self.path = str(path)
        self.names = dict(names)
        self.probs = _as_probs(probs)
        self.boxes, self.masks, self.keypoints = boxes, masks, keypoints
        self.speed = dict(speed or {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0})
        self.frame = frame  # video frame number (from 0); None for still images
        self.save_dir = save_dir
        # keypoint index pairs plot() joins (the dataset's own limbs); None: see skeleton_for
        self.skeleton = skeleton

    def __len__(self) -> int:
        """Length of the first output set (boxes, masks, probs, keypoints): for a classifier,
        the number of classes; 0 when there are no outputs."""
        for slot in OUTPUT_SLOTS:
            value = getattr(self, slot)
            if value is not None:
                return len(value)
        return 0

    def top(self, k: int = 5) -> list[tuple[int, str, float]]:
        """(class, name, confidence) of the ``k`` (at most 5) best classes, best first."""
        if self.probs is None:
            return []
        indices = self.probs.top5[:k]
        scores = [float(s) for s in self.probs.data[indices]]
        return [(i, self.names.get(i, str(i)), s) for i, s in zip(indices, scores, strict=True)]

    def verbose(self) -> str:
        """``"cat 0.92, dog 0.05, ..."`` (the top-5 classes) for a classifier; ``"2 circles,
        1 star"`` (objects per class) for detections; "(no detections)" when there are none."""
        if self.boxes is None:
            return ", ".join(f"{name} {conf:.2f}" for _, name, conf in self.top())
        counts = np.bincount(np.asarray(self.boxes.cls, dtype=np.int64), minlength=0)
        parts = [
            f"{n} {self.names.get(i, str(i))}{'s' if n > 1 else ''}"
            for i, n in enumerate(counts)
            if n
        ]
        return ", ".join(parts) or "(no detections)"

    def summary(self, decimals: int = 5) -> list[dict[str, Any]]:
        """The top-5 classes as ``{"class", "name", "confidence"}`` records, best first; for
        detections one record per object with its ``box`` (and ``segments`` outline)."""
        if self.boxes is None:
            return [
                {"class": i, "name": name, "confidence": round(conf, decimals)}
                for i, name, conf in self.top()
            ]
        return detection_records(self, decimals)

    def to_json(self, decimals: int = 5) -> str:
        """:meth:`summary` as a JSON string."""
        return json.dumps(self.summary(decimals), indent=2)

    def plot(
        self,
        *,
        probs: bool = True,
        boxes: bool = True,
        masks: bool = True,
        labels: bool = True,
        conf: bool = True,
        font_scale: float | None = None,
        line_width: int | None = None,
    ) -> np.ndarray:
        """A copy of the image with the outputs drawn: translucent masks, boxes with
        "name conf" labels, and for a classifier the top-5 classes in the top-left corner.

        Sizes follow the image unless ``font_scale`` / ``line_width`` (in pixels) are given;
        ``orig_img`` is never changed.
        """
        canvas = self.orig_img.copy()
        draw_detections(
            self,
            canvas,
            masks=masks,
            boxes=boxes,
            labels=labels,
            conf=conf,
            line_width=line_width,
            font_scale=font_scale,
        )
        lines = [f"{name} {conf:.2f}" for _, name, conf in self.top()] if probs else []
        if not lines:
            return canvas
        thickness = line_width or max(line_width_for(canvas.shape) // 2, 1)
        scale = font_scale or fit_font_scale(
            lines, font_scale_for(canvas.shape), thickness, max_width=int(canvas.shape[1] * 0.9)
        )
        draw_text_panel(canvas, lines, font_scale=scale, thickness=thickness)
        return canvas

    def save(self, filename: str | Path) -> str:
        """Write :meth:`plot` to ``filename`` atomically (format from its suffix); returns it."""
        write_image(filename, self.plot())
        return str(filename)

    def save_txt(self, filename: str | Path, *, save_conf: bool = False) -> str:
        """Write the predictions as a label file (atomically), in the dataset format: for
        detections ``class x1 y1 x2 y2 ...`` (mask outline, normalised; the box ``cx cy w h``
        without masks) with ``conf`` last when ``save_conf``; for a classifier the top-5 as
        ``conf name`` lines."""
        return str(write_label_file(filename, label_lines(self, save_conf)))

    def new(self) -> Results:
        """An empty ``Results`` for the same image (no outputs), to fill with :meth:`update`."""
        return Results(
            self.orig_img,
            self.path,
            self.names,
            speed=self.speed,
            frame=self.frame,
            save_dir=self.save_dir,
            skeleton=self.skeleton,
        )

    def update(self, *, probs: Probs | Array | None = None) -> None:
        """Replace the outputs that are given."""
        if probs is not None:
            self.probs = _as_probs(probs)

    def cpu(self) -> Results:
        """A copy with every output on the CPU."""
        return self._apply("cpu")

    def numpy(self) -> Results:
        """A copy with every output as numpy arrays."""
        return self._apply("numpy")

    def to(self, *args: Any, **kwargs: Any) -> Results:
        """A copy with every output moved / cast as ``torch.Tensor.to`` would."""
        return self._apply("to", *args, **kwargs)

    def _apply(self, method: str, *args: Any, **kwargs: Any) -> Results:
        out = self.new()
        for slot in OUTPUT_SLOTS:
            value = getattr(self, slot)
            if value is not None:
                setattr(out, slot, getattr(value, method)(*args, **kwargs))
        return out

    def __repr__(self) -> str:
        outputs = ", ".join(s for s in OUTPUT_SLOTS if getattr(self, s) is not None) or "none"
        return (
            f"Results(path={self.path!r}, orig_shape={self.orig_shape}, outputs={outputs}, "
            f"top={self.verbose()!r})"
        )


def _as_probs(probs: Probs | Array | None) -> Probs | None:
    return probs if probs is None or isinstance(probs, Probs) else Probs(probs)
