"""The inference-backend protocol: one ``forward`` for a .pt model, a TorchScript and an ONNX file.

Every backend takes a float batch ``[N, 3, H, W]`` in 0..1 and returns the same structure for
the same task: what the model's head gives in export mode (classify: probabilities ``[N, nc]``;
detect/pose: ``[N, 4 + nc (+ K*ndim), anchors]``; segment: a tuple of detections with mask
coefficients, and prototypes), as float32 tensors on the backend's device. A backend whose
export has a fixed batch runs larger batches in chunks of that batch (the last one padded).
"""

from __future__ import annotations

import importlib.util
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import torch

from ..devices import select_device
from ..errors import ExportError

Output = torch.Tensor | tuple[torch.Tensor, ...]


class Backend(ABC):
    """A loaded model ready for inference. Subclasses implement ``_run`` on one batch."""

    kind: str = ""

    def __init__(
        self,
        *,
        source: str | Path,
        task: str,
        names: dict[int, str],
        stride: int,
        device: torch.device,
        imgsz: tuple[int, int] | None = None,
        batch: int | None = None,
        dynamic: bool = True,
        fp16: bool = False,
        fixed_shape: bool = False,
        channels: int = 3,
        keypoint_shape: tuple[int, int] | list[int] | None = None,
        keypoint_layout: dict[str, list] | None = None,
        author: str = "",
    ) -> None:
        self.source = str(source)
        self.author = author
        """Who wrote the export, as its metadata says ("YOLO Studio" for ours)."""
        self.keypoint_shape = tuple(int(v) for v in keypoint_shape) if keypoint_shape else None
        # kpt_names / skeleton / flip_idx of the training data, when the file keeps them
        self.keypoint_layout = dict(keypoint_layout or {})
        self.task = task
        self.names = dict(names)
        self.stride = int(stride)
        self.device = device
        self.imgsz = imgsz
        self.batch = batch
        self.dynamic = dynamic
        self.fp16 = fp16
        self.channels = channels
        self._fixed_shape = fixed_shape and imgsz is not None

    @property
    def fixed_shape(self) -> bool:
        """True when the model only takes ``imgsz`` inputs (an export without dynamic axes)."""
        return self._fixed_shape

    def forward(self, images: torch.Tensor) -> Output:
        """Run a float batch ``[N, C, H, W]`` (values 0..1); see the module docstring."""
        self._check_input(images)
        if self.batch is None or images.shape[0] == self.batch:
            outputs = self._run(images)
        else:
            outputs = self._run_in_chunks(images, self.batch)
        return outputs[0] if len(outputs) == 1 else outputs

    __call__ = forward

    def warmup(self, imgsz: int | Sequence[int] | None = None) -> None:
        """One pass on zeros, so that the first real batch does not pay for set-up."""
        size = imgsz if imgsz is not None else (self.imgsz or (224, 224))
        height, width = (size, size) if isinstance(size, int) else tuple(size)
        self.forward(torch.zeros(self.batch or 1, self.channels, height, width))

    @abstractmethod
    def _run(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Outputs for one batch the model accepts as it is, as float32 on ``self.device``."""

    def _run_in_chunks(self, images: torch.Tensor, size: int) -> tuple[torch.Tensor, ...]:
        parts = []
        for start in range(0, images.shape[0], size):
            chunk = images[start : start + size]
            count = chunk.shape[0]
            if count < size:
                padding = chunk.new_zeros((size - count, *chunk.shape[1:]))
                chunk = torch.cat((chunk, padding))
            parts.append(tuple(output[:count] for output in self._run(chunk)))
        return tuple(torch.cat(column) for column in zip(*parts, strict=True))

    def _check_input(self, images: torch.Tensor) -> None:
        if images.ndim != 4 or images.shape[1] != self.channels:
            raise ExportError(
                f"expects images as a [N, {self.channels}, H, W] batch, got shape "
                f"{tuple(images.shape)}",
                path=self.source,
            )
        if not images.is_floating_point():
            raise ExportError(
                f"expects float images in 0..1, got {images.dtype}; divide uint8 images by 255",
                path=self.source,
            )
        if self._fixed_shape and tuple(images.shape[2:]) != tuple(self.imgsz):
            height, width = self.imgsz
            raise ExportError(
                f"was exported for {height}x{width} images, got "
                f"{images.shape[2]}x{images.shape[3]}; resize to {height}x{width}, or export "
                "again at this size or with dynamic=True",
                path=self.source,
            )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.source!r}, task={self.task!r}, "
            f"classes={len(self.names)}, device={self.device}, imgsz={self.imgsz}, "
            f"batch={self.batch}, fp16={self.fp16})"
        )


def resolve_device(device: str | int | torch.device | None) -> torch.device:
    """A torch.device from ``device=`` values (cpu, 0, cuda:0, ...), with clear errors."""
    return device if isinstance(device, torch.device) else select_device(device)


def modules_available(*modules: str) -> bool:
    """True when every named top-level module can be imported (without importing it)."""
    return all(importlib.util.find_spec(name) is not None for name in modules)


def metadata_fields(metadata) -> dict:
    """Backend constructor arguments from an export's parsed metadata (``ExportMetadata``)."""
    from ..checkpoints.loading import keypoint_layout

    return {
        "task": metadata.task,
        "names": metadata.names,
        "stride": metadata.stride,
        "imgsz": metadata.imgsz,
        "batch": metadata.batch,
        "dynamic": metadata.dynamic,
        "channels": int(metadata.extras.get("channels", 3)),
        "keypoint_shape": metadata.extras.get("kpt_shape"),
        "keypoint_layout": keypoint_layout(metadata.extras.get("keypoint_layout")),
        "author": str(metadata.extras.get("author") or ""),
    }
