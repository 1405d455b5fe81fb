"""What prediction returns: one ``Results`` per image or frame.

Classification fills ``probs``; ``boxes``, ``masks`` and ``keypoints`` are the slots the
detection-family tasks fill (None until then).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from ..data.images import write_image


class Probs:
    """Class probabilities of one image: ``top1``, ``top5`` (best first) and their scores."""

    def __init__(self, data: torch.Tensor | np.ndarray) -> None:
        tensor = torch.as_tensor(data)
        if tensor.ndim != 1:
            raise ValueError(
                f"Probs expects a 1-D vector of class scores, got {tuple(tensor.shape)}"
            )
        self.data = tensor

    @property
    def top1(self) -> int:
        return int(self.data.argmax())

    @property
    def top5(self) -> list[int]:
        k = min(5, self.data.numel())
        return [int(i) for i in torch.topk(self.data, k).indices]

    @property
    def top1conf(self) -> torch.Tensor:
        return self.data[self.top1]

    @property
    def top5conf(self) -> torch.Tensor:
        return self.data[self.top5]

    def cpu(self) -> Probs:
        return Probs(self.data.cpu())

    def numpy(self) -> np.ndarray:
        return self.data.detach().cpu().numpy()

    def to(self, device) -> Probs:
        return Probs(self.data.to(device))

    def __len__(self) -> int:
        return int(self.data.numel())

    def __repr__(self) -> str:
        return f"Probs(classes={len(self)}, top1={self.top1}, top1conf={float(self.top1conf):.4f})"


class Results:
    """Prediction for one image: the original image, its path, class names and outputs."""

    def __init__(
        self,
        orig_img: np.ndarray,
        path: str,
        names: dict[int, str],
        probs: Probs | torch.Tensor | None = None,
        *,
        boxes=None,
        masks=None,
        keypoints=None,
        speed: dict[str, float] | None = None,
        frame: int | None = None,
    ) -> None:
        self.orig_img = orig_img
        self.orig_shape = tuple(orig_img.shape[:2])
        self.path = str(path)
        self.names = dict(names)
        self.probs = probs if probs is None or isinstance(probs, Probs) else Probs(probs)
        self.boxes, self.masks, self.keypoints = boxes, masks, keypoints
        self.speed = dict(speed or {"preprocess": 0.0, "inference": 0.0, "postprocess": 0.0})
        self.frame = frame
        self.save_dir: str | None = None

    def __len__(self) -> int:
        return 0 if self.probs is None else 1

    def top(self, k: int = 5) -> list[tuple[int, str, float]]:
        """(class, name, confidence) of the ``k`` best classes."""
        if self.probs is None:
            return []
        indices = self.probs.top5[:k]
        scores = self.probs.data[indices].tolist()
        return [
            (i, self.names.get(i, str(i)), float(s)) for i, s in zip(indices, scores, strict=True)
        ]

    def verbose(self) -> str:
        """``"cat 0.92, dog 0.05, ..."`` for the top 5 classes."""
        return ", ".join(f"{name} {conf:.2f}" for _, name, conf in self.top())

    def summary(self) -> list[dict[str, Any]]:
        return [{"class": i, "name": n, "confidence": c} for i, n, c in self.top()]

    def to_json(self) -> str:
        return json.dumps(self.summary())

    def plot(
        self, *, probs: bool = True, font_scale: float | None = None, line_width: int | None = None
    ) -> np.ndarray:
        """A copy of the image with the top-5 classes written in its top-left corner."""
        canvas = self.orig_img.copy()
        if not probs or self.probs is None:
            return canvas
        h, w = canvas.shape[:2]
        scale = font_scale or max(min(h, w) / 640, 0.35)
        thickness = line_width or max(int(round(scale * 2)), 1)
        lines = [f"{name} {conf:.2f}" for _, name, conf in self.top()]
        sizes = [cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)[0] for t in lines]
        pad = max(int(4 * scale), 2)
        line_h = max(s[1] for s in sizes) + 2 * pad
        box_w = max(s[0] for s in sizes) + 2 * pad
        box_h = line_h * len(lines)
        region = canvas[: min(box_h, h), : min(box_w, w)]
        region[:] = (region * 0.35).astype(np.uint8)  # darken behind the text
        for row, text in enumerate(lines):
            y = line_h * (row + 1) - pad
            cv2.putText(
                canvas,
                text,
                (pad, y),
                cv2.FONT_HERSHEY_SIMPLEX,
                scale,
                (255, 255, 255),
                thickness,
                cv2.LINE_AA,
            )
        return canvas

    def save(self, filename: str | Path) -> str:
        """Write :meth:`plot` to ``filename`` (atomically); returns the path."""
        write_image(filename, self.plot())
        return str(filename)

    def cpu(self) -> Results:
        return self._with(probs=None if self.probs is None else self.probs.cpu())

    def numpy(self) -> Results:
        return self._with(probs=None if self.probs is None else Probs(self.probs.numpy()))

    def new(self) -> Results:
        return Results(self.orig_img, self.path, self.names, speed=self.speed, frame=self.frame)

    def update(self, *, probs=None) -> None:
        if probs is not None:
            self.probs = probs if isinstance(probs, Probs) else Probs(probs)

    def _with(self, **changes) -> Results:
        out = self.new()
        out.probs = changes.get("probs", self.probs)
        out.boxes, out.masks, out.keypoints = self.boxes, self.masks, self.keypoints
        return out

    def __repr__(self) -> str:
        return f"Results(path={self.path!r}, shape={self.orig_shape}, {self.verbose()})"
